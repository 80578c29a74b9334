//! Many clients at once: one version can only be published once.

use cargohold_test_support::server::error_detail;
use cargohold_test_support::{CrateFixture, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_publishes_of_one_new_version_store_it_once() {
    let server = TestServer::start().await;
    let body = CrateFixture::new("contested", "1.0.0").publish_body();
    let publishes = (0..20).map(|_| {
        let request = server
            .client
            .put(server.url("registries/main/api/v1/crates/new"))
            .header("authorization", &server.admin_token)
            .body(body.clone());
        tokio::spawn(async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    });
    let results = futures_join(publishes.collect()).await;

    let accepted = results.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(accepted, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 400, "{body}");
        let detail = error_detail(body).expect("cargo's error envelope");
        assert!(detail.contains("already uploaded"), "{detail}");
    }
    let (_, index) = server.index_file("contested").await;
    assert_eq!(index.lines().count(), 1, "{index}");
    let state = server.stored_state().await;
    assert_eq!(
        (state.crates, state.versions, state.owners, state.blobs),
        (1, 1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_of_different_versions_all_land() {
    let server = TestServer::start().await;
    let publishes = (0..10).map(|minor| {
        let body = CrateFixture::new("busy", &format!("1.{minor}.0")).publish_body();
        let request = server
            .client
            .put(server.url("registries/main/api/v1/crates/new"))
            .header("authorization", &server.admin_token)
            .body(body);
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    });
    let statuses = futures_join(publishes.collect()).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, index) = server.index_file("busy").await;
    assert_eq!(index.lines().count(), 10);
    assert_eq!(server.stored_state().await.crates, 1);
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("the task finished"));
    }
    out
}

#[tokio::test]
async fn a_background_lease_has_one_holder_until_it_expires() {
    use cargohold::db::leases::claim;
    let server = TestServer::start().await;
    let db = server.app.db.write();
    // (Not "evict": the server's own evictor claims that one as it starts.)
    assert!(
        claim(db, "nightly-work", "node-a", 1000, 4000)
            .await
            .unwrap()
    );
    assert!(
        !claim(db, "nightly-work", "node-b", 2000, 5000)
            .await
            .unwrap(),
        "held by a"
    );
    assert!(
        claim(db, "nightly-work", "node-a", 3000, 6000)
            .await
            .unwrap(),
        "a renews"
    );
    assert!(
        !claim(db, "nightly-work", "node-b", 5999, 9000)
            .await
            .unwrap(),
        "still a's"
    );
    assert!(
        claim(db, "nightly-work", "node-b", 6000, 9000)
            .await
            .unwrap(),
        "expired: b takes it"
    );
    assert!(
        claim(db, "other-work", "node-a", 6000, 9000).await.unwrap(),
        "leases are per name"
    );

    // Twenty nodes claiming one free lease at once: exactly one gets it.
    let claims: Vec<_> = (0..20)
        .map(|i| {
            let app = server.app.clone();
            tokio::spawn(async move {
                claim(app.db.write(), "contested", &format!("node-{i}"), 10, 100)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for claim in claims {
        winners += usize::from(claim.await.unwrap());
    }
    assert_eq!(winners, 1);
}
