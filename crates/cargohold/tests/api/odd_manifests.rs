//! Manifests as real crates carry them, old spellings included, uploaded as `.crate` files
//! built here (no crates.io data): the index line must say what cargo would read.

use cargohold::config::RegistryConfig;
use cargohold_protocol::{DependencyKind, IndexEntry};
use cargohold_test_support::{CrateFixture, TestServer};

const CRATES_IO: &str = "https://github.com/rust-lang/crates.io-index";

async fn upload_manifest(
    server: &TestServer,
    name: &str,
    version: &str,
    manifest: &str,
) -> IndexEntry {
    let mut fixture = CrateFixture::new(name, version);
    fixture.manifest = Some(manifest.to_owned());
    let response = server.upload(&fixture, &server.admin_token).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let (_, index) = server.index_file(name).await;
    serde_json::from_str(index.trim()).unwrap()
}

fn dep<'a>(
    entry: &'a IndexEntry,
    name: &str,
    kind: DependencyKind,
) -> &'a cargohold_protocol::IndexDependency {
    entry
        .deps
        .iter()
        .find(|d| d.name == name && d.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} dependency {name} in {entry:?}"))
}

#[tokio::test]
async fn pre_2018_spellings_are_read_and_path_only_dev_dependencies_dropped() {
    let server = TestServer::start().await;
    let entry = upload_manifest(
        &server,
        "oldtimer",
        "0.1.0",
        r#"[project]
name = "oldtimer"
version = "0.1.0"
authors = ["Someone <someone@example.com>"]

[dependencies]
log = "0.3"

[dev_dependencies]
quickcheck = { version = "0.2", default_features = false }

[dev_dependencies.localonly]
path = "../localonly"

[build_dependencies]
gcc = "0.3.4"
"#,
    )
    .await;
    assert_eq!(entry.deps.len(), 3, "{entry:?}");
    let log = dep(&entry, "log", DependencyKind::Normal);
    assert_eq!(
        (log.req.as_str(), log.registry.as_deref()),
        ("^0.3", Some(CRATES_IO))
    );
    assert!(!dep(&entry, "quickcheck", DependencyKind::Dev).default_features);
    assert_eq!(dep(&entry, "gcc", DependencyKind::Build).req, "^0.3.4");
}

#[tokio::test]
async fn target_tables_with_triples_and_cfg_expressions_keep_their_spelling() {
    let server = TestServer::start().await;
    let entry = upload_manifest(
        &server,
        "targeted",
        "1.0.0",
        r#"[package]
name = "targeted"
version = "1.0.0"

[target.x86_64-pc-windows-gnu.dependencies]
winapi = "0.2"

[target.'cfg(all(unix, not(target_os = "macos")))'.dependencies]
libc = { version = "0.2", features = ["extra_traits"] }

[target."cfg(windows)".build-dependencies]
winres = "0.1"
"#,
    )
    .await;
    assert_eq!(
        dep(&entry, "winapi", DependencyKind::Normal)
            .target
            .as_deref(),
        Some("x86_64-pc-windows-gnu")
    );
    let libc = dep(&entry, "libc", DependencyKind::Normal);
    assert_eq!(
        libc.target.as_deref(),
        Some("cfg(all(unix, not(target_os = \"macos\")))")
    );
    assert_eq!(libc.features, ["extra_traits"]);
    assert_eq!(
        dep(&entry, "winres", DependencyKind::Build)
            .target
            .as_deref(),
        Some("cfg(windows)")
    );
}

#[tokio::test]
async fn renamed_dependencies_and_their_implicit_features_are_kept() {
    let server = TestServer::start().await;
    let entry = upload_manifest(
        &server,
        "renamer",
        "0.3.0",
        r#"[package]
name = "renamer"
version = "0.3.0"

[dependencies]
serde1 = { package = "serde", version = "1", optional = true }

[features]
derive = ["serde1/derive"]
"#,
    )
    .await;
    let serde = dep(&entry, "serde1", DependencyKind::Normal);
    assert_eq!(serde.package.as_deref(), Some("serde"));
    assert!(serde.optional);
    assert_eq!(entry.v, None, "nothing here needs features2");
    assert_eq!(entry.features["derive"], ["serde1/derive"]);
}

#[tokio::test]
async fn new_feature_syntax_goes_to_features2_with_schema_version_2() {
    let server = TestServer::start().await;
    let entry = upload_manifest(
        &server,
        "modern",
        "2.0.0",
        r#"[package]
name = "modern"
version = "2.0.0"

[dependencies]
memchr = { version = "2", optional = true }

[features]
default = ["all"]
all = ["std"]
std = ["dep:memchr", "memchr?/std"]
plain = []
"#,
    )
    .await;
    assert_eq!(entry.v, Some(2));
    let features2 = entry.features2.as_ref().unwrap();
    assert_eq!(
        features2.keys().collect::<Vec<_>>(),
        ["all", "default", "std"]
    );
    assert_eq!(entry.features.keys().collect::<Vec<_>>(), ["plain"]);
}

#[tokio::test]
async fn a_registry_standing_in_for_crates_io_owns_crates_io_dependencies() {
    let server = TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig {
            replaces_crates_io: true,
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    server.publish(&CrateFixture::new("memchr", "2.7.0")).await;
    let entry = upload_manifest(
        &server,
        "mirrored",
        "1.0.0",
        "[package]\nname = \"mirrored\"\nversion = \"1.0.0\"\n\n[dependencies]\nmemchr = \"2\"\n",
    )
    .await;
    assert_eq!(dep(&entry, "memchr", DependencyKind::Normal).registry, None);
}
