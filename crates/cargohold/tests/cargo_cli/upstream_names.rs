//! Internal crates named like upstream ones, with the real cargo: a local member of a
//! virtual registry is asked first, so a new crate there under an upstream name would
//! hide the upstream crate from everyone using the virtual registry. The upstream is
//! another cargohold (the "public" one); fixture crates name their library `fixture`.

use cargohold::auth::Actor;
use cargohold::config::RegistryConfig;
use cargohold_test_support::{
    CargoOutput, CargoSandbox, CrateFixture, StoredState, TestServer, error_detail,
};
use url::Url;

async fn company_server(
    upstream_index: &str,
    adjust: impl FnOnce(&mut RegistryConfig) + Send + 'static,
) -> TestServer {
    let index = Url::parse(upstream_index).unwrap();
    TestServer::start_with(move |config| {
        let mut proxy = RegistryConfig::proxy("crates-io-cache", index);
        // Every cargo run sees the upstream's latest state.
        proxy.freshness_seconds = 0;
        adjust(&mut proxy);
        config.registries = vec![
            RegistryConfig::local("internal"),
            proxy,
            RegistryConfig::virtual_of("all", &["internal", "crates-io-cache"], Some("internal")),
        ];
    })
    .await
}

fn upstream_index(upstream: &TestServer) -> String {
    upstream.url("registries/main/index/")
}

/// A developer whose crates.io is the company's virtual registry, using `token`.
fn developer(server: &TestServer, token: String) -> CargoSandbox {
    let cargo = CargoSandbox::at_registry(server, "all", Some(token));
    cargo.append_config("[source.crates-io]\nreplace-with = \"test\"\n");
    cargo
}

/// Also gives `dev` the registry `internal`, the local member itself, used with `token`.
fn add_internal(dev: &mut CargoSandbox, server: &TestServer, token: &str) {
    dev.append_config(&format!(
        "[registries.internal]\nindex = \"{}\"\n",
        server.index_url_of("internal")
    ));
    dev.set_env("CARGO_REGISTRIES_INTERNAL_TOKEN", token);
}

/// `cargo publish --registry internal` of a package that may only go there.
async fn publish_internal(cargo: &CargoSandbox, package: &std::path::Path) -> CargoOutput {
    cargo
        .cargo(
            package,
            &[
                "publish",
                "--registry",
                "internal",
                "--no-verify",
                "--allow-dirty",
            ],
        )
        .await
}

/// An ordinary user of the company: `publish` in `internal` (it has no grants), no more.
async fn ordinary_user(server: &TestServer) -> String {
    server.create_user("dev").await
}

