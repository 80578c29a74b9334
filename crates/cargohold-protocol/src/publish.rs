//! The body of `PUT /api/v1/crates/new`: length-prefixed JSON metadata, then the `.crate`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::index::{DependencyKind, FeatureMap, IndexDependency, IndexEntry};
use crate::manifest::{
    Manifest, ManifestError, RegistryIdentity, normalize_requirement, normalize_target,
};

/// Size caps on the two parts of a publish body.
#[derive(Debug, Clone, Copy)]
pub struct PublishLimits {
    pub max_metadata_size: u64,
    pub max_crate_size: u64,
}

impl Default for PublishLimits {
    fn default() -> Self {
        Self {
            max_metadata_size: 1024 * 1024,
            max_crate_size: 10 * 1024 * 1024,
        }
    }
}

/// Why a publish body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishBodyError {
    #[error("the publish body ended before its {0} length (4 bytes) was complete")]
    MissingLength(&'static str),
    #[error(
        "the publish metadata is {len} bytes, over the {limit}-byte limit; it carries the README, so \
         shorten the README or leave it out (`readme = false` in Cargo.toml), or ask the registry's \
         operator to raise `limits.max-metadata-size`"
    )]
    MetadataTooLarge { len: u64, limit: u64 },
    #[error("the .crate file is {len} bytes, over the {limit}-byte limit")]
    CrateTooLarge { len: u64, limit: u64 },
    #[error(
        "the publish body says the {part} is {declared} bytes but only {available} bytes follow; was the upload cut short?"
    )]
    Truncated {
        part: &'static str,
        declared: u64,
        available: u64,
    },
    #[error("the publish body has {0} bytes after the .crate file; its lengths do not add up")]
    TrailingBytes(usize),
    #[error("the publish metadata is not valid JSON: {0}")]
    InvalidJson(String),
}

impl PublishBodyError {
    /// Whether the body was refused for its size (HTTP 413) rather than its shape.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            Self::MetadataTooLarge { .. } | Self::CrateTooLarge { .. }
        )
    }
}

/// The metadata cargo sends with a publish (`NewCrate` in cargo's `crates-io` crate).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PublishMetadata {
    pub name: String,
    pub vers: String,
    #[serde(default)]
    pub deps: Vec<PublishDependency>,
    #[serde(default)]
    pub features: FeatureMap,
    #[serde(default)]
    pub authors: Vec<String>,
    pub description: Option<String>,
    pub documentation: Option<String>,
    pub homepage: Option<String>,
    /// The README's contents, which cargo reads from disk.
    pub readme: Option<String>,
    pub readme_file: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub license: Option<String>,
    pub license_file: Option<String>,
    pub repository: Option<String>,
    #[serde(default)]
    pub badges: BTreeMap<String, serde_json::Value>,
    pub links: Option<String>,
    pub rust_version: Option<String>,
}

/// A dependency in the publish metadata (`NewCrateDependency`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublishDependency {
    /// The real crate name, even when renamed.
    pub name: String,
    pub version_req: String,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default = "yes")]
    pub default_features: bool,
    pub target: Option<String>,
    #[serde(default = "normal")]
    pub kind: DependencyKind,
    /// `None` for this registry; otherwise the dependency's index URL.
    pub registry: Option<String>,
    /// The alias, when the dependency is renamed.
    pub explicit_name_in_toml: Option<String>,
}

fn yes() -> bool {
    true
}

fn normal() -> DependencyKind {
    DependencyKind::Normal
}

impl PublishDependency {
    fn name_in_toml(&self) -> &str {
        self.explicit_name_in_toml.as_deref().unwrap_or(&self.name)
    }
}

