//! Proxy and virtual registries over HTTP: the upstream is another cargohold on loopback.

use std::sync::atomic::Ordering;
use std::time::Duration;

use cargohold::config::{Config, RegistryConfig};
use cargohold::proxy::StatsSnapshot;
use cargohold_test_support::{CrateFixture, TestServer, error_detail};
use url::Url;

use crate::fake_upstream::{FakeUpstream, Reply, left_pad, left_pad_upstream};

/// A server with a local `internal`, a proxy `upstream` of `upstream_index` and a
/// virtual `all` over both that publishes to `internal`.
async fn proxy_server(
    upstream_index: &str,
    adjust: impl FnOnce(&mut RegistryConfig),
) -> TestServer {
    let mut proxy = RegistryConfig::proxy("upstream", Url::parse(upstream_index).unwrap());
    adjust(&mut proxy);
    TestServer::start_with(move |config| {
        config.registries = vec![
            RegistryConfig::local("internal"),
            proxy,
            RegistryConfig::virtual_of("all", &["internal", "upstream"], Some("internal")),
        ];
    })
    .await
}

/// The upstream's `main` as a proxy's upstream URL.
fn upstream_index(upstream: &TestServer) -> String {
    upstream.url("registries/main/index/")
}

fn stats(server: &TestServer, registry: &str) -> StatsSnapshot {
    let registry = server.app.registry(registry).unwrap();
    registry.proxy.as_ref().unwrap().stats.snapshot()
}

async fn publish_upstream(upstream: &TestServer, fixture: &CrateFixture) {
    let response = upstream.publish(fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn a_proxy_serves_the_upstream_index_and_caches_each_crate_once() {
    let upstream = TestServer::start().await;
    let v1 = CrateFixture::new("left-pad", "1.0.0");
    let v2 = CrateFixture::new("left-pad", "1.1.0");
    publish_upstream(&upstream, &v1).await;
    publish_upstream(&upstream, &v2).await;
    let server = proxy_server(&upstream_index(&upstream), |_| {}).await;
    let audit_before = server.stored_state().await.audit_events;

    let (status, body) = server.index_file_in("upstream", "left-pad").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        upstream.index_file("left-pad").await.1,
        "byte for byte"
    );
    assert_eq!(
        server.stored_state().await.versions,
        0,
        "nothing cached yet"
    );

    let (status, bytes) = server.download_from("upstream", "left-pad", "1.0.0").await;
    assert_eq!(status, 200);
    assert_eq!(bytes, v1.tarball());
    // Answered from the fetched bytes; stored just after.
    server
        .wait_for_count("SELECT COUNT(*) FROM versions", 1)
        .await;
    let state = server.stored_state().await;
    assert_eq!((state.versions, state.blobs), (1, 1));
    assert_eq!(state.owners, 0, "nobody here owns an upstream crate");
    assert_eq!(
        state.audit_events, audit_before,
        "a cache fill is nobody's change"
    );

    let (status, again) = server.download_from("upstream", "left-pad", "1.0.0").await;
    assert_eq!((status, again), (200, v1.tarball()));
    let seen = stats(&server, "upstream");
    assert_eq!((seen.crate_fetches, seen.crate_hits), (1, 1));
    assert_eq!(
        seen.index_fetches, 1,
        "fresh copies are not asked for again"
    );

    // The cached version keeps the upstream's line (its checksum is what cargo checks).
    let lines = server.column("SELECT index_line FROM versions").await;
    assert!(body.lines().any(|l| l == lines[0]), "{lines:?}");

    // The cache is listed with its counters.
    let listing: serde_json::Value = server
        .get("api/v1/registries/upstream/cache")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["versions"], 1);
    assert_eq!(listing["bytes"], v1.tarball().len());
    assert_eq!(listing["crates"][0]["name"], "left-pad");
    assert_eq!(listing["crates"][0]["version"], "1.0.0");
    assert_eq!(listing["index_files_found"], 1);
    assert_eq!(listing["stats"]["crate_fetches"], 1);
    assert_eq!(listing["stats"]["crate_hits"], 1);
    let response = server
        .get("api/v1/registries/upstream/cache?per_page=5000")
        .await;
    assert_eq!(response.status(), 400);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("from 1 to 1000; got `5000`"), "{detail}");
    let response = server.get("api/v1/registries/all/cache").await;
    assert_eq!(response.status(), 400);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("its proxies are: upstream"), "{detail}");

    let (status, _) = server.download_from("upstream", "left-pad", "3.0.0").await;
    assert_eq!(status, 404);
    let (status, _) = server.index_file_in("upstream", "no-such-crate").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn concurrent_requests_for_one_crate_make_one_upstream_request() {
    let upstream = TestServer::start().await;
    let fixture = CrateFixture::new("popular", "2.0.0");
    publish_upstream(&upstream, &fixture).await;
    let server = proxy_server(&upstream_index(&upstream), |_| {}).await;

    let requests = (0..16).map(|_| server.download_from("upstream", "popular", "2.0.0"));
    for (status, bytes) in futures::future::join_all(requests).await {
        assert_eq!(status, 200);
        assert_eq!(bytes, fixture.tarball());
    }
    let seen = stats(&server, "upstream");
    assert_eq!(seen.crate_fetches, 1);
    assert_eq!(seen.index_fetches, 1);
    assert_eq!(server.stored_state().await.versions, 1);
}

