//! Refusals (401, 403, 429) as users and operators see them: who is held back by
//! the failed-token limit, what a refusal's answer tells a developer to do, and
//! the one log line each refusal leaves, with its reason and whose it was.

use std::io;
use std::sync::{Mutex, Once};

use cargohold::access::Role;
use cargohold::ops;
use cargohold::ops::permissions::Grantee;
use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CrateFixture, TestServer, error_detail};
use reqwest::Method;

use crate::access::{add_user, grant, private_server};

/// Everything the servers of this process log, as an operator would read it.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogSink;

impl io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends what every test server of this process logs at INFO and above to
/// [`LOG`], in the server's own format. One subscriber for the process: tests
/// that share a process tell their lines apart by the users and paths they use.
fn capture_server_log() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| LogSink)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("nothing else in the tests sets the global subscriber");
    });
}

/// The lines logged so far that contain every one of `needles`.
fn logged(needles: &[&str]) -> Vec<String> {
    let log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| needles.iter().all(|needle| line.contains(needle)))
        .map(str::to_owned)
        .collect()
}

/// The one line logged with every one of `needles`.
#[track_caller]
fn logged_once(needles: &[&str]) -> String {
    let lines = logged(needles);
    assert_eq!(
        lines.len(),
        1,
        "expected one line with {needles:?}, got {lines:#?}"
    );
    lines.into_iter().next().unwrap()
}

/// A user with a token (and its id) on `server`.
async fn user_with_token(server: &TestServer, login: &str) -> (String, i64) {
    add_user(server, login).await;
    let created = ops::tokens::create(&server.app, login, TokenRequest::default(), None)
        .await
        .unwrap();
    (created.token, created.id)
}

async fn get(server: &TestServer, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = server.client.get(server.url(path));
    if let Some(token) = token {
        request = request.header("authorization", token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_valid_token_is_answered_from_an_address_whose_bad_tokens_used_up_the_limit() {
    let server = private_server(3).await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("widget", "1.0.0"))
            .await
            .status(),
        200
    );
    // A CI job's expired token, behind the same address as a developer.
    let (expired, _) = user_with_token(&server, "ci-bot").await;
    server
        .execute(
            "UPDATE api_tokens SET expires_at = 1000 WHERE user_id = \
             (SELECT id FROM users WHERE login = 'ci-bot')",
        )
        .await;
    let (valid, _) = user_with_token(&server, "dev").await;
    let before = server.stored_state().await;

    let index = "registries/main/index/wi/dg/widget";
    for _ in 0..3 {
        assert_eq!(get(&server, index, Some(&expired)).await.status(), 401);
    }
    let limited = get(&server, index, Some(&expired)).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));

    // The developer's token was never checked before: not in memory either.
    for path in [
        index,
        "registries/main/index/config.json",
        "registries/main/crates/widget/widget-1.0.0.crate",
        index,
    ] {
        let answer = get(&server, path, Some(&valid)).await;
        assert_eq!(answer.status(), 200, "{path}");
    }
    let me = server
        .authed(Method::GET, "api/v1/me", &valid)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // Guesses from that address are still held back, on every path.
    for token in [
        expired.as_str(),
        "cargohold_aGuessThatIsNoTokenAtAll0000000000",
    ] {
        assert_eq!(get(&server, index, Some(token)).await.status(), 429);
        let publish = server
            .publish_body(CrateFixture::new("widget", "1.0.1").publish_body(), token)
            .await;
        assert_eq!(publish.status(), 429);
        let detail = error_detail(&publish.text().await.unwrap()).unwrap();
        assert!(detail.contains("invalid tokens"), "{detail}");
    }
    assert_eq!(server.stored_state().await, before, "nothing was stored");
}