/// Splits a publish body into its metadata and `.crate` bytes, checking every length.
pub fn parse_publish_body<'a>(
    body: &'a [u8],
    limits: &PublishLimits,
) -> Result<(PublishMetadata, &'a [u8]), PublishBodyError> {
    let (json_len, rest) = read_length(body, "metadata")?;
    if json_len > limits.max_metadata_size {
        return Err(PublishBodyError::MetadataTooLarge {
            len: json_len,
            limit: limits.max_metadata_size,
        });
    }
    let (json, rest) = take(rest, json_len, "metadata")?;
    let (crate_len, rest) = read_length(rest, "crate")?;
    if crate_len > limits.max_crate_size {
        return Err(PublishBodyError::CrateTooLarge {
            len: crate_len,
            limit: limits.max_crate_size,
        });
    }
    let (tarball, rest) = take(rest, crate_len, ".crate file")?;
    if !rest.is_empty() {
        return Err(PublishBodyError::TrailingBytes(rest.len()));
    }
    let metadata =
        serde_json::from_slice(json).map_err(|e| PublishBodyError::InvalidJson(e.to_string()))?;
    Ok((metadata, tarball))
}

fn read_length<'a>(
    body: &'a [u8],
    part: &'static str,
) -> Result<(u64, &'a [u8]), PublishBodyError> {
    let Some((len, rest)) = body.split_first_chunk::<4>() else {
        return Err(PublishBodyError::MissingLength(part));
    };
    Ok((u64::from(u32::from_le_bytes(*len)), rest))
}

fn take<'a>(
    body: &'a [u8],
    len: u64,
    part: &'static str,
) -> Result<(&'a [u8], &'a [u8]), PublishBodyError> {
    match usize::try_from(len) {
        Ok(len) if len <= body.len() => Ok(body.split_at(len)),
        _ => Err(PublishBodyError::Truncated {
            part,
            declared: len,
            available: body.len() as u64,
        }),
    }
}

/// Where the publish metadata and the `.crate`'s manifest disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the publish metadata does not match Cargo.toml in the .crate file: {0}")]
pub struct MetadataMismatch(pub String);

impl PublishMetadata {
    /// Registry URLs that cargo calls "this registry" for this publish.
    ///
    /// The manifest names every registry by URL, while the metadata leaves the
    /// registry out for dependencies on the registry being published to. A client
    /// may know this registry under a URL other than its configured public one
    /// (`localhost` for `127.0.0.1`, say); those URLs are learned here.
    pub fn own_registry_urls(&self, manifest: &Manifest) -> Vec<String> {
        let mut urls = Vec::new();
        for dep in self.deps.iter().filter(|d| d.registry.is_none()) {
            let target = dep.target.as_deref().map(normalized_target_or_raw);
            let declared = manifest.dependencies.iter().find(|m| {
                m.name_in_toml == dep.name_in_toml()
                    && m.kind == dep.kind
                    && m.target.as_deref().map(normalized_target_or_raw) == target
            });
            if let Some(url) = declared.and_then(|m| m.registry_index.clone())
                && !urls.contains(&url)
            {
                urls.push(url);
            }
        }
        urls
    }

