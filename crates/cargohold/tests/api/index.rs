//! The sparse index over HTTP: config.json, paths, validators, 304s and 404s.

use cargohold_test_support::{CrateFixture, TestServer};

#[tokio::test]
async fn config_json_names_the_download_template_and_the_api_root() {
    let server = TestServer::start().await;
    let response = server.get("registries/main/index/config.json").await;
    assert_eq!(response.status(), 200);
    let config: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        config["dl"],
        server.url("registries/main/crates/{crate}/{crate}-{version}.crate")
    );
    assert_eq!(config["api"], server.url("registries/main"));
    assert!(config.get("auth-required").is_none());
}

#[tokio::test]
async fn index_files_live_at_cargos_lowercase_paths() {
    let server = TestServer::start().await;
    for name in ["a", "Ab", "abC", "MixedCase"] {
        let response = server.publish(&CrateFixture::new(name, "1.0.0")).await;
        assert_eq!(response.status(), 200);
    }
    for (path, name) in [
        ("1/a", "a"),
        ("2/ab", "Ab"),
        ("3/a/abc", "abC"),
        ("mi/xe/mixedcase", "MixedCase"),
    ] {
        let response = server.get(&format!("registries/main/index/{path}")).await;
        assert_eq!(response.status(), 200, "{path}");
        let body = response.text().await.unwrap();
        assert!(
            body.contains(&format!("\"name\":\"{name}\"")),
            "{path}: {body}"
        );
    }
    for wrong in [
        "mi/xe/MixedCase",
        "MI/XE/mixedcase",
        "3/b/abc",
        "mi/xe/mixed-case",
    ] {
        let response = server.get(&format!("registries/main/index/{wrong}")).await;
        assert_eq!(response.status(), 404, "{wrong}");
    }
}

#[tokio::test]
async fn unknown_crates_are_404() {
    let server = TestServer::start().await;
    let (status, _) = server.index_file("nothing-here").await;
    assert_eq!(status, 404);
    let response = server.get("registries/nope/index/config.json").await;
    assert_eq!(response.status(), 404, "an unknown registry has no index");
}

#[tokio::test]
async fn index_files_carry_validators_and_answer_304_to_them() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("cached", "1.0.0")).await;
    let url = server.url("registries/main/index/ca/ch/cached");
    let first = server.client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let last_modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    let cache_control = first.headers()["cache-control"].to_str().unwrap();
    assert!(cache_control.contains("must-revalidate"), "{cache_control}");

    for validator in [etag.clone(), format!("W/{etag}")] {
        let again = server
            .client
            .get(&url)
            .header("if-none-match", &validator)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "If-None-Match: {validator}");
        assert_eq!(again.headers()["etag"], etag.as_str());
    }
    let since = server
        .client
        .get(&url)
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(since.status(), 304);
    let stale = server
        .client
        .get(&url)
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn a_new_version_changes_the_etag_and_appends_a_line() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("growing", "1.0.0")).await;
    let url = server.url("registries/main/index/gr/ow/growing");
    let first = server.client.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let first_body = first.text().await.unwrap();

    server.publish(&CrateFixture::new("growing", "1.1.0")).await;
    let second = server
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200, "the old ETag no longer matches");
    let body = second.text().await.unwrap();
    assert!(
        body.starts_with(&first_body),
        "published lines are never rewritten"
    );
    assert_eq!(body.lines().count(), 2);
}
