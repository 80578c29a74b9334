//! The authorization matrix: every endpoint × every kind of caller, on a private
//! registry. Each denied call gets the right status and a helpful message and
//! changes nothing; each allowed call succeeds.

use cargohold::access::Role;
use cargohold::auth::Scope;
use cargohold::config::RegistryConfig;
use cargohold::ops;
use cargohold::ops::permissions::Grantee;
use cargohold::ops::tokens::TokenRequest;
use cargohold::ops::users::{NewUser, UserChange};
use cargohold_test_support::{CrateFixture, TestServer, error_detail};
use reqwest::Method;

/// `main` is private; `other` is public.
pub async fn private_server(auth_failures_per_minute: u32) -> TestServer {
    TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig {
                auth_required: true,
                ..RegistryConfig::local("main")
            },
            RegistryConfig::local("other"),
        ];
        config.limits.auth_failures_per_minute = auth_failures_per_minute;
    })
    .await
}

pub async fn add_user(server: &TestServer, login: &str) {
    let user = NewUser {
        login: login.into(),
        ..NewUser::default()
    };
    ops::users::add(&server.app, user, None).await.unwrap();
}

pub async fn token(server: &TestServer, login: &str, request: TokenRequest) -> String {
    server.create_token(login, request).await
}

fn scopes(scopes: &[Scope]) -> TokenRequest {
    TokenRequest {
        scopes: scopes.to_vec(),
        ..TokenRequest::default()
    }
}

pub async fn grant(server: &TestServer, registry: &str, grantee: Grantee, role: Role) {
    let registry = server.app.registry(registry).unwrap().clone();
    ops::permissions::change(&server.app, &registry, &grantee, Some(role), None)
        .await
        .unwrap();
}

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// A private registry's `config.json`: any valid token (it holds no crate data,
    /// and `cargo login` reads it with the stored token).
    ConfigJson,
    Read,
    Publish,
    Yank,
    ChangeOwners,
    TokenApi,
    AdminApi,
}

/// One kind of caller, and what it may do.
struct Caller {
    name: &'static str,
    authorization: Option<String>,
    /// The status of a denied request, per need; `None` means allowed.
    denied: fn(Need) -> Option<u16>,
}

/// Callers without a valid token are refused everything with 401.
fn unauthorized(_: Need) -> Option<u16> {
    Some(401)
}

struct Endpoint {
    need: Need,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    json: Option<serde_json::Value>,
}

