//! A `.crate`'s `Cargo.toml` to its index line, as `ops/publish.rs` `check_crate`
//! does it: `Manifest::parse`, `to_index_entry`, `validate_entry`, `to_line`; the
//! line must read back as the same entry, and the metadata cargo would send for
//! the manifest must agree with it.
//!
//! The first byte chooses: bit 0 — the registry stands in for crates.io; bit 1 —
//! the client knows this registry by the first dependency's `registry-index`
//! (as `localhost` for `127.0.0.1`), which the server learns from the metadata.
#![no_main]

use cargohold_fuzz::{OWN_INDEX, derive_and_check, metadata_like_cargo, server};
use cargohold_protocol::manifest::{Manifest, RegistryIdentity};
use cargohold_protocol::name::CrateName;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };

    let mut identity = RegistryIdentity::new([OWN_INDEX.to_owned()]);
    if mode & 1 == 1 {
        identity = identity.standing_in_for_crates_io();
    }
    let client_url = manifest
        .dependencies
        .first()
        .and_then(|dep| dep.registry_index.clone())
        .filter(|_| mode & 2 == 2);
    let client_calls_own = |url: &str| identity.is_own(url) || client_url.as_deref() == Some(url);
    let metadata = metadata_like_cargo(&manifest, client_calls_own);

    let Some((entry, identity)) = derive_and_check(&manifest, Some(&metadata), identity.clone())
    else {
        return;
    };
    if let Err(e) = metadata.check_agrees_with(&entry, &identity) {
        panic!("cargo's own metadata for this manifest is refused: {e}");
    }

    // The name and version the server then checks are the manifest's own.
    assert_eq!(entry.name, manifest.package.name);
    assert_eq!(entry.vers, manifest.package.version);
    if let (Ok(name), Some(_)) = (CrateName::new(&entry.name), server::version(&entry.vers)) {
        assert_eq!(name.as_str(), entry.name);
    }
});
