//! Yank and unyank over HTTP: the index line flips, nothing else in it changes.

use cargohold_test_support::{CrateFixture, TestServer};

async fn set_yanked(
    server: &TestServer,
    name: &str,
    version: &str,
    yanked: bool,
    token: &str,
) -> (u16, String) {
    let url = if yanked {
        server.url(&format!(
            "registries/main/api/v1/crates/{name}/{version}/yank"
        ))
    } else {
        server.url(&format!(
            "registries/main/api/v1/crates/{name}/{version}/unyank"
        ))
    };
    let request = if yanked {
        server.client.delete(url)
    } else {
        server.client.put(url)
    };
    let response = request.header("authorization", token).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn yanking_flips_only_the_yanked_field_and_unyank_restores_the_line() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("flip", "1.0.0+b")).await;
    let (_, original) = server.index_file("flip").await;

    let (status, body) = set_yanked(&server, "flip", "1.0.0+b", true, &server.admin_token).await;
    assert_eq!((status, body.as_str()), (200, "{\"ok\":true}"));
    let (_, yanked) = server.index_file("flip").await;
    assert_eq!(
        yanked,
        original.replace("\"yanked\":false", "\"yanked\":true")
    );

    let (status, _) = set_yanked(&server, "flip", "1.0.0+b", false, &server.admin_token).await;
    assert_eq!(status, 200);
    let (_, restored) = server.index_file("flip").await;
    assert_eq!(
        restored, original,
        "unyank gives back the very same bytes (pubtime included)"
    );
}

#[tokio::test]
async fn yanking_twice_is_harmless() {
    let server = TestServer::start().await;
    server
        .publish(&CrateFixture::new("twiceyank", "1.0.0"))
        .await;
    for _ in 0..2 {
        let (status, _) =
            set_yanked(&server, "twiceyank", "1.0.0", true, &server.admin_token).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'yank'")
            .await,
        1,
        "only a real change is recorded"
    );
}

#[tokio::test]
async fn only_owners_yank_and_unknown_versions_are_404() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("mine", "1.0.0")).await;
    let stranger = server.create_user("stranger").await;
    let (status, body) = set_yanked(&server, "mine", "1.0.0", true, &stranger).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = set_yanked(&server, "mine", "2.0.0", true, &server.admin_token).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no version `2.0.0`"), "{body}");
    let (status, _) = set_yanked(&server, "ghost", "1.0.0", true, &server.admin_token).await;
    assert_eq!(status, 404);
    let (status, _) = set_yanked(&server, "mine", "1.0.0", true, "").await;
    assert_eq!(status, 401);
    let (_, index) = server.index_file("mine").await;
    assert!(index.contains("\"yanked\":false"));
}

#[tokio::test]
async fn a_yanked_version_is_still_downloadable() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("stillhere", "1.0.0");
    server.publish(&fixture).await;
    set_yanked(&server, "stillhere", "1.0.0", true, &server.admin_token).await;
    assert_eq!(
        server.download("stillhere", "1.0.0").await,
        (200, fixture.tarball())
    );
}
