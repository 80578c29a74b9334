//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/seed-*`.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`
//!
//! Seeds come from realistic material: `.crate` files and publish bodies built by
//! the test suite's `CrateFixture`, real crates from crates.io found in the local
//! cargo cache (their normalized `Cargo.toml`, their `.crate` bytes, their index
//! lines), the repository's own `Cargo.lock` files, and the examples of the unit
//! tests. Running it again rewrites the same files; the corpora (minimized with
//! `cargo fuzz cmin`) are what is kept in the repository.

#[allow(dead_code)]
#[path = "../crates/cargohold-test-support/src/fixture.rs"]
mod fixture;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use cargohold_fuzz::{CKSUM, OWN_INDEX, metadata_like_cargo};
use cargohold_protocol::index::IndexEntry;
use cargohold_protocol::manifest::{Manifest, RegistryIdentity};
use cargohold_protocol::publish::PublishMetadata;
use fixture::{CrateFixture, DepRegistry, EntryKind, TarEntry};
use serde_json::{Value, json};

/// Real crates (name prefixes of files in the cargo cache): small archives, and
/// manifests with targets, renames, `links`, build metadata, many features.
const REAL_CRATES: &[&str] = &[
    "precomputed-hash-0.1.1",
    "new_debug_unreachable-1.0.6",
    "try-lock-0.2.5",
    "mimalloc-0.1.",
    "equivalent-1.0.",
    "tokio-1.",
    "serde-1.0.",
    "reqwest-0.13.",
    "axum-0.8.",
    "toml-1.",
    "semver-1.0.",
    "url-2.",
    "flate2-1.",
    "tar-0.4.",
    "hyper-1.",
    "clap-4.",
    "sqlx-core-0.9.",
    "time-0.3.",
    "rand-0.10.",
    "libmimalloc-sys-0.1.",
    "ring-0.17.",
    "libc-0.2.",
    "git2-0.21.",
    "libgit2-sys-0.18.",
];

/// Real archives small enough to be seeds as they are.
const MAX_SEED_ARCHIVE: usize = 8 * 1024;

/// The largest seed of any other kind: larger inputs make slower runs and larger corpora.
const MAX_SEED: usize = 12 * 1024;

/// Bytes of index lines in one seed.
const MAX_SEED_LINES: usize = 6 * 1024;

/// Crates whose index lines (from the cargo cache) seed the line readers.
const INDEX_FILES: &[&str] = &[
    "se/rd/serde",
    "to/ki/tokio",
    "op/en/openssl-probe",
    "3/l/log",
    "ti/me/time",
    "ur/l/url",
];

/// The unit tests' normalized manifest (manifest.rs), using most of what a manifest can say;
/// its own-registry dependency names the registry these seeds are published to.
fn normalized() -> String {
    include_str!("../crates/cargohold-protocol/src/testdata/normalized-manifest.toml").replace(
        "http://reg.example/registries/main/index/",
        "http://127.0.0.1:8000/registries/main/index/",
    )
}

const LOCKFILE_V1: &str =
    include_str!("../crates/cargohold-protocol/src/testdata/lockfile-v1.lock");

struct Corpus {
    root: PathBuf,
    written: BTreeMap<String, usize>,
}

impl Corpus {
    fn add(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).unwrap();
        let file: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        fs::write(dir.join(format!("seed-{file}")), bytes).unwrap();
        *self.written.entry(target.to_owned()).or_default() += 1;
    }

    /// An input that starts with a selector byte.
    fn add_with(&mut self, target: &str, name: &str, selector: u8, bytes: impl AsRef<[u8]>) {
        let mut input = vec![selector];
        input.extend_from_slice(bytes.as_ref());
        self.add(target, name, input);
    }
}

