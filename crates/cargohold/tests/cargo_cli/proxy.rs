//! One URL for internal and public crates, with the real cargo: crates.io replaced by a
//! virtual registry over a local registry and a proxy of another cargohold (the "public" one).
//! Fixture crates name their library `fixture`.

use cargohold::config::RegistryConfig;
use cargohold_test_support::{CargoSandbox, CrateFixture, TestServer};
use url::Url;

async fn company_server(upstream: &TestServer) -> TestServer {
    // Every cargo run sees the upstream's latest state.
    TestServer::company(upstream, |proxy| proxy.freshness_seconds = 0).await
}

/// A developer whose crates.io is the company's virtual registry.
fn developer(server: &TestServer) -> CargoSandbox {
    let cargo = CargoSandbox::at_registry(server, "all", Some(server.admin_token.clone()));
    cargo.append_config("[source.crates-io]\nreplace-with = \"test\"\n");
    cargo
}

async fn publish_upstream(upstream: &TestServer, fixture: &CrateFixture) {
    let response = upstream.publish(fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn one_url_builds_with_internal_and_public_crates_and_an_upstream_cannot_shadow_an_internal_name()
 {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("public-dep", "1.0.0")).await;
    let server = company_server(&upstream).await;
    let cargo = developer(&server);

    // An internal crate that itself uses a public one, published with cargo through the one URL.
    let internal = cargo.package(
        "acme-utils",
        "1.0.0",
        "",
        "[dependencies]\npublic-dep = \"1\"\n",
    );
    cargo.write(
        &internal,
        "src/lib.rs",
        "pub fn origin() -> &'static str { fixture::fixture(); \"internal\" }\n",
    );
    cargo.publish(&internal).await;

    // Then the public registry gets the same name with a tempting version (dependency confusion).
    publish_upstream(&upstream, &CrateFixture::new("acme-utils", "9.9.9")).await;

    let app = cargo.binary(
        "confusion-app",
        "0.1.0",
        "[dependencies]\nacme-utils = \">=1\"\npublic-dep = \"1\"\n",
        "fn main() { fixture::fixture(); println!(\"acme-utils is {}\", acme_utils::origin()); }\n",
    );
    let run = cargo.cargo(&app, &["run", "--quiet"]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), "acme-utils is internal");
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"acme-utils\"\nversion = \"1.0.0\""),
        "{lock}"
    );
    assert!(!lock.contains("9.9.9"), "{lock}");
    // `cargo update` with the upstream's newer version in sight changes nothing.
    cargo.cargo(&app, &["update"]).await.assert_success();
    let lock_after = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert_eq!(lock, lock_after);
}

#[tokio::test]
async fn builds_keep_working_from_the_cache_after_the_upstream_dies() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("public-dep", "1.0.0")).await;
    publish_upstream(&upstream, &CrateFixture::new("public-dep", "1.1.0")).await;
    let server = company_server(&upstream).await;
    let cargo = developer(&server);
    let app = cargo.binary(
        "sturdy-app",
        "0.1.0",
        "[dependencies]\npublic-dep = \"1\"\n",
        "fn main() { fixture::fixture(); println!(\"built\"); }\n",
    );
    cargo
        .cargo(&app, &["build", "--quiet"])
        .await
        .assert_success();

    upstream.stop().await;

    // Another developer, with nothing in their own cargo cache, still builds.
    let colleague = developer(&server);
    let copy = colleague.binary(
        "sturdy-app",
        "0.1.0",
        "[dependencies]\npublic-dep = \"1\"\n",
        "fn main() { fixture::fixture(); println!(\"built\"); }\n",
    );
    let run = colleague.cargo(&copy, &["run", "--quiet"]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), "built");
    let lock = std::fs::read_to_string(copy.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"public-dep\"\nversion = \"1.1.0\""),
        "{lock}"
    );
    let stats = server
        .app
        .registry("crates-io-cache")
        .unwrap()
        .proxy
        .as_ref()
        .unwrap()
        .stats
        .snapshot();
    assert!(
        stats.stale_served > 0 && stats.upstream_errors > 0,
        "{stats:?}"
    );
}

#[tokio::test]
async fn cargo_is_told_why_a_crate_the_proxy_policy_refuses_cannot_be_used() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("leftpad-evil", "1.0.0")).await;
    let index = Url::parse(&upstream.url("registries/main/index/")).unwrap();
    let server = TestServer::start_with(move |config| {
        let mut proxy = RegistryConfig::proxy("crates-io-cache", index);
        proxy.deny = vec!["leftpad-*".into()];
        // Without `publish-to`: through a virtual registry that takes publishes, a name
        // refused outright is missing instead (cargo looks a new crate up before
        // publishing it, and would stop at the refusal).
        config.registries = vec![
            RegistryConfig::local("internal"),
            proxy,
            RegistryConfig::virtual_of("all", &["internal", "crates-io-cache"], None),
        ];
    })
    .await;
    let cargo = developer(&server);
    let app = cargo.binary(
        "policy-app",
        "0.1.0",
        "[dependencies]\nleftpad-evil = \"1\"\n",
        "fn main() {}\n",
    );
    cargo
        .cargo(&app, &["generate-lockfile"])
        .await
        .assert_failure_containing(
            "the policy of `crates-io-cache` refuses it (`deny` has `leftpad-*`)",
        );
    assert!(!app.join("Cargo.lock").exists());
}
