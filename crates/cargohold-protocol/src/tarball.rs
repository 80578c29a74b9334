//! Reading a `.crate` (a gzip-compressed tar) safely, without writing anything to disk.
//!
//! Cargo unpacks every `.crate` it downloads, and cargo 1.95 trusts the registry to
//! have refused archives that escape their directory (symlinks, hard links, `..`),
//! so this is a security boundary: every entry is checked, sizes are capped while
//! decompressing, and only the manifest is kept.

use std::cell::Cell;
use std::collections::HashSet;
use std::io::{self, Read};
use std::rc::Rc;

use flate2::read::GzDecoder;
use tar::EntryType;

use crate::manifest::Manifest;

/// Caps on what one `.crate` may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct TarballLimits {
    /// Total bytes of the decompressed tar stream.
    pub max_unpacked_size: u64,
    pub max_entries: usize,
    pub max_path_length: usize,
    /// Bytes of `Cargo.toml` and of any other file read out of the archive.
    pub max_file_size: u64,
}

impl Default for TarballLimits {
    fn default() -> Self {
        Self {
            max_unpacked_size: 512 * 1024 * 1024,
            max_entries: 50_000,
            max_path_length: 1024,
            max_file_size: 10 * 1024 * 1024,
        }
    }
}

/// Why a `.crate` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarballError {
    #[error("the .crate file is not gzip-compressed")]
    NotGzip,
    #[error("the .crate file is not a valid gzip-compressed tar archive: {0}")]
    Corrupt(String),
    #[error("the .crate file unpacks to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the .crate file has more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("the .crate file has a path longer than {limit} bytes")]
    PathTooLong { limit: usize },
    #[error("the .crate file has a path that is not UTF-8")]
    NonUtf8Path,
    #[error("the .crate file has an entry `{path}` outside of `{prefix}/`")]
    OutsidePrefix { path: String, prefix: String },
    #[error(
        "the .crate file has an entry `{0}` that is not a plain relative path (`..`, `\\` or empty parts)"
    )]
    UnsafePath(String),
    #[error(
        "the .crate file has an entry `{path}` of type {kind}; only regular files and directories are allowed"
    )]
    BadEntryType { path: String, kind: String },
    #[error("the .crate file has an entry `{0}` whose pax and ustar sizes disagree")]
    SizeMismatch(String),
    #[error("the .crate file has the entry `{0}` twice")]
    Duplicate(String),
    #[error("the .crate file has no `{0}/Cargo.toml`")]
    NoManifest(String),
    #[error("the .crate file has a manifest spelled `{0}`; it must be `Cargo.toml`")]
    ManifestCase(String),
    #[error("`{0}` in the .crate file is larger than {1} bytes")]
    FileTooLarge(String, u64),
    #[error("`{0}` in the .crate file is not UTF-8 text")]
    NotUtf8(String),
}

/// What a registry reads out of a valid `.crate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateContents {
    /// The text of `{prefix}/Cargo.toml`.
    pub manifest: String,
    /// The text of `{prefix}/.cargo_vcs_info.json`, when cargo packaged from git.
    pub vcs_info: Option<String>,
    /// Number of entries, directories included.
    pub entries: usize,
    /// Bytes of the decompressed tar stream.
    pub unpacked_size: u64,
    /// The bytes of the README the manifest names, when [`inspect_with_readme`] asked
    /// for it and it is a regular file within the size given there.
    pub readme: Option<Vec<u8>>,
    /// The files that tell which targets the package has, relative to its
    /// directory ([`crate::targets::is_target_file`]).
    pub target_files: Vec<String>,
}

/// Checks every entry of `tarball` and returns its manifest.
///
/// `prefix` is `{name}-{version}`, exactly as the index will name the crate:
/// cargo unpacks into that directory and refuses entries outside it.
pub fn inspect(
    tarball: &[u8],
    prefix: &str,
    limits: &TarballLimits,
) -> Result<CrateContents, TarballError> {
    inspect_and_read(tarball, prefix, limits, None)
}