/// The JSON cargo sends for `metadata` (cargo's `NewCrate`).
fn metadata_json(metadata: &PublishMetadata) -> Value {
    let deps: Vec<Value> = metadata
        .deps
        .iter()
        .map(|dep| {
            json!({
                "name": dep.name,
                "version_req": dep.version_req,
                "features": dep.features,
                "optional": dep.optional,
                "default_features": dep.default_features,
                "target": dep.target,
                "kind": dep.kind.as_str(),
                "registry": dep.registry,
                "explicit_name_in_toml": dep.explicit_name_in_toml,
            })
        })
        .collect();
    json!({
        "name": metadata.name,
        "vers": metadata.vers,
        "deps": deps,
        "features": metadata.features,
        "authors": metadata.authors,
        "description": metadata.description,
        "documentation": null,
        "homepage": null,
        "readme": "# Demo\n",
        "readme_file": "README.md",
        "keywords": [],
        "categories": [],
        "license": metadata.license,
        "license_file": null,
        "repository": null,
        "badges": {},
        "links": metadata.links,
        "rust_version": metadata.rust_version,
    })
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut tar)
        .unwrap();
    tar
}

/// `(file stem, .crate bytes, Cargo.toml text)` of the real crates in the cargo cache.
fn real_crates() -> Vec<(String, Vec<u8>, String)> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let mut files: Vec<PathBuf> = fs::read_dir(home.join("registry/cache"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|dir| fs::read_dir(dir.path()).into_iter().flatten().flatten())
        .map(|f| f.path())
        .collect();
    files.sort();
    let mut found = Vec::new();
    for wanted in REAL_CRATES {
        let Some(path) = files.iter().rev().find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(wanted) && name.ends_with(".crate")
        }) else {
            eprintln!("not in the cargo cache: {wanted}");
            continue;
        };
        let bytes = fs::read(path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let prefix = cargohold_protocol::tarball::top_directory(&bytes).unwrap();
        let manifest = cargohold_protocol::tarball::read_file(
            &bytes,
            &prefix,
            "Cargo.toml",
            &cargohold_protocol::tarball::TarballLimits::default(),
        )
        .unwrap()
        .unwrap();
        found.push((stem, bytes, String::from_utf8(manifest).unwrap()));
    }
    found
}

/// Index lines of a few crates from the cargo cache's sparse index files.
fn cached_index_lines() -> Vec<(String, Vec<String>)> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let Ok(indexes) = fs::read_dir(home.join("registry/index")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for index in indexes.flatten() {
        for file in INDEX_FILES {
            let Ok(bytes) = fs::read(index.path().join(".cache").join(file)) else {
                continue;
            };
            // Cache format: a header, then NUL-separated pairs of version and line.
            let lines: Vec<String> = bytes
                .split(|&b| b == 0)
                .filter(|part| part.starts_with(b"{"))
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect();
            let name = file.rsplit('/').next().unwrap().to_owned();
            out.push((name, lines));
        }
    }
    out
}

/// crates.io's compact spelling of an index line.
fn compact(line: &str) -> Option<String> {
    serde_json::from_str::<IndexEntry>(line)
        .ok()
        .map(|e| e.to_line())
}