#[tokio::test]
async fn stale_index_files_are_revalidated_with_the_upstream_etag() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("moving", "1.0.0")).await;
    let server = proxy_server(&upstream_index(&upstream), |p| p.freshness_seconds = 0).await;

    assert_eq!(server.index_file_in("upstream", "moving").await.0, 200);
    assert_eq!(server.index_file_in("upstream", "moving").await.0, 200);
    let not_modified = upstream.app.stats.index_not_modified.get();
    assert_eq!(not_modified, 1, "the second request was a revalidation");

    publish_upstream(&upstream, &CrateFixture::new("moving", "1.1.0")).await;
    let (_, body) = server.index_file_in("upstream", "moving").await;
    assert!(body.contains("\"vers\":\"1.1.0\""), "{body}");
    assert_eq!(stats(&server, "upstream").index_fetches, 3);
}

#[tokio::test]
async fn a_proxy_keeps_serving_its_cache_when_the_upstream_is_gone() {
    let upstream = TestServer::start().await;
    let fixture = CrateFixture::new("sturdy", "1.0.0");
    publish_upstream(&upstream, &fixture).await;
    publish_upstream(&upstream, &CrateFixture::new("never-fetched", "1.0.0")).await;
    let index = upstream_index(&upstream);
    let server = proxy_server(&index, |p| p.freshness_seconds = 0).await;
    let (_, before) = server.index_file_in("upstream", "sturdy").await;
    assert_eq!(
        server.download_from("upstream", "sturdy", "1.0.0").await.0,
        200
    );

    upstream.stop().await;

    let (status, after) = server.index_file_in("upstream", "sturdy").await;
    assert_eq!((status, &after), (200, &before), "the last copy is served");
    let (status, bytes) = server.download_from("upstream", "sturdy", "1.0.0").await;
    assert_eq!((status, bytes), (200, fixture.tarball()));
    let seen = stats(&server, "upstream");
    assert!(
        seen.upstream_errors >= 1 && seen.stale_served >= 1,
        "{seen:?}"
    );

    // What was never fetched cannot be served, and the answer says why.
    let response = server
        .get("registries/upstream/index/ne/ve/never-fetched")
        .await;
    assert_eq!(response.status(), 502);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(
        detail.contains("not in the cache") && detail.contains("could not be reached"),
        "{detail}"
    );
}

#[tokio::test]
async fn after_an_upstream_failure_a_lone_node_waits_before_asking_again_and_says_why() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("never-fetched", "1.0.0")).await;
    let index = upstream_index(&upstream);
    let server = proxy_server(&index, |p| p.freshness_seconds = 300).await;
    upstream.stop().await;

    let first = server
        .get("registries/upstream/index/ne/ve/never-fetched")
        .await;
    assert_eq!(first.status(), 502);
    let first = error_detail(&first.text().await.unwrap()).unwrap();
    assert!(first.contains("could not be reached"), "{first}");

    // cargo asks again at once: the upstream is left alone for a while, and the answer
    // still gives this node's reason, as there is no other node to blame.
    let again = server
        .get("registries/upstream/index/ne/ve/never-fetched")
        .await;
    assert_eq!(again.status(), 502);
    let again = error_detail(&again.text().await.unwrap()).unwrap();
    assert!(
        again.contains("could not be reached") && again.contains("asked again in"),
        "{again}"
    );
    assert!(!again.contains("another cargohold node"), "{again}");
    assert_eq!(stats(&server, "upstream").upstream_errors, 1);
}