/// [`inspect`], also reading the README the manifest names (`package.readme`) if it
/// is at most `max_readme_size` bytes.
///
/// cargo packs `Cargo.toml` before the README in nearly every `.crate`, so the
/// README is read in the same pass; one packed before the manifest costs a second.
pub fn inspect_with_readme(
    tarball: &[u8],
    prefix: &str,
    limits: &TarballLimits,
    max_readme_size: u64,
) -> Result<CrateContents, TarballError> {
    inspect_and_read(tarball, prefix, limits, Some(max_readme_size))
}

fn inspect_and_read(
    tarball: &[u8],
    prefix: &str,
    limits: &TarballLimits,
    max_readme_size: Option<u64>,
) -> Result<CrateContents, TarballError> {
    let mut manifest = None;
    let mut vcs_info = None;
    let mut readme = None;
    // Named by the manifest once it is read; `passed` when it came first.
    let mut readme_path: Option<String> = None;
    let mut readme_passed = false;
    let mut target_files = Vec::new();
    let manifest_path = format!("{prefix}/Cargo.toml");
    let vcs_info_path = format!("{prefix}/.cargo_vcs_info.json");
    let (entries, unpacked_size) = walk(tarball, prefix, limits, |path, entry, seen| {
        if let Some(relative) = path.get(prefix.len() + 1..)
            && path.as_bytes().get(prefix.len()) == Some(&b'/')
            && crate::targets::is_target_file(relative)
        {
            target_files.push(relative.to_owned());
        }
        if path == manifest_path {
            let text = read_text(entry, path, limits.max_file_size)?;
            if max_readme_size.is_some()
                && let Some(relative) = Manifest::parse(&text).ok().and_then(|m| m.package.readme)
            {
                let wanted = format!("{prefix}/{}", relative.trim_start_matches("./"));
                // The manifest and the VCS file are read for themselves: a README
                // that is one of them is read again, like one that came first.
                readme_passed = seen.contains(&wanted) || wanted == vcs_info_path;
                readme_path = Some(wanted);
            }
            manifest = Some(text);
        } else if path == vcs_info_path {
            vcs_info = Some(read_text(entry, path, limits.max_file_size)?);
        } else if path.eq_ignore_ascii_case(&manifest_path) {
            return Err(TarballError::ManifestCase(path.to_owned()));
        } else if let (Some(wanted), Some(max)) = (&readme_path, max_readme_size)
            && path == wanted
            && !readme_passed
        {
            // Too large to show is no README, not a bad `.crate`.
            readme = match read_bytes(entry, path, max) {
                Ok(bytes) => Some(bytes),
                Err(TarballError::FileTooLarge(..)) => None,
                Err(err) => return Err(err),
            };
        }
        Ok(())
    })?;
    let manifest = manifest.ok_or_else(|| TarballError::NoManifest(prefix.to_owned()))?;
    if readme_passed && let (Some(wanted), Some(max)) = (&readme_path, max_readme_size) {
        let limits = TarballLimits {
            max_file_size: max,
            ..*limits
        };
        let relative = &wanted[prefix.len() + 1..];
        readme = read_file(tarball, prefix, relative, &limits).ok().flatten();
    }
    Ok(CrateContents {
        manifest,
        vcs_info,
        entries,
        unpacked_size,
        readme,
        target_files,
    })
}

