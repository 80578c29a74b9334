//! `CrateFixture`: `.crate` files and publish bodies built in memory, including malformed ones.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What kind of tar entry to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    HardLink,
}

/// One raw tar entry; the path is written as given, even where a tar tool would refuse it.
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub path: String,
    pub kind: EntryKind,
    pub data: Vec<u8>,
}

impl TarEntry {
    /// A regular file.
    pub fn file(path: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            kind: EntryKind::File,
            data: data.into(),
        }
    }

    /// An entry of another kind, with no data.
    pub fn special(path: impl Into<String>, kind: EntryKind) -> Self {
        Self {
            path: path.into(),
            kind,
            data: Vec::new(),
        }
    }
}

/// A dependency of a fixture crate.
#[derive(Debug, Clone)]
pub struct FixtureDep {
    pub name: String,
    pub req: String,
    pub kind: &'static str,
    pub optional: bool,
    pub registry: DepRegistry,
}

/// Where a fixture's dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepRegistry {
    /// The registry the fixture is published to.
    Same,
    /// crates.io: no `registry-index` in the manifest.
    CratesIo,
    /// Another registry, by index URL.
    Other(String),
}

/// A crate to publish through the raw API: its manifest, metadata and tarball
/// are derived from the same fields unless a test overrides one of them.
#[derive(Debug, Clone)]
pub struct CrateFixture {
    pub name: String,
    pub version: String,
    pub deps: Vec<FixtureDep>,
    pub features: Vec<(String, Vec<String>)>,
    pub description: String,
    /// Replaces the generated `Cargo.toml`.
    pub manifest: Option<String>,
    /// Replaces the generated tar entries.
    pub entries: Option<Vec<TarEntry>>,
    /// Extra entries appended to the generated ones.
    pub extra_entries: Vec<TarEntry>,
    /// The `registry-index` written for dependencies on the same registry.
    pub same_registry: String,
}

impl CrateFixture {
    /// A minimal library crate.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            deps: Vec::new(),
            features: Vec::new(),
            description: format!("The {name} fixture"),
            manifest: None,
            entries: None,
            extra_entries: Vec::new(),
            same_registry: SAME_REGISTRY.to_owned(),
        }
    }

    /// Names the registry it goes to by `index_url` in the manifest, as cargo would;
    /// needed where no publish metadata tells the server which URL is its own.
    pub fn in_registry(mut self, index_url: &str) -> Self {
        self.same_registry = index_url.to_owned();
        self
    }

    /// Adds a dependency on crate `name` of this same registry.
    pub fn dep(self, name: &str, req: &str) -> Self {
        self.dep_from(name, req, DepRegistry::Same)
    }

    /// Adds a dependency on crate `name` of `registry`.
    pub fn dep_from(mut self, name: &str, req: &str, registry: DepRegistry) -> Self {
        self.deps.push(FixtureDep {
            name: name.into(),
            req: req.into(),
            kind: "normal",
            optional: false,
            registry,
        });
        self
    }

    /// Adds an optional dependency on crate `name` of this same registry.
    pub fn optional_dep(mut self, name: &str, req: &str) -> Self {
        self.deps.push(FixtureDep {
            name: name.into(),
            req: req.into(),
            kind: "normal",
            optional: true,
            registry: DepRegistry::Same,
        });
        self
    }

    /// Adds a feature.
    pub fn feature(mut self, name: &str, values: &[&str]) -> Self {
        self.features
            .push((name.into(), values.iter().map(|v| v.to_string()).collect()));
        self
    }

    /// The directory every entry lives under: `{name}-{version}`.
    pub fn prefix(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// The normalized `Cargo.toml`, as `cargo package` would write it.
    pub fn manifest_text(&self) -> String {
        if let Some(manifest) = &self.manifest {
            return manifest.clone();
        }
        let mut text = format!(
            "[package]\nedition = \"2021\"\nname = \"{}\"\nversion = \"{}\"\nbuild = false\n\
             description = \"{}\"\nlicense = \"MIT\"\n\n[lib]\nname = \"fixture\"\npath = \"src/lib.rs\"\n",
            self.name, self.version, self.description
        );
        if !self.features.is_empty() {
            text.push_str("\n[features]\n");
            for (name, values) in &self.features {
                let values: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                text.push_str(&format!("{name} = [{}]\n", values.join(", ")));
            }
        }
        for dep in &self.deps {
            let table = match dep.kind {
                "dev" => "dev-dependencies",
                "build" => "build-dependencies",
                _ => "dependencies",
            };
            text.push_str(&format!(
                "\n[{table}.{}]\nversion = \"{}\"\noptional = {}\n",
                dep.name, dep.req, dep.optional
            ));
            match &dep.registry {
                DepRegistry::Same => {
                    text.push_str(&format!("registry-index = \"{}\"\n", self.same_registry));
                }
                DepRegistry::Other(url) => text.push_str(&format!("registry-index = \"{url}\"\n")),
                DepRegistry::CratesIo => {}
            }
        }
        text
    }

    /// The tar entries of the `.crate`.
    pub fn tar_entries(&self) -> Vec<TarEntry> {
        let mut entries = self.entries.clone().unwrap_or_else(|| {
            vec![
                TarEntry::file(
                    format!("{}/Cargo.toml", self.prefix()),
                    self.manifest_text(),
                ),
                TarEntry::file(
                    format!("{}/src/lib.rs", self.prefix()),
                    "pub fn fixture() {}\n",
                ),
            ]
        });
        entries.extend(self.extra_entries.iter().cloned());
        entries
    }

    /// The `.crate` bytes: a gzip-compressed tar of [`CrateFixture::tar_entries`].
    pub fn tarball(&self) -> Vec<u8> {
        build_tarball(&self.tar_entries())
    }

    /// The publish metadata cargo would send for this crate.
    pub fn metadata(&self) -> Value {
        let deps: Vec<Value> = self
            .deps
            .iter()
            .map(|dep| {
                let registry = match &dep.registry {
                    DepRegistry::Same => None,
                    DepRegistry::CratesIo => {
                        Some(cargohold_protocol::index::CRATES_IO_INDEX.to_owned())
                    }
                    DepRegistry::Other(url) => Some(url.clone()),
                };
                json!({
                    "name": dep.name,
                    "version_req": dep.req,
                    "features": [],
                    "optional": dep.optional,
                    "default_features": true,
                    "target": null,
                    "kind": dep.kind,
                    "registry": registry,
                })
            })
            .collect();
        let features: serde_json::Map<String, Value> = self
            .features
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "name": self.name,
            "vers": self.version,
            "deps": deps,
            "features": features,
            "authors": [],
            "description": self.description,
            "documentation": null,
            "homepage": null,
            "readme": null,
            "readme_file": null,
            "keywords": [],
            "categories": [],
            "license": "MIT",
            "license_file": null,
            "repository": null,
            "badges": {},
            "links": null,
            "rust_version": null,
        })
    }

    /// The full publish body.
    pub fn publish_body(&self) -> Vec<u8> {
        publish_body(
            &serde_json::to_vec(&self.metadata()).expect("JSON"),
            &self.tarball(),
        )
    }

    /// The SHA-256 of the `.crate`, as the index lists it.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.tarball()))
    }
}

