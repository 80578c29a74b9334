//! The audit log: every change leaves exactly one event, with who, which token and from where.

use cargohold::db::audit::{AuditEvent, AuditFilter};
use cargohold::ops;
use cargohold_test_support::{CrateFixture, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::web::{WebClient, add_user};

/// Sends an API request with the admin token and checks it succeeded.
async fn call(server: &TestServer, method: Method, path: &str, body: Option<serde_json::Value>) {
    let mut request = server
        .client
        .request(method.clone(), server.url(path))
        .header("authorization", &server.admin_token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "{method} {path}: {status} {}",
        response.text().await.unwrap()
    );
}

async fn events(server: &TestServer) -> Vec<cargohold::db::audit::AuditRow> {
    let filter = AuditFilter {
        limit: 1000,
        ..AuditFilter::default()
    };
    ops::audit::list(&server.app, filter, None).await.unwrap()
}

#[tokio::test]
async fn each_change_leaves_exactly_one_event_with_actor_token_and_address() {
    let server = TestServer::start().await;
    let admin_token_id = server.count("SELECT MIN(id) FROM api_tokens").await;
    let publish = CrateFixture::new("logged", "1.0.0");
    let steps: Vec<(&str, Method, String, Option<serde_json::Value>)> = vec![
        (
            "user_add",
            Method::POST,
            "api/v1/admin/users".into(),
            Some(json!({ "login": "amy" })),
        ),
        (
            "team_create",
            Method::POST,
            "api/v1/admin/teams".into(),
            Some(json!({ "name": "devs" })),
        ),
        (
            "team_member_add",
            Method::PUT,
            "api/v1/admin/teams/devs/members".into(),
            Some(json!({ "users": ["amy"] })),
        ),
        (
            "permission_grant",
            Method::PUT,
            "api/v1/admin/registries/main/permissions".into(),
            Some(json!({ "team": "devs", "role": "publish" })),
        ),
        (
            "permission_revoke",
            Method::DELETE,
            "api/v1/admin/registries/main/permissions".into(),
            Some(json!({ "team": "devs" })),
        ),
        (
            "team_delete",
            Method::DELETE,
            "api/v1/admin/teams/devs".into(),
            None,
        ),
        (
            "token_create",
            Method::PUT,
            "api/v1/me/tokens".into(),
            Some(json!({ "name": "ci", "scopes": ["read"] })),
        ),
        (
            "publish",
            Method::PUT,
            "registries/main/api/v1/crates/new".into(),
            None,
        ),
        (
            "yank",
            Method::DELETE,
            "registries/main/api/v1/crates/logged/1.0.0/yank".into(),
            None,
        ),
        (
            "unyank",
            Method::PUT,
            "registries/main/api/v1/crates/logged/1.0.0/unyank".into(),
            None,
        ),
        (
            "owner_add",
            Method::PUT,
            "registries/main/api/v1/crates/logged/owners".into(),
            Some(json!({ "users": ["amy"] })),
        ),
        (
            "owner_remove",
            Method::DELETE,
            "registries/main/api/v1/crates/logged/owners".into(),
            Some(json!({ "users": ["amy"] })),
        ),
        (
            "user_disable",
            Method::PATCH,
            "api/v1/admin/users/amy".into(),
            Some(json!({ "disabled": true })),
        ),
    ];
    for (action, method, path, body) in steps {
        assert!(
            ops::audit::ACTIONS.contains(&action),
            "`{action}` can be filtered by"
        );
        let before = events(&server).await.len();
        if action == "publish" {
            assert_eq!(server.publish(&publish).await.status(), 200);
        } else {
            call(&server, method, &path, body).await;
        }
        let after = events(&server).await;
        assert_eq!(after.len(), before + 1, "{action} leaves one event");
        let event = &after[0];
        assert_eq!(event.action, action);
        assert_eq!(event.actor.as_deref(), Some("admin"), "{action}");
        assert_eq!(event.token_id, Some(admin_token_id), "{action}");
        assert_eq!(event.client_addr.as_deref(), Some("127.0.0.1"), "{action}");
    }

    // Revoking the token made above is an event too; doing it again changes nothing.
    let ci_token_id = server.count("SELECT MAX(id) FROM api_tokens").await;
    let before = events(&server).await.len();
    for _ in 0..2 {
        call(
            &server,
            Method::DELETE,
            &format!("api/v1/me/tokens/{ci_token_id}"),
            None,
        )
        .await;
    }
    let after = events(&server).await;
    assert_eq!(after.len(), before + 1);
    assert_eq!(after[0].action, "token_revoke");

    // The same events through the JSON API, filtered.
    let filtered: serde_json::Value = server
        .authed(
            Method::GET,
            "api/v1/admin/audit?crate=LOGGED&action=yank",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let filtered = filtered["events"].as_array().unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["version"], "1.0.0");
    assert_eq!(filtered[0]["registry"], "main");
}

#[tokio::test]
async fn a_refused_change_leaves_no_event() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("guarded", "1.0.0")).await;
    let intruder = server.create_user("intruder").await;
    let before = events(&server).await.len();
    let response = server
        .authed(
            Method::DELETE,
            "registries/main/api/v1/crates/guarded/1.0.0/yank",
            &intruder,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(events(&server).await.len(), before);
}

