//! What `check` tells an operator to do about a damaged blob it cannot repair, and
//! that doing it works: a proxy's cached copy is put back from its upstream.

use cargohold::config::RegistryConfig;
use cargohold::ops::check::{self, Problem};
use cargohold_test_support::{CrateFixture, TestServer};
use url::Url;

#[tokio::test]
async fn a_damaged_cached_blob_is_put_back_from_the_upstream_as_check_advises() {
    let upstream = TestServer::start().await;
    let fixture = CrateFixture::new("left-pad", "1.0.0");
    let response = upstream.publish(&fixture).await;
    assert_eq!(response.status(), 200);
    let upstream_index = upstream.url("registries/main/index/");
    let index = Url::parse(&upstream_index).unwrap();
    let server = TestServer::start_with(move |config| {
        config.registries = vec![RegistryConfig::proxy("cache", index)];
    })
    .await;
    let (status, bytes) = server.download_from("cache", "left-pad", "1.0.0").await;
    assert_eq!((status, bytes), (200, fixture.tarball()));
    server
        .wait_for_count("SELECT COUNT(*) FROM versions", 1)
        .await;
    let key = server.column("SELECT blob_key FROM versions").await[0].clone();
    let path = server.data_dir().join("blobs").join(&key);
    let mut damaged = std::fs::read(&path).unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();

    let report = check::check(&server.app, None, true, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert!(matches!(problem, Problem::Blob { .. }), "{problem}");
    assert!(!report.is_repaired(problem));
    let remedy = problem.remedy().unwrap();
    let store = std::fs::canonicalize(server.app.storage.description()).unwrap();
    let store = store.display();
    assert_eq!(
        remedy,
        format!(
            "restore the file from a backup: copy `blobs/{key}` of a `cargohold backup` directory to \
             `{store}/{key}`, or put the upstream's copy of `left-pad` 1.0.0 there, the same file (the \
             `dl` of {}/config.json gives its download address)",
            upstream_index.trim_end_matches('/')
        )
    );
    assert!(!remedy.contains("evict"), "{remedy}");

    // Following it: the upstream's copy, written to the place named, is what the row says.
    std::fs::write(format!("{store}/{key}"), fixture.tarball()).unwrap();
    let report = check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(report.problems, vec![]);
}
