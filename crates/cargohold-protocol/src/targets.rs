//! The targets a package builds — a library, binaries — found the way cargo finds
//! them: declared in the manifest (`[lib]`, `[[bin]]`) or discovered from the
//! files the `.crate` holds (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`,
//! `src/bin/*/main.rs`).
//!
//! `cargo package` has written every target out, with `autolib = false` and
//! `autobins = false`, since Rust 1.83; older `.crate`s leave them to discovery.
//! A registry only shows them (`cargo install` for a binary), so odd manifests
//! give what can be read, never an error.

use toml::{Table, Value};

/// A package's library and binaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Whether it has a library, so that `cargo add` makes sense.
    pub lib: bool,
    /// Its binaries' names, so that `cargo install` makes sense: the one named
    /// after the package first, then declared ones in the manifest's order, then
    /// discovered ones by name.
    pub bins: Vec<String>,
}

/// The paths (relative to the package's directory) [`discover`] looks at, out of
/// every file of a `.crate`: only these matter for discovery.
pub fn is_target_file(relative: &str) -> bool {
    relative == "src/lib.rs" || relative == "src/main.rs" || bin_name_of(relative).is_some()
}

/// The targets of a package whose normalized manifest is `manifest` (a parsed
/// `Cargo.toml`) and whose files include `files` (paths relative to the package,
/// as [`is_target_file`] keeps them).
pub fn discover(manifest: &Table, files: &[String]) -> Targets {
    let package = match manifest.get("package").or_else(|| manifest.get("project")) {
        Some(Value::Table(package)) => package,
        _ => return Targets::default(),
    };
    let name = package.get("name").and_then(Value::as_str).unwrap_or("");
    // Edition 2015 turned discovery of a kind off once any target of that kind was
    // declared; later editions keep discovering unless told not to.
    let edition_2015 = package
        .get("edition")
        .and_then(Value::as_str)
        .is_none_or(|edition| edition == "2015");
    let auto = |key: &str| package.get(key).and_then(Value::as_bool).unwrap_or(true);
    let has = |path: &str| files.iter().any(|f| f == path);

    let lib = matches!(manifest.get("lib"), Some(Value::Table(_)))
        || (auto("autolib") && has("src/lib.rs"));

    let declared: Vec<(Option<&str>, Option<&str>)> = match manifest.get("bin") {
        Some(Value::Array(bins)) => bins
            .iter()
            .filter_map(Value::as_table)
            .map(|bin| {
                (
                    bin.get("name").and_then(Value::as_str),
                    bin.get("path").and_then(Value::as_str),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut bins: Vec<String> = Vec::new();
    let mut push = |bin: &str| {
        if !bin.is_empty() && !bins.iter().any(|b| b == bin) {
            bins.push(bin.to_owned());
        }
    };
    // A declared binary without a name is named after its file, as cargo does.
    for (bin_name, path) in &declared {
        match (bin_name, path) {
            (Some(bin_name), _) => push(bin_name),
            (None, Some(path)) => push(bin_name_of(path).unwrap_or(name)),
            (None, None) => {}
        }
    }
    let discovering = auto("autobins") && (!edition_2015 || declared.is_empty());
    if discovering {
        let declared_paths: Vec<&str> = declared.iter().filter_map(|(_, path)| *path).collect();
        let mut found: Vec<(&str, &str)> = files
            .iter()
            .filter(|f| !declared_paths.contains(&f.as_str()))
            .filter_map(|f| {
                if f == "src/main.rs" {
                    Some((f.as_str(), name))
                } else {
                    bin_name_of(f).map(|bin| (f.as_str(), bin))
                }
            })
            .collect();
        found.sort_unstable_by_key(|&(_, bin)| bin);
        for (_, bin) in found {
            push(bin);
        }
    }
    // The binary named after the package, the one `cargo run` runs, first.
    bins.sort_by_key(|bin| bin != name);
    Targets { lib, bins }
}

/// The binary `src/bin/NAME.rs` or `src/bin/NAME/main.rs` discovers.
fn bin_name_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("src/bin/")?;
    let name = match rest.strip_suffix("/main.rs") {
        Some(dir) => dir,
        None => rest.strip_suffix(".rs")?,
    };
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(manifest: &str, files: &[&str]) -> Targets {
        let files: Vec<String> = files
            .iter()
            .filter(|f| is_target_file(f))
            .map(|f| f.to_string())
            .collect();
        discover(&manifest.parse().unwrap(), &files)
    }

    fn bins(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_manifest_cargo_now_packages_declares_every_target() {
        let manifest = r#"
            [package]
            name = "app-cli"
            version = "0.1.0"
            edition = "2021"
            autolib = false
            autobins = false

            [[bin]]
            name = "app-cli"
            path = "src/main.rs"

            [[bin]]
            name = "helper"
            path = "src/bin/helper.rs"
        "#;
        // Files cargo did not declare are not targets: discovery is off.
        let found = targets(
            manifest,
            &["src/main.rs", "src/bin/helper.rs", "src/lib.rs"],
        );
        assert_eq!(
            found,
            Targets {
                lib: false,
                bins: bins(&["app-cli", "helper"])
            }
        );
        let library = "[package]\nname = \"core-lib\"\nedition = \"2021\"\nautolib = false\n\
                       autobins = false\n[lib]\nname = \"core_lib\"\npath = \"src/lib.rs\"\n";
        assert_eq!(
            targets(library, &["src/lib.rs"]),
            Targets {
                lib: true,
                bins: vec![]
            }
        );
    }

    #[test]
    fn an_older_manifest_leaves_targets_to_the_files() {
        let manifest = "[package]\nname = \"tool\"\nversion = \"1.0.0\"\nedition = \"2018\"\n";
        let found = targets(
            manifest,
            &[
                "Cargo.toml",
                "src/lib.rs",
                "src/main.rs",
                "src/bin/zeta.rs",
                "src/bin/alpha/main.rs",
                "src/bin/alpha/util.rs",
                "src/bin/nested/deeper/x.rs",
                "examples/demo.rs",
            ],
        );
        assert_eq!(
            found,
            Targets {
                lib: true,
                bins: bins(&["tool", "alpha", "zeta"])
            }
        );
        let library_only = targets(manifest, &["src/lib.rs", "tests/it.rs"]);
        assert_eq!(
            library_only,
            Targets {
                lib: true,
                bins: vec![]
            }
        );
    }

    #[test]
    fn declared_binaries_come_first_and_are_not_found_twice() {
        let manifest = r#"
            [package]
            name = "tool"
            edition = "2021"
            [[bin]]
            name = "renamed"
            path = "src/main.rs"
            [[bin]]
            path = "src/bin/unnamed.rs"
        "#;
        let found = targets(
            manifest,
            &["src/main.rs", "src/bin/unnamed.rs", "src/bin/extra.rs"],
        );
        assert_eq!(found.bins, bins(&["renamed", "unnamed", "extra"]));
        let named_after_the_package = r#"
            [package]
            name = "tool"
            edition = "2021"
            autobins = false
            [[bin]]
            name = "aardvark"
            path = "src/bin/aardvark.rs"
            [[bin]]
            name = "tool"
            path = "src/main.rs"
        "#;
        let found = targets(
            named_after_the_package,
            &["src/main.rs", "src/bin/aardvark.rs"],
        );
        assert_eq!(found.bins, bins(&["tool", "aardvark"]));
    }

    #[test]
    fn edition_2015_stops_discovering_binaries_once_one_is_declared() {
        let manifest =
            "[package]\nname = \"old\"\n[[bin]]\nname = \"only\"\npath = \"src/only.rs\"\n";
        let found = targets(manifest, &["src/main.rs", "src/bin/other.rs"]);
        assert_eq!(found.bins, bins(&["only"]));
        let undeclared = targets("[package]\nname = \"old\"\n", &["src/main.rs"]);
        assert_eq!(undeclared.bins, bins(&["old"]));
    }

    #[test]
    fn odd_manifests_give_what_can_be_read() {
        assert_eq!(targets("x = 1", &["src/main.rs"]), Targets::default());
        let manifest = "bin = 3\nlib = true\n[package]\nname = \"odd\"\nedition = \"2021\"\n";
        let found = targets(manifest, &["src/main.rs"]);
        assert_eq!(
            found,
            Targets {
                lib: false,
                bins: bins(&["odd"])
            }
        );
    }
}
