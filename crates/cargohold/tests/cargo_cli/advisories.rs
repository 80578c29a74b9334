//! `advisories = "yank"` with the real cargo: versions a RustSec advisory affects are
//! served yanked, so new resolutions avoid them and locked builds keep working.

use cargohold::app::App;
use cargohold::config::AdvisoryMode;
use cargohold::ops::advisories;
use cargohold_test_support::{AdvisoryDb, AdvisoryFile, CargoSandbox, CrateFixture, TestServer};

/// An upstream with `vuln-dep` 1.0.0, 1.0.1 and 1.1.0, and the company's cargohold
/// proxying it with `advisories = "yank"` (the upstream stands in for crates.io).
async fn servers() -> (TestServer, TestServer) {
    let upstream = TestServer::start().await;
    for version in ["1.0.0", "1.0.1", "1.1.0"] {
        let response = upstream
            .publish(&CrateFixture::new("vuln-dep", version))
            .await;
        assert_eq!(response.status(), 200);
    }
    let server = TestServer::company(&upstream, |proxy| {
        proxy.advisories = Some(AdvisoryMode::Yank);
    })
    .await;
    (upstream, server)
}

/// A developer whose crates.io is the company's virtual registry.
fn developer(server: &TestServer) -> CargoSandbox {
    let cargo = CargoSandbox::at_registry(server, "all", Some(server.admin_token.clone()));
    cargo.append_config("[source.crates-io]\nreplace-with = \"test\"\n");
    cargo
}

/// Imports an advisory on `vuln-dep`, fixed in 1.0.1 (a backport) and 1.2.0, from an
/// app of its own as `cargohold advisory import` would, while the server runs.
async fn import_advisory(server: &TestServer) {
    let db = AdvisoryDb::new();
    db.add(&AdvisoryFile::new(
        "RUSTSEC-2099-0001",
        "vuln-dep",
        &["~1.0.1", ">= 1.2.0"],
    ));
    let loaded = advisories::load(db.path()).unwrap();
    let cli = App::build(server.app.config.clone()).await.unwrap();
    advisories::import(&cli, &loaded, "test", None)
        .await
        .unwrap();
    cli.db.close().await;
    // Every node forgets its index files within a poll of the database.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}

fn locked_version(app: &std::path::Path) -> String {
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    let at = lock.find("name = \"vuln-dep\"\nversion = \"").expect(&lock);
    let rest = &lock[at + "name = \"vuln-dep\"\nversion = \"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

const MAIN: &str = "fn main() { fixture::fixture(); println!(\"built\"); }\n";

#[tokio::test]
async fn with_advisories_yank_cargo_resolves_to_the_patched_version() {
    let (_upstream, server) = servers().await;
    import_advisory(&server).await;
    let cargo = developer(&server);
    let app = cargo.binary(
        "new-app",
        "0.1.0",
        "[dependencies]\nvuln-dep = \"1\"\n",
        MAIN,
    );
    let run = cargo.cargo(&app, &["run", "--quiet"]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), "built");
    // 1.1.0 is newer, but affected: the newest patched version is chosen.
    assert_eq!(locked_version(&app), "1.0.1");
}

#[tokio::test]
async fn a_locked_affected_version_still_builds() {
    let (_upstream, server) = servers().await;
    let cargo = developer(&server);
    let app = cargo.binary(
        "old-app",
        "0.1.0",
        "[dependencies]\nvuln-dep = \"1\"\n",
        MAIN,
    );
    cargo
        .cargo(&app, &["build", "--quiet"])
        .await
        .assert_success();
    assert_eq!(locked_version(&app), "1.1.0");

    import_advisory(&server).await;

    // A colleague with an empty cargo cache builds the same lockfile.
    let colleague = developer(&server);
    let copy = colleague.binary(
        "old-app",
        "0.1.0",
        "[dependencies]\nvuln-dep = \"1\"\n",
        MAIN,
    );
    std::fs::copy(app.join("Cargo.lock"), copy.join("Cargo.lock")).unwrap();
    let run = colleague
        .cargo(&copy, &["run", "--locked", "--quiet"])
        .await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), "built");
    assert_eq!(locked_version(&copy), "1.1.0");

    // `cargo update` moves off the affected version.
    cargo.cargo(&app, &["update"]).await.assert_success();
    assert_eq!(locked_version(&app), "1.0.1");
}