    /// Checks that the metadata says what `entry`, derived from the manifest, says.
    pub fn check_agrees_with(
        &self,
        entry: &IndexEntry,
        registry: &RegistryIdentity,
    ) -> Result<(), MetadataMismatch> {
        let mismatch = |what: String| Err(MetadataMismatch(what));
        if self.name != entry.name {
            return mismatch(format!(
                "the metadata names the crate `{}` but Cargo.toml names it `{}`",
                self.name, entry.name
            ));
        }
        if self.vers != entry.vers {
            return mismatch(format!(
                "the metadata gives version `{}` but Cargo.toml gives `{}`",
                self.vers, entry.vers
            ));
        }
        if self.links != entry.links {
            return mismatch(format!(
                "`links` is {:?} in the metadata but {:?} in Cargo.toml",
                self.links, entry.links
            ));
        }
        if self.features != entry.all_features() {
            return mismatch("the [features] tables differ".into());
        }

        let from_metadata: Result<Vec<DependencyKey>, ManifestError> = self
            .deps
            .iter()
            .map(|dep| {
                let name = dep.name_in_toml();
                Ok(DependencyKey {
                    name: name.to_owned(),
                    package: dep.explicit_name_in_toml.as_ref().map(|_| dep.name.clone()),
                    req: normalize_requirement(name, &dep.version_req)?,
                    features: sorted_features(&dep.features),
                    optional: dep.optional,
                    default_features: dep.default_features,
                    target: dep
                        .target
                        .as_deref()
                        .map(|t| normalize_target(name, t))
                        .transpose()?,
                    kind: dep.kind,
                    registry: dep
                        .registry
                        .as_deref()
                        .and_then(|url| registry.index_registry(Some(url))),
                })
            })
            .collect();
        let mut from_metadata = from_metadata.map_err(|e| MetadataMismatch(e.to_string()))?;
        let mut from_manifest: Vec<DependencyKey> =
            entry.deps.iter().map(DependencyKey::from_index).collect();
        from_metadata.sort();
        from_manifest.sort();
        if from_metadata != from_manifest {
            return mismatch(dependency_differences(&from_metadata, &from_manifest));
        }
        Ok(())
    }
}

/// What differs between the dependencies of the metadata and of the manifest: a
/// dependency found in both (same name, kind and target) is named with the fields
/// that differ; the rest is listed as found on one side only.
fn dependency_differences(metadata: &[DependencyKey], manifest: &[DependencyKey]) -> String {
    let mut unmatched: Vec<&DependencyKey> =
        manifest.iter().filter(|k| !metadata.contains(k)).collect();
    let mut parts = Vec::new();
    let mut only_in_metadata = Vec::new();
    for ours in metadata.iter().filter(|k| !manifest.contains(k)) {
        let twin = unmatched.iter().position(|theirs| {
            theirs.name == ours.name && theirs.kind == ours.kind && theirs.target == ours.target
        });
        match twin {
            Some(at) => {
                let theirs = unmatched.remove(at);
                parts.push(format!("{}: {}", ours.label(), ours.fields_unlike(theirs)));
            }
            None => only_in_metadata.push(ours.label()),
        }
    }
    if !only_in_metadata.is_empty() {
        parts.push(format!(
            "only in the metadata: {}",
            only_in_metadata.join(", ")
        ));
    }
    if !unmatched.is_empty() {
        let labels: Vec<String> = unmatched.iter().map(|k| k.label()).collect();
        parts.push(format!("only in Cargo.toml: {}", labels.join(", ")));
    }
    format!("the dependencies differ: {}", parts.join("; "))
}

/// A dependency reduced to what must agree between metadata and manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DependencyKey {
    name: String,
    package: Option<String>,
    req: String,
    features: Vec<String>,
    optional: bool,
    default_features: bool,
    target: Option<String>,
    kind: DependencyKind,
    registry: Option<String>,
}

impl DependencyKey {
    /// `serde1` (normal, cfg(unix)), as a message names it.
    fn label(&self) -> String {
        match &self.target {
            Some(target) => format!("`{}` ({}, {target})", self.name, self.kind.as_str()),
            None => format!("`{}` ({})", self.name, self.kind.as_str()),
        }
    }

    /// The fields in which `self` (from the metadata) differs from `manifest`'s.
    fn fields_unlike(&self, manifest: &DependencyKey) -> String {
        fn registry(url: &Option<String>) -> String {
            url.as_deref()
                .map_or_else(|| "this registry".to_owned(), |url| format!("`{url}`"))
        }
        let mut fields = Vec::new();
        let mut differs = |field: &str, ours: String, theirs: String| {
            if ours != theirs {
                fields.push(format!(
                    "{field}: {ours} in the metadata, {theirs} in Cargo.toml"
                ));
            }
        };
        differs(
            "package",
            format!("{:?}", self.package),
            format!("{:?}", manifest.package),
        );
        differs(
            "version requirement",
            format!("`{}`", self.req),
            format!("`{}`", manifest.req),
        );
        differs(
            "features",
            format!("{:?}", self.features),
            format!("{:?}", manifest.features),
        );
        differs(
            "optional",
            self.optional.to_string(),
            manifest.optional.to_string(),
        );
        differs(
            "default-features",
            self.default_features.to_string(),
            manifest.default_features.to_string(),
        );
        differs(
            "registry",
            registry(&self.registry),
            registry(&manifest.registry),
        );
        fields.join(", ")
    }

