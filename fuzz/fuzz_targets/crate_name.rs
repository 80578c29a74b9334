//! Crate names as requests and manifests carry them: the publishing rules
//! (`CrateName::new`), dependency and alias rules, the canonical and lowercase
//! forms, `index_path` and its reverse `name_from_index_path` (which maps every
//! sparse index request to a name), and feature names.
#![no_main]

use cargohold_protocol::name::{
    CrateName, MAX_NAME_LENGTH, canonical_name, index_path, name_from_index_path,
    validate_dependency_name,
};
use cargohold_protocol::validate::validate_feature_name;
use libfuzzer_sys::fuzz_target;

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s: &str = &text;

    // Any string: its index path stays inside the index, and canonical forms are stable.
    let path = index_path(s);
    assert!(!path.starts_with('/'), "{s:?} → {path:?}");
    assert!(
        !path.split('/').any(|part| part == ".." || part == "."),
        "{s:?} → {path:?}"
    );
    assert!(!path.contains(['\\', '\0']), "{s:?} → {path:?}");
    assert_eq!(path, index_path(&s.to_ascii_lowercase()));
    assert_eq!(path.is_empty(), s.is_empty());
    let canonical = canonical_name(s);
    assert_eq!(canonical_name(&canonical), canonical);
    assert_eq!(canonical_name(&s.to_ascii_uppercase()), canonical);

    // The reverse: a path names a crate only in cargo's exact layout.
    if let Some(name) = name_from_index_path(s) {
        assert_eq!(index_path(name), s, "{s:?} does not round-trip");
        assert!(
            name.bytes()
                .all(|b| is_name_char(b) && !b.is_ascii_uppercase())
        );
    }

    let dependency = validate_dependency_name(s, false);
    let alias = validate_dependency_name(s, true);
    if dependency.is_ok() {
        assert!(alias.is_ok());
    }
    if alias.is_ok() {
        assert!(!s.is_empty() && s.len() <= MAX_NAME_LENGTH);
        assert!(s.bytes().all(is_name_char), "{s:?}");
        let lower = s.to_ascii_lowercase();
        assert_eq!(name_from_index_path(&index_path(s)), Some(lower.as_str()));
        assert!(validate_dependency_name(&lower, true).is_ok());
    }

    match CrateName::new(s) {
        Ok(name) => {
            assert!(dependency.is_ok());
            assert_eq!(name.as_str(), s);
            assert_eq!(name.canonical(), canonical);
            assert_eq!(name.lowercase(), s.to_ascii_lowercase());
            assert_eq!(name.index_path(), path);
            assert_eq!(name_from_index_path(&path), Some(name.lowercase().as_str()));
            assert!(s.as_bytes()[0].is_ascii_alphabetic());
            // Any spelling with the same canonical form is accepted too.
            assert!(CrateName::new(&canonical).is_ok(), "{canonical}");
            assert!(CrateName::new(&s.to_ascii_uppercase()).is_ok());
            assert!(CrateName::new(&s.replace('_', "-")).is_ok());
        }
        Err(_) => {
            if dependency.is_ok() {
                // Valid syntax refused for a reserved name: every spelling of it is refused.
                assert!(CrateName::new(&canonical).is_err());
                assert!(CrateName::new(&s.to_ascii_uppercase()).is_err());
            }
        }
    }

    if validate_feature_name(s).is_ok() {
        assert!(
            !s.is_empty() && !s.starts_with("dep:") && !s.contains(['/', ' ', ',']),
            "{s:?}"
        );
    }
});
