//! A `.crate` `PUT` at its download URL: published from its manifest alone.

use cargohold_protocol::api::UploadResponse;
use cargohold_test_support::server::error_detail;
use cargohold_test_support::{CrateFixture, TarEntry, TestServer};

/// A crate whose manifest says what the metadata of `cargo publish` would.
fn described(name: &str, version: &str) -> CrateFixture {
    let mut fixture = CrateFixture::new(name, version);
    fixture.manifest = Some(format!(
        r#"[package]
name = "{name}"
version = "{version}"
edition = "2021"
rust-version = "1.74"
links = "native-thing"
description = "Uploaded without cargo"
readme = "README.md"
keywords = ["upload", "raw"]
license = "Apache-2.0"
repository = "https://example.com/repo"

[features]
default = ["fast"]
fast = []
"#
    ));
    fixture.extra_entries.push(TarEntry::file(
        format!("{name}-{version}/README.md"),
        "# Uploaded\n",
    ));
    fixture
}

#[tokio::test]
async fn a_crate_put_at_its_download_url_is_published_from_its_manifest_alone() {
    let server = TestServer::start().await;
    let alice = server.create_user("alice").await;
    let fixture = described("raw-crate", "0.4.0+meta");
    let response = server.upload(&fixture, &alice).await;
    assert_eq!(response.status(), 201);
    let answer: UploadResponse = response.json().await.unwrap();
    assert!(answer.ok && answer.new_crate && !answer.already_present);
    assert_eq!(
        (answer.name.as_str(), answer.vers.as_str()),
        ("raw-crate", "0.4.0+meta")
    );
    assert_eq!(answer.cksum, fixture.checksum());
    assert_eq!(answer.index_line.links.as_deref(), Some("native-thing"));
    assert_eq!(answer.index_line.rust_version.as_deref(), Some("1.74"));

    let (status, index) = server.index_file("raw-crate").await;
    assert_eq!(status, 200);
    assert_eq!(index.trim(), answer.index_line.to_line());
    assert_eq!(
        server.download("raw-crate", "0.4.0+meta").await,
        (200, fixture.tarball())
    );
    assert_eq!(server.owner_logins("raw-crate").await, ["alice"]);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM versions WHERE readme = '# Uploaded\n' AND description = 'Uploaded without cargo'")
            .await,
        1
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM crates WHERE keywords = 'upload raw'")
            .await,
        1,
        "keywords come from the manifest"
    );
}

#[tokio::test]
async fn the_same_bytes_again_are_harmless_and_other_bytes_are_refused_naming_both_checksums() {
    let server = TestServer::start().await;
    let fixture = described("idem", "1.0.0");
    assert_eq!(
        server.upload(&fixture, &server.admin_token).await.status(),
        201
    );
    let before = server.stored_state().await;

    let again = server.upload(&fixture, &server.admin_token).await;
    assert_eq!(again.status(), 200);
    let answer: UploadResponse = again.json().await.unwrap();
    assert!(answer.already_present && !answer.new_crate);
    assert_eq!(server.stored_state().await, before);

    let mut changed = fixture.clone();
    changed
        .extra_entries
        .push(TarEntry::file("idem-1.0.0/extra.txt", "different bytes"));
    let conflict = server.upload(&changed, &server.admin_token).await;
    assert_eq!(conflict.status(), 409);
    let detail = error_detail(&conflict.text().await.unwrap()).unwrap();
    assert!(
        detail.contains(&fixture.checksum()) && detail.contains(&changed.checksum()),
        "{detail}"
    );
    assert_eq!(server.stored_state().await, before);
}

#[tokio::test]
async fn cargo_publish_of_an_uploaded_version_is_still_refused() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("both-ways", "1.0.0");
    assert_eq!(
        server.upload(&fixture, &server.admin_token).await.status(),
        201
    );
    server
        .assert_publish_rejected(
            fixture.publish_body(),
            &server.admin_token,
            400,
            "already uploaded",
        )
        .await;
}

#[tokio::test]
async fn a_url_that_disagrees_with_the_manifest_is_refused() {
    let server = TestServer::start().await;
    let fixture = described("honest-upload", "1.0.0");
    for (name, version, needle) in [
        (
            "honest-upload",
            "2.0.0",
            "the .crate file holds `honest-upload-1.0.0`, but the URL names `honest-upload-2.0.0.crate`; put it at the URL ending in `honest-upload-1.0.0.crate`",
        ),
        (
            "other-name",
            "1.0.0",
            "holds `honest-upload-1.0.0`, but the URL names `other-name-1.0.0.crate`",
        ),
    ] {
        let before = server.stored_state().await;
        let response = server
            .upload_bytes(name, version, fixture.tarball(), &server.admin_token)
            .await;
        assert_eq!(response.status(), 400);
        let detail = error_detail(&response.text().await.unwrap()).unwrap();
        assert!(detail.contains(needle), "{detail}");
        assert_eq!(server.stored_state().await, before);
    }

    let mut lying = described("liar-upload", "1.0.0");
    lying.manifest = Some(
        lying
            .manifest
            .unwrap()
            .replace("version = \"1.0.0\"", "version = \"9.0.0\""),
    );
    let response = server.upload(&lying, &server.admin_token).await;
    assert_eq!(response.status(), 400);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("describes `liar-upload@9.0.0`"), "{detail}");

    let response = server
        .client
        .put(server.url("registries/main/crates/named/wrongly.tar.gz"))
        .header("authorization", &server.admin_token)
        .body(fixture.tarball())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(server.stored_state().await.versions, 0);
}

#[tokio::test]
async fn uploads_follow_the_rules_of_publish() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("guarded-upload", "1.0.0");
    let before = server.stored_state().await;
    assert_eq!(server.upload(&fixture, "").await.status(), 401);
    assert_eq!(server.stored_state().await, before);

    assert_eq!(
        server.upload(&fixture, &server.admin_token).await.status(),
        201
    );
    let mallory = server.create_user("mallory").await;
    let next = CrateFixture::new("guarded-upload", "1.1.0");
    let before = server.stored_state().await;
    assert_eq!(server.upload(&next, &mallory).await.status(), 403);

    let needy = CrateFixture::new("needy-upload", "1.0.0")
        .in_registry(&server.index_url())
        .dep("absent", "1");
    let response = server.upload(&needy, &server.admin_token).await;
    assert_eq!(response.status(), 400);
    assert!(
        error_detail(&response.text().await.unwrap())
            .unwrap()
            .contains("no known crate named `absent`")
    );

    let mut evil = CrateFixture::new("evil-upload", "1.0.0");
    evil.extra_entries.push(TarEntry::special(
        "evil-upload-1.0.0/link",
        cargohold_test_support::EntryKind::Symlink,
    ));
    assert_eq!(
        server.upload(&evil, &server.admin_token).await.status(),
        400
    );
    assert_eq!(server.stored_state().await, before);
}

#[tokio::test]
async fn an_upload_over_the_crate_limit_is_too_large() {
    let server = TestServer::start_with(|config| config.limits.max_crate_size = 512).await;
    let before = server.stored_state().await;
    let response = server
        .upload_bytes("huge", "1.0.0", vec![0x1f; 4096], &server.admin_token)
        .await;
    assert_eq!(response.status(), 413);
    assert!(error_detail(&response.text().await.unwrap()).is_some());
    assert_eq!(server.stored_state().await, before);
}