#[tokio::test]
async fn every_endpoint_allows_exactly_the_callers_it_should() {
    let server = private_server(0).await;
    let admin = server.admin_token.clone();
    // `widget` is owned by alice and the team `core`; 0.9.0 is yanked.
    for version in ["0.9.0", "1.0.0"] {
        assert_eq!(
            server
                .publish(&CrateFixture::new("widget", version))
                .await
                .status(),
            200
        );
    }
    for login in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        add_user(&server, login).await;
    }
    ops::teams::create(&server.app, "core", None).await.unwrap();
    ops::teams::change_members(&server.app, "core", &["dave".into()], true, None)
        .await
        .unwrap();
    let main = server.app.registry("main").unwrap().clone();
    let operator = cargohold::auth::Actor::operator(1, "admin", true);
    ops::owners::change(
        &server.app,
        &main,
        &operator,
        "widget",
        &["alice".into(), "carol".into(), "team:core".into()],
        ops::owners::Change::Add,
    )
    .await
    .unwrap();
    ops::yank::set_yanked(&server.app, &main, &operator, "widget", "0.9.0", true)
        .await
        .unwrap();
    // Grants close `main`: frank holds no role there.
    for login in ["alice", "bob", "carol"] {
        grant(&server, "main", Grantee::User(login.into()), Role::Publish).await;
    }
    grant(&server, "main", Grantee::Team("core".into()), Role::Read).await;

    let expired = token(&server, "alice", TokenRequest::default()).await;
    server
        .execute(
            "UPDATE api_tokens SET expires_at = 1000 WHERE id = (SELECT MAX(id) FROM api_tokens)",
        )
        .await;
    let revoked = token(&server, "alice", TokenRequest::default()).await;
    let revoked_id = server.count("SELECT MAX(id) FROM api_tokens").await;
    ops::tokens::revoke(&server.app, revoked_id, None)
        .await
        .unwrap();
    let disabled = token(&server, "carol", TokenRequest::default()).await;
    ops::users::change(&server.app, "carol", UserChange::Disable, None)
        .await
        .unwrap();

    let callers = vec![
        Caller {
            name: "no token",
            authorization: None,
            denied: unauthorized,
        },
        Caller {
            name: "malformed token",
            authorization: Some("not a token at all".into()),
            denied: unauthorized,
        },
        Caller {
            name: "unknown token",
            authorization: Some(format!("cargohold_{}", "x".repeat(40))),
            denied: unauthorized,
        },
        Caller {
            name: "expired token",
            authorization: Some(expired),
            denied: unauthorized,
        },
        Caller {
            name: "revoked token",
            authorization: Some(revoked),
            denied: unauthorized,
        },
        Caller {
            name: "disabled user",
            authorization: Some(disabled),
            denied: unauthorized,
        },
        Caller {
            name: "read-only token of an owner",
            authorization: Some(token(&server, "alice", scopes(&[Scope::Read])).await),
            denied: |need| match need {
                Need::Read | Need::TokenApi => None,
                _ => Some(403),
            },
        },
        Caller {
            name: "owner's token without the read scope",
            authorization: Some(
                token(
                    &server,
                    "alice",
                    scopes(&[Scope::Yank, Scope::PublishUpdate]),
                )
                .await,
            ),
            denied: |need| match need {
                Need::Publish | Need::Yank | Need::TokenApi => None,
                _ => Some(403),
            },
        },
        Caller {
            name: "owner's token for other crates",
            authorization: Some(
                token(
                    &server,
                    "alice",
                    TokenRequest {
                        crate_patterns: vec!["gadget-*".into()],
                        ..TokenRequest::default()
                    },
                )
                .await,
            ),
            denied: |need| match need {
                Need::Read | Need::TokenApi => None,
                _ => Some(403),
            },
        },
        Caller {
            name: "owner's token for another registry",
            authorization: Some(
                token(
                    &server,
                    "alice",
                    TokenRequest {
                        registries: vec!["other".into()],
                        ..TokenRequest::default()
                    },
                )
                .await,
            ),
            denied: |need| match need {
                Need::TokenApi => None,
                _ => Some(403),
            },
        },
        Caller {
            name: "user who is not an owner",
            authorization: Some(token(&server, "bob", TokenRequest::default()).await),
            denied: |need| match need {
                Need::Read | Need::TokenApi => None,
                _ => Some(403),
            },
        },
        Caller {
            name: "user without a role in the registry",
            authorization: Some(token(&server, "frank", TokenRequest::default()).await),
            denied: |need| match need {
                Need::TokenApi => None,
                _ => Some(403),
            },
        },
        Caller {
            name: "member of an owning team",
            authorization: Some(token(&server, "dave", TokenRequest::default()).await),
            denied: |need| match need {
                Need::ChangeOwners | Need::AdminApi => Some(403),
                _ => None,
            },
        },
        Caller {
            name: "owner",
            authorization: Some(token(&server, "alice", TokenRequest::default()).await),
            denied: |need| match need {
                Need::AdminApi => Some(403),
                _ => None,
            },
        },
        Caller {
            name: "administrator",
            authorization: Some(admin.clone()),
            denied: |_| None,
        },
    ];

    let mut minor = 10;
    for caller in &callers {
        minor += 1;
        let publish_version = format!("1.{minor}.0");
        let upload_version = format!("1.{minor}.1");
        let endpoints = [
            Endpoint {
                need: Need::ConfigJson,
                method: Method::GET,
                path: "registries/main/index/config.json".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::Read,
                method: Method::GET,
                path: "registries/main/index/wi/dg/widget".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::Read,
                method: Method::GET,
                path: "registries/main/crates/widget/widget-1.0.0.crate".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::Read,
                method: Method::GET,
                path: "registries/main/api/v1/crates?q=widget".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::Read,
                method: Method::GET,
                path: "registries/main/api/v1/crates/widget/owners".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::Publish,
                method: Method::PUT,
                path: "registries/main/api/v1/crates/new".into(),
                body: Some(CrateFixture::new("widget", &publish_version).publish_body()),
                json: None,
            },
            Endpoint {
                need: Need::Publish,
                method: Method::PUT,
                path: format!("registries/main/crates/widget/widget-{upload_version}.crate"),
                body: Some(CrateFixture::new("widget", &upload_version).tarball()),
                json: None,
            },
            Endpoint {
                need: Need::Yank,
                method: Method::DELETE,
                path: "registries/main/api/v1/crates/widget/1.0.0/yank".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::Yank,
                method: Method::PUT,
                path: "registries/main/api/v1/crates/widget/0.9.0/unyank".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::ChangeOwners,
                method: Method::PUT,
                path: "registries/main/api/v1/crates/widget/owners".into(),
                body: None,
                json: Some(serde_json::json!({ "users": ["erin"] })),
            },
            Endpoint {
                need: Need::ChangeOwners,
                method: Method::DELETE,
                path: "registries/main/api/v1/crates/widget/owners".into(),
                body: None,
                json: Some(serde_json::json!({ "users": ["erin"] })),
            },
            Endpoint {
                need: Need::TokenApi,
                method: Method::GET,
                path: "api/v1/me/tokens".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::AdminApi,
                method: Method::GET,
                path: "api/v1/admin/users".into(),
                body: None,
                json: None,
            },
            Endpoint {
                need: Need::AdminApi,
                method: Method::PUT,
                path: "api/v1/admin/registries/main/permissions".into(),
                body: None,
                json: Some(serde_json::json!({ "user": "frank", "role": "read" })),
            },
        ];
        for endpoint in endpoints {
            let before = server.stored_state().await;
            let mut request = server
                .client
                .request(endpoint.method.clone(), server.url(&endpoint.path));
            if let Some(authorization) = &caller.authorization {
                request = request.header("authorization", authorization);
            }
            if let Some(body) = &endpoint.body {
                request = request.body(body.clone());
            }
            if let Some(json) = &endpoint.json {
                request = request.json(json);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let text = response.text().await.unwrap();
            let what = format!(
                "{} {} {} as {}: got {status} {text}",
                endpoint.need_name(),
                endpoint.method,
                endpoint.path,
                caller.name
            );
            // `config.json` is refused exactly to callers without a valid token, as the
            // token API is.
            let need = match endpoint.need {
                Need::ConfigJson => Need::TokenApi,
                need => need,
            };
            match (caller.denied)(need) {
                Some(expected) => {
                    assert_eq!(status, expected, "{what}");
                    let detail = error_detail(&text).unwrap_or_default();
                    assert!(detail.len() > 20, "a denial explains itself: {what}");
                    assert_eq!(
                        server.stored_state().await,
                        before,
                        "nothing changed: {what}"
                    );
                    if expected == 401 {
                        assert!(challenge.is_some(), "401 carries a challenge: {what}");
                    }
                    if matches!(endpoint.need, Need::Read | Need::ConfigJson) {
                        assert!(
                            !text.contains("widget"),
                            "a denied read names no crate: {what}"
                        );
                    }
                }
                None => assert!((200..300).contains(&status), "{what}"),
            }
        }
    }
}

