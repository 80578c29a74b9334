//! `cargohold import` into the local member of a virtual registry, of `.crate` files
//! of crates its proxy member serves upstream (a `~/.cargo/registry/cache` folder):
//! they would hide the upstream crate behind the virtual registry, so they are
//! skipped, and belong in the proxy. The upstream is another cargohold on loopback.

use std::path::PathBuf;

use cargohold::auth::Actor;
use cargohold::ops::import::{self, Report, UpstreamNames};
use cargohold_test_support::{CrateFixture, TestServer};

/// `internal`, a proxy `crates-io-cache` of `upstream`'s `main`, and `all` over both.
async fn company_server(upstream: &TestServer) -> TestServer {
    TestServer::company(upstream, |_| {}).await
}

async fn publish_upstream(upstream: &TestServer, fixture: &CrateFixture) {
    let response = upstream.publish(fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// Writes the fixtures' `.crate` files into `dir` as a cargo cache folder has them.
fn cache_folder(dir: &std::path::Path, fixtures: &[&CrateFixture]) -> Vec<PathBuf> {
    fixtures
        .iter()
        .map(|fixture| {
            let path = dir.join(format!("{}-{}.crate", fixture.name, fixture.version));
            std::fs::write(&path, fixture.tarball()).unwrap();
            path
        })
        .collect()
}

async fn import_into(
    server: &TestServer,
    registry: &str,
    files: Vec<PathBuf>,
    upstream_names: UpstreamNames,
) -> Report {
    let registry = server.app.registry(registry).unwrap().clone();
    let operator = Actor::operator(1, "admin", true);
    import::import_with(
        &server.app,
        &registry,
        &operator,
        files,
        upstream_names,
        |_, _| {},
    )
    .await
}

async fn blob_keys(server: &TestServer) -> Vec<String> {
    server
        .app
        .storage
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|blob| blob.key)
        .collect()
}

fn index_lines(body: &str) -> usize {
    body.lines().count()
}

#[tokio::test]
async fn a_cache_folder_imported_into_the_local_member_skips_upstream_crates() {
    let upstream = TestServer::start().await;
    let serde_1_0_0 = CrateFixture::new("serde", "1.0.0");
    let serde_1_0_1 = CrateFixture::new("serde", "1.0.1");
    publish_upstream(&upstream, &serde_1_0_0).await;
    publish_upstream(&upstream, &serde_1_0_1).await;
    let server = company_server(&upstream).await;
    let (status, upstream_serde) = server.index_file_in("all", "serde").await;
    assert_eq!((status, index_lines(&upstream_serde)), (200, 2));

    let dir = tempfile::tempdir().unwrap();
    let own = CrateFixture::new("acme-widgets", "1.0.0");
    let files = cache_folder(dir.path(), &[&serde_1_0_1, &own]);
    let before = server.stored_state().await;
    let report = import_into(&server, "internal", files.clone(), UpstreamNames::Skip).await;

    assert_eq!(report.imported, ["acme-widgets@1.0.0"], "{report:?}");
    assert!(report.already_present.is_empty(), "{report:?}");
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    let (path, reason) = &report.rejected[0];
    assert_eq!(path, &files[0]);
    let upstream_url = upstream.url("registries/main/index/");
    assert!(
        reason.starts_with(&format!(
            "`serde` is already a crate on {upstream_url} (through `crates-io-cache`): imported into `internal`, \
             it would hide that crate from everyone using `all`"
        )),
        "{reason}"
    );
    assert!(
        reason.contains("`cargohold import --registry crates-io-cache PATH...`"),
        "{reason}"
    );

    // Nothing of serde was stored in `internal`: no crate, version or index file row, no blob.
    let after = server.stored_state().await;
    assert_eq!(after.crates - before.crates, 1);
    assert_eq!(after.versions - before.versions, 1);
    assert_eq!(after.index_files - before.index_files, 1);
    assert_eq!(after.blobs - before.blobs, 1);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM crates WHERE canonical_name = 'serde'")
            .await,
        0
    );
    let keys = blob_keys(&server).await;
    assert!(keys.iter().all(|key| !key.contains("/serde/")), "{keys:?}");
    let (status, _) = server.index_file_in("internal", "serde").await;
    assert_eq!(status, 404);

    // `all` still serves every upstream version, and the internal crate too.
    let (status, body) = server.index_file_in("all", "serde").await;
    assert_eq!((status, &body), (200, &upstream_serde));
    let (status, bytes) = server.download_from("all", "serde", "1.0.0").await;
    assert_eq!((status, bytes), (200, serde_1_0_0.tarball()));
    let (status, body) = server.index_file_in("all", "acme-widgets").await;
    assert_eq!((status, index_lines(&body)), (200, 1));

    // Again: skipped again, the internal crate already there.
    let again = import_into(&server, "internal", files, UpstreamNames::Skip).await;
    assert_eq!(again.already_present, ["acme-widgets@1.0.0"], "{again:?}");
    assert_eq!(again.rejected.len(), 1, "{again:?}");
}

