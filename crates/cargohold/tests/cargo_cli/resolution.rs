//! Resolution against the registry: yanked versions, lockfiles, and revalidation with 304s.

use cargohold_test_support::{CargoSandbox, TestServer};

const USE_LIB: &str = "[dependencies]\nyank-me = { version = \"0.1\", registry = \"test\" }\n";

fn locked_version(lock: &str) -> String {
    let needle = "name = \"yank-me\"\nversion = \"";
    let start = lock.find(needle).expect("yank-me is locked") + needle.len();
    lock[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn yanked_version_is_skipped_by_the_resolver_but_an_existing_lockfile_still_builds() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let lib = cargo.package("yank-me", "0.1.0", "", "");
    cargo.write(
        &lib,
        "src/lib.rs",
        "pub fn version() -> &'static str { \"0.1.0\" }\n",
    );
    cargo.publish(&lib).await;
    let lib = cargo.package("yank-me", "0.1.1", "", "");
    cargo.write(
        &lib,
        "src/lib.rs",
        "pub fn version() -> &'static str { \"0.1.1\" }\n",
    );
    cargo.publish(&lib).await;

    let pinned = cargo.package("pinned-app", "0.1.0", "", USE_LIB);
    cargo
        .cargo(&pinned, &["generate-lockfile"])
        .await
        .assert_success();
    let pinned_lock = std::fs::read_to_string(pinned.join("Cargo.lock")).unwrap();
    assert_eq!(locked_version(&pinned_lock), "0.1.1");

    cargo
        .cargo(&lib, &["yank", "yank-me@0.1.1", "--registry", "test"])
        .await
        .assert_success();

    // A new resolution skips the yanked version…
    let fresh = cargo.package("fresh-app", "0.1.0", "", USE_LIB);
    cargo
        .cargo(&fresh, &["generate-lockfile"])
        .await
        .assert_success();
    let fresh_lock = std::fs::read_to_string(fresh.join("Cargo.lock")).unwrap();
    assert_eq!(locked_version(&fresh_lock), "0.1.0");

    // …while a lockfile that pins it still fetches and builds, even from an empty cache.
    let elsewhere = CargoSandbox::new(&server);
    let copy = elsewhere.package("pinned-app", "0.1.0", "", USE_LIB);
    std::fs::write(copy.join("Cargo.lock"), &pinned_lock).unwrap();
    elsewhere
        .cargo(&copy, &["fetch", "--locked"])
        .await
        .assert_success();
    elsewhere
        .cargo(&copy, &["build", "--locked"])
        .await
        .assert_success();

    // Unyank brings it back for new resolutions.
    cargo
        .cargo(
            &lib,
            &["yank", "yank-me@0.1.1", "--undo", "--registry", "test"],
        )
        .await
        .assert_success();
    cargo.cargo(&fresh, &["update"]).await.assert_success();
    let updated = std::fs::read_to_string(fresh.join("Cargo.lock")).unwrap();
    assert_eq!(locked_version(&updated), "0.1.1");
}

#[tokio::test]
async fn a_second_cargo_update_is_answered_with_304_not_modified() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    for name in ["first-dep", "second-dep"] {
        let lib = cargo.package(name, "1.0.0", "", "");
        cargo.publish(&lib).await;
    }
    let app = cargo.package(
        "revalidating",
        "0.1.0",
        "",
        "[dependencies]\nfirst-dep = { version = \"1\", registry = \"test\" }\nsecond-dep = { version = \"1\", registry = \"test\" }\n",
    );
    cargo
        .cargo(&app, &["generate-lockfile"])
        .await
        .assert_success();

    let stats = &server.app.stats;
    let served = stats.index_served.get();
    let not_modified = stats.index_not_modified.get();
    cargo.cargo(&app, &["update"]).await.assert_success();
    assert_eq!(
        stats.index_served.get(),
        served,
        "no index file was sent again"
    );
    assert!(
        stats.index_not_modified.get() >= not_modified + 2,
        "both index files were revalidated with 304"
    );
}

#[tokio::test]
async fn a_crate_depending_on_another_registry_is_built_from_both() {
    let ours = TestServer::start().await;
    let theirs = TestServer::start().await;
    let mut cargo = CargoSandbox::new(&ours);
    cargo.add_registry("other", &theirs);

    let upstream = cargo.package_for("other", "upstream-lib", "3.0.0", "", "");
    cargo.write(&upstream, "src/lib.rs", "pub fn upstream() -> u8 { 3 }\n");
    cargo
        .cargo(
            &upstream,
            &[
                "publish",
                "--registry",
                "other",
                "--no-verify",
                "--allow-dirty",
            ],
        )
        .await
        .assert_success();

    let downstream = cargo.package(
        "downstream-lib",
        "1.0.0",
        "",
        "[dependencies]\nupstream-lib = { version = \"3\", registry = \"other\" }\n",
    );
    cargo.write(
        &downstream,
        "src/lib.rs",
        "pub fn value() -> u8 { upstream_lib::upstream() * 2 }\n",
    );
    cargo.publish(&downstream).await;
    let (_, index) = ours.index_file("downstream-lib").await;
    assert!(
        index.contains(&format!("\"registry\":\"{}\"", theirs.index_url())),
        "the other registry's index URL is kept: {index}"
    );

    let app = cargo.binary(
        "two-registries",
        "0.1.0",
        "[dependencies]\ndownstream-lib = { version = \"1\", registry = \"test\" }\n",
        "fn main() { println!(\"{}\", downstream_lib::value()); }\n",
    );
    let run = cargo.cargo(&app, &["run", "--quiet"]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), "6");
}