#[tokio::test]
async fn the_policy_hides_denied_and_too_young_versions_and_refuses_their_download() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("gated", "1.0.0")).await;
    publish_upstream(&upstream, &CrateFixture::new("gated", "1.1.0")).await;
    publish_upstream(&upstream, &CrateFixture::new("banned", "1.0.0")).await;
    let server = proxy_server(&upstream_index(&upstream), |p| {
        p.deny = vec!["gated@>=1.1".into(), "banned".into()];
    })
    .await;

    let (status, body) = server.index_file_in("upstream", "gated").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("\"1.0.0\"") && !body.contains("\"1.1.0\""),
        "{body}"
    );
    // Cargo takes a 404 for "no such crate"; a 403 stops it and shows this body.
    let (status, body) = server.index_file_in("upstream", "banned").await;
    assert_eq!(status, 403);
    assert!(
        body.contains("`banned` is not taken from")
            && body.contains("the policy of `upstream` refuses it (`deny` has `banned`)"),
        "{body}"
    );
    let response = server
        .get("registries/upstream/crates/gated/gated-1.1.0.crate")
        .await;
    assert_eq!(response.status(), 404);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("policy"), "{detail}");
    assert_eq!(
        server.download_from("upstream", "banned", "1.0.0").await.0,
        404
    );
    let state = server.stored_state().await;
    assert_eq!(
        (state.versions, state.blobs),
        (0, 0),
        "nothing refused was stored"
    );

    // A minimum age keeps versions published moments ago out.
    let young = proxy_server(&upstream_index(&upstream), |p| p.min_age_days = 1).await;
    let (status, body) = young.index_file_in("upstream", "gated").await;
    assert_eq!(status, 403);
    assert!(
        body.contains("`gated` is on")
            && body.contains(
                "the policy of `upstream` admits none of its 2 versions (min-age-days = 1)"
            ),
        "{body}"
    );
    // A crate the upstream does not have is still just missing.
    assert_eq!(
        young.index_file_in("upstream", "no-such-crate").await.0,
        404
    );
    assert_eq!(
        young.download_from("upstream", "gated", "1.0.0").await.0,
        404
    );
    assert_eq!(young.stored_state().await.versions, 0);
}

#[tokio::test]
async fn a_name_the_policy_refuses_is_never_asked_upstream_and_the_proxy_says_why() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("acme-secret", "1.0.0")).await;
    let server = proxy_server(&upstream_index(&upstream), |p| {
        p.deny = vec!["acme-*".into()];
    })
    .await;

    let (status, body) = server.index_file_in("upstream", "acme-secret").await;
    assert_eq!(status, 403);
    assert!(
        body.contains("the policy of `upstream` refuses it (`deny` has `acme-*`)"),
        "{body}"
    );
    // Through the one URL, which takes publishes, the name is free: cargo looks a
    // new crate up there before publishing it, and would stop at a refusal.
    assert_eq!(server.index_file_in("all", "acme-secret").await.0, 404);
    let (status, _) = server.download_from("all", "acme-secret", "1.0.0").await;
    assert_eq!(status, 404);
    assert_eq!(
        stats(&server, "upstream").index_fetches,
        0,
        "the internal name never went upstream"
    );
    assert_eq!(server.stored_state().await.versions, 0);

    // Published internally, the name is served through the one URL as usual.
    let response = server
        .publish_to("internal", &CrateFixture::new("acme-secret", "2.0.0"))
        .await;
    assert_eq!(response.status(), 200);
    let (status, body) = server.index_file_in("all", "acme-secret").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"2.0.0\""), "{body}");
}

#[tokio::test]
async fn owners_of_a_cached_crate_are_said_to_be_upstream() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("cached-crate", "1.0.0")).await;
    let server = proxy_server(&upstream_index(&upstream), |_| {}).await;
    assert_eq!(server.index_file_in("all", "cached-crate").await.0, 200);

    let response = server
        .get("registries/upstream/api/v1/crates/cached-crate/owners")
        .await;
    assert_eq!(response.status(), 400);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(
        detail.contains("`upstream` is a cache of")
            && detail.contains("which keeps the owners of its crates")
            && !detail.contains("publish"),
        "{detail}"
    );

    let response = server
        .get("registries/all/api/v1/crates/cached-crate/owners")
        .await;
    assert_eq!(response.status(), 404);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(
        detail.contains("`cached-crate` does not exist in registry `internal`")
            && detail
                .contains("crates that come from its cache (upstream) have their owners upstream"),
        "{detail}"
    );

    // An internal crate's owners are listed through the one URL.
    let response = server
        .publish_to("all", &CrateFixture::new("internal-crate", "1.0.0"))
        .await;
    assert_eq!(response.status(), 200);
    let response = server
        .get("registries/all/api/v1/crates/internal-crate/owners")
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("\"login\""));
}