async fn publish_upstream(upstream: &TestServer, fixture: &CrateFixture) {
    let response = upstream.publish(fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn publish(cargo: &CargoSandbox, package: &std::path::Path) -> CargoOutput {
    cargo
        .cargo(
            package,
            &[
                "publish",
                "--registry",
                "test",
                "--no-verify",
                "--allow-dirty",
            ],
        )
        .await
}

/// What a refused publish must leave as it was (proxy fills are not the publish's).
fn publish_state(state: &StoredState) -> (i64, i64, i64, i64, i64, usize) {
    (
        state.crates,
        state.owners,
        state.dependencies,
        state.publish_events,
        state.audit_events,
        state.blobs,
    )
}

async fn internal_counts(server: &TestServer) -> (i64, i64, i64) {
    (
        server
            .count("SELECT COUNT(*) FROM crates c JOIN registries r ON r.id = c.registry_id WHERE r.name = 'internal'")
            .await,
        server
            .count("SELECT COUNT(*) FROM versions v JOIN crates c ON c.id = v.crate_id JOIN registries r ON r.id = c.registry_id WHERE r.name = 'internal'")
            .await,
        server
            .count("SELECT COUNT(*) FROM index_files f JOIN registries r ON r.id = f.registry_id WHERE r.name = 'internal'")
            .await,
    )
}

fn lockfile(app: &std::path::Path) -> String {
    std::fs::read_to_string(app.join("Cargo.lock")).unwrap()
}

#[tokio::test]
async fn a_new_crate_named_like_an_upstream_crate_is_refused_and_stores_nothing() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("itoa", "1.0.19")).await;
    let server = company_server(&upstream_index(&upstream), |_| {}).await;
    let dev_token = ordinary_user(&server).await;
    let mut dev = developer(&server, dev_token.clone());
    add_internal(&mut dev, &server, &dev_token);

    let app = dev.binary(
        "number-app",
        "0.1.0",
        "[dependencies]\nitoa = \"1\"\n",
        "fn main() { fixture::fixture(); }\n",
    );
    dev.cargo(&app, &["generate-lockfile"])
        .await
        .assert_success();
    let lock = lockfile(&app);
    assert!(
        lock.contains("name = \"itoa\"\nversion = \"1.0.19\""),
        "{lock}"
    );
    let before = server.stored_state().await;
    let internal_before = internal_counts(&server).await;

    // A stub that would sort above the upstream's version, and one far above it.
    for version in ["1.0.99", "9.9.9"] {
        let stub = dev.package("itoa", version, "", "");
        let refused = publish(&dev, &stub).await;
        refused.assert_failure_containing("403");
        for said in [
            "`itoa` is already a crate on",
            "(through `crates-io-cache`)",
            "everyone using `all`",
            "Choose another name; an administrator of `internal` can publish it on purpose to \
             replace the upstream crate for everyone using `all`",
        ] {
            assert!(
                refused.stderr.contains(said),
                "{said:?} in\n{}",
                refused.stderr
            );
        }
        println!("cargo publish of itoa {version} said:\n{}", refused.stderr);
    }

    // Straight to the local registry, not through the virtual one: the same.
    let stub = dev.package_for("internal", "itoa", "1.0.99", "", "");
    let straight = publish_internal(&dev, &stub).await;
    straight.assert_failure_containing("`itoa` is already a crate on");

    // A `.crate` PUT at its download URL.
    let response = server
        .authed(
            reqwest::Method::PUT,
            "registries/internal/crates/itoa/itoa-1.0.99.crate",
            &dev_token,
        )
        .body(CrateFixture::new("itoa", "1.0.99").tarball())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("`itoa` is already a crate on"), "{detail}");

    // An import run by an operator on behalf of a user who is not an administrator.
    let dev_id = server
        .count("SELECT id FROM users WHERE login = 'dev'")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("itoa-1.0.99.crate");
    std::fs::write(&file, CrateFixture::new("itoa", "1.0.99").tarball()).unwrap();
    let internal = server.app.registry("internal").unwrap().clone();
    let report = cargohold::ops::import::import(
        &server.app,
        &internal,
        &Actor::operator(dev_id, "dev", false),
        vec![file],
        |_, _| {},
    )
    .await;
    assert!(report.imported.is_empty(), "{report:?}");
    assert!(
        report.rejected[0]
            .1
            .contains("`itoa` is already a crate on"),
        "{report:?}"
    );

    // Nothing of any of them was kept: no blob, no row, no index file, no audit event.
    assert_eq!(internal_counts(&server).await, internal_before);
    assert_eq!(internal_before, (0, 0, 0));
    let after = server.stored_state().await;
    assert_eq!(publish_state(&after), publish_state(&before));
    assert_eq!(server.index_file_in("internal", "itoa").await.0, 404);

    // The developers' builds still get the upstream crate.
    dev.cargo(&app, &["update"]).await.assert_success();
    assert_eq!(lockfile(&app), lock);
    dev.cargo(&app, &["build", "--quiet"])
        .await
        .assert_success();
}