    fn from_index(dep: &IndexDependency) -> Self {
        Self {
            name: dep.name.clone(),
            package: dep.package.clone(),
            req: dep.req.clone(),
            features: sorted_features(&dep.features),
            optional: dep.optional,
            default_features: dep.default_features,
            target: dep.target.as_deref().map(normalized_target_or_raw),
            kind: dep.kind,
            registry: dep.registry.clone(),
        }
    }
}

fn sorted_features(features: &[String]) -> Vec<String> {
    let mut features: Vec<String> = features.iter().filter(|f| !f.is_empty()).cloned().collect();
    features.sort();
    features
}

fn normalized_target_or_raw(target: &str) -> String {
    normalize_target("", target).unwrap_or_else(|_| target.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &[u8], tarball: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(json.len() as u32).to_le_bytes());
        body.extend_from_slice(json);
        body.extend_from_slice(&(tarball.len() as u32).to_le_bytes());
        body.extend_from_slice(tarball);
        body
    }

    const JSON: &[u8] = br##"{"name":"demo","vers":"1.0.0","deps":[{"name":"serde","version_req":"^1.0","features":["derive"],"optional":true,"default_features":false,"target":null,"kind":"normal","registry":"https://github.com/rust-lang/crates.io-index","explicit_name_in_toml":"serde1"}],"features":{"s":["dep:serde1"]},"authors":[],"description":"d","homepage":null,"documentation":null,"readme":"# hi","readme_file":"README.md","keywords":["a"],"categories":[],"license":"MIT","license_file":null,"repository":null,"badges":{},"links":null,"rust_version":"1.70"}"##;

    #[test]
    fn a_well_formed_body_splits_into_metadata_and_crate() {
        let body = body(JSON, b"tarball");
        let (metadata, tarball) = parse_publish_body(&body, &PublishLimits::default()).unwrap();
        assert_eq!(metadata.name, "demo");
        assert_eq!(
            metadata.deps[0].explicit_name_in_toml.as_deref(),
            Some("serde1")
        );
        assert_eq!(metadata.readme.as_deref(), Some("# hi"));
        assert_eq!(tarball, b"tarball");
    }

    #[test]
    fn bodies_whose_lengths_do_not_add_up_are_rejected() {
        let limits = PublishLimits::default();
        let good = body(JSON, b"tarball");
        assert!(matches!(
            parse_publish_body(&good[..2], &limits),
            Err(PublishBodyError::MissingLength("metadata"))
        ));
        assert!(matches!(
            parse_publish_body(&good[..good.len() - 1], &limits),
            Err(PublishBodyError::Truncated {
                part: ".crate file",
                ..
            })
        ));
        assert!(matches!(
            parse_publish_body(&good[..20], &limits),
            Err(PublishBodyError::Truncated {
                part: "metadata",
                ..
            })
        ));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            parse_publish_body(&long, &limits),
            Err(PublishBodyError::TrailingBytes(1))
        );
        let not_json = body(b"{nope", b"x");
        assert!(matches!(
            parse_publish_body(&not_json, &limits),
            Err(PublishBodyError::InvalidJson(_))
        ));
    }

    #[test]
    fn parts_over_the_limits_are_too_large() {
        let limits = PublishLimits {
            max_metadata_size: 10,
            max_crate_size: 3,
        };
        let err = parse_publish_body(&body(JSON, b"x"), &limits).unwrap_err();
        assert!(err.is_too_large() && matches!(err, PublishBodyError::MetadataTooLarge { .. }));
        let limits = PublishLimits {
            max_crate_size: 3,
            ..PublishLimits::default()
        };
        let err = parse_publish_body(&body(JSON, b"tarball"), &limits).unwrap_err();
        assert!(matches!(
            err,
            PublishBodyError::CrateTooLarge { len: 7, limit: 3 }
        ));
    }

    const MANIFEST: &str = r#"
