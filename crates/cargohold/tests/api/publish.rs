//! Publishing through the raw API: what gets stored and served.

use cargohold_protocol::IndexEntry;
use cargohold_test_support::{CrateFixture, TestServer};

#[tokio::test]
async fn a_published_version_is_in_the_index_with_its_checksum_and_pubtime() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("Demo_Crate", "1.0.0+build.1");
    let response = server.publish(&fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let (status, body) = server.index_file("Demo_Crate").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 1);
    let entry: IndexEntry = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        entry.name, "Demo_Crate",
        "the index keeps the original case"
    );
    assert_eq!(entry.vers, "1.0.0+build.1");
    assert_eq!(entry.cksum, fixture.checksum());
    let pubtime = entry.pubtime.unwrap();
    assert_eq!(pubtime.len(), 20, "{pubtime}");
    assert!(
        pubtime.ends_with('Z') && pubtime.as_bytes()[10] == b'T',
        "{pubtime}"
    );
}

#[tokio::test]
async fn the_publisher_of_a_new_crate_becomes_its_owner() {
    let server = TestServer::start().await;
    let alice = server.create_user("alice").await;
    let response = server
        .publish_body(CrateFixture::new("owned", "0.1.0").publish_body(), &alice)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(server.owner_logins("owned").await, ["alice"]);
}

#[tokio::test]
async fn a_dependency_on_this_registry_is_recorded_without_a_registry_url() {
    let server = TestServer::start().await;
    let token = &server.admin_token;
    assert_eq!(
        server
            .publish_body(CrateFixture::new("base", "1.0.0").publish_body(), token)
            .await
            .status(),
        200
    );
    let user = CrateFixture::new("user", "1.0.0")
        .optional_dep("base", "1")
        .feature("extra", &["dep:base"]);
    let response = server.publish_body(user.publish_body(), token).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (_, body) = server.index_file("user").await;
    let entry: IndexEntry = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(entry.deps.len(), 1);
    assert_eq!(entry.deps[0].registry, None);
    assert_eq!(entry.deps[0].req, "^1");
    assert!(entry.deps[0].optional);
    assert_eq!(entry.v, Some(2), "a `dep:` feature goes to features2");
    assert!(entry.features2.unwrap().contains_key("extra"));
}

#[tokio::test]
async fn a_download_returns_the_exact_bytes_that_were_published() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("Bytes", "2.0.0+meta");
    server.publish(&fixture).await;
    assert_eq!(
        server.download("Bytes", "2.0.0+meta").await,
        (200, fixture.tarball())
    );
    assert_eq!(server.download("Bytes", "9.9.9").await.0, 404);
}

#[tokio::test]
async fn downloads_are_counted_and_written_at_shutdown() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("counted", "1.0.0")).await;
    for _ in 0..3 {
        assert_eq!(server.download("counted", "1.0.0").await.0, 200);
    }
    server.app.flush_downloads().await.unwrap();
    assert_eq!(server.count("SELECT downloads FROM crates").await, 3);
    assert_eq!(server.count("SELECT downloads FROM versions").await, 3);
    assert_eq!(
        server
            .count("SELECT CAST(SUM(downloads) AS BIGINT) FROM version_downloads")
            .await,
        3
    );
}

#[tokio::test]
async fn counts_of_more_versions_than_one_statement_takes_are_all_written() {
    let server = TestServer::start_with(|config| config.limits.publishes_per_minute = 0).await;
    // More versions than one statement writes, over three crates.
    let versions = cargohold::db::downloads::ROWS_PER_STATEMENT + 7;
    let crates = ["many-a", "many-b", "many-c"];
    let mut published = Vec::new();
    for i in 0..versions {
        let (name, version) = (crates[i % 3], format!("1.0.{i}"));
        let response = server.publish(&CrateFixture::new(name, &version)).await;
        assert_eq!(response.status(), 200);
        published.push((name, version));
    }
    // Every version once, the first crate's versions twice.
    for (name, version) in &published {
        assert_eq!(server.download(name, version).await.0, 200);
        if *name == "many-a" {
            assert_eq!(server.download(name, version).await.0, 200);
        }
    }
    server.app.flush_downloads().await.unwrap();

    let of_a = published
        .iter()
        .filter(|(name, _)| *name == "many-a")
        .count() as i64;
    let total = versions as i64 + of_a;
    assert_eq!(
        server
            .count("SELECT CAST(SUM(downloads) AS BIGINT) FROM versions")
            .await,
        total
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM versions WHERE downloads = 0")
            .await,
        0
    );
    assert_eq!(
        server
            .count("SELECT downloads FROM crates WHERE name = 'many-a'")
            .await,
        2 * of_a
    );
    assert_eq!(
        server
            .count("SELECT CAST(SUM(downloads) AS BIGINT) FROM crates")
            .await,
        total
    );
    assert_eq!(
        server
            .count("SELECT CAST(SUM(downloads) AS BIGINT) FROM version_downloads")
            .await,
        total
    );
}

#[tokio::test]
async fn dependencies_on_crates_io_and_other_registries_keep_their_index_url() {
    use cargohold_test_support::DepRegistry;
    let server = TestServer::start().await;
    let other = "sparse+https://crates.other-company.example/index/";
    let fixture = CrateFixture::new("mixed", "1.0.0")
        .dep_from("serde", "1.0.100", DepRegistry::CratesIo)
        .dep_from("their-lib", "=2.1", DepRegistry::Other(other.into()));
    let response = server.publish(&fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (_, body) = server.index_file("mixed").await;
    let entry: IndexEntry = serde_json::from_str(body.trim()).unwrap();
    let serde = entry.deps.iter().find(|d| d.name == "serde").unwrap();
    assert_eq!(
        serde.registry.as_deref(),
        Some("https://github.com/rust-lang/crates.io-index")
    );
    assert_eq!(serde.req, "^1.0.100");
    let theirs = entry.deps.iter().find(|d| d.name == "their-lib").unwrap();
    assert_eq!(theirs.registry.as_deref(), Some(other));
    assert_eq!(theirs.req, "=2.1");
}

#[tokio::test]
async fn a_backport_does_not_replace_the_description_of_the_newest_version() {
    let server = TestServer::start().await;
    let mut newest = CrateFixture::new("described-crate", "2.0.0");
    newest.description = "The 2.x line".into();
    let mut backport = CrateFixture::new("described-crate", "1.9.1");
    backport.description = "The old 1.x line".into();
    assert_eq!(server.publish(&newest).await.status(), 200);
    assert_eq!(server.publish(&backport).await.status(), 200);
    let found: serde_json::Value = server
        .get("registries/main/api/v1/crates?q=described-crate")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["crates"][0]["description"], "The 2.x line");
    assert_eq!(found["crates"][0]["max_version"], "2.0.0");
}