#[tokio::test]
async fn an_administrator_may_replace_an_upstream_crate_and_cargo_shows_the_warning() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("itoa", "1.0.19")).await;
    publish_upstream(&upstream, &CrateFixture::new("ryu", "1.0.0")).await;
    let server = company_server(&upstream_index(&upstream), |_| {}).await;
    let admin = developer(&server, server.admin_token.clone());

    let replacement = admin.package("itoa", "9.9.9", "", "");
    let published = publish(&admin, &replacement).await;
    published.assert_success();
    println!(
        "cargo publish of itoa 9.9.9 by an administrator said:\n{}",
        published.stderr
    );
    assert!(
        published
            .stderr
            .contains("warning: `itoa` in `internal` now hides the crate of that name on ")
            && published.stderr.contains("from everyone using `all`"),
        "{}",
        published.stderr
    );
    let details = server
        .column("SELECT detail FROM audit_events WHERE action = 'publish' AND crate_name = 'itoa'")
        .await;
    let detail: serde_json::Value = serde_json::from_str(&details[0]).unwrap();
    assert_eq!(detail["hides_upstream"][0]["virtual"], "all");
    assert_eq!(detail["hides_upstream"][0]["proxy"], "crates-io-cache");
    assert_eq!(detail["hides_upstream"][0]["name"], "itoa");

    // What the administrator meant: everyone using `all` now gets the internal crate.
    let app = admin.binary(
        "number-app",
        "0.1.0",
        "[dependencies]\nitoa = \"*\"\n",
        "fn main() {}\n",
    );
    admin
        .cargo(&app, &["generate-lockfile"])
        .await
        .assert_success();
    assert!(
        lockfile(&app).contains("name = \"itoa\"\nversion = \"9.9.9\""),
        "{}",
        lockfile(&app)
    );

    // Its next version is an update of an internal crate: no question, no warning.
    let fetched_before = fetches(&server);
    let next = admin.package("itoa", "9.9.10", "", "");
    let published = publish(&admin, &next).await;
    published.assert_success();
    assert!(!published.stderr.contains("hides"), "{}", published.stderr);
    assert_eq!(fetches(&server), fetched_before);

    // A `.crate` upload says the same in its answer.
    let response = server
        .authed(
            reqwest::Method::PUT,
            "registries/internal/crates/ryu/ryu-2.0.0.crate",
            &server.admin_token,
        )
        .body(CrateFixture::new("ryu", "2.0.0").tarball())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        answer["warnings"][0]
            .as_str()
            .unwrap()
            .contains("`ryu` in `internal` now hides the crate of that name on "),
        "{answer}"
    );
}

fn fetches(server: &TestServer) -> u64 {
    let registry = server.app.registry("crates-io-cache").unwrap();
    registry
        .proxy
        .as_ref()
        .unwrap()
        .stats
        .snapshot()
        .index_fetches
}

#[tokio::test]
async fn a_name_the_upstream_does_not_have_publishes_as_before() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("itoa", "1.0.19")).await;
    let server = company_server(&upstream_index(&upstream), |_| {}).await;
    let dev = developer(&server, ordinary_user(&server).await);

    let widgets = dev.package("acme-widgets", "1.0.0", "", "");
    let published = publish(&dev, &widgets).await;
    published.assert_success();
    assert!(
        !published.stderr.contains("warning"),
        "{}",
        published.stderr
    );
    assert!(fetches(&server) > 0);

    // A second version of a crate that exists asks nothing upstream.
    let fetched_before = fetches(&server);
    let widgets = dev.package("acme-widgets", "1.1.0", "", "");
    publish(&dev, &widgets).await.assert_success();
    assert_eq!(fetches(&server), fetched_before);
    assert_eq!(internal_counts(&server).await, (1, 2, 1));
}

#[tokio::test]
async fn another_spelling_of_an_upstream_name_is_refused_too() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("fancy_tool", "1.0.0")).await;
    publish_upstream(&upstream, &CrateFixture::new("spin-lock", "1.0.0")).await;
    let server = company_server(&upstream_index(&upstream), |_| {}).await;
    let dev_token = ordinary_user(&server).await;
    let dev = developer(&server, dev_token.clone());

    let dashed = dev.package("fancy-tool", "1.0.0", "", "");
    let refused = publish(&dev, &dashed).await;
    refused.assert_failure_containing("`fancy-tool` is already a crate on");
    assert!(
        refused
            .stderr
            .contains("as `fancy_tool` (through `crates-io-cache`)"),
        "{}",
        refused.stderr
    );
    println!("cargo publish of fancy-tool said:\n{}", refused.stderr);

    let underscored = dev.package("spin_lock", "1.0.0", "", "");
    publish(&dev, &underscored)
        .await
        .assert_failure_containing("as `spin-lock` (through `crates-io-cache`)");

    // Upper case too, in an upload.
    let response = server
        .authed(
            reqwest::Method::PUT,
            "registries/all/crates/Spin_Lock/Spin_Lock-2.0.0.crate",
            &dev_token,
        )
        .body(CrateFixture::new("Spin_Lock", "2.0.0").tarball())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("as `spin-lock`"), "{detail}");
    assert_eq!(internal_counts(&server).await, (0, 0, 0));
}

