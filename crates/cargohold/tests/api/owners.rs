//! `…/owners` over HTTP: listing, adding, removing, and who may.

use cargohold_test_support::server::error_detail;
use cargohold_test_support::{CrateFixture, TestServer};
use serde_json::json;

async fn owners_request(
    server: &TestServer,
    method: reqwest::Method,
    name: &str,
    token: &str,
    users: &[&str],
) -> (u16, serde_json::Value) {
    let response = server
        .client
        .request(
            method,
            server.url(&format!("registries/main/api/v1/crates/{name}/owners")),
        )
        .header("authorization", token)
        .json(&json!({ "users": users }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn owners_can_be_added_and_removed_with_a_message() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("shared", "1.0.0")).await;
    let bob = server.create_user("bob").await;

    let (status, body) = owners_request(
        &server,
        reqwest::Method::PUT,
        "shared",
        &server.admin_token,
        &["bob"],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], true);
    assert!(body["msg"].as_str().unwrap().contains("bob"), "{body}");
    assert_eq!(server.owner_logins("shared").await, ["admin", "bob"]);

    // bob may now publish a new version.
    let response = server
        .publish_body(CrateFixture::new("shared", "1.1.0").publish_body(), &bob)
        .await;
    assert_eq!(response.status(), 200);

    let (status, body) =
        owners_request(&server, reqwest::Method::DELETE, "shared", &bob, &["admin"]).await;
    assert_eq!(status, 200);
    assert!(body["msg"].is_string(), "cargo 1.95 requires msg: {body}");
    assert_eq!(server.owner_logins("shared").await, ["bob"]);
}

#[tokio::test]
async fn the_last_owner_cannot_be_removed() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("solo", "1.0.0")).await;
    let (status, body) = owners_request(
        &server,
        reqwest::Method::DELETE,
        "solo",
        &server.admin_token,
        &["admin"],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error_detail(&body.to_string())
            .unwrap()
            .contains("every user owner")
    );
    assert_eq!(server.owner_logins("solo").await, ["admin"]);
}

#[tokio::test]
async fn only_owners_change_owners_and_only_existing_users_are_added() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("kept", "1.0.0")).await;
    let eve = server.create_user("eve").await;
    let (status, _) = owners_request(&server, reqwest::Method::PUT, "kept", &eve, &["eve"]).await;
    assert_eq!(status, 403);
    let (status, body) = owners_request(
        &server,
        reqwest::Method::PUT,
        "kept",
        &server.admin_token,
        &["nobody"],
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        error_detail(&body.to_string())
            .unwrap()
            .contains("no user `nobody`")
    );
    let (status, _) = owners_request(
        &server,
        reqwest::Method::PUT,
        "missing",
        &server.admin_token,
        &["eve"],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(server.owner_logins("kept").await, ["admin"]);
}

#[tokio::test]
async fn a_malformed_owners_body_gets_cargos_error_envelope() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("strict", "1.0.0")).await;
    let response = server
        .client
        .put(server.url("registries/main/api/v1/crates/strict/owners"))
        .header("authorization", &server.admin_token)
        .body("{\"people\": 3}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("JSON"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_removing_each_other_at_once_leave_one_owner() {
    let server = TestServer::start().await;
    for round in 0..10 {
        let name = format!("mutual-{round}");
        server.publish(&CrateFixture::new(&name, "1.0.0")).await;
        let bob = server.create_user(&format!("bob{round}")).await;
        let (status, _) = owners_request(
            &server,
            reqwest::Method::PUT,
            &name,
            &server.admin_token,
            &[&format!("bob{round}")],
        )
        .await;
        assert_eq!(status, 200);
        let bob_login = format!("bob{round}");
        let bob_logins = [bob_login.as_str()];
        let (first, second) = tokio::join!(
            owners_request(
                &server,
                reqwest::Method::DELETE,
                &name,
                &server.admin_token,
                &bob_logins
            ),
            owners_request(&server, reqwest::Method::DELETE, &name, &bob, &["admin"]),
        );
        let owners = server.owner_logins(&name).await;
        assert_eq!(
            owners.len(),
            1,
            "round {round}: {first:?} {second:?} left {owners:?}"
        );
    }
}

#[tokio::test]
async fn deleting_a_team_takes_its_crates_from_it_and_a_team_holding_a_role_is_kept() {
    use cargohold::ops;
    let server = TestServer::start().await;
    let response = server.publish(&CrateFixture::new("shared", "1.0.0")).await;
    assert_eq!(response.status(), 200);
    ops::teams::create(&server.app, "core", None).await.unwrap();
    let (status, _) = owners_request(
        &server,
        reqwest::Method::PUT,
        "shared",
        &server.admin_token,
        &["team:core"],
    )
    .await;
    assert_eq!(status, 200);
    let admin = |method: reqwest::Method, path: &str| {
        server
            .client
            .request(method, server.url(path))
            .header("authorization", &server.admin_token)
    };

    // Holding a role, the team stays: dropping the grant could open the registry.
    let response = admin(
        reqwest::Method::PUT,
        "api/v1/admin/registries/main/permissions",
    )
    .json(&json!({ "team": "core", "role": "publish" }))
    .send()
    .await
    .unwrap();
    assert!(response.status().is_success());
    let before = server.stored_state().await;
    let teams_before = server.count("SELECT COUNT(*) FROM teams").await;
    let response = admin(reqwest::Method::DELETE, "api/v1/admin/teams/core")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(
        detail.contains("team `core` holds `publish` in `main`")
            && detail.contains("cargohold permission revoke --registry main --team core"),
        "{detail}"
    );
    assert_eq!(server.stored_state().await, before);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM teams").await,
        teams_before
    );

    let response = admin(
        reqwest::Method::DELETE,
        "api/v1/admin/registries/main/permissions",
    )
    .json(&json!({ "team": "core" }))
    .send()
    .await
    .unwrap();
    assert!(response.status().is_success());
    let response = admin(reqwest::Method::DELETE, "api/v1/admin/teams/core")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let deleted: serde_json::Value = response.json().await.unwrap();
    assert_eq!(deleted["crates"], json!(["shared"]));
    assert_eq!(
        server.count("SELECT COUNT(*) FROM teams").await,
        teams_before - 1
    );
    // The crate keeps its user owner, and no longer lists the team.
    assert_eq!(server.owner_logins("shared").await, ["admin"]);
    let response = admin(reqwest::Method::DELETE, "api/v1/admin/teams/core")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