impl Endpoint {
    fn need_name(&self) -> &'static str {
        match self.need {
            Need::ConfigJson => "config.json",
            Need::Read => "read",
            Need::Publish => "publish",
            Need::Yank => "yank",
            Need::ChangeOwners => "change-owners",
            Need::TokenApi => "token API",
            Need::AdminApi => "admin API",
        }
    }
}

#[tokio::test]
async fn anonymous_config_json_of_a_private_registry_is_a_401_challenge_with_the_login_url() {
    let server = private_server(0).await;
    let response = server.get("registries/main/index/config.json").await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        format!("Cargo login_url=\"{}registries/main/me\"", server.url)
    );
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("global-credential-providers"), "{detail}");

    let authed: serde_json::Value = server
        .authed(
            Method::GET,
            "registries/main/index/config.json",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(authed["auth-required"], true);
    // The public registry says nothing of auth.
    let public: serde_json::Value = server
        .get("registries/other/index/config.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(public.get("auth-required").is_none());
}

#[tokio::test]
async fn a_private_registry_is_not_named_to_visitors() {
    let server = private_server(0).await;
    let home = server.get("").await.text().await.unwrap();
    assert!(home.contains("/registries/other/setup"), "{home}");
    assert!(!home.contains("/registries/main"), "{home}");
    let missing = server.get("registries/nope/index/config.json").await;
    assert_eq!(missing.status(), 404);
    let detail = error_detail(&missing.text().await.unwrap()).unwrap();
    assert!(
        detail.contains("other") && !detail.contains("main"),
        "{detail}"
    );
}

#[tokio::test]
async fn what_a_private_registry_holds_in_memory_is_still_refused_without_a_token() {
    // Index files and .crate files are answered from memory once read; for a private
    // registry that must never skip the token check.
    let server = private_server(0).await;
    server.publish(&CrateFixture::new("cached", "1.0.0")).await;
    let paths = [
        "registries/main/index/ca/ch/cached",
        "registries/main/crates/cached/cached-1.0.0.crate",
    ];
    let get = |path: &str, auth: Option<&str>| {
        let mut request = server.client.get(server.url(path));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let index_hits = || server.app.stats.index_cache_hits.get();
    for path in paths {
        // Read until memory answers: on PostgreSQL the publish's change notice may
        // still empty the index cache after the first read.
        for _ in 0..50 {
            let read = get(path, Some(&server.admin_token)).await.unwrap();
            assert_eq!(read.status(), 200, "{path}");
            if index_hits() > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let anonymous = get(path, None).await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
        let text = anonymous.text().await.unwrap();
        assert!(
            !text.contains("cksum") && !text.contains("\"vers\""),
            "{path}: {text}"
        );
    }
    assert!(index_hits() > 0);
}

#[tokio::test]
async fn a_private_registry_without_grants_is_readable_by_every_user_but_not_anonymously() {
    let server = private_server(0).await;
    server.publish(&CrateFixture::new("shared", "1.0.0")).await;
    add_user(&server, "zoe").await;
    let zoe = token(&server, "zoe", TokenRequest::default()).await;
    let read = |auth: Option<String>| {
        let mut request = server
            .client
            .get(server.url("registries/main/index/sh/ar/shared"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    assert_eq!(read(None).await.unwrap().status(), 401);
    assert_eq!(read(Some(zoe.clone())).await.unwrap().status(), 200);
    // The first grant closes the registry to everyone not granted.
    add_user(&server, "yann").await;
    grant(&server, "main", Grantee::User("yann".into()), Role::Read).await;
    let denied = read(Some(zoe)).await.unwrap();
    assert_eq!(denied.status(), 403);
    let detail = error_detail(&denied.text().await.unwrap()).unwrap();
    assert!(detail.contains("cargohold permission grant"), "{detail}");
}

#[tokio::test]
async fn a_user_who_is_not_an_administrator_is_told_so_not_to_make_another_token() {
    let server = TestServer::start().await;
    add_user(&server, "alice").await;
    // Her everyday token: every scope but `admin`, which she may not have.
    let everyday = token(&server, "alice", TokenRequest::default()).await;
    let answer = server
        .authed(Method::GET, "api/v1/admin/users", &everyday)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let detail = error_detail(&answer.text().await.unwrap()).unwrap();
    assert!(
        detail.contains("`alice` is not an administrator"),
        "{detail}"
    );
    assert!(!detail.contains("--scope"), "{detail}");
}

#[tokio::test]
async fn losing_a_grant_or_the_admin_role_takes_power_from_existing_tokens_at_once() {
    let server = private_server(0).await;
    server.publish(&CrateFixture::new("shared", "1.0.0")).await;
    add_user(&server, "ops").await;
    ops::users::change(&server.app, "ops", UserChange::MakeAdmin, None)
        .await
        .unwrap();
    let ops_token = token(&server, "ops", scopes(&Scope::ALL)).await;
    let users = || {
        server
            .authed(Method::GET, "api/v1/admin/users", &ops_token)
            .send()
    };
    assert_eq!(users().await.unwrap().status(), 200);
    ops::users::change(&server.app, "ops", UserChange::RemoveAdmin, None)
        .await
        .unwrap();
    assert_eq!(users().await.unwrap().status(), 403);

    add_user(&server, "reader").await;
    grant(&server, "main", Grantee::User("reader".into()), Role::Read).await;
    let reader = token(&server, "reader", TokenRequest::default()).await;
    let read = || {
        server
            .authed(Method::GET, "registries/main/index/sh/ar/shared", &reader)
            .send()
    };
    assert_eq!(read().await.unwrap().status(), 200);
    let main = server.app.registry("main").unwrap().clone();
    ops::permissions::change(
        &server.app,
        &main,
        &Grantee::User("reader".into()),
        None,
        None,
    )
    .await
    .unwrap();
    // `ops`, the other user, keeps `main` closed.
    grant(&server, "main", Grantee::User("ops".into()), Role::Read).await;
    assert_eq!(read().await.unwrap().status(), 403);
}

#[tokio::test]
async fn a_revoked_token_loses_private_reads_at_once_here_and_within_a_second_elsewhere() {
    let server = private_server(0).await;
    server.publish(&CrateFixture::new("shared", "1.0.0")).await;
    add_user(&server, "reader").await;
    grant(&server, "main", Grantee::User("reader".into()), Role::Read).await;
    let read = |token: String| {
        server
            .authed(Method::GET, "registries/main/index/sh/ar/shared", &token)
            .send()
    };

    // Revoked through this server (the API, the web page): refused on the next read.
    let here = token(&server, "reader", TokenRequest::default()).await;
    let here_id = server.count("SELECT MAX(id) FROM api_tokens").await;
    assert_eq!(read(here.clone()).await.unwrap().status(), 200);
    assert_eq!(read(here.clone()).await.unwrap().status(), 200);
    ops::tokens::revoke(&server.app, here_id, None)
        .await
        .unwrap();
    assert_eq!(read(here).await.unwrap().status(), 401);

    // Revoked by another process (the command line, another node) straight in the
    // database: this server's check of the token is trusted for at most a second.
    let elsewhere = token(&server, "reader", TokenRequest::default()).await;
    let elsewhere_id = server.count("SELECT MAX(id) FROM api_tokens").await;
    assert_eq!(read(elsewhere.clone()).await.unwrap().status(), 200);
    let revoked =
        cargohold::db::tokens::revoke(server.app.db.write(), elsewhere_id, cargohold::clock::now())
            .await
            .unwrap();
    assert!(revoked);
    tokio::time::sleep(cargohold::auth_cache::FRESH_FOR + std::time::Duration::from_millis(100))
        .await;
    let refused = read(elsewhere).await.unwrap();
    assert_eq!(refused.status(), 401);
    let detail = error_detail(&refused.text().await.unwrap()).unwrap();
    assert!(detail.contains("revoked"), "{detail}");
}

#[tokio::test]
async fn warming_a_reader_renews_a_check_about_to_go_stale() {
    let server = private_server(0).await;
    server.publish(&CrateFixture::new("shared", "1.0.0")).await;
    add_user(&server, "reader").await;
    grant(&server, "main", Grantee::User("reader".into()), Role::Read).await;
    let reader = token(&server, "reader", TokenRequest::default()).await;
    let main = server.app.registry("main").unwrap().clone();
    let from_memory = || {
        cargohold::access::readable_from_memory(&server.app, "main", Some(reader.as_bytes()))
            .is_some()
    };
    let read = server
        .authed(Method::GET, "registries/main/index/sh/ar/shared", &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert!(from_memory());

    // The fast lane warms a reader when memory could not answer, then asks memory
    // again; a check it found still fresh must not go stale in between.
    let fresh_for = cargohold::auth_cache::FRESH_FOR;
    tokio::time::sleep(fresh_for.mul_f64(0.9)).await;
    assert!(cargohold::access::warm_reader(&server.app, &main, Some(reader.as_bytes())).await);
    tokio::time::sleep(fresh_for.mul_f64(0.3)).await;
    assert!(
        from_memory(),
        "the warmed check went stale with the old one"
    );

    // Warming never lets in what the full check refuses.
    let stranger = b"cargohold_not-a-token".as_slice();
    assert!(!cargohold::access::warm_reader(&server.app, &main, Some(stranger)).await);
    assert!(cargohold::access::readable_from_memory(&server.app, "main", Some(stranger)).is_none());
}

#[tokio::test]
async fn the_last_administrator_cannot_be_disabled_or_demoted() {
    let server = TestServer::start().await;
    let before = server.stored_state().await;
    for change in [UserChange::Disable, UserChange::RemoveAdmin] {
        let err = ops::users::change(&server.app, "admin", change, None)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 409);
        assert!(err.to_string().contains("last administrator"));
    }
    assert_eq!(server.stored_state().await, before);
}

#[tokio::test]
async fn an_administrators_token_without_the_admin_scope_has_no_admin_powers() {
    let server = private_server(0).await;
    server.publish(&CrateFixture::new("kept", "1.0.0")).await;
    add_user(&server, "reader").await;
    grant(&server, "main", Grantee::User("reader".into()), Role::Read).await;
    // The administrator's everyday token: every scope but `admin`.
    let everyday = token(&server, "admin", TokenRequest::default()).await;
    let before = server.stored_state().await;
    let read = server
        .authed(Method::GET, "registries/main/index/ke/pt/kept", &everyday)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 403);
    let yank = server
        .authed(
            Method::DELETE,
            "registries/main/api/v1/crates/kept/1.0.0/yank",
            &everyday,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(yank.status(), 403);
    assert_eq!(server.stored_state().await, before);
    let with_admin_scope = server
        .authed(
            Method::GET,
            "registries/main/index/ke/pt/kept",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(with_admin_scope.status(), 200);
}

#[tokio::test]
async fn cargo_owner_add_of_an_owner_says_it_is_already_one_and_remove_of_a_stranger_says_it_is_not()
 {
    let server = TestServer::start().await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("widget", "1.0.0"))
            .await
            .status(),
        200
    );
    for login in ["alice", "bob", "carol"] {
        add_user(&server, login).await;
    }
    let owners = |method: Method, users: &[&str]| {
        server
            .authed(
                method,
                "registries/main/api/v1/crates/widget/owners",
                &server.admin_token,
            )
            .json(&serde_json::json!({ "users": users }))
            .send()
    };
    let message = |answer: reqwest::Response| async move {
        assert_eq!(answer.status(), 200);
        let body: serde_json::Value = answer.json().await.unwrap();
        body["msg"].as_str().unwrap().to_owned()
    };
    let added = message(owners(Method::PUT, &["alice"]).await.unwrap()).await;
    assert_eq!(added, "added alice as owner(s) of `widget`");
    let again = message(owners(Method::PUT, &["alice"]).await.unwrap()).await;
    assert_eq!(
        again,
        "no change to the owners of `widget`; alice is already an owner"
    );
    let mixed = message(
        owners(Method::PUT, &["alice", "admin", "bob"])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        mixed,
        "added bob as owner(s) of `widget`; alice, admin are already owners"
    );
    let stranger = message(owners(Method::DELETE, &["carol"]).await.unwrap()).await;
    assert_eq!(
        stranger,
        "no change to the owners of `widget`; carol is not an owner"
    );
    let main = server.app.registry("main").unwrap().clone();
    let listed: Vec<String> = ops::owners::list(&server.app, &main, "widget")
        .await
        .unwrap()
        .into_iter()
        .map(|owner| owner.login)
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(!listed.contains(&"carol".to_owned()), "{listed:?}");
}

#[tokio::test]
async fn the_first_grant_and_the_last_revocation_say_who_can_get_in_now() {
    let server = private_server(0).await;
    add_user(&server, "ci-bot").await;
    add_user(&server, "alice").await;
    let change = |registry: &str, login: &str, role: Option<Role>| {
        let registry = server.app.registry(registry).unwrap().clone();
        let grantee = Grantee::User(login.into());
        let app = &server.app;
        async move {
            ops::permissions::change(app, &registry, &grantee, role, None)
                .await
                .unwrap()
        }
    };
    use ops::permissions::AccessChange;

    // `main` is private.
    let first = change("main", "ci-bot", Some(Role::Read)).await;
    assert_eq!(first.previous, None);
    assert_eq!(first.access, Some(AccessChange::Closed));
    assert_eq!(
        first.notice.as_deref(),
        Some(
            "this is the first grant of `main`: users without a grant can no longer read or publish there"
        )
    );
    let second = change("main", "alice", Some(Role::Publish)).await;
    assert_eq!((second.access, second.notice), (None, None));
    let upgraded = change("main", "ci-bot", Some(Role::Publish)).await;
    assert_eq!(upgraded.previous.as_deref(), Some("read"));
    assert_eq!(upgraded.access, None);
    assert_eq!(change("main", "alice", None).await.access, None);
    let last = change("main", "ci-bot", None).await;
    assert_eq!(last.previous.as_deref(), Some("publish"));
    assert_eq!(last.access, Some(AccessChange::Opened));
    assert_eq!(
        last.notice.as_deref(),
        Some(
            "this was the last grant of `main`: every user may now read and publish new crates there"
        )
    );
    // Revoking what nobody holds opens nothing: there was nothing to close.
    let nothing = change("main", "ci-bot", None).await;
    assert_eq!((nothing.previous, nothing.access), (None, None));

    // `other` is public: its index stays open to anyone either way.
    let first = change("other", "ci-bot", Some(Role::Read)).await;
    assert_eq!(first.access, Some(AccessChange::Closed));
    let notice = first.notice.unwrap();
    assert!(
        notice.starts_with(
            "this is the first grant of `other`: users without a grant can no longer publish there"
        ),
        "{notice}"
    );
    let last = change("other", "ci-bot", None).await;
    assert_eq!(
        last.notice.as_deref(),
        Some("this was the last grant of `other`: every user may now publish new crates there")
    );
}

#[tokio::test]
async fn grants_of_a_proxy_speak_of_reading_only() {
    // Nothing listens upstream; nothing here asks it.
    let upstream: url::Url = "http://127.0.0.1:9/".parse().unwrap();
    let server = TestServer::start_with(move |config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig::proxy("cache", upstream.clone()),
            RegistryConfig {
                auth_required: true,
                ..RegistryConfig::proxy("private-cache", upstream)
            },
        ];
    })
    .await;
    add_user(&server, "ci-bot").await;
    let notice = |registry: &str, role: Option<Role>| {
        let registry = server.app.registry(registry).unwrap().clone();
        let app = &server.app;
        async move {
            ops::permissions::change(app, &registry, &Grantee::User("ci-bot".into()), role, None)
                .await
                .unwrap()
                .notice
                .unwrap()
        }
    };
    assert_eq!(
        notice("private-cache", Some(Role::Read)).await,
        "this is the first grant of `private-cache`: users without a grant can no longer read it"
    );
    assert_eq!(
        notice("private-cache", None).await,
        "this was the last grant of `private-cache`: every user may now read it"
    );
    assert_eq!(
        notice("cache", Some(Role::Read)).await,
        "`cache` is public, so anyone reads it whatever its grants; they decide who reads it \
         once it is private (`auth-required = true`)"
    );
    notice("cache", None).await;

    // The administration page says the same, and nothing of publishing.
    crate::web::add_user(&server, "root", "root's password", true).await;
    let root = crate::web::WebClient::signed_in(&server, "root", "root's password").await;
    for (registry, says) in [
        (
            "cache",
            "No grants. It is public: anyone may read it, granted or not; nobody publishes to a \
             proxy registry.",
        ),
        (
            "private-cache",
            "No grants: every user may read it. The first grant closes it to everyone not granted.",
        ),
        (
            "main",
            "No grants: every user may read and publish new crates.",
        ),
    ] {
        let page = root
            .get(&format!("admin/registries/{registry}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains(says), "{registry}: {page}");
    }
}

#[tokio::test]
async fn making_an_owner_of_a_user_without_a_role_says_they_cannot_use_it_yet() {
    let server = private_server(30).await;
    add_user(&server, "carol").await;
    add_user(&server, "dave").await;
    grant(&server, "main", Grantee::User("dave".into()), Role::Read).await;
    let response = server
        .publish(&CrateFixture::new("acme-core", "1.0.0"))
        .await;
    assert_eq!(response.status(), 200);

    let response = server
        .authed(
            Method::PUT,
            "registries/main/api/v1/crates/acme-core/owners",
            &server.admin_token,
        )
        .json(&serde_json::json!({ "users": ["carol", "dave"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let msg = body["msg"].as_str().unwrap();
    assert!(
        msg.contains("added carol, dave as owner(s)")
            && msg.contains("note: `carol` has no role in registry `main`")
            && msg.contains("--user carol --role read")
            && !msg.contains("`dave` has no role"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_permissions_api_says_when_a_grant_closes_or_a_revocation_opens_the_registry() {
    let server = private_server(0).await;
    add_user(&server, "ci-bot").await;
    let send = |method: Method, body: serde_json::Value| {
        server
            .authed(
                method,
                "api/v1/admin/registries/main/permissions",
                &server.admin_token,
            )
            .json(&body)
            .send()
    };
    let granted: serde_json::Value = send(
        Method::PUT,
        serde_json::json!({ "user": "ci-bot", "role": "read" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        granted["notice"]
            .as_str()
            .is_some_and(|notice| notice.starts_with("this is the first grant of `main`")),
        "{granted}"
    );
    let revoked: serde_json::Value = send(Method::DELETE, serde_json::json!({ "user": "ci-bot" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        revoked["notice"]
            .as_str()
            .is_some_and(|notice| notice.starts_with("this was the last grant of `main`")),
        "{revoked}"
    );
    assert_eq!(revoked["changed"], true);
}

#[tokio::test]
async fn a_private_member_hides_its_crates_through_a_virtual_registry_from_readers_without_a_role()
{
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig {
                auth_required: true,
                ..RegistryConfig::local("internal")
            },
            RegistryConfig::local("shared"),
            RegistryConfig {
                auth_required: true,
                ..RegistryConfig::virtual_of("all", &["internal", "shared"], Some("internal"))
            },
        ];
    })
    .await;
    for (registry, name, version) in [
        ("internal", "secret-thing", "1.0.0"),
        ("internal", "twin", "2.0.0"),
        ("shared", "twin", "1.0.0"),
        ("shared", "shared-lib", "1.0.0"),
    ] {
        let fixture = CrateFixture::new(name, version);
        assert_eq!(server.publish_to(registry, &fixture).await.status(), 200);
    }
    add_user(&server, "alice").await;
    add_user(&server, "bob").await;
    // The first grant closes `internal` to everyone but bob; `all` has no grants.
    grant(&server, "internal", Grantee::User("bob".into()), Role::Read).await;
    let alice = token(&server, "alice", TokenRequest::default()).await;
    let bob = token(&server, "bob", TokenRequest::default()).await;
    let status = async |token: &str, path: &str| {
        let answer = server
            .authed(Method::GET, path, token)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    };
    let secret_paths = [
        "registries/all/index/se/cr/secret-thing",
        "registries/all/crates/secret-thing/secret-thing-1.0.0.crate",
        "registries/all/api/v1/crates/secret-thing/owners",
    ];

    // Alice reads `all` but not `internal`: its crates are missing to her, twice
    // over (the second answer comes from what the first left in memory), and a
    // name it holds is not served from a later member in its place.
    for _ in 0..2 {
        for path in secret_paths {
            let (code, body) = status(&alice, path).await;
            assert_eq!(code, 404, "{path}: {body}");
            assert!(!body.contains("internal"), "{path}: {body}");
        }
        let (code, body) = status(&alice, "registries/all/index/tw/in/twin").await;
        assert_eq!(code, 404, "{body}");
        let (code, body) = status(&alice, "registries/all/index/sh/ar/shared-lib").await;
        assert_eq!(code, 200, "{body}");
        let (code, body) = status(&alice, "registries/all/api/v1/crates?q=secret").await;
        assert_eq!(code, 200, "{body}");
        assert!(!body.contains("secret-thing"), "{body}");
    }
    // Reading `internal` itself is refused as before.
    let (code, _) = status(&alice, "registries/internal/index/se/cr/secret-thing").await;
    assert_eq!(code, 403);

    // Bob, who holds `read` in `internal`, gets everything through `all`.
    for path in secret_paths {
        let (code, body) = status(&bob, path).await;
        assert_eq!(code, 200, "{path}: {body}");
    }
    let (code, body) = status(&bob, "registries/all/index/tw/in/twin").await;
    assert!(
        code == 200 && body.contains("\"2.0.0\"") && !body.contains("\"1.0.0\""),
        "{body}"
    );
    let (_, body) = status(&bob, "registries/all/api/v1/crates?q=secret").await;
    assert!(body.contains("secret-thing"), "{body}");

    // A role given to alice opens the member to her through `all` at once.
    grant(
        &server,
        "internal",
        Grantee::User("alice".into()),
        Role::Read,
    )
    .await;
    let (code, body) = status(&alice, "registries/all/index/se/cr/secret-thing").await;
    assert_eq!(code, 200, "{body}");
}
