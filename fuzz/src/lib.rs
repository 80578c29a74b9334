//! What the fuzz targets share: the limits cargohold's server uses, the steps of
//! its publish flow after the body is split (`ops/publish.rs` `check_crate`),
//! the metadata cargo sends for a manifest, and the invariants of an index line.

use cargohold_protocol::index::{CRATES_IO_INDEX, IndexEntry, format_pubtime};
use cargohold_protocol::manifest::{
    Manifest, RegistryIdentity, normalize_requirement, normalize_target,
};
use cargohold_protocol::publish::{PublishDependency, PublishLimits, PublishMetadata};
use cargohold_protocol::tarball::TarballLimits;
use cargohold_protocol::validate::{EntryLimits, validate_entry};

/// The index URL the fuzzed registry is configured with.
pub const OWN_INDEX: &str = "sparse+http://127.0.0.1:8000/registries/main/index/";

/// The checksum written into derived index lines (the server writes the `.crate`'s SHA-256).
pub const CKSUM: &str = "6f0e4c4f8f1d3a3b2d5c1a7e9b8c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a1b3c";

/// The publish time written into derived index lines.
pub const PUBLISHED_AT: i64 = 1_760_196_772;

/// `[limits]` as cargohold's configuration defaults them (`config.rs`).
pub mod server {
    use super::*;

    pub const MAX_CRATE_SIZE: u64 = 10 * 1024 * 1024;
    pub const MAX_METADATA_SIZE: u64 = 1024 * 1024;
    pub const MAX_UNPACKED_SIZE: u64 = 512 * 1024 * 1024;
    pub const MAX_TARBALL_ENTRIES: usize = 50_000;
    /// `ops/publish.rs`: the README read out of an uploaded or imported `.crate`.
    pub const MAX_README_SIZE: u64 = 1024 * 1024;

    /// `api/publish.rs`.
    pub fn publish_limits() -> PublishLimits {
        PublishLimits {
            max_metadata_size: MAX_METADATA_SIZE,
            max_crate_size: MAX_CRATE_SIZE,
        }
    }

    /// `ops/publish.rs` `check_crate`.
    pub fn tarball_limits() -> TarballLimits {
        TarballLimits {
            max_unpacked_size: MAX_UNPACKED_SIZE.max(MAX_CRATE_SIZE),
            max_entries: MAX_TARBALL_ENTRIES,
            ..TarballLimits::default()
        }
    }

    /// `ops/publish.rs` `readme_from`.
    pub fn readme_limits() -> TarballLimits {
        TarballLimits {
            max_file_size: MAX_README_SIZE,
            ..tarball_limits()
        }
    }

    /// `ops/publish.rs` `check_crate`.
    pub fn entry_limits() -> EntryLimits {
        EntryLimits {
            max_dependencies: 1000,
            max_features: 5000,
            max_feature_values: 1000,
        }
    }

    /// `ops/publish.rs` `parse_version`: semver, spelled canonically, at most 150 bytes.
    pub fn version(vers: &str) -> Option<semver::Version> {
        let version = semver::Version::parse(vers).ok()?;
        (version.to_string() == vers && vers.len() <= 150).then_some(version)
    }
}

/// The metadata cargo sends for `manifest` (cargo's `transmit`): dependencies on a
/// registry `is_own` accepts go as "this registry" (no `registry`), every other
/// one with its index URL, crates.io's when the manifest names none.
pub fn metadata_like_cargo(manifest: &Manifest, is_own: impl Fn(&str) -> bool) -> PublishMetadata {
    let deps = manifest
        .dependencies
        .iter()
        .map(|dep| PublishDependency {
            name: dep
                .package
                .clone()
                .unwrap_or_else(|| dep.name_in_toml.clone()),
            version_req: dep.req.clone(),
            features: dep.features.clone(),
            optional: dep.optional,
            default_features: dep.default_features,
            target: dep.target.clone(),
            kind: dep.kind,
            registry: match dep.registry_index.as_deref() {
                Some(url) if is_own(url) => None,
                Some(url) => Some(url.to_owned()),
                None => Some(CRATES_IO_INDEX.to_owned()),
            },
            explicit_name_in_toml: dep.package.as_ref().map(|_| dep.name_in_toml.clone()),
        })
        .collect();
    PublishMetadata {
        name: manifest.package.name.clone(),
        vers: manifest.package.version.clone(),
        deps,
        features: manifest.features.clone(),
        authors: manifest.package.authors.clone(),
        description: manifest.package.description.clone(),
        license: manifest.package.license.clone(),
        links: manifest.package.links.clone(),
        rust_version: manifest.package.rust_version.clone(),
        ..PublishMetadata::default()
    }
}

