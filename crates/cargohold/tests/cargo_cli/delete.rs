//! Deletion as cargo sees it: a deleted crate is not found, a deleted version is
//! resolved around, with the index files cargo already holds revalidated.

use cargohold::ops;
use cargohold_test_support::{CargoSandbox, TestServer};

const USE_LIB: &str = "[dependencies]\ngone-lib = { version = \"0.1\", registry = \"test\" }\n";

fn locked_version(lock: &str) -> String {
    let needle = "name = \"gone-lib\"\nversion = \"";
    let start = lock.find(needle).expect("gone-lib is locked") + needle.len();
    lock[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn cargo_resolves_around_a_deleted_version_and_no_longer_finds_a_deleted_crate() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    for version in ["0.1.0", "0.1.1"] {
        let lib = cargo.package("gone-lib", version, "", "");
        cargo.publish(&lib).await;
    }
    let app = cargo.package("gone-app", "0.1.0", "", USE_LIB);
    cargo
        .cargo(&app, &["generate-lockfile"])
        .await
        .assert_success();
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert_eq!(locked_version(&lock), "0.1.1");

    let registry = server.app.registry("main").unwrap().clone();
    ops::delete::delete(
        &server.app,
        &registry,
        None,
        "gone-lib",
        Some("0.1.1"),
        None,
    )
    .await
    .unwrap();
    // Cargo revalidates the index file it holds and picks the next lower version.
    cargo
        .cargo(&app, &["generate-lockfile"])
        .await
        .assert_success();
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert_eq!(locked_version(&lock), "0.1.0");
    cargo.cargo(&app, &["fetch"]).await.assert_success();

    ops::delete::delete(&server.app, &registry, None, "gone-lib", None, None)
        .await
        .unwrap();
    cargo
        .cargo(&app, &["generate-lockfile"])
        .await
        .assert_failure_containing("no matching package named `gone-lib` found");
}