fn fixtures() -> Vec<(&'static str, CrateFixture)> {
    let other = DepRegistry::Other("sparse+https://other.example/index/".into());
    vec![
        ("plain", CrateFixture::new("demo", "1.0.0")),
        (
            "deps",
            CrateFixture::new("app", "0.3.1-rc.1")
                .in_registry(OWN_INDEX)
                .dep("lib", "^0.1")
                .dep_from("serde", "1.0", DepRegistry::CratesIo)
                .dep_from("pretty", "=1.2.3", other),
        ),
        (
            "features",
            CrateFixture::new("Feat-Crate", "2.0.0+build.7")
                .in_registry(OWN_INDEX)
                .optional_dep("opt", "1")
                .optional_dep("hidden", "1")
                .feature("default", &["std"])
                .feature("std", &["opt"])
                .feature("h", &["dep:hidden", "hidden?/x"]),
        ),
    ]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut corpus = Corpus {
        root: root.join("corpus"),
        written: BTreeMap::new(),
    };
    let identity = RegistryIdentity::new([OWN_INDEX.to_owned()]);
    let reals = real_crates();

    // publish_body and crate_tarball: fixture crates, hostile archives, real crates.
    for (label, krate) in fixtures() {
        let krate = krate.in_registry(OWN_INDEX);
        corpus.add(
            "publish_body",
            &format!("fixture-{label}"),
            krate.publish_body(),
        );
        let metadata = serde_json::to_vec(&krate.metadata()).unwrap();
        corpus.add(
            "publish_body",
            &format!("fixture-{label}-manifest-text"),
            fixture::publish_body(&metadata, krate.manifest_text().as_bytes()),
        );
        corpus.add_with(
            "crate_tarball",
            &format!("fixture-{label}"),
            0,
            krate.tarball(),
        );
        corpus.add_with(
            "crate_tarball",
            &format!("fixture-{label}-tar"),
            9,
            gunzip(&krate.tarball()),
        );
        corpus.add_with(
            "crate_tarball",
            &format!("fixture-{label}-tar-tight"),
            11,
            gunzip(&krate.tarball()),
        );
        corpus.add_with(
            "manifest_to_index",
            &format!("fixture-{label}"),
            0,
            krate.manifest_text(),
        );
    }
    let demo = CrateFixture::new("demo", "1.0.0");
    let p = demo.prefix();
    let hostile: Vec<(&str, Vec<TarEntry>)> = vec![
        (
            "symlink",
            vec![TarEntry::special(format!("{p}/link"), EntryKind::Symlink)],
        ),
        (
            "hardlink",
            vec![TarEntry::special(format!("{p}/hard"), EntryKind::HardLink)],
        ),
        ("dotdot", vec![TarEntry::file(format!("{p}/../evil"), "x")]),
        ("absolute", vec![TarEntry::file("/etc/evil", "x")]),
        (
            "duplicate",
            vec![TarEntry::file(
                format!("{p}/Cargo.toml"),
                demo.manifest_text(),
            )],
        ),
        (
            "backslash",
            vec![TarEntry::file(format!("{p}/a\\..\\b"), "x")],
        ),
        (
            "directory",
            vec![TarEntry::special(format!("{p}/src/"), EntryKind::Directory)],
        ),
        (
            "readme",
            vec![
                TarEntry::file(format!("{p}/README.md"), "# Demo\n"),
                TarEntry::file(
                    format!("{p}/.cargo_vcs_info.json"),
                    "{\"git\":{\"sha1\":\"00\"}}",
                ),
            ],
        ),
    ];
    for (label, extra) in hostile {
        let mut krate = demo.clone();
        if label == "readme" {
            krate.manifest = Some(
                demo.manifest_text()
                    .replace("license = ", "readme = \"README.md\"\nlicense = "),
            );
        }
        krate.extra_entries = extra;
        corpus.add_with(
            "crate_tarball",
            &format!("hostile-{label}"),
            0,
            krate.tarball(),
        );
        corpus.add_with(
            "crate_tarball",
            &format!("hostile-{label}-tar"),
            9,
            gunzip(&krate.tarball()),
        );
        corpus.add(
            "publish_body",
            &format!("hostile-{label}"),
            krate.publish_body(),
        );
    }
    for (stem, bytes, manifest_text) in &reals {
        let Ok(manifest) = Manifest::parse(manifest_text) else {
            eprintln!("{stem}: the manifest does not parse");
            continue;
        };
        if manifest_text.len() > MAX_SEED {
            continue;
        }
        corpus.add_with("manifest_to_index", stem, 0, manifest_text);
        let metadata = metadata_like_cargo(&manifest, |url| identity.is_own(url));
        let json = serde_json::to_vec(&metadata_json(&metadata)).unwrap();
        if json.len() <= MAX_SEED {
            corpus.add(
                "api_json",
                &format!("metadata-{stem}"),
                [&[8u8][..], &json].concat(),
            );
        }
        if let Ok(entry) =
            manifest.to_index_entry(CKSUM, Some("2025-10-11T15:32:52Z".into()), &identity)
            && entry.to_line().len() <= MAX_SEED
        {
            corpus.add("index_line", &format!("derived-{stem}"), entry.to_line());
        }
        if bytes.len() <= MAX_SEED_ARCHIVE {
            corpus.add(
                "publish_body",
                &format!("real-{stem}"),
                fixture::publish_body(&json, bytes),
            );
            corpus.add_with("crate_tarball", &format!("real-{stem}"), 0, bytes);
        } else if json.len() + manifest_text.len() <= MAX_SEED {
            corpus.add(
                "publish_body",
                &format!("real-{stem}-manifest-text"),
                fixture::publish_body(&json, manifest_text.as_bytes()),
            );
        }
    }

    // manifest_to_index: the unit tests' manifest in each mode, and unpublishable ones.
    let normalized = normalized();
    for mode in 0..4u8 {
        corpus.add_with(
            "manifest_to_index",
            &format!("normalized-mode{mode}"),
            mode,
            normalized.as_str(),
        );
    }
    corpus.add_with(
        "manifest_to_index",
        "workspace-inherited",
        0,
        fs::read(root.join("../crates/cargohold-protocol/Cargo.toml")).unwrap(),
    );
    corpus.add_with(
        "manifest_to_index",
        "legacy",
        0,
        "[project]\nname = \"old\"\nversion = \"0.1.0\"\n[dev_dependencies]\na = { version = \"1\", default_features = false }\nlocal = { path = \"../local\" }\n",
    );
    let metadata = metadata_like_cargo(&Manifest::parse(&normalized).unwrap(), |url| {
        identity.is_own(url)
    });
    let json = serde_json::to_vec(&metadata_json(&metadata)).unwrap();
    corpus.add(
        "publish_body",
        "normalized-manifest-text",
        fixture::publish_body(&json, normalized.as_bytes()),
    );
    corpus.add(
        "publish_body",
        "truncated",
        &fixture::publish_body(&json, b"x")[..40],
    );

    // crate_name: names, spellings, reserved names, index paths, feature names.
    for text in [
        "serde",
        "Serde_Json",
        "foo-bar",
        "a",
        "ab",
        "abc",
        "MainPkg",
        "std",
        "Proc-Macro",
        "nul",
        "COM1",
        "_private",
        "1abc",
        "caf\u{e9}",
        "se/rd/serde",
        "3/a/abc",
        "1/a",
        "2/ab",
        "ma/in/mainpkg",
        "../etc/passwd",
        "config.json",
        "c++17",
        "dep:x",
        &"a".repeat(64),
    ] {
        corpus.add("crate_name", text, text);
    }

    // version: versions, file names, requirements, rust-versions.
    for (label, text) in [
        ("plain", "demo\n1.0.0"),
        ("pre-build", "demo\n1.2.3-alpha.1+build.5"),
        ("noncanonical", "demo\n01.0.0"),
        ("file", "Demo\nDemo-1.0.0+b.5.crate"),
        ("file-dash", "a-b\na-b-0.1.0-rc.1.crate"),
        ("req-caret", "1.2.3\n^1.0"),
        ("req-range", "1.5.0\n>= 1, < 2"),
        ("req-tilde", "1.2.9\n~1.2"),
        ("req-exact", "1.2.3\n=1.2.3"),
        ("req-star", "0.1.0\n*"),
        ("req-pre", "1.2.3-alpha.2\n>=1.2.3-alpha.1, <1.2.3"),
        ("rust-version", "demo\n1.70"),
        ("rust-version-patch", "demo\n1.70.1"),
    ] {
        corpus.add("version", label, text);
    }

    // upstream: lockfiles, rules, policies with index files, pubtimes, dl templates.
    corpus.add_with("upstream", "lock-v1", 0, LOCKFILE_V1);
    if let Ok(lock) = fs::read_to_string(root.join("Cargo.lock")) {
        corpus.add_with("upstream", "lock-v4-fuzz", 0, lock);
    }
    let main_lock = fs::read_to_string(root.join("../Cargo.lock")).unwrap();
    let head: String = main_lock
        .split("\n\n")
        .take(40)
        .collect::<Vec<_>>()
        .join("\n\n");
    corpus.add_with("upstream", "lock-v4-cargohold", 0, head);
    corpus.add_with(
        "upstream",
        "rules",
        1,
        "serde\nacme-*\nopenssl@<0.10.55\ntime@>=0.3, <0.3.36\n*\nSerde-Json@1\n",
    );
    corpus.add_with(
        "upstream",
        "policy-toml",
        1,
        "allow = [\"serde*\", \"openssl\"]\ndeny = [\"openssl@<0.10.55\", \"serde_yaml\"]\nmin_age_secs = 604800\n",
    );
    let lines = cached_index_lines();
    for (name, lines) in &lines {
        // The newest lines, up to a few KiB: seeds stay small.
        let mut size = 0;
        let mut tail: Vec<&str> = lines
            .iter()
            .rev()
            .take_while(|l| {
                size += l.len();
                size <= MAX_SEED_LINES
            })
            .take(12)
            .map(String::as_str)
            .collect();
        tail.reverse();
        let compact_tail: Vec<String> = tail.iter().filter_map(|l| compact(l)).collect();
        corpus.add("index_line", &format!("cached-{name}"), tail.join("\n"));
        corpus.add(
            "index_line",
            &format!("compact-{name}"),
            compact_tail.join("\n"),
        );
        let policies = [
            "-openssl-probe@<0.1.6\nage 604800\nnow 1760000000",
            "+serde*\n+tokio\n-serde@<1.0.200\nnow 1760000000",
            "age 86400\nnow 1760000000",
            "-*",
        ];
        for (i, policy) in policies.iter().enumerate() {
            corpus.add_with(
                "upstream",
                &format!("filter-{name}-{i}"),
                2,
                format!("{policy}\n\n{}\n", compact_tail.join("\n")),
            );
        }
    }
    for (label, text) in [
        ("canonical", "2025-10-11T15:32:52Z"),
        ("fraction-offset", "2025-10-11T17:32:52.123456+02:00"),
        ("lowercase", "2025-10-11t15:32:52z"),
    ] {
        corpus.add_with("upstream", &format!("pubtime-{label}"), 3, text);
    }
    let sum = "6f0e4c4f8f1d3a3b2d5c1a7e9b8c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a1b3c";
    for (label, template) in [
        ("crates-io", "https://static.crates.io/crates"),
        (
            "markers",
            "https://dl.example/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}",
        ),
        (
            "cargohold",
            "http://127.0.0.1:8000/registries/main/crates/{crate}/{crate}-{version}.crate",
        ),
        (
            "path-absolute",
            "/registries/main/crates/{crate}/{version}/download",
        ),
        ("relative", "crates/{lowerprefix}/{crate}/{version}"),
    ] {
        corpus.add_with(
            "upstream",
            &format!("dl-{label}"),
            4,
            format!("{template}\nSerde_Json\n1.0.0+b.1\n{sum}"),
        );
    }

    // index_line: the unit tests' line.
    corpus.add(
        "index_line",
        "unit-test",
        r#"{"name":"Demo","vers":"1.0.0+build.5","deps":[{"name":"alias","req":"^1.0","features":[],"optional":true,"default_features":false,"target":null,"kind":"normal","package":"real"}],"cksum":"abababababababababababababababababababababababababababababababab","features":{},"yanked":false,"pubtime":"1970-01-01T00:00:00Z"}"#,
    );

    // api_json: one body of each type.
    let line = compact(
        &lines
            .first()
            .and_then(|(_, l)| l.last().cloned())
            .unwrap_or_default(),
    )
    .unwrap_or_else(|| {
        r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#
            .into()
    });
    for (selector, label, body) in [
        (0u8, "owners-users", r#"{"users":["alice","bob"]}"#.to_owned()),
        (0, "owners-owners", r#"{"owners":["github:acme:core"]}"#.to_owned()),
        (
            1,
            "config",
            r#"{"dl":"http://127.0.0.1:8000/registries/main/crates/{crate}/{crate}-{version}.crate","api":"http://127.0.0.1:8000/registries/main","auth-required":true}"#.to_owned(),
        ),
        (2, "error", r#"{"errors":[{"detail":"crate version `demo@1.0.0` is already uploaded"}]}"#.to_owned()),
        (3, "ok", r#"{"ok":true,"msg":"user alice has been invited to be an owner of crate demo"}"#.to_owned()),
        (4, "owners-response", r#"{"users":[{"id":1,"login":"alice","name":null}]}"#.to_owned()),
        (5, "publish-response", r#"{"warnings":{"invalid_categories":[],"invalid_badges":[],"other":["x"]}}"#.to_owned()),
        (
            6,
            "search",
            r#"{"crates":[{"name":"demo","max_version":"1.0.0","description":"A demo"}],"meta":{"total":1}}"#.to_owned(),
        ),
        (
            7,
            "upload",
            format!(
                r#"{{"ok":true,"name":"demo","vers":"1.0.0","cksum":"{sum}","new_crate":true,"already_present":false,"index_line":{line}}}"#
            ),
        ),
    ] {
        corpus.add_with("api_json", label, selector, body);
    }

    for (target, count) in &corpus.written {
        println!("{target}: {count} seeds");
    }
}