/// The `registry-index` a fixture writes for dependencies on the registry it is published to.
///
/// Test servers listen on random ports, so fixtures name the registry by a URL
/// the metadata marks as "this registry" (cargo does the same).
pub const SAME_REGISTRY: &str = "sparse+http://this-registry.invalid/index/";

/// Frames `metadata` and `tarball` the way cargo does: two little-endian u32 lengths.
pub fn publish_body(metadata: &[u8], tarball: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + metadata.len() + tarball.len());
    body.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
    body.extend_from_slice(metadata);
    body.extend_from_slice(&(tarball.len() as u32).to_le_bytes());
    body.extend_from_slice(tarball);
    body
}

/// Builds a gzip-compressed tar, writing headers by hand so that hostile paths
/// (`..`, absolute) and links can be produced.
pub fn build_tarball(entries: &[TarEntry]) -> Vec<u8> {
    let mut tar = Vec::new();
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let bytes = entry.path.as_bytes();
        assert!(
            bytes.len() <= 100,
            "fixture paths must fit a plain tar header"
        );
        header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        let (kind, mode) = match entry.kind {
            EntryKind::File => (tar::EntryType::Regular, 0o644),
            EntryKind::Directory => (tar::EntryType::Directory, 0o755),
            EntryKind::Symlink => (tar::EntryType::Symlink, 0o777),
            EntryKind::HardLink => (tar::EntryType::Link, 0o644),
        };
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(entry.data.len() as u64);
        header.set_mtime(1_153_704_088);
        if matches!(entry.kind, EntryKind::Symlink | EntryKind::HardLink) {
            header
                .set_link_name("/etc/passwd")
                .expect("a short link name");
        }
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(&entry.data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar).expect("in-memory write");
    gz.finish().expect("in-memory gzip")
}

/// Unpacks a `.crate` into `dir` the way `cargo vendor` lays a crate out: its
/// files, plus a `.cargo-checksum.json` naming the `.crate`'s checksum, so that
/// cargo can use `dir`'s parent as a directory source.
pub fn vendor_into(tarball: &[u8], vendor_dir: &std::path::Path) -> std::path::PathBuf {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    archive.unpack(vendor_dir).expect("the fixture unpacks");
    let top = cargohold_protocol::tarball::top_directory(tarball).expect("a top directory");
    let dir = vendor_dir.join(top);
    let checksum = hex::encode(Sha256::digest(tarball));
    std::fs::write(
        dir.join(".cargo-checksum.json"),
        format!("{{\"files\":{{}},\"package\":\"{checksum}\"}}"),
    )
    .expect("the checksum file is written");
    dir
}
