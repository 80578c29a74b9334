//! cargohold's index, derived from `.crate` files alone, resolves exactly like cargo's own
//! reading of the same crates' manifests.
//!
//! A generated graph of crates (several versions, semver-incompatible majors, a
//! renamed dependency, an optional one behind a `dep:` feature, a target-specific
//! one, dev-dependencies that must not be resolved) is laid out twice: unpacked as
//! a directory source, where cargo reads every `Cargo.toml` itself, and imported
//! into a cargohold registry standing in for crates.io. One project resolves
//! against each; the two lockfiles must be identical.

use cargohold::auth::Actor;
use cargohold::config::RegistryConfig;
use cargohold::ops;
use cargohold_test_support::fixture::vendor_into;
use cargohold_test_support::{CargoSandbox, CrateFixture, TestServer};

/// (name, version, dependency and feature tables), as crates.io-style manifests.
const GRAPH: &[(&str, &str, &str)] = &[
    ("leaf", "1.0.0", ""),
    ("leaf", "1.1.0", ""),
    ("leaf", "1.2.0-beta.1", ""),
    ("leaf", "2.0.0", ""),
    ("leaf", "2.1.3", ""),
    ("opt-a", "0.1.0", ""),
    ("opt-a", "0.1.3", "[dependencies]\nleaf = \"=1.0.0\"\n"),
    ("unix-helper", "1.0.0", ""),
    (
        "unix-helper",
        "1.4.2",
        "[target.'cfg(windows)'.dependencies]\nwin-only = \"7\"\n",
    ),
    (
        "mid-a",
        "0.5.0",
        "[dependencies]\nleaf = \"1.1\"\nopt-a = { version = \"0.1\", optional = true }\n\n[features]\nextra = [\"dep:opt-a\"]\n",
    ),
    (
        "mid-a",
        "0.5.1",
        "[dependencies]\nleaf = \"~1.1\"\nopt-a = { version = \"0.1.1\", optional = true }\n\n[features]\nextra = [\"dep:opt-a\", \"opt-a?/default\"]\n",
    ),
    (
        "mid-b",
        "3.0.0",
        "[dependencies]\nleaf = \"2\"\nleaf1 = { package = \"leaf\", version = \">=1.0, <1.2\" }\n\n[target.'cfg(unix)'.dependencies]\nunix-helper = \"1\"\n",
    ),
    (
        "top",
        "0.1.0",
        "[dependencies]\nmid-a = { version = \"0.5\", features = [\"extra\"] }\nmid-b = \"3\"\n\n[dev-dependencies]\nnever-resolved = \"9\"\n",
    ),
    ("top", "0.2.0-rc.1", "[dependencies]\nmid-b = \"3\"\n"),
];

/// What the project that resolves against both sources asks for.
const PROJECT_DEPENDENCIES: &str =
    "[dependencies]\ntop = \"0.1\"\nleaf = \"1\"\nmid-a = \"0.5.0\"\n";

fn fixture(name: &str, version: &str, tables: &str) -> CrateFixture {
    let mut fixture = CrateFixture::new(name, version);
    fixture.manifest = Some(format!(
        "[package]\nedition = \"2021\"\nname = \"{name}\"\nversion = \"{version}\"\nbuild = false\n\
         description = \"Generated\"\nlicense = \"MIT\"\n\n[lib]\nname = \"{}\"\npath = \"src/lib.rs\"\n\n{tables}",
        name.replace('-', "_")
    ));
    fixture
}

#[tokio::test]
async fn a_project_resolves_through_cargohold_exactly_as_from_the_crates_themselves() {
    let server = TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig {
            replaces_crates_io: true,
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    let cargo = CargoSandbox::new(&server);

    let crates_dir = cargo.path("crate-files");
    let vendor_dir = cargo.path("vendor");
    std::fs::create_dir_all(&crates_dir).unwrap();
    std::fs::create_dir_all(&vendor_dir).unwrap();
    for (name, version, tables) in GRAPH {
        let tarball = fixture(name, version, tables).tarball();
        std::fs::write(crates_dir.join(format!("{name}-{version}.crate")), &tarball).unwrap();
        vendor_into(&tarball, &vendor_dir);
    }

    let actor = Actor::operator(1, "admin", true);
    let registry = server.app.registry("main").unwrap().clone();
    let files = ops::import::find_crate_files(&[crates_dir]).unwrap();
    let report = ops::import::import(&server.app, &registry, &actor, files, |_, _| {}).await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.imported.len(), GRAPH.len());

    let lockfile = |replacement: String| {
        let sandbox = CargoSandbox::with_token(&server, None);
        sandbox.append_config(&replacement);
        let dir = sandbox.package("agreement", "0.1.0", "", PROJECT_DEPENDENCIES);
        async move {
            sandbox
                .cargo(&dir, &["generate-lockfile"])
                .await
                .assert_success();
            std::fs::read_to_string(dir.join("Cargo.lock")).unwrap()
        }
    };
    let from_crates = lockfile(format!(
        "[source.crates-io]\nreplace-with = \"vendored\"\n\n[source.vendored]\ndirectory = \"{}\"\n",
        vendor_dir.display()
    ))
    .await;
    let from_cargohold = lockfile(format!(
        "[source.crates-io]\nreplace-with = \"cargohold\"\n\n[source.cargohold]\nregistry = \"{}\"\n",
        server.index_url()
    ))
    .await;

    assert_eq!(from_cargohold, from_crates);
    // The resolution is not the naive one, which makes the agreement meaningful:
    // opt-a 0.1.3 pins leaf =1.0.0 against mid-a's ~1.1, so the resolver backtracks
    // to mid-a 0.5.0 and opt-a 0.1.0; unix-helper 1.4.2 needs a crate no source has.
    for expected in [
        "name = \"leaf\"\nversion = \"1.1.0\"",
        "name = \"leaf\"\nversion = \"2.1.3\"",
        "name = \"mid-a\"\nversion = \"0.5.0\"",
        "name = \"opt-a\"\nversion = \"0.1.0\"",
        "name = \"unix-helper\"\nversion = \"1.0.0\"",
    ] {
        assert!(
            from_cargohold.contains(expected),
            "{expected}\n{from_cargohold}"
        );
    }
    assert!(!from_cargohold.contains("never-resolved"));
    assert!(
        from_cargohold.contains("checksum = "),
        "checksums come from the index"
    );
}
