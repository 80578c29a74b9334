//! The blob store in an S3-compatible bucket (`storage-url = "s3://bucket/prefix"`), against a
//! real S3-protocol server process: publish, download, check, gc, rejections and outages.

use cargohold::ops::check;
use cargohold_test_support::fixture::publish_body;
use cargohold_test_support::{CrateFixture, S3Server, TestServer};

/// A server whose blobs live in `bucket` under `blobs/` on `s3`.
async fn server_on(s3: &S3Server, bucket: &str) -> TestServer {
    s3.create_bucket(bucket).await;
    TestServer::start_with(|config| s3.configure(config, bucket, "blobs")).await
}

#[tokio::test]
async fn a_published_crate_lives_in_the_bucket_and_downloads_from_it() {
    let s3 = S3Server::start().await;
    let server = server_on(&s3, "registry").await;
    let fixture = CrateFixture::new("clouded", "1.2.3");
    let response = server.publish(&fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let keys = s3.keys("registry").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("blobs/crates/main/clouded/1.2.3/") && keys[0].ends_with(".crate"),
        "{keys:?}"
    );
    let (status, bytes) = server.download("clouded", "1.2.3").await;
    assert_eq!(status, 200);
    assert_eq!(bytes, fixture.tarball());

    let report = check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(report.problems, vec![]);
    assert_eq!(server.get("/ready").await.status(), 200);
}

#[tokio::test]
async fn check_finds_an_object_deleted_from_the_bucket() {
    let s3 = S3Server::start().await;
    let server = server_on(&s3, "registry").await;
    let response = server.publish(&CrateFixture::new("fragile", "0.1.0")).await;
    assert_eq!(response.status(), 200);
    let key = s3.keys("registry").await.remove(0);
    s3.delete("registry", &key).await;

    let report = check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("fragile"), "{problems:?}");
}

#[tokio::test]
async fn a_rejected_publish_puts_nothing_in_the_bucket() {
    let s3 = S3Server::start().await;
    let server = server_on(&s3, "registry").await;
    // A tarball that is not gzip: refused before anything is stored.
    let metadata = serde_json::to_vec(&serde_json::json!({
        "name": "broken", "vers": "1.0.0", "deps": [], "features": {}
    }))
    .unwrap();
    server
        .assert_publish_rejected(
            publish_body(&metadata, b"not a tarball"),
            &server.admin_token,
            400,
            "gzip",
        )
        .await;
    assert_eq!(s3.keys("registry").await, Vec::<String>::new());
}

#[tokio::test]
async fn downloads_redirect_to_a_presigned_url_when_configured() {
    let s3 = S3Server::start().await;
    s3.create_bucket("registry").await;
    let server = TestServer::start_with(|config| {
        s3.configure(config, "registry", "blobs");
        config.s3.redirect_downloads_seconds = 300;
    })
    .await;
    let fixture = CrateFixture::new("redirected", "1.0.0");
    assert_eq!(server.publish(&fixture).await.status(), 200);

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(server.url("/registries/main/crates/redirected/redirected-1.0.0.crate"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!(
            "{}/registry/blobs/crates/main/redirected/",
            s3.endpoint
        )),
        "{location}"
    );
    assert!(location.contains("X-Amz-Signature="), "{location}");
    // The presigned URL serves the very bytes that were published.
    let bytes = reqwest::get(&location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), fixture.tarball().as_slice());
}

#[tokio::test]
async fn publish_while_the_bucket_is_unreachable_is_a_503_that_stores_nothing() {
    let s3 = S3Server::start().await;
    let server = server_on(&s3, "registry").await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("first", "1.0.0"))
            .await
            .status(),
        200
    );
    let before = server.stored_state().await;
    drop(s3);

    let response = server.publish(&CrateFixture::new("second", "1.0.0")).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let detail = cargohold_test_support::error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("blob store"), "{detail}");
    let ready = server.get("/ready").await;
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("s3://registry/blobs"));

    // Nothing of the refused publish reached the database.
    assert_eq!(
        server.count("SELECT COUNT(*) FROM versions").await,
        before.versions
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM crates").await,
        before.crates
    );
    let (status, _) = server.index_file("second").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_bucket_deleted_while_serving_fails_ready_and_publish_naming_it() {
    let s3 = S3Server::start().await;
    let server = server_on(&s3, "vanishing").await;
    assert_eq!(server.get("/ready").await.status(), 200);
    s3.delete_bucket("vanishing").await;

    let ready = server.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let body = ready.text().await.unwrap();
    assert!(
        body.contains(&format!(
            "bucket `vanishing` does not exist at {}; create it or fix storage-url",
            s3.endpoint
        )),
        "{body}"
    );

    let response = server
        .publish(&CrateFixture::new("homeless", "1.0.0"))
        .await;
    assert_eq!(response.status(), 503);
    let detail = cargohold_test_support::error_detail(&response.text().await.unwrap()).unwrap();
    assert!(
        detail.contains("bucket does not exist") && detail.contains("nothing was changed"),
        "{detail}"
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM versions").await, 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM crates").await, 0);
    let (status, _) = server.index_file("homeless").await;
    assert_eq!(status, 404);
    // Made again, the bucket holds nothing of the refused publish, and the server is ready.
    s3.create_bucket("vanishing").await;
    assert_eq!(s3.keys("vanishing").await, Vec::<String>::new());
    assert_eq!(server.get("/ready").await.status(), 200);
}