#[tokio::test]
async fn the_audit_api_is_for_administrators_only() {
    let server = TestServer::start().await;
    let user = server.create_user("nosy").await;
    let response = server
        .authed(Method::GET, "api/v1/admin/audit", &user)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let bad_limit = server
        .authed(
            Method::GET,
            "api/v1/admin/audit?limit=0",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad_limit.status(), 400);
}

#[tokio::test]
async fn bad_administration_requests_are_refused_and_store_nothing() {
    let server = TestServer::start().await;
    ops::teams::create(&server.app, "devs", None).await.unwrap();
    let before = server.stored_state().await;
    for (method, path, body, status) in [
        (
            Method::POST,
            "api/v1/admin/teams",
            json!({ "name": "DEVS" }),
            409,
        ),
        (
            Method::POST,
            "api/v1/admin/teams",
            json!({ "name": "bad name" }),
            400,
        ),
        (
            Method::POST,
            "api/v1/admin/users",
            json!({ "login": "admin" }),
            409,
        ),
        (
            Method::PUT,
            "api/v1/admin/teams/devs/members",
            json!({ "users": ["ghost"] }),
            404,
        ),
        (
            Method::PUT,
            "api/v1/admin/teams/ghosts/members",
            json!({ "users": ["admin"] }),
            404,
        ),
        (
            Method::PUT,
            "api/v1/admin/registries/main/permissions",
            json!({ "user": "ghost", "role": "read" }),
            404,
        ),
        (
            Method::PUT,
            "api/v1/admin/registries/main/permissions",
            json!({ "user": "admin", "role": "owner" }),
            400,
        ),
        (
            Method::PUT,
            "api/v1/admin/registries/main/permissions",
            json!({ "user": "admin", "team": "devs", "role": "read" }),
            400,
        ),
        (
            Method::PUT,
            "api/v1/admin/registries/nope/permissions",
            json!({ "user": "admin", "role": "read" }),
            404,
        ),
        (
            Method::PATCH,
            "api/v1/admin/users/admin",
            json!({ "disabled": true }),
            409,
        ),
        (Method::PATCH, "api/v1/admin/users/admin", json!({}), 400),
    ] {
        let response = server
            .authed(method.clone(), path, &server.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{method} {path} {body}: {text}");
        assert!(
            cargohold_test_support::error_detail(&text).is_some(),
            "{text}"
        );
        assert_eq!(
            server.stored_state().await,
            before,
            "{method} {path} {body}"
        );
    }
}

/// Records a `publish` event of `dated@{version}` at `at`, as a publish at that time would.
async fn event_at(server: &TestServer, version: &str, at: i64) {
    let event = AuditEvent {
        action: "publish",
        registry: Some("main"),
        crate_name: Some("dated"),
        version: Some(version),
        ..AuditEvent::default()
    };
    cargohold::db::audit::insert(server.app.db.write(), &event, at)
        .await
        .unwrap();
}

/// `GET /api/v1/admin/audit?{query}` as the administrator: the status and the body.
async fn audit_query(server: &TestServer, query: &str) -> (u16, String) {
    let response = server
        .authed(
            Method::GET,
            &format!("api/v1/admin/audit?{query}"),
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn audit_since_takes_unix_seconds_rfc3339_times_and_dates() {
    let server = TestServer::start().await;
    // 2026-11-30T23:59:59Z, 2026-12-01T00:00:00Z and 2026-12-01T12:00:00Z.
    event_at(&server, "1.0.0", 1_796_083_199).await;
    event_at(&server, "2.0.0", 1_796_083_200).await;
    event_at(&server, "3.0.0", 1_796_126_400).await;
    for (since, expected) in [
        ("1796083200", &["3.0.0", "2.0.0"][..]),
        ("1796083199", &["3.0.0", "2.0.0", "1.0.0"]),
        ("2026-12-01T00:00:00Z", &["3.0.0", "2.0.0"]),
        ("2026-12-01T00:00:01Z", &["3.0.0"]),
        ("2026-12-01T01:00:00%2B01:00", &["3.0.0", "2.0.0"]),
        ("2026-12-01T12:00:00.500Z", &["3.0.0"]),
        ("2026-12-01", &["3.0.0", "2.0.0"]),
        ("2026-11-30", &["3.0.0", "2.0.0", "1.0.0"]),
        ("2026-12-02", &[]),
    ] {
        let (status, body) = audit_query(&server, &format!("crate=dated&since={since}")).await;
        assert_eq!(status, 200, "since={since}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let versions: Vec<&str> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, expected, "since={since}");
    }
}

#[tokio::test]
async fn audit_since_in_another_form_is_refused_with_the_accepted_forms() {
    let server = TestServer::start().await;
    event_at(&server, "1.0.0", 1_796_083_200).await;
    let before = server.stored_state().await;
    for since in [
        "yesterday",
        "12/01/2026",
        "2026-13-01",
        "2026-12-01T00:00:00",
        "-5",
        "1.5",
    ] {
        let (status, body) = audit_query(&server, &format!("since={since}")).await;
        assert_eq!(status, 400, "since={since}: {body}");
        let detail = cargohold_test_support::error_detail(&body)
            .unwrap_or_else(|| panic!("cargo's error shape: {body}"));
        for form in [
            "Unix seconds",
            "RFC 3339",
            "2026-12-01T00:00:00Z",
            "2026-12-01",
        ] {
            assert!(
                detail.contains(since) && detail.contains(form),
                "since={since}: {detail}"
            );
        }
        assert_eq!(server.stored_state().await, before, "since={since}");
    }
}

#[tokio::test]
async fn the_audit_api_refuses_an_unknown_action_or_user_instead_of_answering_nothing() {
    let server = TestServer::start().await;
    let before = server.stored_state().await;
    let (status, body) = audit_query(&server, "action=publsh").await;
    assert_eq!(status, 400, "{body}");
    let detail = cargohold_test_support::error_detail(&body).unwrap();
    assert!(
        detail.contains("`publsh`") && detail.contains("publish, yank, unyank"),
        "{detail}"
    );
    let (status, body) = audit_query(&server, "user=nobody").await;
    assert_eq!(status, 404, "{body}");
    let detail = cargohold_test_support::error_detail(&body).unwrap();
    assert!(detail.contains("there is no user `nobody`"), "{detail}");
    assert_eq!(server.stored_state().await, before);

    // Known ones still answer, also when nothing matches.
    let (status, body) = audit_query(&server, "action=gc&user=ADMIN").await;
    assert_eq!(status, 200, "{body}");
}

/// The events of `action`, oldest first.
async fn events_of(server: &TestServer, action: &str) -> Vec<cargohold::db::audit::AuditRow> {
    let filter = AuditFilter {
        action: Some(action.into()),
        limit: 1000,
        ..AuditFilter::default()
    };
    let mut rows = ops::audit::list(&server.app, filter, None).await.unwrap();
    rows.reverse();
    rows
}

/// An event's detail as JSON.
fn detail(event: &cargohold::db::audit::AuditRow) -> serde_json::Value {
    serde_json::from_str(&event.detail).unwrap()
}

#[tokio::test]
async fn a_failed_web_sign_in_is_audited_with_the_login_and_address_and_opens_no_session() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice's password", false).await;
    let web = WebClient::visit(&server).await;
    let wrong_password = "not-alices-password-7f3a";

    let response = web
        .post("login", &[("login", "alice"), ("password", wrong_password)])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.count("SELECT COUNT(*) FROM web_sessions").await, 0);
    let failed = events_of(&server, "sign_in_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        failed[0].actor.as_deref(),
        Some("alice"),
        "the account tried"
    );
    assert_eq!(failed[0].client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        detail(&failed[0]),
        json!({ "login": "alice", "reason": "wrong password" })
    );
    assert_eq!(failed[0].token_id, None);

    // A login nobody has: recorded as typed, with no user.
    let response = web
        .post(
            "login",
            &[("login", "Mallory"), ("password", wrong_password)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let failed = events_of(&server, "sign_in_failed").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[1].actor, None);
    assert_eq!(failed[1].client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        detail(&failed[1]),
        json!({ "login": "Mallory", "reason": "no such user" })
    );
    let stored = server.column("SELECT detail FROM audit_events").await;
    assert!(
        stored.iter().all(|d| !d.contains(wrong_password)),
        "{stored:?}"
    );

    // Signing in still works, and is not a failure.
    let alice = WebClient::signed_in(&server, "alice", "alice's password").await;
    assert_eq!(alice.get("me").await.status(), StatusCode::OK);
    assert_eq!(server.count("SELECT COUNT(*) FROM web_sessions").await, 1);
    assert_eq!(events_of(&server, "sign_in_failed").await.len(), 2);
    assert_eq!(events_of(&server, "session_create").await.len(), 1);
    assert!(events_of(&server, "sign_in_blocked").await.is_empty());

    // The user filter finds the attempts on an account with what it did.
    let filter = AuditFilter {
        actor: Some("alice".into()),
        limit: 1000,
        ..AuditFilter::default()
    };
    let actions: Vec<String> = ops::audit::list(&server.app, filter, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["session_create", "sign_in_failed"]);

    // The administration page shows them, the unknown login without a user.
    add_user(&server, "root", "root's password", true).await;
    let root = WebClient::signed_in(&server, "root", "root's password").await;
    let page = root
        .get("admin/audit?action=sign_in_failed")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(
            "<td data-label=\"Who\">—</td><td data-label=\"From\">127.0.0.1</td>\
             <td data-label=\"Action\">sign_in_failed</td>"
        ),
        "{page}"
    );
    assert!(
        page.contains("login: Mallory; reason: no such user"),
        "{page}"
    );
    assert!(
        page.contains("login: alice; reason: wrong password"),
        "{page}"
    );
}

#[tokio::test]
async fn sign_ins_refused_over_the_limit_are_audited_once_not_each() {
    let server = TestServer::start_with(|config| config.limits.auth_failures_per_minute = 2).await;
    add_user(&server, "alice", "alice's password", false).await;
    let web = WebClient::visit(&server).await;
    for _ in 0..2 {
        let response = web
            .post("login", &[("login", "alice"), ("password", "a guess")])
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Over the limit: refused without a check, even with the right password.
    for password in ["another guess", "a third guess", "alice's password"] {
        let response = web
            .post("login", &[("login", "alice"), ("password", password)])
            .await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(events_of(&server, "sign_in_failed").await.len(), 2);
    let blocked = events_of(&server, "sign_in_blocked").await;
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0].actor, None);
    assert_eq!(blocked[0].client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        detail(&blocked[0]),
        json!({ "login": "alice", "failures_per_minute": 2 })
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM web_sessions").await, 0);
}