#[tokio::test]
async fn a_crate_that_does_not_match_the_upstream_checksum_is_refused_and_not_stored() {
    let upstream = TestServer::start().await;
    let fixture = CrateFixture::new("tampered", "1.0.0");
    publish_upstream(&upstream, &fixture).await;
    // Alter one byte of the upstream's stored file (before anything cached it).
    let key = cargohold::storage::crate_key("main", "tampered", "1.0.0", &fixture.checksum());
    let mut bytes = fixture.tarball();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    upstream.app.storage.put(&key, bytes.into()).await.unwrap();
    let server = proxy_server(&upstream_index(&upstream), |_| {}).await;

    let response = server
        .get("registries/upstream/crates/tampered/tampered-1.0.0.crate")
        .await;
    assert_eq!(response.status(), 502);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("checksum"), "{detail}");
    let state = server.stored_state().await;
    assert_eq!((state.versions, state.blobs), (0, 0));
    assert_eq!(stats(&server, "upstream").upstream_errors, 1);
}

#[tokio::test]
async fn a_virtual_registry_never_serves_an_upstream_version_of_an_internal_name() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("public-thing", "1.0.0")).await;
    let server = proxy_server(&upstream_index(&upstream), |p| p.freshness_seconds = 0).await;
    let internal = CrateFixture::new("acme-utils", "1.0.0");
    assert_eq!(server.publish_to("all", &internal).await.status(), 200);
    // The public registry then gets the same name with a tempting version, and a look-alike spelling.
    publish_upstream(&upstream, &CrateFixture::new("acme-utils", "9.9.9")).await;
    let underscore = CrateFixture::new("acme_utils", "9.9.9");
    let response = upstream
        .authed(
            reqwest::Method::PUT,
            "registries/main/api/v1/crates/new",
            &upstream.admin_token,
        )
        .body(underscore.publish_body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        400,
        "one canonical name per registry upstream too"
    );

    let (status, body) = server.index_file_in("all", "acme-utils").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("\"1.0.0\"") && !body.contains("9.9.9"),
        "{body}"
    );
    assert_eq!(
        server.download_from("all", "acme-utils", "9.9.9").await.0,
        404
    );
    let (status, bytes) = server.download_from("all", "acme-utils", "1.0.0").await;
    assert_eq!((status, bytes), (200, internal.tarball()));
    // The other spelling is not looked up upstream either.
    assert_eq!(server.index_file_in("all", "acme_utils").await.0, 404);

    // Public names still come through.
    let (status, body) = server.index_file_in("all", "public-thing").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.download_from("all", "public-thing", "1.0.0").await.0,
        200
    );
    server
        .wait_for_count("SELECT COUNT(*) FROM crates c JOIN registries r ON r.id = c.registry_id WHERE r.name = 'upstream'", 1)
        .await;
    let names: Vec<String> = server
        .column("SELECT c.name FROM crates c JOIN registries r ON r.id = c.registry_id WHERE r.name = 'upstream'")
        .await;
    assert_eq!(names, ["public-thing"]);
}

#[tokio::test]
async fn publishing_through_a_virtual_registry_lands_in_its_publish_to_member() {
    let upstream = TestServer::start().await;
    let server = proxy_server(&upstream_index(&upstream), |_| {}).await;
    let response = server
        .publish_to("all", &CrateFixture::new("internal-lib", "0.1.0"))
        .await;
    assert_eq!(response.status(), 200);
    let registries: Vec<String> = server
        .column("SELECT r.name FROM crates c JOIN registries r ON r.id = c.registry_id")
        .await;
    assert_eq!(registries, ["internal"]);
    assert_eq!(
        server.index_file_in("internal", "internal-lib").await.0,
        200
    );
    // Yanks through the virtual registry reach the same crate.
    let response = server
        .authed(
            reqwest::Method::DELETE,
            "registries/all/api/v1/crates/internal-lib/0.1.0/yank",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.stored_state().await.yanked_versions, 1);
}

