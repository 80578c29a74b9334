//! The body of `PUT /api/v1/crates/new`, then what the server does with it
//! (`api/publish.rs`, `ops/publish.rs`): the name and version rules, the `.crate`
//! under `{name}-{vers}/`, its manifest, the index line, cargo's checks and the
//! metadata's agreement with the manifest.
//!
//! When the `.crate` part is not gzip, the target reads it as the `Cargo.toml`
//! text instead, so that mutations reach the metadata/manifest comparison
//! without first having to produce a valid archive.
#![no_main]

use cargohold_fuzz::{OWN_INDEX, derive_and_check, metadata_like_cargo, server};
use cargohold_protocol::manifest::{Manifest, RegistryIdentity};
use cargohold_protocol::name::CrateName;
use cargohold_protocol::publish::{PublishBodyError, PublishLimits, parse_publish_body};
use cargohold_protocol::tarball;
use libfuzzer_sys::fuzz_target;

/// The framing, written out plainly: two little-endian u32 lengths, each followed by its part.
fn split(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let json_len = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let json = body.get(4..4 + json_len)?;
    let rest = &body[4 + json_len..];
    let crate_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let krate = rest.get(4..4 + crate_len)?;
    (rest.len() == 4 + crate_len).then_some((json, krate))
}

fuzz_target!(|body: &[u8]| {
    let limits = server::publish_limits();
    let parsed = parse_publish_body(body, &limits);

    // The lengths: what parses is exactly the two declared parts, within the limits.
    match (&parsed, split(body)) {
        (Ok((_, tarball)), Some((json, krate))) => {
            assert_eq!(*tarball, krate);
            assert!(json.len() as u64 <= limits.max_metadata_size);
            assert!(krate.len() as u64 <= limits.max_crate_size);
        }
        (Ok(_), None) => panic!("a body whose lengths do not add up was accepted"),
        (Err(PublishBodyError::InvalidJson(_)), Some(_)) => {}
        (Err(PublishBodyError::InvalidJson(_)), None) => panic!("framing error reported as JSON"),
        (Err(e), Some((json, krate))) => assert!(
            e.is_too_large()
                && (json.len() as u64 > limits.max_metadata_size
                    || krate.len() as u64 > limits.max_crate_size),
            "a well-framed body was refused: {e}"
        ),
        (Err(e), None) => assert!(!matches!(e, PublishBodyError::InvalidJson(_))),
    }
    if let Err(e) = &parsed
        && e.is_too_large()
    {
        let len = match e {
            PublishBodyError::MetadataTooLarge { len, limit }
            | PublishBodyError::CrateTooLarge { len, limit } => {
                assert!(len > limit);
                *len
            }
            _ => unreachable!(),
        };
        assert!(len <= u64::from(u32::MAX));
    }
    // Tighter limits never accept what the server's refuse, and agree when both accept.
    let tight = PublishLimits {
        max_metadata_size: 512,
        max_crate_size: 2048,
    };
    if let Ok((metadata, tarball)) = parse_publish_body(body, &tight) {
        let (wide_metadata, wide_tarball) =
            parsed.as_ref().expect("the wider limits accept it too");
        assert_eq!((&metadata, tarball), (wide_metadata, *wide_tarball));
    }

    let Ok((metadata, tarball)) = parsed else {
        return;
    };
    // ops/publish.rs: cheap refusals before the archive is opened.
    if CrateName::new(&metadata.name).is_err() || server::version(&metadata.vers).is_none() {
        return;
    }
    let prefix = format!("{}-{}", metadata.name, metadata.vers);
    let manifest_text = if tarball.starts_with(&[0x1f, 0x8b]) {
        match tarball::inspect(tarball, &prefix, &server::tarball_limits()) {
            Ok(contents) => contents.manifest,
            Err(_) => return,
        }
    } else {
        match std::str::from_utf8(tarball) {
            Ok(text) => text.to_owned(),
            Err(_) => return,
        }
    };
    let Ok(manifest) = Manifest::parse(&manifest_text) else {
        return;
    };
    let identity = RegistryIdentity::new([OWN_INDEX.to_owned()]);
    let Some((entry, identity)) = derive_and_check(&manifest, Some(&metadata), identity) else {
        return;
    };

    // The metadata cargo itself would send for this manifest always agrees with it.
    let from_cargo = metadata_like_cargo(&manifest, |url| identity.is_own(url));
    if let Err(e) = from_cargo.check_agrees_with(&entry, &identity) {
        panic!("cargo's own metadata for this manifest is refused: {e}");
    }

    if metadata.check_agrees_with(&entry, &identity).is_ok() {
        // What the server records is then what the metadata promised.
        assert_eq!(entry.name, metadata.name);
        assert_eq!(entry.vers, metadata.vers);
        assert_eq!(entry.links, metadata.links);
        assert_eq!(entry.all_features(), metadata.features);
        assert!(CrateName::new(&entry.name).is_ok());
        assert!(server::version(&entry.vers).is_some());
    }
});
