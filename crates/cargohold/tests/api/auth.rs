//! Tokens on the API: missing, wrong, with or without `Bearer`, scoped.

use cargohold::auth::Scope;
use cargohold::ops;
use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CrateFixture, TestServer, error_detail};

#[tokio::test]
async fn a_publish_without_a_token_is_unauthorized() {
    let server = TestServer::start().await;
    let before = server.stored_state().await;
    let response = server
        .client
        .put(server.url("registries/main/api/v1/crates/new"))
        .body(CrateFixture::new("anon", "1.0.0").publish_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("cargo login")
    );
    assert_eq!(server.stored_state().await, before);
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized() {
    let server = TestServer::start().await;
    server
        .assert_publish_rejected(
            CrateFixture::new("forged", "1.0.0").publish_body(),
            "cargohold_notARealTokenAtAll00000000000000000",
            401,
            "not valid",
        )
        .await;
}

#[tokio::test]
async fn tokens_are_accepted_with_or_without_bearer() {
    let server = TestServer::start().await;
    let bare = server.publish(&CrateFixture::new("bare", "1.0.0")).await;
    assert_eq!(bare.status(), 200);
    let bearer = format!("Bearer {}", server.admin_token);
    let with_scheme = server
        .publish_body(CrateFixture::new("bearer", "1.0.0").publish_body(), &bearer)
        .await;
    assert_eq!(with_scheme.status(), 200);
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let server = TestServer::start().await;
    let token = server.create_user("hashed").await;
    let stored: Vec<String> = match server.app.db.read() {
        cargohold::db::Pool::Sqlite(pool) => {
            sqlx::query_scalar("SELECT token_hash FROM api_tokens")
                .fetch_all(pool)
                .await
                .unwrap()
        }
        cargohold::db::Pool::Postgres(pool) => {
            sqlx::query_scalar("SELECT token_hash FROM api_tokens")
                .fetch_all(pool)
                .await
                .unwrap()
        }
    };
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|hash| !hash.contains(&token[10..]) && hash.len() == 64)
    );
    assert!(stored.contains(&cargohold::auth::hash_token(&token)));
}

#[tokio::test]
async fn a_token_without_the_publish_new_scope_cannot_create_a_crate() {
    let server = TestServer::start().await;
    let request = TokenRequest {
        scopes: vec![Scope::PublishUpdate],
        ..TokenRequest::default()
    };
    let token = server.create_user_with_token("limited", request).await;
    server
        .assert_publish_rejected(
            CrateFixture::new("fresh", "1.0.0").publish_body(),
            &token,
            403,
            "publish-new",
        )
        .await;
}

#[tokio::test]
async fn a_token_limited_to_a_crate_pattern_cannot_publish_other_names() {
    let server = TestServer::start().await;
    let request = TokenRequest {
        crate_patterns: vec!["team-*".into()],
        ..TokenRequest::default()
    };
    let token = server.create_user_with_token("teamed", request).await;
    assert_eq!(
        server
            .publish_body(CrateFixture::new("team-a", "1.0.0").publish_body(), &token)
            .await
            .status(),
        200
    );
    server
        .assert_publish_rejected(
            CrateFixture::new("other", "1.0.0").publish_body(),
            &token,
            403,
            "limited to the crates",
        )
        .await;
}

#[tokio::test]
async fn an_expired_token_is_refused_with_its_expiry() {
    let server = TestServer::start().await;
    let token = server.create_user("expiring").await;
    let sql = "UPDATE api_tokens SET expires_at = 1000 WHERE user_id = (SELECT id FROM users WHERE login = 'expiring')";
    match server.app.db.write() {
        cargohold::db::Pool::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        cargohold::db::Pool::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap();
    server
        .assert_publish_rejected(
            CrateFixture::new("late", "1.0.0").publish_body(),
            &token,
            401,
            "expired on 1970-01-01",
        )
        .await;
    // Developers cannot run the server's command line: they are sent to the page
    // where they make tokens themselves.
    server
        .assert_publish_rejected(
            CrateFixture::new("late", "1.0.0").publish_body(),
            &token,
            401,
            &format!(
                "get a new one at {}registries/main/me and store it with \
                 `cargo login --registry main`",
                server.url
            ),
        )
        .await;
}

/// The message of a refusal of `token` (`None`: no token) for a publish, once
/// checked to be a 401 that changed nothing.
async fn publish_refusal(server: &TestServer, token: Option<&str>) -> String {
    let before = server.stored_state().await;
    let mut request = server
        .client
        .put(server.url("registries/main/api/v1/crates/new"))
        .body(CrateFixture::new("refused", "1.0.0").publish_body());
    if let Some(token) = token {
        request = request.header("authorization", token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 401);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        server.stored_state().await,
        before,
        "nothing stored: {detail}"
    );
    detail
}

#[tokio::test]
async fn a_refused_token_sends_the_developer_to_the_registrys_login_page_not_the_server_cli() {
    let server = TestServer::start().await;
    let login_page = format!("{}registries/main/me", server.url);
    let revoked = ops::tokens::create(&server.app, "admin", TokenRequest::default(), None)
        .await
        .unwrap();
    ops::tokens::revoke(&server.app, revoked.id, None)
        .await
        .unwrap();
    let expired = server.create_user("lapsed").await;
    server
        .execute(
            "UPDATE api_tokens SET expires_at = 1000 WHERE user_id = \
             (SELECT id FROM users WHERE login = 'lapsed')",
        )
        .await;
    let unknown = "cargohold_notARealTokenAtAll00000000000000000";
    for token in [
        Some(revoked.token.as_str()),
        Some(&expired),
        Some(unknown),
        None,
    ] {
        let detail = publish_refusal(&server, token).await;
        assert!(detail.contains(&login_page), "{detail}");
        assert!(detail.contains("`cargo login --registry main`"), "{detail}");
        assert!(!detail.contains("cargohold token"), "{detail}");
    }
    assert!(
        publish_refusal(&server, Some(&revoked.token))
            .await
            .contains("not valid (unknown or revoked)")
    );

    // A request naming no registry points to the account page itself.
    let me = server
        .authed(reqwest::Method::GET, "api/v1/me", unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let detail = error_detail(&me.text().await.unwrap()).unwrap();
    assert!(detail.contains(&format!("{}me ", server.url)), "{detail}");
    assert!(!detail.contains("cargohold token"), "{detail}");
}

#[tokio::test]
async fn the_owner_hint_of_a_refused_publish_names_the_registry() {
    let server = TestServer::start().await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("acme-core", "1.0.0"))
            .await
            .status(),
        200
    );
    let bob = server.create_user("bob").await;
    server
        .assert_publish_rejected(
            CrateFixture::new("acme-core", "1.0.1").publish_body(),
            &bob,
            403,
            "an owner can add you with `cargo owner --add bob acme-core --registry main`",
        )
        .await;
}