/// The directory a `.crate`'s first entry lives in (`{name}-{version}`), for
/// archives that arrive without a name: [`inspect`] then checks every entry against it.
pub fn top_directory(tarball: &[u8]) -> Result<String, TarballError> {
    if !tarball.starts_with(&[0x1f, 0x8b]) {
        return Err(TarballError::NotGzip);
    }
    let mut archive = tar::Archive::new(GzDecoder::new(tarball));
    let corrupt = |e: io::Error| TarballError::Corrupt(e.to_string());
    let entry = archive
        .entries()
        .map_err(corrupt)?
        .next()
        .ok_or_else(|| TarballError::Corrupt("the archive has no entries".into()))?
        .map_err(corrupt)?;
    let path = entry.path_bytes();
    let path = std::str::from_utf8(&path).map_err(|_| TarballError::NonUtf8Path)?;
    let top = path.split('/').next().unwrap_or_default();
    if top.is_empty() || top == "." || top == ".." {
        return Err(TarballError::UnsafePath(path.to_owned()));
    }
    Ok(top.to_owned())
}

/// Reads one file, `relative` to the package root, out of an already inspected `.crate`.
pub fn read_file(
    tarball: &[u8],
    prefix: &str,
    relative: &str,
    limits: &TarballLimits,
) -> Result<Option<Vec<u8>>, TarballError> {
    let wanted = format!("{prefix}/{}", relative.trim_start_matches("./"));
    let mut found = None;
    walk(tarball, prefix, limits, |path, entry, _| {
        if path == wanted {
            found = Some(read_bytes(entry, path, limits.max_file_size)?);
        }
        Ok(())
    })?;
    Ok(found)
}

/// Walks every entry, enforcing the rules, and hands each regular file to `visit`
/// with the paths of the regular files seen so far, its own included.
/// Returns the entry count and the decompressed size.
fn walk<F>(
    tarball: &[u8],
    prefix: &str,
    limits: &TarballLimits,
    mut visit: F,
) -> Result<(usize, u64), TarballError>
where
    F: FnMut(&str, &mut dyn Read, &HashSet<String>) -> Result<(), TarballError>,
{
    if !tarball.starts_with(&[0x1f, 0x8b]) {
        return Err(TarballError::NotGzip);
    }
    let counter = CountingReader::new(GzDecoder::new(tarball), limits.max_unpacked_size);
    let exceeded = counter.exceeded.clone();
    let read_so_far = counter.read.clone();
    let corrupt = |e: io::Error| {
        if exceeded.get() {
            TarballError::TooLarge {
                limit: limits.max_unpacked_size,
            }
        } else {
            TarballError::Corrupt(e.to_string())
        }
    };

    let mut archive = tar::Archive::new(counter);
    let mut seen = HashSet::new();
    let mut count = 0usize;
    let dir_prefix = format!("{prefix}/");
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        count += 1;
        if count > limits.max_entries {
            return Err(TarballError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        // A pax global header is refused like any other odd entry: cargo's unpacker
        // treats it as a file outside the package directory.
        let kind = entry.header().entry_type();
        let path_bytes = entry.path_bytes();
        if path_bytes.len() > limits.max_path_length {
            return Err(TarballError::PathTooLong {
                limit: limits.max_path_length,
            });
        }
        let path = std::str::from_utf8(&path_bytes)
            .map_err(|_| TarballError::NonUtf8Path)?
            .to_owned();
        drop(path_bytes);

        let relative = if path == prefix {
            ""
        } else if let Some(rest) = path.strip_prefix(&dir_prefix) {
            rest.trim_end_matches('/')
        } else {
            return Err(TarballError::OutsidePrefix {
                path,
                prefix: prefix.to_owned(),
            });
        };
        let unsafe_part = relative.contains('\\')
            || relative.contains('\0')
            || (!relative.is_empty()
                && relative
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == ".."));
        if unsafe_part {
            return Err(TarballError::UnsafePath(path));
        }
        match kind {
            // A file named like the package directory itself would stop cargo from unpacking.
            EntryType::Regular | EntryType::Continuous if relative.is_empty() => {
                return Err(TarballError::UnsafePath(path));
            }
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Directory => continue,
            other => {
                return Err(TarballError::BadEntryType {
                    path,
                    kind: entry_type_name(other),
                });
            }
        }
        if entry.header().entry_size().ok() != Some(entry.size()) {
            return Err(TarballError::SizeMismatch(path));
        }
        if !seen.insert(path.clone()) {
            return Err(TarballError::Duplicate(path));
        }
        visit(&path, &mut entry, &seen)?;
        // Whatever `visit` left unread is skipped by tar, still through the counter.
    }
    // Read to the end of the gzip stream so a truncated or corrupt trailer is noticed.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(corrupt)?;
    Ok((count, read_so_far.get()))
}

