//! A `.crate` as `ops/publish.rs` `check_crate` reads it: `tarball::top_directory`
//! (for `cargohold import`), `tarball::inspect` under the package directory, and
//! `tarball::read_file` for the README, with the server's limits (or tight ones).
//!
//! The first byte chooses: bit 0 — the rest is a plain tar to gzip here (so the
//! fuzzer mutates tar headers, not deflate streams) or the `.crate` bytes as
//! sent; bit 1 — tight limits instead of the server's; bit 2 — the package
//! directory `demo-1.0.0` instead of the archive's own top directory; bit 3 —
//! with bit 0, header checksums are recomputed first, so that mutated headers
//! (types, names, sizes, pax records) get past the checksum to the checks.
#![no_main]

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Component;

use cargohold_fuzz::server;
use cargohold_protocol::manifest::Manifest;
use cargohold_protocol::tarball::{self, TarballError, TarballLimits};
use libfuzzer_sys::fuzz_target;

const TIGHT: TarballLimits = TarballLimits {
    max_unpacked_size: 24 * 1024,
    max_entries: 8,
    max_path_length: 48,
    max_file_size: 1024,
};

/// Writes the right checksum into each header of a plain tar, following the sizes.
fn fix_checksums(tar: &mut [u8]) {
    let mut at = 0;
    while let Some(header) = tar.get_mut(at..at + 512) {
        if header.iter().all(|&b| b == 0) {
            break;
        }
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let size = std::str::from_utf8(&header[124..136])
            .ok()
            .and_then(|field| u64::from_str_radix(field.trim_matches([' ', '\0']), 8).ok())
            .unwrap_or(0);
        let Some(next) = usize::try_from(size.div_ceil(512) * 512)
            .ok()
            .and_then(|data| at.checked_add(512 + data))
        else {
            break;
        };
        at = next;
    }
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let archive: Cow<'_, [u8]> = if mode & 1 == 1 {
        let mut tar = rest.to_vec();
        if mode & 8 == 8 {
            fix_checksums(&mut tar);
        }
        Cow::Owned(gzip(&tar))
    } else {
        Cow::Borrowed(rest)
    };
    let archive = &archive[..];
    let limits = if mode & 2 == 2 {
        TIGHT
    } else {
        server::tarball_limits()
    };

    let top = tarball::top_directory(archive);
    if let Ok(top) = &top {
        assert!(
            !top.is_empty() && !top.contains('/') && top != "." && top != "..",
            "{top:?}"
        );
    }
    let prefix = match top {
        Ok(top) if mode & 4 == 0 => top,
        _ => "demo-1.0.0".to_owned(),
    };

    let Ok(contents) = tarball::inspect(archive, &prefix, &limits) else {
        return;
    };
    // Within the limits it was given.
    assert!(contents.entries >= 1 && contents.entries <= limits.max_entries);
    assert!(contents.unpacked_size <= limits.max_unpacked_size);
    assert!(contents.manifest.len() as u64 <= limits.max_file_size);
    if let Some(vcs_info) = &contents.vcs_info {
        assert!(vcs_info.len() as u64 <= limits.max_file_size);
    }
    // The server's limits accept whatever tight ones do, with the same result.
    if mode & 2 == 2 {
        let wide = tarball::inspect(archive, &prefix, &server::tarball_limits());
        assert_eq!(wide.as_ref(), Ok(&contents));
    }
    // read_file finds the manifest inspect returned, by either spelling.
    for relative in ["Cargo.toml", "./Cargo.toml"] {
        let read = tarball::read_file(archive, &prefix, relative, &limits);
        assert_eq!(
            read,
            Ok(Some(contents.manifest.clone().into_bytes())),
            "{relative}"
        );
    }

    // What cargo will unpack, read independently: every entry is a plain file or
    // directory strictly inside `{prefix}/`, and read_file returns each file's bytes.
    let mut entries = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut count = 0;
    let mut files_read = 0;
    for entry in entries.entries().expect("inspect read these entries") {
        let mut entry = entry.expect("inspect read this entry");
        count += 1;
        let kind = entry.header().entry_type();
        assert!(
            kind.is_file() || kind.is_dir() || kind == tar::EntryType::Continuous,
            "{kind:?} passed"
        );
        let path = entry.path().expect("a UTF-8 path").into_owned();
        let mut components = path.components();
        assert_eq!(
            components.next(),
            Some(Component::Normal(prefix.as_ref())),
            "{path:?} is outside {prefix}/"
        );
        let rest: Vec<Component<'_>> = components.collect();
        assert!(
            rest.iter().all(|c| matches!(c, Component::Normal(_))),
            "{path:?} escapes {prefix}/"
        );
        assert!(
            kind.is_dir() || !rest.is_empty(),
            "{path:?} is a file named like the package"
        );
        let raw = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        assert!(!raw.contains(['\\', '\0']), "{raw:?}");
        if kind.is_dir() || files_read >= 4 {
            continue;
        }
        files_read += 1;
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .expect("inspect read this file");
        let relative = raw.strip_prefix(&format!("{prefix}/")).unwrap();
        let read = tarball::read_file(archive, &prefix, relative, &limits);
        if data.len() as u64 <= limits.max_file_size {
            assert_eq!(read, Ok(Some(data)), "{raw}");
        } else {
            assert!(
                matches!(read, Err(TarballError::FileTooLarge(..))),
                "{raw}: {read:?}"
            );
        }
    }
    assert_eq!(count, contents.entries);

    // ops/publish.rs readme_from: the README the manifest names, capped at 1 MiB.
    if let Ok(manifest) = Manifest::parse(&contents.manifest)
        && let Some(readme) = manifest.package.readme.as_deref()
    {
        let limits = TarballLimits {
            max_file_size: server::MAX_README_SIZE.min(limits.max_file_size),
            ..limits
        };
        if let Ok(Some(bytes)) = tarball::read_file(archive, &prefix, readme, &limits) {
            assert!(bytes.len() as u64 <= limits.max_file_size);
        }
    }
});