[package]
name = "demo"
version = "1.0.0"
rust-version = "1.70"

[features]
s = ["dep:serde1"]

[dependencies.serde1]
version = "1.0"
features = ["derive"]
optional = true
default-features = false
package = "serde"
"#;

    fn entry(manifest: &str, identity: &RegistryIdentity) -> IndexEntry {
        Manifest::parse(manifest)
            .unwrap()
            .to_index_entry("00", None, identity)
            .unwrap()
    }

    #[test]
    fn metadata_from_cargo_agrees_with_its_manifest() {
        let (metadata, _) =
            parse_publish_body(&body(JSON, b""), &PublishLimits::default()).unwrap();
        let id = RegistryIdentity::default();
        assert_eq!(
            metadata.check_agrees_with(&entry(MANIFEST, &id), &id),
            Ok(())
        );
    }

    #[test]
    fn metadata_that_differs_from_the_manifest_is_refused() {
        let (metadata, _) =
            parse_publish_body(&body(JSON, b""), &PublishLimits::default()).unwrap();
        let id = RegistryIdentity::default();
        let cases = [
            (
                MANIFEST.replace("name = \"demo\"", "name = \"other\""),
                "names the crate",
            ),
            (
                MANIFEST.replace("version = \"1.0.0\"", "version = \"1.0.1\""),
                "version",
            ),
            (
                MANIFEST.replace("\"derive\"", "\"std\""),
                "the dependencies differ: `serde1` (normal): features: [\"derive\"] in the metadata, [\"std\"] in Cargo.toml",
            ),
            (
                MANIFEST.replace(
                    "package = \"serde\"",
                    "package = \"serde\"\nregistry-index = \"https://example.com/other-index\"",
                ),
                "`serde1` (normal): registry: `https://github.com/rust-lang/crates.io-index` in the metadata, `https://example.com/other-index` in Cargo.toml",
            ),
            (
                MANIFEST
                    .replace("optional = true", "optional = false")
                    .replace("s = [\"dep:serde1\"]", ""),
                "features",
            ),
        ];
        for (manifest, expected) in cases {
            let err = metadata
                .check_agrees_with(&entry(&manifest, &id), &id)
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn a_dependency_cargo_calls_same_registry_teaches_the_registrys_other_url() {
        let json = br#"{"name":"app","vers":"0.1.0","deps":[{"name":"lib","version_req":"^0.1","kind":"normal","registry":null}]}"#;
        let (metadata, _) =
            parse_publish_body(&body(json, b""), &PublishLimits::default()).unwrap();
        let manifest = Manifest::parse(
            "[package]\nname='app'\nversion='0.1.0'\n[dependencies.lib]\nversion='0.1'\nregistry-index='sparse+http://localhost:8000/registries/main/index/'\n",
        )
        .unwrap();
        let mut id = RegistryIdentity::new([
            "sparse+http://127.0.0.1:8000/registries/main/index/".to_owned()
        ]);
        assert_eq!(
            metadata.own_registry_urls(&manifest),
            ["sparse+http://localhost:8000/registries/main/index/"]
        );
        for url in metadata.own_registry_urls(&manifest) {
            id.also_known_as(&url);
        }
        let entry = manifest.to_index_entry("00", None, &id).unwrap();
        assert_eq!(entry.deps[0].registry, None);
        assert_eq!(metadata.check_agrees_with(&entry, &id), Ok(()));
    }
}
