//! Versions as requests, metadata and manifests carry them: semver parsing in the
//! server's canonical-spelling rule (`ops/publish.rs` `parse_version`), the
//! version inside a download or upload file name (`version_from_file_name`),
//! version requirements as the index writes them, and `rust-version`.
//!
//! The input is `NAME\nTEXT`: a crate name for the file name checks, and the text.
#![no_main]

use cargohold_fuzz::server;
use cargohold_protocol::index::IndexEntry;
use cargohold_protocol::manifest::normalize_requirement;
use cargohold_protocol::name::{validate_dependency_name, version_from_file_name};
use cargohold_protocol::validate::{EntryLimits, validate_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (name, text) = input.split_once('\n').unwrap_or(("demo", input));

    // Semver: what parses prints in a form that parses back to the same version.
    if let Ok(version) = semver::Version::parse(text) {
        let printed = version.to_string();
        assert_eq!(
            semver::Version::parse(&printed).ok().as_ref(),
            Some(&version)
        );
        assert_eq!(
            server::version(text).is_some(),
            printed == text && text.len() <= 150
        );
        // Without build metadata it is the same version to cargo.
        let mut plain = version.clone();
        plain.build = semver::BuildMetadata::EMPTY;
        assert_eq!(plain.cmp_precedence(&version), std::cmp::Ordering::Equal);
        assert!(server::version(&plain.to_string()).is_some() || plain.to_string().len() > 150);
    } else {
        assert!(server::version(text).is_none());
    }

    // File names: `{name}-{version}.crate`, the name in any case.
    if let Some(version) = version_from_file_name(name, text) {
        assert!(!version.is_empty());
        let head = &text[..name.len()];
        assert!(head.eq_ignore_ascii_case(name));
        assert_eq!(text, format!("{head}-{version}.crate"));
    }
    if !text.is_empty() {
        for spelling in [
            name.to_owned(),
            name.to_ascii_uppercase(),
            name.to_ascii_lowercase(),
        ] {
            let file = format!("{spelling}-{text}.crate");
            assert_eq!(version_from_file_name(name, &file), Some(text), "{file}");
        }
    }
    // ops/download.rs: what names a download is a crate name and a semver version.
    if validate_dependency_name(name, false).is_ok() && server::version(text).is_some() {
        let file = format!("{name}-{text}.crate");
        assert_eq!(
            version_from_file_name(&name.to_ascii_uppercase(), &file),
            Some(text)
        );
    }

    // Requirements: the index writes cargo's spelling, which must read back unchanged.
    if let Ok(req) = normalize_requirement("dep", text) {
        assert_eq!(
            normalize_requirement("dep", &req).as_deref(),
            Ok(req.as_str()),
            "{text:?}"
        );
        let original = semver::VersionReq::parse(text).unwrap();
        let printed = semver::VersionReq::parse(&req).unwrap();
        for probe in [
            "0.0.0",
            "0.1.0",
            "1.0.0",
            "1.2.3",
            "1.2.3-alpha.1",
            "2.0.0",
            "10.20.30",
        ] {
            let probe = semver::Version::parse(probe).unwrap();
            assert_eq!(
                original.matches(&probe),
                printed.matches(&probe),
                "{text:?} vs {req:?} at {probe}"
            );
        }
        if let Ok(version) = semver::Version::parse(name) {
            assert_eq!(original.matches(&version), printed.matches(&version));
        }
    }

    // rust-version: a bare `1`, `1.70` or `1.70.1`, which cargo reads as a partial version.
    let entry = IndexEntry {
        name: "demo".into(),
        vers: "1.0.0".into(),
        deps: vec![],
        cksum: String::new(),
        features: Default::default(),
        features2: None,
        yanked: false,
        links: None,
        rust_version: Some(text.to_owned()),
        pubtime: None,
        v: None,
    };
    if validate_entry(&entry, &EntryLimits::default()).is_ok() {
        let parts: Vec<&str> = text.split('.').collect();
        assert!((1..=3).contains(&parts.len()), "{text:?}");
        let mut full = parts.clone();
        full.resize(3, "0");
        assert!(semver::Version::parse(&full.join(".")).is_ok(), "{text:?}");
    }
});