/// `ops/publish.rs` `check_crate` from the parsed manifest on: learn the URLs the
/// client calls this registry by, derive the index line, apply cargo's checks.
/// Asserts what must hold of every line it derives; `None` where the server refuses.
pub fn derive_and_check(
    manifest: &Manifest,
    metadata: Option<&PublishMetadata>,
    mut identity: RegistryIdentity,
) -> Option<(IndexEntry, RegistryIdentity)> {
    if let Some(metadata) = metadata {
        for url in metadata.own_registry_urls(manifest) {
            identity.also_known_as(&url);
        }
    }
    let entry = manifest
        .to_index_entry(CKSUM, Some(format_pubtime(PUBLISHED_AT)), &identity)
        .ok()?;
    assert_line_invariants(manifest, &entry);
    validate_entry(&entry, &server::entry_limits()).ok()?;
    Some((entry, identity))
}

/// What holds of any index line derived from a manifest, valid or not.
pub fn assert_line_invariants(manifest: &Manifest, entry: &IndexEntry) {
    // One line of a file: no line breaks, and it reads back as the same entry.
    let line = entry.to_line();
    assert!(!line.contains(['\n', '\r']), "{line}");
    let back: IndexEntry = serde_json::from_str(&line).expect("an index line reads back");
    assert_eq!(&back, entry, "{line}");
    assert_eq!(back.to_line(), line);

    // Cargo before 1.84 needs these fields on every dependency.
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    for dep in value["deps"].as_array().expect("deps is an array") {
        for key in [
            "name",
            "req",
            "features",
            "optional",
            "default_features",
            "target",
            "kind",
        ] {
            assert!(dep.get(key).is_some(), "`{key}` missing from {dep}");
        }
    }

    // The features as declared, split so that cargo before 1.60 reads `features` alone.
    assert_eq!(entry.all_features(), manifest.features);
    assert_eq!(entry.v == Some(2), entry.features2.is_some(), "{line}");
    if let Some(features2) = &entry.features2 {
        assert!(!features2.is_empty(), "{line}");
        for (name, values) in &entry.features {
            assert!(!features2.contains_key(name), "{line}");
            for value in values {
                assert!(
                    !value.starts_with("dep:") && !value.contains("?/"),
                    "`{name}` stays in `features` with `{value}`: {line}"
                );
                assert!(
                    !features2.contains_key(value),
                    "`{name}` enables a features2 feature: {line}"
                );
            }
        }
    }

    // Dependencies in crates.io's order; requirements and targets as cargo reads them.
    let mut sorted = entry.clone();
    sorted.sort_dependencies();
    assert_eq!(&sorted, entry);
    assert_eq!(entry.deps.len(), manifest.dependencies.len());
    for dep in &entry.deps {
        assert_eq!(
            normalize_requirement(&dep.name, &dep.req).as_deref(),
            Ok(dep.req.as_str()),
            "the requirement must read back as written"
        );
        if let Some(target) = &dep.target {
            assert!(normalize_target(&dep.name, target).is_ok(), "{target}");
        }
    }

    // Every text the server stores (rows, columns) is free of NUL.
    let package = &manifest.package;
    let texts = [&package.name, &package.version]
        .into_iter()
        .chain(&package.links)
        .chain(&package.rust_version)
        .chain(&package.edition)
        .chain(&package.description)
        .chain(&package.license)
        .chain(&package.license_file)
        .chain(&package.homepage)
        .chain(&package.documentation)
        .chain(&package.repository)
        .chain(&package.readme)
        .chain(&package.keywords)
        .chain(&package.categories)
        .chain(&package.authors);
    for text in texts {
        assert!(!text.contains('\0'), "{text:?}");
    }
    for dep in &entry.deps {
        let fields = [&dep.name, &dep.req]
            .into_iter()
            .chain(&dep.features)
            .chain(&dep.target)
            .chain(&dep.registry)
            .chain(&dep.package);
        for text in fields {
            assert!(!text.contains('\0'), "{text:?}");
        }
    }
}