#[tokio::test]
async fn publishing_to_a_proxy_is_refused_with_where_to_publish_and_stores_nothing() {
    let upstream = TestServer::start().await;
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("internal"),
            RegistryConfig::proxy("upstream", Url::parse(&upstream_index(&upstream)).unwrap()),
            RegistryConfig::virtual_of("readonly", &["internal", "upstream"], None),
        ];
    })
    .await;
    let fixture = CrateFixture::new("misdirected", "1.0.0");
    for (registry, hint) in [("upstream", "internal"), ("readonly", "internal")] {
        let response = server.publish_to(registry, &fixture).await;
        assert_eq!(response.status(), 400, "{registry}");
        let detail = error_detail(&response.text().await.unwrap()).unwrap();
        assert!(
            detail.contains(hint) && detail.contains(registry),
            "{detail}"
        );
    }
    let response = server
        .authed(
            reqwest::Method::PUT,
            "registries/upstream/crates/misdirected/misdirected-1.0.0.crate",
            &server.admin_token,
        )
        .body(fixture.tarball())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let state = server.stored_state().await;
    assert_eq!((state.crates, state.versions, state.blobs), (0, 0, 0));
}

#[tokio::test]
async fn an_imported_crate_fills_a_proxy_with_no_upstream_at_all() {
    // Nothing listens on the upstream's port: an air-gapped proxy.
    let unreachable = "http://127.0.0.1:9/index/";
    let server = proxy_server(unreachable, |_| {}).await;
    let fixture = CrateFixture::new("offline-dep", "1.2.3");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offline-dep-1.2.3.crate");
    std::fs::write(&file, fixture.tarball()).unwrap();
    let registry = server.app.registry("upstream").unwrap().clone();
    let admin = cargohold::auth::Actor::operator(1, "admin", true);
    let report =
        cargohold::ops::import::import(&server.app, &registry, &admin, vec![file], |_, _| {}).await;
    assert_eq!(
        report.imported,
        ["offline-dep@1.2.3"],
        "{:?}",
        report.rejected
    );

    for registry in ["upstream", "all"] {
        let (status, body) = server.index_file_in(registry, "offline-dep").await;
        assert_eq!(status, 200, "{registry}: {body}");
        assert!(body.contains(&fixture.checksum()), "{body}");
        let (status, bytes) = server.download_from(registry, "offline-dep", "1.2.3").await;
        assert_eq!((status, bytes), (200, fixture.tarball()), "{registry}");
    }
}

#[tokio::test]
async fn a_private_upstream_is_reached_with_the_proxys_own_token() {
    let upstream = TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig {
            auth_required: true,
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    let fixture = CrateFixture::new("guarded", "1.0.0");
    publish_upstream(&upstream, &fixture).await;
    let read_token = upstream
        .create_user_with_token(
            "mirror-bot",
            cargohold::ops::tokens::TokenRequest {
                scopes: vec![cargohold::auth::Scope::Read],
                ..Default::default()
            },
        )
        .await;

    let with_token = proxy_server(&upstream_index(&upstream), |p| {
        p.upstream_token = Some(read_token.clone());
    })
    .await;
    let (status, bytes) = with_token
        .download_from("upstream", "guarded", "1.0.0")
        .await;
    assert_eq!((status, bytes), (200, fixture.tarball()));

    let without = proxy_server(&upstream_index(&upstream), |_| {}).await;
    let response = without.get("registries/upstream/index/gu/ar/guarded").await;
    assert_eq!(response.status(), 502);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("upstream-token"), "{detail}");
}

#[tokio::test]
async fn eviction_trims_the_cache_but_keeps_what_local_crates_depend_on() {
    use cargohold::ops::evict::{Limits, evict};
    use cargohold_test_support::DepRegistry;

    let upstream = TestServer::start().await;
    let leaf = CrateFixture::new("leaf", "1.0.0");
    let needed = CrateFixture::new("needed", "1.2.0").dep("leaf", "^1");
    let unused = CrateFixture::new("unused", "0.1.0");
    for fixture in [&leaf, &needed, &unused] {
        publish_upstream(&upstream, fixture).await;
    }
    let server = proxy_server(&upstream_index(&upstream), |_| {}).await;
    let app_lib =
        CrateFixture::new("app-lib", "1.0.0").dep_from("needed", "^1", DepRegistry::CratesIo);
    assert_eq!(server.publish_to("internal", &app_lib).await.status(), 200);
    for fixture in [&leaf, &needed, &unused] {
        let (status, _) = server
            .download_from("upstream", &fixture.name, &fixture.version)
            .await;
        assert_eq!(status, 200, "{}", fixture.name);
    }
    server
        .wait_for_count("SELECT COUNT(*) FROM versions", 4)
        .await;
    let registry = server.app.registry("upstream").unwrap().clone();
    let everything = Limits {
        max_size: 1,
        max_age_secs: 0,
    };

    let before = server.stored_state().await;
    let planned = evict(&server.app, &registry, everything, true)
        .await
        .unwrap();
    assert_eq!(planned.versions, ["unused@0.1.0"]);
    assert_eq!(planned.protected, 2, "needed, and leaf through it");
    assert_eq!(
        server.stored_state().await.versions,
        before.versions,
        "a dry run changes nothing"
    );

    let done = evict(&server.app, &registry, everything, false)
        .await
        .unwrap();
    assert_eq!(done.versions, ["unused@0.1.0"]);
    assert_eq!(done.bytes, unused.tarball().len() as i64);
    let after = server.stored_state().await;
    assert_eq!(after.versions, before.versions - 1);
    assert_eq!(after.blobs, before.blobs - 1);
    let names = server
        .column("SELECT c.name FROM crates c JOIN registries r ON r.id = c.registry_id WHERE r.name = 'upstream' ORDER BY c.name")
        .await;
    assert_eq!(names, ["leaf", "needed"]);

    // An evicted crate comes back from the upstream on its next download.
    let (status, bytes) = server.download_from("upstream", "unused", "0.1.0").await;
    assert_eq!((status, bytes), (200, unused.tarball()));
}

