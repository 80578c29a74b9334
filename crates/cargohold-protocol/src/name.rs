//! Crate names: what a registry accepts, the canonical form that decides uniqueness, and the index path.

use std::fmt;

/// The longest crate name accepted (crates.io's limit).
pub const MAX_NAME_LENGTH: usize = 64;

/// Names the Rust project reserves, compared in canonical form (lowercase, `-` as `_`).
///
/// crates.io's list, plus the Windows device names: index files and unpacked
/// sources are named after the crate, and `nul` or `com1` cannot be a file on Windows.
const RESERVED: &[&str] = &[
    "alloc",
    "arena",
    "ast",
    "builtins",
    "collections",
    "compiler_builtins",
    "compiler_rt",
    "compiletest",
    "core",
    "coretest",
    "debug",
    "driver",
    "flate",
    "fmt_macros",
    "grammar",
    "graphviz",
    "macro",
    "macros",
    "proc_macro",
    "rbml",
    "rust_installer",
    "rustbook",
    "rustc",
    "rustc_back",
    "rustc_borrowck",
    "rustc_driver",
    "rustc_llvm",
    "rustc_resolve",
    "rustc_trans",
    "rustc_typeck",
    "rustdoc",
    "rustllvm",
    "rustuv",
    "serialize",
    "std",
    "syntax",
    "test",
    "unicode",
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

/// Why a string is not an acceptable crate name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrateNameError {
    #[error("the crate name is empty")]
    Empty,
    #[error("the crate name `{0}` is longer than {MAX_NAME_LENGTH} characters")]
    TooLong(String),
    #[error(
        "the crate name `{0}` must start with an ASCII letter (digits, `_` and `-` are not allowed first)"
    )]
    BadStart(String),
    #[error(
        "the crate name `{name}` contains `{ch}`; only ASCII letters, digits, `-` and `_` are allowed"
    )]
    BadCharacter { name: String, ch: char },
    #[error("the crate name `{0}` is reserved")]
    Reserved(String),
}

/// A crate name that this registry accepts for a new crate.
///
/// Holds the spelling the publisher chose; [`CrateName::canonical`] gives the form
/// that decides whether two names are the same crate, and [`CrateName::index_path`]
/// the path of its index file. The two rules differ (`foo-bar` and `foo_bar` share
/// a canonical name but not an index path), so both are kept behind names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrateName(String);