#[tokio::test]
async fn the_same_file_imported_into_the_proxy_is_served_behind_the_virtual_registry() {
    let upstream = TestServer::start().await;
    let syn_1 = CrateFixture::new("syn", "1.0.0");
    let syn_2 = CrateFixture::new("syn", "2.0.0");
    publish_upstream(&upstream, &syn_1).await;
    publish_upstream(&upstream, &syn_2).await;
    let server = company_server(&upstream).await;

    let dir = tempfile::tempdir().unwrap();
    let files = cache_folder(dir.path(), &[&syn_2]);
    let report = import_into(&server, "crates-io-cache", files, UpstreamNames::Skip).await;
    assert_eq!(report.imported, ["syn@2.0.0"], "{report:?}");
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(
        server
            .count(
                "SELECT COUNT(*) FROM versions v JOIN crates c ON c.id = v.crate_id \
                 JOIN registries r ON r.id = c.registry_id \
                 WHERE r.name = 'crates-io-cache' AND c.name = 'syn'"
            )
            .await,
        1
    );

    let (status, body) = server.index_file_in("all", "syn").await;
    assert_eq!((status, index_lines(&body)), (200, 2), "{body}");
    for (version, fixture) in [("1.0.0", &syn_1), ("2.0.0", &syn_2)] {
        let (status, bytes) = server.download_from("all", "syn", version).await;
        assert_eq!((status, bytes), (200, fixture.tarball()), "{version}");
    }
}

#[tokio::test]
async fn the_operator_may_hide_an_upstream_crate_on_purpose() {
    let upstream = TestServer::start().await;
    publish_upstream(&upstream, &CrateFixture::new("quote", "1.0.0")).await;
    publish_upstream(&upstream, &CrateFixture::new("quote", "1.0.1")).await;
    let server = company_server(&upstream).await;

    let dir = tempfile::tempdir().unwrap();
    let ours = CrateFixture::new("quote", "9.0.0");
    let files = cache_folder(dir.path(), &[&ours]);
    let report = import_into(&server, "internal", files, UpstreamNames::Hide).await;
    assert_eq!(report.imported, ["quote@9.0.0"], "{report:?}");

    // What an administrator's publish does: `all` serves the local crate only, and
    // the audit event names the hidden upstream crate.
    let (status, body) = server.index_file_in("all", "quote").await;
    assert_eq!((status, index_lines(&body)), (200, 1), "{body}");
    assert!(body.contains("\"vers\":\"9.0.0\""), "{body}");
    assert_eq!(
        server
            .count(
                "SELECT COUNT(*) FROM audit_events WHERE action = 'publish' \
                 AND detail LIKE '%hides_upstream%'"
            )
            .await,
        1
    );
}

#[tokio::test]
async fn a_cache_folder_imported_into_the_proxy_skips_the_instances_own_crates() {
    // With crates.io replaced by `all`, cargo keeps internal crates in the same
    // cache folder as crates.io ones; only the upstream's belong in the cache.
    let upstream = TestServer::start().await;
    let syn = CrateFixture::new("syn", "2.0.0");
    publish_upstream(&upstream, &syn).await;
    let server = company_server(&upstream).await;
    let own = CrateFixture::new("acme-widgets", "1.0.0");
    let response = server.publish_to("internal", &own).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let dir = tempfile::tempdir().unwrap();
    let newer_own = CrateFixture::new("Acme_Widgets", "1.1.0");
    let files = cache_folder(dir.path(), &[&syn, &own, &newer_own]);
    let before = server.stored_state().await;
    let report = import_into(
        &server,
        "crates-io-cache",
        files.clone(),
        UpstreamNames::Skip,
    )
    .await;

    assert_eq!(report.imported, ["syn@2.0.0"], "{report:?}");
    assert_eq!(report.rejected.len(), 2, "{report:?}");
    for (path, reason) in &report.rejected {
        assert!(path == &files[1] || path == &files[2], "{path:?}");
        assert!(
            reason.starts_with(
                "`acme-widgets` is a crate of the local registry `internal`, not of \
                 `crates-io-cache`'s upstream"
            ) && reason.ends_with("import it into `internal`"),
            "{reason}"
        );
    }
    // Only syn was stored; `all` still serves the internal crate from `internal`.
    let after = server.stored_state().await;
    assert_eq!(after.versions - before.versions, 1);
    assert_eq!(after.blobs - before.blobs, 1);
    let (status, body) = server
        .index_file_in("crates-io-cache", "acme-widgets")
        .await;
    assert_ne!(status, 200, "{body}");
    let (status, bytes) = server.download_from("all", "acme-widgets", "1.0.0").await;
    assert_eq!((status, bytes), (200, own.tarball()));
}