fn read_bytes(entry: &mut dyn Read, path: &str, max: u64) -> Result<Vec<u8>, TarballError> {
    let mut bytes = Vec::new();
    entry
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TarballError::Corrupt(e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(TarballError::FileTooLarge(path.to_owned(), max));
    }
    Ok(bytes)
}

fn read_text(entry: &mut dyn Read, path: &str, max: u64) -> Result<String, TarballError> {
    String::from_utf8(read_bytes(entry, path, max)?)
        .map_err(|_| TarballError::NotUtf8(path.to_owned()))
}

fn entry_type_name(kind: EntryType) -> String {
    match kind {
        EntryType::Symlink => "symlink".into(),
        EntryType::Link => "hard link".into(),
        EntryType::Char => "character device".into(),
        EntryType::Block => "block device".into(),
        EntryType::Fifo => "fifo".into(),
        other => format!("{other:?}"),
    }
}

/// Counts decompressed bytes and fails the read once `limit` is passed.
///
/// The tar reader rewraps I/O errors without their source, so the "limit
/// exceeded" fact travels beside the error in a shared flag.
struct CountingReader<R> {
    inner: R,
    limit: u64,
    read: Rc<Cell<u64>>,
    exceeded: Rc<Cell<bool>>,
}

impl<R> CountingReader<R> {
    fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            limit,
            read: Rc::default(),
            exceeded: Rc::default(),
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.read.get() + n as u64;
        self.read.set(total);
        if total > self.limit {
            self.exceeded.set(true);
            return Err(io::Error::other("unpacked size limit exceeded"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    /// Builds a tar with raw control over each header, including names the tar crate's builder refuses.
    fn tarball(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (path, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if *kind == EntryType::Symlink || *kind == EntryType::Link {
                header.set_link_name("target").unwrap();
            }
            header.set_cksum();
            tar.extend_from_slice(header.as_bytes());
            tar.extend_from_slice(data);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        }
        tar.resize(tar.len() + 1024, 0);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    const MANIFEST: &[u8] = b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\n";

    /// A raw tar entry: path, type, data.
    type Entry<'a> = (&'a str, EntryType, &'a [u8]);

    fn check(entries: &[Entry<'_>]) -> Result<CrateContents, TarballError> {
        inspect(&tarball(entries), "demo-1.0.0", &TarballLimits::default())
    }

    #[test]
    fn a_well_formed_crate_yields_its_manifest() {
        let contents = check(&[
            ("demo-1.0.0/", EntryType::Directory, b""),
            ("demo-1.0.0/Cargo.toml", EntryType::Regular, MANIFEST),
            (
                "demo-1.0.0/src/lib.rs",
                EntryType::Regular,
                b"pub fn x() {}",
            ),
            ("demo-1.0.0/.cargo_vcs_info.json", EntryType::Regular, b"{}"),
        ])
        .unwrap();
        assert_eq!(contents.manifest.as_bytes(), MANIFEST);
        assert_eq!(contents.vcs_info.as_deref(), Some("{}"));
        assert_eq!(contents.entries, 4);
    }

    #[test]
    fn the_top_directory_names_the_package() {
        let tar = tarball(&[
            ("demo-1.0.0+x/", EntryType::Directory, b""),
            ("demo-1.0.0+x/Cargo.toml", EntryType::Regular, MANIFEST),
        ]);
        assert_eq!(top_directory(&tar).unwrap(), "demo-1.0.0+x");
        let hostile = tarball(&[("/etc/passwd", EntryType::Regular, b"")]);
        assert!(top_directory(&hostile).is_err());
        assert_eq!(top_directory(b"nope"), Err(TarballError::NotGzip));
    }

    #[test]
    fn reads_a_single_file_by_relative_path() {
        let tar = tarball(&[
            ("demo-1.0.0/Cargo.toml", EntryType::Regular, MANIFEST),
            ("demo-1.0.0/README.md", EntryType::Regular, b"# Demo"),
        ]);
        let limits = TarballLimits::default();
        assert_eq!(
            read_file(&tar, "demo-1.0.0", "./README.md", &limits)
                .unwrap()
                .as_deref(),
            Some(&b"# Demo"[..])
        );
        assert_eq!(
            read_file(&tar, "demo-1.0.0", "NOPE", &limits).unwrap(),
            None
        );
    }

    #[test]
    fn the_readme_the_manifest_names_is_read_wherever_it_is_packed() {
        let manifest =
            b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\nreadme = \"./docs/intro.md\"\n";
        let m = ("demo-1.0.0/Cargo.toml", EntryType::Regular, &manifest[..]);
        let readme = (
            "demo-1.0.0/docs/intro.md",
            EntryType::Regular,
            &b"# Demo"[..],
        );
        let other = ("demo-1.0.0/README.md", EntryType::Regular, &b"not this"[..]);
        let limits = TarballLimits::default();
        for entries in [vec![m, other, readme], vec![readme, other, m]] {
            let contents =
                inspect_with_readme(&tarball(&entries), "demo-1.0.0", &limits, 100).unwrap();
            assert_eq!(contents.readme.as_deref(), Some(&b"# Demo"[..]));
            assert_eq!(contents.manifest.as_bytes(), manifest);
        }
        // Only when asked.
        let plain = inspect(&tarball(&[m, readme]), "demo-1.0.0", &limits).unwrap();
        assert_eq!(plain.readme, None);
    }

    #[test]
    fn a_readme_too_large_missing_or_unnamed_is_none_and_the_crate_still_passes() {
        let named = b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\nreadme = \"README.md\"\n";
        let m = ("demo-1.0.0/Cargo.toml", EntryType::Regular, &named[..]);
        let big = ("demo-1.0.0/README.md", EntryType::Regular, &[b'x'; 101][..]);
        let limits = TarballLimits::default();
        let inspect = |entries: &[Entry<'_>]| {
            inspect_with_readme(&tarball(entries), "demo-1.0.0", &limits, 100).unwrap()
        };
        assert_eq!(inspect(&[m, big]).readme, None);
        assert_eq!(inspect(&[big, m]).readme, None);
        assert_eq!(inspect(&[m]).readme, None);
        let unnamed = ("demo-1.0.0/Cargo.toml", EntryType::Regular, MANIFEST);
        let small = ("demo-1.0.0/README.md", EntryType::Regular, &b"hi"[..]);
        assert_eq!(inspect(&[unnamed, small]).readme, None);
        // A README that is the manifest itself is its text.
        let itself = b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\nreadme = \"Cargo.toml\"\n";
        let m = ("demo-1.0.0/Cargo.toml", EntryType::Regular, &itself[..]);
        assert_eq!(inspect(&[m]).readme.as_deref(), Some(&itself[..]));
    }

    #[test]
    fn unsafe_archives_are_refused() {
        let m = ("demo-1.0.0/Cargo.toml", EntryType::Regular, MANIFEST);
        let cases: Vec<(Vec<Entry<'_>>, &str)> = vec![
            (
                vec![m, ("demo-1.0.0/../evil", EntryType::Regular, b"x")],
                "plain relative path",
            ),
            (
                vec![m, ("/etc/evil", EntryType::Regular, b"x")],
                "outside of",
            ),
            (
                vec![m, ("other-1.0.0/x", EntryType::Regular, b"x")],
                "outside of",
            ),
            (
                vec![m, ("Demo-1.0.0/x", EntryType::Regular, b"x")],
                "outside of",
            ),
            (
                vec![m, ("demo-1.0.0/link", EntryType::Symlink, b"")],
                "symlink",
            ),
            (
                vec![m, ("demo-1.0.0/hard", EntryType::Link, b"")],
                "hard link",
            ),
            (
                vec![m, ("demo-1.0.0/dev", EntryType::Char, b"")],
                "character device",
            ),
            (
                vec![m, ("demo-1.0.0/a\\..\\b", EntryType::Regular, b"x")],
                "plain relative path",
            ),
            (vec![m, m], "twice"),
            (
                vec![m, ("demo-1.0.0", EntryType::Regular, b"x")],
                "plain relative path",
            ),
            (
                vec![m, ("././@PaxHeader", EntryType::XGlobalHeader, b"")],
                "outside of",
            ),
            (
                vec![m, ("demo-1.0.0/g", EntryType::XGlobalHeader, b"")],
                "XGlobalHeader",
            ),
            (
                vec![("demo-1.0.0/cargo.toml", EntryType::Regular, MANIFEST)],
                "spelled",
            ),
            (
                vec![("demo-1.0.0/src/lib.rs", EntryType::Regular, b"")],
                "no `demo-1.0.0/Cargo.toml`",
            ),
        ];
        for (entries, expected) in cases {
            let err = check(&entries).unwrap_err().to_string();
            assert!(err.contains(expected), "{entries:?}: {err}");
        }
    }

    #[test]
    fn data_that_is_not_a_gzip_tar_is_refused() {
        let limits = TarballLimits::default();
        assert_eq!(
            inspect(b"PK\x03\x04", "demo-1.0.0", &limits),
            Err(TarballError::NotGzip)
        );
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        io::Write::write_all(&mut gz, b"this is not a tar archive at all, just text").unwrap();
        let err = inspect(&gz.finish().unwrap(), "demo-1.0.0", &limits).unwrap_err();
        assert!(
            matches!(err, TarballError::Corrupt(_) | TarballError::NoManifest(_)),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_crate_is_refused() {
        let tar = tarball(&[("demo-1.0.0/Cargo.toml", EntryType::Regular, MANIFEST)]);
        let err = inspect(
            &tar[..tar.len() - 4],
            "demo-1.0.0",
            &TarballLimits::default(),
        );
        assert!(matches!(err, Err(TarballError::Corrupt(_))), "{err:?}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_unpacked_size_limit() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let tar = tarball(&[
            ("demo-1.0.0/Cargo.toml", EntryType::Regular, MANIFEST),
            ("demo-1.0.0/zeros", EntryType::Regular, &zeros),
        ]);
        assert!(tar.len() < 64 * 1024, "the bomb compresses well");
        let limits = TarballLimits {
            max_unpacked_size: 1024 * 1024,
            ..TarballLimits::default()
        };
        assert_eq!(
            inspect(&tar, "demo-1.0.0", &limits),
            Err(TarballError::TooLarge { limit: 1024 * 1024 })
        );
    }

    #[test]
    fn entry_count_and_path_length_are_capped() {
        let entries: Vec<String> = (0..5).map(|i| format!("demo-1.0.0/f{i}")).collect();
        let mut list: Vec<Entry<'_>> =
            vec![("demo-1.0.0/Cargo.toml", EntryType::Regular, MANIFEST)];
        list.extend(
            entries
                .iter()
                .map(|p| (p.as_str(), EntryType::Regular, &b""[..])),
        );
        let limits = TarballLimits {
            max_entries: 3,
            ..TarballLimits::default()
        };
        assert_eq!(
            inspect(&tarball(&list), "demo-1.0.0", &limits),
            Err(TarballError::TooManyEntries { limit: 3 })
        );
        let limits = TarballLimits {
            max_path_length: 15,
            ..TarballLimits::default()
        };
        assert_eq!(
            inspect(&tarball(&list), "demo-1.0.0", &limits),
            Err(TarballError::PathTooLong { limit: 15 })
        );
    }
}