#[tokio::test]
async fn with_the_upstream_gone_what_the_proxy_stored_decides_and_unknown_names_publish() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("itoa", "1.0.19")).await;
    let server = company_server(&upstream_index(&upstream), |_| {}).await;
    let dev_token = ordinary_user(&server).await;
    let mut dev = developer(&server, dev_token.clone());
    add_internal(&mut dev, &server, &dev_token);
    // The proxy learns of `itoa` when a build asks for it.
    let app = dev.binary(
        "number-app",
        "0.1.0",
        "[dependencies]\nitoa = \"1\"\n",
        "fn main() {}\n",
    );
    dev.cargo(&app, &["generate-lockfile"])
        .await
        .assert_success();
    // A request after it waits for what that one fetched to be stored.
    assert_eq!(server.index_file_in("crates-io-cache", "itoa").await.0, 200);

    // Imported into the proxy without any upstream: served through `all`, so it counts.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offline-dep-1.2.3.crate");
    std::fs::write(&file, CrateFixture::new("offline-dep", "1.2.3").tarball()).unwrap();
    let cache = server.app.registry("crates-io-cache").unwrap().clone();
    let operator = Actor::operator(1, "admin", true);
    let report =
        cargohold::ops::import::import(&server.app, &cache, &operator, vec![file], |_, _| {}).await;
    assert_eq!(report.imported, ["offline-dep@1.2.3"], "{report:?}");

    upstream.stop().await;

    let stub = dev.package("itoa", "1.0.99", "", "");
    publish(&dev, &stub)
        .await
        .assert_failure_containing("`itoa` is already a crate on");
    let stub = dev.package("offline-dep", "1.2.4", "", "");
    publish(&dev, &stub)
        .await
        .assert_failure_containing("`offline-dep` is already a crate on");

    // A name nothing is known about: through `all`, cargo's own look at the index
    // before publishing meets the proxy's 502, which says where to publish instead.
    let fresh = dev.package("acme-offline", "0.1.0", "", "");
    let refused = publish(&dev, &fresh).await;
    refused.assert_failure_containing(
        "cannot be looked up while the upstream of `crates-io-cache` is unreachable",
    );
    refused.assert_failure_containing("publish to `internal` directly");
    refused.assert_failure_containing(&format!(
        "[registries.internal] index = '{}'",
        server.index_url_of("internal")
    ));
    assert_eq!(internal_counts(&server).await, (0, 0, 0));
    // There, an air-gapped company keeps publishing.
    let fresh = dev.package_for("internal", "acme-offline", "0.1.0", "", "");
    let published = publish_internal(&dev, &fresh).await;
    published.assert_success();
    assert!(!published.stderr.contains("hides"), "{}", published.stderr);
    assert_eq!(internal_counts(&server).await, (1, 1, 1));
}

#[tokio::test]
async fn a_name_the_proxy_policy_keeps_out_is_free_to_publish_internally() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("acme-secret", "1.0.0")).await;
    let server = company_server(&upstream_index(&upstream), |proxy| {
        proxy.deny = vec!["acme-*".into()];
    })
    .await;
    let dev_token = ordinary_user(&server).await;
    let mut dev = developer(&server, dev_token.clone());
    add_internal(&mut dev, &server, &dev_token);

    // Through the one URL, as the README's set-up publishes: cargo looks the name up
    // there first, and the name the policy keeps out is free.
    let secret = dev.package_for("test", "acme-secret", "2.0.0", "", "");
    let published = publish(&dev, &secret).await;
    published.assert_success();
    assert!(!published.stderr.contains("hides"), "{}", published.stderr);
    assert_eq!(fetches(&server), 0, "the internal name never went upstream");
}