#[tokio::test]
async fn a_valid_token_without_a_role_gets_config_json_and_a_403_saying_what_to_do() {
    let server = private_server(0).await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("widget", "1.0.0"))
            .await
            .status(),
        200
    );
    // A grant closes `main`: nora holds no role there.
    add_user(&server, "reader").await;
    grant(&server, "main", Grantee::User("reader".into()), Role::Read).await;
    let (nora, _) = user_with_token(&server, "nora").await;
    let before = server.stored_state().await;

    // What `cargo login --registry main` reads with the stored token before
    // storing the new one: twice, the second time from memory.
    for _ in 0..2 {
        let config = get(&server, "registries/main/index/config.json", Some(&nora)).await;
        assert_eq!(config.status(), 200);
        let config: serde_json::Value = config.json().await.unwrap();
        assert_eq!(config["auth-required"], true, "{config}");
    }

    for path in [
        "registries/main/index/wi/dg/widget",
        "registries/main/crates/widget/widget-1.0.0.crate",
    ] {
        let refused = get(&server, path, Some(&nora)).await;
        assert_eq!(refused.status(), 403, "{path}");
        let text = refused.text().await.unwrap();
        assert!(
            !text.contains("widget"),
            "a denied read names no crate: {text}"
        );
        let detail = error_detail(&text).unwrap();
        assert!(
            detail.contains("`nora` has no role in registry `main`"),
            "{detail}"
        );
        assert!(
            detail.contains("ask an administrator for a role"),
            "{detail}"
        );
        let logout = detail
            .find("`cargo logout --registry main`")
            .unwrap_or_else(|| panic!("no logout: {detail}"));
        let login = detail
            .find("`cargo login --registry main`")
            .unwrap_or_else(|| panic!("no login: {detail}"));
        assert!(logout < login, "log out, then log in: {detail}");
        assert!(
            detail.ends_with(&format!("from {}registries/main/me", server.url)),
            "the answer ends with what to do: {detail}"
        );
    }

    // Without a token: still the challenge cargo needs to retry with one.
    let anonymous = get(&server, "registries/main/index/config.json", None).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        format!("Cargo login_url=\"{}registries/main/me\"", server.url).as_str()
    );
    // A token that is not valid gets no config.json either.
    let forged = get(
        &server,
        "registries/main/index/config.json",
        Some("cargohold_notARealTokenAtAll00000000000000000"),
    )
    .await;
    assert_eq!(forged.status(), 401);
    assert_eq!(server.stored_state().await, before, "nothing was stored");
}

#[tokio::test]
async fn a_refused_index_read_is_logged_once_with_its_reason_user_token_registry_and_client() {
    capture_server_log();
    let server = private_server(0).await;
    let (expired, expired_id) = user_with_token(&server, "log-expired").await;
    server
        .execute(
            "UPDATE api_tokens SET expires_at = 1000 WHERE user_id = \
             (SELECT id FROM users WHERE login = 'log-expired')",
        )
        .await;
    let (revoked, revoked_id) = user_with_token(&server, "log-revoked").await;
    ops::tokens::revoke(&server.app, revoked_id, None)
        .await
        .unwrap();
    let before = server.stored_state().await;

    let path = "/registries/main/index/lo/g-/log-expired-crate";
    assert_eq!(get(&server, path, Some(&expired)).await.status(), 401);
    let line = logged_once(&["refused", "user.login=\"log-expired\""]);
    for field in [
        " INFO ",
        "status=401",
        "reason=\"token expired on 1970-01-01T00:16:40Z\"",
        &format!("token.id={expired_id}"),
        "registry=\"main\"",
        "client=\"127.0.0.1\"",
        &format!("path=\"{path}\""),
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(
        !line.contains(&expired[10..]),
        "the token is never logged: {line}"
    );

    let download = "/registries/main/crates/gone/gone-1.0.0.crate";
    assert_eq!(get(&server, download, Some(&revoked)).await.status(), 401);
    let line = logged_once(&["refused", "user.login=\"log-revoked\""]);
    assert!(line.contains("reason=\"revoked token\""), "{line}");
    assert!(line.contains(&format!("token.id={revoked_id}")), "{line}");
    assert!(line.contains("registry=\"main\""), "{line}");
    assert!(
        !line.contains(&revoked[10..]),
        "the token is never logged: {line}"
    );

    let unknown = "cargohold_logUnknownTokenThatNoOneHas000000000";
    let guessed = "/registries/main/index/lo/g-/log-unknown-crate";
    assert_eq!(get(&server, guessed, Some(unknown)).await.status(), 401);
    let line = logged_once(&["refused", &format!("path=\"{guessed}\"")]);
    assert!(line.contains("reason=\"unknown token\""), "{line}");
    assert!(!line.contains("user.login"), "{line}");
    assert!(!line.contains(unknown), "the token is never logged: {line}");

    let anonymous = "/registries/main/index/lo/g-/log-anonymous-crate";
    assert_eq!(get(&server, anonymous, None).await.status(), 401);
    let line = logged_once(&["refused", &format!("path=\"{anonymous}\"")]);
    assert!(line.contains("reason=\"no token\""), "{line}");
    assert!(line.contains("client=\"127.0.0.1\""), "{line}");
    // Cargo's anonymous first ask for `config.json` is its auth handshake, not news.
    let config = "/registries/main/index/config.json";
    assert_eq!(get(&server, config, None).await.status(), 401);
    assert!(
        logged(&[
            "refused",
            "reason=\"no token\"",
            &format!("path=\"{config}\"")
        ])
        .is_empty(),
        "the handshake is not logged as a refusal"
    );
    assert_eq!(server.stored_state().await, before, "nothing was stored");
}

#[tokio::test]
async fn a_read_refused_for_want_of_a_role_is_logged_with_the_user_and_token() {
    capture_server_log();
    let server = private_server(0).await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("roleless", "1.0.0"))
            .await
            .status(),
        200
    );
    add_user(&server, "reader").await;
    grant(&server, "main", Grantee::User("reader".into()), Role::Read).await;
    let (token, token_id) = user_with_token(&server, "log-roleless").await;
    let before = server.stored_state().await;

    let path = "/registries/main/crates/roleless/roleless-1.0.0.crate";
    assert_eq!(get(&server, path, Some(&token)).await.status(), 403);
    let line = logged_once(&["refused", "user.login=\"log-roleless\""]);
    for field in [
        " INFO ",
        "status=403",
        "has no role in registry `main`",
        &format!("token.id={token_id}"),
        "registry=\"main\"",
        "client=\"127.0.0.1\"",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(
        !line.contains(&token[10..]),
        "the token is never logged: {line}"
    );
    assert_eq!(server.stored_state().await, before, "nothing was stored");
}