impl CrateName {
    /// Checks `name` against the rules for publishing a crate.
    pub fn new(name: &str) -> Result<Self, CrateNameError> {
        validate_syntax(name, false)?;
        if RESERVED.contains(&canonical_name(name).as_str()) {
            return Err(CrateNameError::Reserved(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as its publisher spelled it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name that decides uniqueness: lowercase, with `-` written as `_`.
    pub fn canonical(&self) -> String {
        canonical_name(&self.0)
    }

    /// The lowercase name that index files and lookups by path use.
    pub fn lowercase(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// The crate's index file path, relative to the index root (`se/rd/serde`).
    pub fn index_path(&self) -> String {
        index_path(&self.0)
    }
}

impl fmt::Display for CrateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CrateName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checks the name of a crate a version depends on, or the alias it is used under.
///
/// Dependencies may live on other registries, so reserved names are not checked
/// here; an alias (`explicit_name_in_toml`) may also start with `_`, as on crates.io.
pub fn validate_dependency_name(name: &str, is_alias: bool) -> Result<(), CrateNameError> {
    validate_syntax(name, is_alias)
}

fn validate_syntax(name: &str, allow_leading_underscore: bool) -> Result<(), CrateNameError> {
    let Some(first) = name.chars().next() else {
        return Err(CrateNameError::Empty);
    };
    if name.len() > MAX_NAME_LENGTH {
        return Err(CrateNameError::TooLong(name.to_owned()));
    }
    if !(first.is_ascii_alphabetic() || (allow_leading_underscore && first == '_')) {
        return Err(CrateNameError::BadStart(name.to_owned()));
    }
    if let Some(ch) = name
        .chars()
        .find(|&ch| !(ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    {
        return Err(CrateNameError::BadCharacter {
            name: name.to_owned(),
            ch,
        });
    }
    Ok(())
}

/// The canonical form of any name: ASCII-lowercase, every `-` written as `_`.
pub fn canonical_name(name: &str) -> String {
    name.chars()
        .map(|ch| match ch {
            '-' => '_',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// The path of a crate's index file, as cargo computes it (`make_dep_path`).
///
/// Lowercased; one and two character names live under `1/` and `2/`, three
/// character names under `3/{first}/`, longer ones under `{0..2}/{2..4}/`.
/// Lengths count bytes, which is why only ASCII names are accepted.
///
/// Callers pass crate names. Anything else still gets a path inside the index:
/// every byte that no crate name contains (`.`, `/`, non-ASCII, …) is written as
/// `%xx` first, so the path has no `..`, no absolute part and no broken character,
/// and is one that [`name_from_index_path`] never maps back to a name.
pub fn index_path(name: &str) -> String {
    let lower = path_safe_name(name);
    match lower.len() {
        0 => String::new(),
        1 => format!("1/{lower}"),
        2 => format!("2/{lower}"),
        3 => format!("3/{}/{lower}", &lower[..1]),
        _ => format!("{}/{}/{lower}", &lower[..2], &lower[2..4]),
    }
}

/// `name` in ASCII lowercase, with each byte outside `[a-z0-9_-]` written as `%xx`.
fn path_safe_name(name: &str) -> String {
    let mut safe = String::with_capacity(name.len());
    for byte in name.bytes().map(|b| b.to_ascii_lowercase()) {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_' {
            safe.push(char::from(byte));
        } else {
            safe.push_str(&format!("%{byte:02x}"));
        }
    }
    safe
}

/// Reverses [`index_path`]: the lowercase crate name an index request names, if the
/// path has cargo's layout for it. `None` for anything cargo would never ask for.
pub fn name_from_index_path(path: &str) -> Option<&str> {
    // Every index request passes here, so nothing is searched for: the length of
    // the path says where the name must start (`1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`).
    let slash = match path.len() {
        3 | 4 => 1,
        7 => 3,
        10.. => 5,
        _ => return None,
    };
    if path.as_bytes()[slash] != b'/' {
        return None;
    }
    let (dir, name) = (&path.as_bytes()[..slash], path.get(slash + 1..)?);
    let bytes = name.as_bytes();
    let laid_out = match bytes.len() {
        0 => false,
        1 => dir == b"1",
        2 => dir == b"2",
        3 => dir.len() == 3 && dir[..2] == *b"3/" && dir[2] == bytes[0],
        _ => dir.len() == 5 && dir[..2] == bytes[..2] && dir[2] == b'/' && dir[3..] == bytes[2..4],
    };
    let well_formed = bytes.iter().all(|&b| INDEX_NAME_BYTE[usize::from(b)]);
    (laid_out && well_formed).then_some(name)
}

/// The bytes of a name in an index path: lowercase letters, digits, `-` and `_`
/// (one table lookup per byte).
const INDEX_NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        byte += 1;
    }
    table
};

/// `serde-1.0.0+x.crate` for crate `serde` → `1.0.0+x`; crate names compare without regard to case.
pub fn version_from_file_name<'a>(name: &str, file: &'a str) -> Option<&'a str> {
    let stem = file.strip_suffix(".crate")?;
    let head = stem.get(..name.len())?;
    let version = stem.get(name.len()..)?.strip_prefix('-')?;
    (head.eq_ignore_ascii_case(name) && !version.is_empty()).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_follow_cargos_layout() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("Abc"), "3/a/abc");
        assert_eq!(index_path("MainPkg"), "ma/in/mainpkg");
        assert_eq!(index_path("serde_json"), "se/rd/serde_json");
    }

    #[test]
    fn index_paths_of_strings_that_are_not_crate_names_stay_inside_the_index() {
        // `café` panicked: the `{2..4}` directory cut the `é` in half.
        assert_eq!(index_path("caf\u{e9}"), "ca/f%/caf%c3%a9");
        assert_eq!(index_path("\u{e9}"), "%c/3%/%c3%a9");
        assert_eq!(index_path(".."), "%2/e%/%2e%2e");
        assert_eq!(index_path("."), "3/%/%2e");
        assert_eq!(index_path("../etc/passwd"), "%2/e%/%2e%2e%2fetc%2fpasswd");
        assert_eq!(index_path("/Abs"), "%2/fa/%2fabs");
        for odd in [
            "caf\u{e9}",
            "..",
            ".",
            "../etc/passwd",
            "/abs",
            "a\\b",
            "a\0b",
        ] {
            let path = index_path(odd);
            assert!(!path.starts_with('/'), "{path}");
            assert!(!path.split('/').any(|p| p == ".." || p == "."), "{path}");
            assert_eq!(name_from_index_path(&path), None, "{path}");
        }
    }

    #[test]
    fn index_paths_map_back_to_the_lowercase_name() {
        for name in ["a", "ab", "abc", "mainpkg", "foo-bar", "x_y", "a1b2"] {
            assert_eq!(name_from_index_path(&index_path(name)), Some(name));
        }
        for bad in [
            "1/ab",
            "2/a",
            "3/b/abc",
            "ma/in/other",
            "ma/in/MainPkg",
            "ma/in/mainpkg/x",
            "config.json",
            "../etc/passwd",
            "ab/cd/ab%2e",
            "1/a/a",
            "/a",
            "ab/cd/",
            "3/ab/abc",
            "a/b/abcd",
            "ab//abcd",
            "abc/d/abcd",
            "3/\u{e9}/\u{e9}a",
            "ab/c./abc.",
            "ab/c /abc ",
        ] {
            assert_eq!(name_from_index_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn valid_names_are_accepted_with_their_spelling() {
        for name in ["a", "Serde", "foo-bar", "foo_bar", "x1", &"a".repeat(64)] {
            assert_eq!(CrateName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn invalid_names_are_rejected_with_the_reason() {
        assert_eq!(CrateName::new(""), Err(CrateNameError::Empty));
        assert!(matches!(
            CrateName::new("1abc"),
            Err(CrateNameError::BadStart(_))
        ));
        assert!(matches!(
            CrateName::new("_abc"),
            Err(CrateNameError::BadStart(_))
        ));
        assert!(matches!(
            CrateName::new("-abc"),
            Err(CrateNameError::BadStart(_))
        ));
        assert!(matches!(
            CrateName::new("émile"),
            Err(CrateNameError::BadStart(_))
        ));
        assert!(matches!(
            CrateName::new("caf\u{e9}"),
            Err(CrateNameError::BadCharacter { ch: '\u{e9}', .. })
        ));
        assert!(matches!(
            CrateName::new("a.b"),
            Err(CrateNameError::BadCharacter { ch: '.', .. })
        ));
        assert!(matches!(
            CrateName::new(&"a".repeat(65)),
            Err(CrateNameError::TooLong(_))
        ));
    }

    #[test]
    fn reserved_names_are_rejected_in_any_spelling() {
        for name in [
            "std",
            "STD",
            "proc-macro",
            "Proc_Macro",
            "nul",
            "COM1",
            "compiler-builtins",
        ] {
            assert!(
                matches!(CrateName::new(name), Err(CrateNameError::Reserved(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn canonical_form_ignores_case_and_dash_versus_underscore() {
        let a = CrateName::new("Foo-Bar").unwrap();
        let b = CrateName::new("foo_bar").unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(a.index_path(), b.index_path());
    }

    #[test]
    fn aliases_may_start_with_an_underscore_but_crate_names_may_not() {
        assert!(validate_dependency_name("_private", true).is_ok());
        assert!(validate_dependency_name("_private", false).is_err());
    }

    #[test]
    fn file_names_give_the_version_including_build_metadata() {
        assert_eq!(
            version_from_file_name("Demo", "Demo-1.0.0+b.5.crate"),
            Some("1.0.0+b.5")
        );
        assert_eq!(
            version_from_file_name("demo", "Demo-1.0.0.crate"),
            Some("1.0.0")
        );
        assert_eq!(
            version_from_file_name("a-b", "a-b-0.1.0-rc.1.crate"),
            Some("0.1.0-rc.1")
        );
        assert_eq!(version_from_file_name("demo", "other-1.0.0.crate"), None);
        assert_eq!(version_from_file_name("demo", "demo-1.0.0.tar.gz"), None);
        assert_eq!(version_from_file_name("demo", "demo-.crate"), None);
        assert_eq!(version_from_file_name("démo", "d-1.crate"), None);
    }
}