/// The one check against the real crates.io; it runs only when crates.io answers, and says so when it does not.
#[tokio::test]
async fn live_crates_io_through_the_proxy_when_reachable() {
    let probe = reqwest::Client::new()
        .get("https://index.crates.io/config.json")
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    if !probe.is_ok_and(|r| r.status().is_success()) {
        eprintln!("skipped: index.crates.io is not reachable from this machine");
        return;
    }
    let server = proxy_server("https://index.crates.io/", |_| {}).await;
    let (status, body) = server.index_file_in("upstream", "itoa").await;
    assert_eq!(status, 200, "{body}");
    let entry = body
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|entry| entry["vers"] == "1.0.0")
        .expect("itoa 1.0.0 is on crates.io");
    let (status, bytes) = server.download_from("upstream", "itoa", "1.0.0").await;
    assert_eq!(status, 200);
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), entry["cksum"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_sharing_a_database_revalidate_a_stale_index_file_with_one_upstream_request() {
    let nodes = TwoNodes::start().await;
    let (a, b, upstream) = (&nodes.a, &nodes.b, &nodes.upstream);
    let expected = (200, nodes.index.clone());
    assert_eq!(a.index_file_in("upstream", "left-pad").await, expected);
    assert_eq!(nodes.asked(), 1);

    // Once the copy is stale, eight requests at once on each node make one upstream request.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for answer in nodes.ask_both(8).await {
        assert_eq!(answer, expected);
    }
    assert_eq!(nodes.asked(), 2, "{:?}", upstream.heard());
    let fetches = |server: &TestServer| stats(server, "upstream").index_fetches;
    assert_eq!(fetches(a) + fetches(b), 2);
    assert_eq!(
        a.count("SELECT COUNT(*) FROM leases WHERE name LIKE 'upstream-index/%'")
            .await,
        0,
        "the lease is released with the stored answer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_upstream_fails_for_one_node_the_others_serve_their_copy_without_asking() {
    let nodes = TwoNodes::start().await;
    let expected = (200, nodes.index.clone());
    assert_eq!(
        nodes.a.index_file_in("upstream", "left-pad").await,
        expected
    );

    nodes.upstream.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for answer in nodes.ask_both(4).await {
        assert_eq!(answer, expected, "the stored copy is served");
    }
    assert_eq!(nodes.asked(), 2, "one node asked the failing upstream");
    let errors = |server: &TestServer| stats(server, "upstream").upstream_errors;
    assert_eq!(errors(&nodes.a) + errors(&nodes.b), 1);
    let served_stale = |server: &TestServer| stats(server, "upstream").stale_served;
    assert!(served_stale(&nodes.a) >= 1 && served_stale(&nodes.b) >= 1);
}

/// Two nodes on one database with a proxy `upstream` (freshness 2 s) of a slow fake
/// upstream serving `left-pad`: every request to the nodes comes while one upstream
/// request is under way.
struct TwoNodes {
    a: TestServer,
    b: TestServer,
    upstream: FakeUpstream,
    /// The upstream's index file of `left-pad`.
    index: String,
}

impl TwoNodes {
    async fn start() -> Self {
        let (index, tarball) = left_pad().await;
        let upstream = FakeUpstream::start_slow(Duration::from_millis(400), |addr| {
            left_pad_upstream(addr, &index, Reply::Body(tarball))
        })
        .await;
        let proxy_of_upstream = |config: &mut Config| {
            let mut proxy = RegistryConfig::proxy("upstream", upstream.index_url());
            proxy.freshness_seconds = 2;
            config.registries = vec![proxy];
        };
        let a = TestServer::start_with(proxy_of_upstream).await;
        let b = a.start_node(proxy_of_upstream).await;
        let index = String::from_utf8(index).unwrap();
        Self {
            a,
            b,
            upstream,
            index,
        }
    }

    /// How many times the upstream was asked for `left-pad`'s index file.
    fn asked(&self) -> usize {
        let heard = self.upstream.heard();
        heard
            .iter()
            .filter(|h| h.target == "/index/le/ft/left-pad")
            .count()
    }

    /// `left-pad`'s index file, asked of each node `times` times at once.
    async fn ask_both(&self, times: usize) -> Vec<(u16, String)> {
        let requests = (0..times).flat_map(|_| {
            [
                self.a.index_file_in("upstream", "left-pad"),
                self.b.index_file_in("upstream", "left-pad"),
            ]
        });
        futures::future::join_all(requests).await
    }
}

#[tokio::test]
async fn a_proxy_follows_an_upstream_that_moves_its_downloads() {
    // Two versions as a real registry serves them.
    let source = TestServer::start().await;
    let (v1, v2) = (
        CrateFixture::new("left-pad", "1.0.0"),
        CrateFixture::new("left-pad", "1.1.0"),
    );
    publish_upstream(&source, &v1).await;
    publish_upstream(&source, &v2).await;
    let (_, index) = source.index_file("left-pad").await;
    let upstream = FakeUpstream::start(|addr| {
        let mut replies = left_pad_upstream(addr, index.as_bytes(), Reply::Body(v1.tarball()));
        replies.insert(
            "/dl/left-pad/1.1.0/download".to_owned(),
            Reply::Body(v2.tarball()),
        );
        replies
    })
    .await;
    let server = proxy_server(upstream.index_url().as_str(), |_| {}).await;
    let (status, bytes) = server.download_from("upstream", "left-pad", "1.0.0").await;
    assert_eq!((status, bytes), (200, v1.tarball()));

    // The upstream moves its downloads: the old place answers 404 from now on.
    let addr = &upstream.addr;
    upstream.set_reply(
        "/index/config.json",
        Reply::Body(
            format!(r#"{{"dl":"http://{addr}/moved/{{crate}}-{{version}}.crate"}}"#).into_bytes(),
        ),
    );
    upstream.set_reply("/dl/left-pad/1.1.0/download", Reply::Status(404));
    upstream.set_reply("/moved/left-pad-1.1.0.crate", Reply::Body(v2.tarball()));

    let (status, bytes) = server.download_from("upstream", "left-pad", "1.1.0").await;
    assert_eq!((status, bytes), (200, v2.tarball()));
    let asked: Vec<String> = upstream.heard().into_iter().map(|h| h.target).collect();
    let configs = asked.iter().filter(|t| *t == "/index/config.json").count();
    assert_eq!(
        configs, 2,
        "config.json read again after the failure: {asked:?}"
    );
    assert!(
        asked.contains(&"/moved/left-pad-1.1.0.crate".to_owned()),
        "{asked:?}"
    );
    let seen = stats(&server, "upstream");
    assert_eq!((seen.crate_fetches, seen.upstream_errors), (2, 0));
}

#[tokio::test]
async fn a_failed_download_from_an_upstream_that_did_not_move_is_not_retried() {
    let (index, _) = left_pad().await;
    let upstream =
        FakeUpstream::start(|addr| left_pad_upstream(addr, &index, Reply::Status(404))).await;
    let server = proxy_server(upstream.index_url().as_str(), |_| {}).await;
    let (status, _) = server.download_from("upstream", "left-pad", "1.0.0").await;
    assert_eq!(status, 502);
    let downloads = upstream
        .heard()
        .into_iter()
        .filter(|h| h.target.starts_with("/dl/"))
        .count();
    assert_eq!(downloads, 1, "the same place is not asked twice");
    assert_eq!(server.stored_state().await.versions, 0);
}

/// A proxy `upstream` of `upstream`, as the only registry.
fn proxy_of(upstream: &FakeUpstream) -> impl Fn(&mut Config) + use<> {
    let index_url = upstream.index_url();
    move |config: &mut Config| {
        config.registries = vec![RegistryConfig::proxy("upstream", index_url.clone())];
    }
}

/// How many times `upstream` was asked for `left-pad`'s index file.
fn index_asked(upstream: &FakeUpstream) -> usize {
    upstream
        .heard()
        .iter()
        .filter(|h| h.target == "/index/le/ft/left-pad")
        .count()
}

#[tokio::test]
async fn a_cold_index_file_is_asked_of_the_upstream_once_and_kept_for_a_later_start() {
    let (index, tarball) = left_pad().await;
    let upstream =
        FakeUpstream::start(|addr| left_pad_upstream(addr, &index, Reply::Body(tarball))).await;
    let server = TestServer::start_with(proxy_of(&upstream)).await;
    let expected = (200, String::from_utf8(index.clone()).unwrap());

    // The answer goes out once fetched; storing it comes after, and the request right
    // behind it is served without asking the upstream again.
    assert_eq!(server.index_file_in("upstream", "left-pad").await, expected);
    assert_eq!(server.index_file_in("upstream", "left-pad").await, expected);
    assert_eq!(index_asked(&upstream), 1, "{:?}", upstream.heard());

    server
        .wait_for_count("SELECT COUNT(*) FROM upstream_index_files", 1)
        .await;
    server
        .wait_for_count(
            "SELECT COUNT(*) FROM leases WHERE name LIKE 'upstream-index/%'",
            0,
        )
        .await;

    // A process started afterwards, with nothing in memory and the upstream gone,
    // serves the stored copy.
    let config = proxy_of(&upstream);
    drop(upstream);
    let restarted = server.start_node(config).await;
    assert_eq!(
        restarted.index_file_in("upstream", "left-pad").await,
        expected
    );
    let seen = stats(&restarted, "upstream");
    assert_eq!(
        (seen.index_fetches, seen.upstream_errors),
        (0, 0),
        "{seen:?}"
    );
}

#[tokio::test]
async fn an_upstream_answer_the_database_refuses_is_still_served_and_fetched_again_later() {
    let (index, tarball) = left_pad().await;
    let upstream =
        FakeUpstream::start(|addr| left_pad_upstream(addr, &index, Reply::Body(tarball))).await;
    let server = TestServer::start_with(proxy_of(&upstream)).await;
    let expected = (200, String::from_utf8(index.clone()).unwrap());
    let postgres = matches!(server.app.db.write(), cargohold::db::Pool::Postgres(_));
    if postgres {
        server
            .execute(
                "CREATE FUNCTION refuse_upstream_copies() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN RAISE EXCEPTION 'upstream copies refused'; END $$",
            )
            .await;
        server
            .execute(
                "CREATE TRIGGER refuse_upstream_copies BEFORE INSERT ON upstream_index_files
                 FOR EACH ROW EXECUTE FUNCTION refuse_upstream_copies()",
            )
            .await;
    } else {
        server
            .execute(
                "CREATE TRIGGER refuse_upstream_copies BEFORE INSERT ON upstream_index_files
                 BEGIN SELECT RAISE(ABORT, 'upstream copies refused'); END",
            )
            .await;
    }

    assert_eq!(server.index_file_in("upstream", "left-pad").await, expected);
    // The failed store gives the lease up at once: another node need not wait it out.
    server
        .wait_for_count(
            "SELECT COUNT(*) FROM leases WHERE name LIKE 'upstream-index/%'",
            0,
        )
        .await;
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM upstream_index_files")
            .await,
        0
    );
    // This node still serves what it fetched, from memory.
    assert_eq!(server.index_file_in("upstream", "left-pad").await, expected);
    assert_eq!(index_asked(&upstream), 1);

    // Once the database takes copies again, a node without one fetches and stores it.
    if postgres {
        server
            .execute("DROP TRIGGER refuse_upstream_copies ON upstream_index_files")
            .await;
    } else {
        server.execute("DROP TRIGGER refuse_upstream_copies").await;
    }
    let other = server.start_node(proxy_of(&upstream)).await;
    assert_eq!(other.index_file_in("upstream", "left-pad").await, expected);
    assert_eq!(index_asked(&upstream), 2);
    server
        .wait_for_count("SELECT COUNT(*) FROM upstream_index_files", 1)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_sharing_a_database_fetch_a_cold_index_file_with_one_upstream_request() {
    let nodes = TwoNodes::start().await;
    let expected = (200, nodes.index.clone());
    // Every request arrives while the one upstream request is under way; the node that
    // did not ask waits until the other has stored what it fetched.
    for answer in nodes.ask_both(4).await {
        assert_eq!(answer, expected);
    }
    assert_eq!(nodes.asked(), 1, "{:?}", nodes.upstream.heard());
    assert_eq!(
        nodes
            .a
            .count("SELECT COUNT(*) FROM upstream_index_files")
            .await,
        1
    );
}