#[tokio::test]
async fn a_refused_publish_is_logged_with_the_user_token_and_why() {
    capture_server_log();
    let server = TestServer::start().await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("log-guarded", "1.0.0"))
            .await
            .status(),
        200
    );
    let (token, token_id) = user_with_token(&server, "log-mallory").await;
    server
        .assert_publish_rejected(
            CrateFixture::new("log-guarded", "1.0.1").publish_body(),
            &token,
            403,
            "not one of its owners",
        )
        .await;
    let line = logged_once(&["refused", "user.login=\"log-mallory\""]);
    for field in [
        " INFO ",
        "status=403",
        "not one of its owners",
        &format!("token.id={token_id}"),
        "registry=\"main\"",
        "client=\"127.0.0.1\"",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(
        !line.contains(&token[10..]),
        "the token is never logged: {line}"
    );
}

#[tokio::test]
async fn the_bad_token_limit_tripping_is_logged_as_a_warning_once() {
    capture_server_log();
    let server = private_server(2).await;
    let (expired, _) = user_with_token(&server, "log-tripper").await;
    server
        .execute(
            "UPDATE api_tokens SET expires_at = 1000 WHERE user_id = \
             (SELECT id FROM users WHERE login = 'log-tripper')",
        )
        .await;
    let before = server.stored_state().await;
    let path = "registries/main/index/lo/g-/log-tripper";
    let statuses = [401, 401, 429, 429];
    for status in statuses {
        assert_eq!(get(&server, path, Some(&expired)).await.status(), status);
    }
    let lines = logged(&["refused", "user.login=\"log-tripper\""]);
    assert_eq!(
        lines.len(),
        statuses.len(),
        "one line a refusal: {lines:#?}"
    );
    let warnings: Vec<_> = lines.iter().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(
        lines[2].contains(" WARN "),
        "the first 429 trips it: {lines:#?}"
    );
    assert!(lines[2].contains("status=429"), "{}", lines[2]);
    assert!(lines[2].contains("rate limit tripped"), "{}", lines[2]);
    assert!(
        lines[2].contains("too many invalid tokens from this address"),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains(" INFO ") && lines[3].contains("status=429"));
    assert_eq!(server.stored_state().await, before, "nothing was stored");
}

#[tokio::test]
async fn bad_tokens_from_an_address_do_not_lock_its_browsers_out_of_signing_in() {
    let server = private_server(2).await;
    let user = ops::users::NewUser {
        login: "dev".into(),
        password: Some("dev password".into()),
        ..ops::users::NewUser::default()
    };
    ops::users::add(&server.app, user, None).await.unwrap();
    for _ in 0..3 {
        get(
            &server,
            "registries/main/index/config.json",
            Some("cargohold_nope"),
        )
        .await;
    }
    assert_eq!(
        get(
            &server,
            "registries/main/index/config.json",
            Some("cargohold_nope")
        )
        .await
        .status(),
        429
    );
    let localhost = Some(std::net::IpAddr::from([127, 0, 0, 1]));
    let session = ops::sessions::sign_in(&server.app, "dev", "dev password", localhost).await;
    assert!(session.is_ok(), "{:?}", session.err());

    // Wrong passwords have a limit of their own.
    for _ in 0..2 {
        let refused = ops::sessions::sign_in(&server.app, "dev", "guess", localhost).await;
        assert!(matches!(
            refused,
            Err(cargohold::error::AppError::Unauthorized(_))
        ));
    }
    let limited = ops::sessions::sign_in(&server.app, "dev", "guess", localhost).await;
    assert!(
        matches!(
            limited,
            Err(cargohold::error::AppError::TooManyRequests { .. })
        ),
        "{limited:?}"
    );
}
