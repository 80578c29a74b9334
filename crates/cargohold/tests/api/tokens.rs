//! The token API, user accounts and rate limits, as a client sees them.

use cargohold::auth::{Scope, TOKEN_PREFIX};
use cargohold::ops;
use cargohold::ops::tokens::TokenRequest;
use cargohold::ops::users::UserChange;
use cargohold_test_support::{CrateFixture, TestServer, error_detail};
use reqwest::Method;
use serde_json::json;

async fn create_via_api(
    server: &TestServer,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = server
        .authed(Method::PUT, "api/v1/me/tokens", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_token_created_through_the_api_is_shown_once_and_listed_without_secrets() {
    let server = TestServer::start().await;
    let (status, created) = create_via_api(
        &server,
        &server.admin_token,
        json!({ "name": "ci", "scopes": ["read", "publish-update"], "crates": ["app-*"], "expires_in_days": 30 }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap();
    assert!(secret.starts_with(TOKEN_PREFIX));

    let listed: serde_json::Value = server
        .authed(Method::GET, "api/v1/me/tokens", secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = listed.to_string();
    assert!(!text.contains(&secret[TOKEN_PREFIX.len()..]));
    assert!(!text.contains(&cargohold::auth::hash_token(secret)));
    let ci = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap();
    assert_eq!(ci["scopes"], "read,publish-update");
    assert_eq!(ci["crate_patterns"], "app-*");
    assert!(ci["expires_at"].as_i64().is_some());
    // Using it just now was recorded.
    assert!(ci["last_used_at"].as_i64().is_some());
}

#[tokio::test]
async fn a_limited_token_cannot_create_a_stronger_one() {
    let server = TestServer::start().await;
    let limited = server
        .create_user_with_token(
            "ci",
            TokenRequest {
                scopes: vec![Scope::Read, Scope::PublishUpdate],
                crate_patterns: vec!["app-*".into()],
                expires_in_days: Some(7),
                ..TokenRequest::default()
            },
        )
        .await;
    let before = server.stored_state().await;
    for (body, hint) in [
        (
            json!({ "scopes": ["yank"], "crates": ["app-x"], "expires_in_days": 1 }),
            "yank",
        ),
        (json!({ "scopes": ["read"], "expires_in_days": 1 }), "app-*"),
        (json!({ "scopes": ["read"], "crates": ["app-x"] }), "expire"),
        (
            json!({ "scopes": ["read"], "crates": ["app-x"], "expires_in_days": 30 }),
            "expire",
        ),
    ] {
        let (status, answer) = create_via_api(&server, &limited, body.clone()).await;
        assert_eq!(status, 403, "{body}: {answer}");
        let detail = error_detail(&answer.to_string()).unwrap();
        assert!(detail.contains(hint), "{body}: {detail}");
        assert_eq!(server.stored_state().await, before);
    }
    let (status, _) = create_via_api(
        &server,
        &limited,
        json!({ "scopes": ["read"], "crates": ["app-web"], "expires_in_days": 1 }),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn bad_token_requests_are_refused_and_store_nothing() {
    let server = TestServer::start().await;
    let user = server.create_user("plain").await;
    let before = server.stored_state().await;
    for (token, body, status) in [
        (&server.admin_token, json!({ "scopes": ["fly"] }), 400),
        (
            &server.admin_token,
            json!({ "crates": ["bad pattern"] }),
            400,
        ),
        (
            &server.admin_token,
            json!({ "registries": ["nowhere"] }),
            404,
        ),
        (&server.admin_token, json!({ "expires_in_days": 0 }), 400),
        (&server.admin_token, json!({ "expires_in_days": 3651 }), 400),
        (
            &server.admin_token,
            json!({ "expires_in_days": 4_294_967_295u32 }),
            400,
        ),
        (&server.admin_token, json!({ "unknown": true }), 400),
        // A token is never stronger than its user.
        (&user, json!({ "scopes": ["admin"] }), 403),
    ] {
        let (got, answer) = create_via_api(&server, token, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(error_detail(&answer.to_string()).is_some());
        assert_eq!(server.stored_state().await, before, "{body}");
    }
}

#[tokio::test]
async fn a_revoked_token_stops_working_and_others_tokens_cannot_be_revoked() {
    let server = TestServer::start().await;
    let mine = server.create_user("owner1").await;
    let theirs = server.create_user("owner2").await;
    let theirs_id = server.count("SELECT MAX(id) FROM api_tokens").await;
    let before = server.stored_state().await;
    let refused = server
        .authed(
            Method::DELETE,
            &format!("api/v1/me/tokens/{theirs_id}"),
            &mine,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    assert_eq!(server.stored_state().await, before);

    let revoked = server
        .authed(
            Method::DELETE,
            &format!("api/v1/me/tokens/{theirs_id}"),
            &theirs,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let after = server
        .authed(Method::GET, "api/v1/me", &theirs)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
}

#[tokio::test]
async fn disabling_a_user_stops_all_its_tokens_at_once() {
    let server = TestServer::start().await;
    let first = server.create_user("leaver").await;
    let second = server.create_token("leaver", TokenRequest::default()).await;
    ops::users::change(&server.app, "leaver", UserChange::Disable, None)
        .await
        .unwrap();
    for token in [&first, &second] {
        let response = server
            .publish_body(CrateFixture::new("late", "1.0.0").publish_body(), token)
            .await;
        assert_eq!(response.status(), 401);
        let detail = error_detail(&response.text().await.unwrap()).unwrap();
        assert!(detail.contains("disabled"), "{detail}");
    }
    ops::users::change(&server.app, "leaver", UserChange::Enable, None)
        .await
        .unwrap();
    let response = server
        .publish_body(CrateFixture::new("late", "1.0.0").publish_body(), &first)
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn repeated_bad_tokens_from_one_address_get_429_but_valid_tokens_from_it_are_answered() {
    let server = TestServer::start_with(|config| config.limits.auth_failures_per_minute = 3).await;
    let before = server.stored_state().await;
    let me = |token: String| server.authed(Method::GET, "api/v1/me", &token).send();
    let bad = || format!("{TOKEN_PREFIX}{}", "z".repeat(40));
    for _ in 0..3 {
        assert_eq!(me(bad()).await.unwrap().status(), 401);
    }
    let limited = me(bad()).await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    let detail = error_detail(&limited.text().await.unwrap()).unwrap();
    assert!(detail.contains("try again in"), "{detail}");
    // One client's bad token does not lock out the others behind its address.
    let good = me(server.admin_token.clone()).await.unwrap();
    assert_eq!(good.status(), 200);
    assert_eq!(me(bad()).await.unwrap().status(), 429);
    assert_eq!(server.stored_state().await, before, "nothing was stored");
}

#[tokio::test]
async fn anonymous_requests_do_not_count_as_failed_logins() {
    let server = TestServer::start_with(|config| config.limits.auth_failures_per_minute = 2).await;
    for _ in 0..10 {
        let response = server.get("api/v1/me").await;
        assert_eq!(response.status(), 401);
    }
}

#[tokio::test]
async fn publishes_beyond_the_per_user_limit_get_429_and_store_nothing() {
    let server = TestServer::start_with(|config| config.limits.publishes_per_minute = 2).await;
    for version in ["1.0.0", "1.0.1"] {
        assert_eq!(
            server
                .publish(&CrateFixture::new("busy", version))
                .await
                .status(),
            200
        );
    }
    let before = server.stored_state().await;
    let response = server.publish(&CrateFixture::new("busy", "1.0.2")).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("try again"), "{detail}");
    assert_eq!(server.stored_state().await, before);
}
