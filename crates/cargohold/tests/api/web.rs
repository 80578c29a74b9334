//! The web pages over plain HTTP: sessions, CSRF, who may see what, and every
//! form's rejection path (a clear 4xx, nothing stored). The same flows in a real
//! browser are in tests/web.

use cargohold::ops::{self, users::NewUser};
use cargohold_test_support::{CrateFixture, StoredState, TestServer};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

/// A browser without a browser: a client that keeps the two cookies by hand.
pub(crate) struct WebClient<'s> {
    server: &'s TestServer,
    client: reqwest::Client,
    session: Option<String>,
    csrf: String,
}

impl<'s> WebClient<'s> {
    /// A visitor who opened the sign-in page (and so holds a CSRF cookie).
    pub(crate) async fn visit(server: &'s TestServer) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client.get(server.url("login")).send().await.unwrap();
        let csrf = cookie_value(&response, "cargohold_csrf").expect("a CSRF cookie is set");
        Self {
            server,
            client,
            session: None,
            csrf,
        }
    }

    /// A visitor signed in as `login`.
    pub(crate) async fn signed_in(server: &'s TestServer, login: &str, password: &str) -> Self {
        let mut web = Self::visit(server).await;
        let response = web
            .post(
                "login",
                &[("login", login), ("password", password), ("next", "/me")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "signing in redirects"
        );
        web.session = cookie_value(&response, "cargohold_session");
        web.csrf = cookie_value(&response, "cargohold_csrf").expect("a fresh CSRF token");
        assert!(web.session.is_some(), "a session cookie is set");
        web
    }

    fn cookies(&self) -> String {
        let mut cookies = format!("cargohold_csrf={}", self.csrf);
        if let Some(session) = &self.session {
            cookies.push_str(&format!("; cargohold_session={session}"));
        }
        cookies
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.server.url(path))
            .header(COOKIE, self.cookies())
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with this visitor's CSRF token added.
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// Posts exactly `form`, without adding the CSRF token.
    pub(crate) async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.server.url(path))
            .header(COOKIE, self.cookies())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            )
            .send()
            .await
            .unwrap()
    }

    /// Posts `body` as it is, with `content_type` if given (and no other).
    async fn post_body(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: String,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.server.url(path))
            .header(COOKIE, self.cookies());
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        request.body(body).send().await.unwrap()
    }

    /// Follows the answer of a form that changed something as a browser does: it
    /// must be a 303 to `page`, which is then asked for with the notice cookie
    /// the answer set. Returns that page's answer.
    pub(crate) async fn follow(
        &self,
        response: reqwest::Response,
        page: &str,
    ) -> reqwest::Response {
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
        assert_eq!(response.headers()[LOCATION], page);
        let notice = cookie_value(&response, "cargohold_flash").expect("a notice for the page");
        self.client
            .get(self.server.url(page.trim_start_matches('/')))
            .header(
                COOKIE,
                format!("{}; cargohold_flash={notice}", self.cookies()),
            )
            .send()
            .await
            .unwrap()
    }

    /// `fields` and this visitor's CSRF token, encoded as a browser encodes a form.
    fn form_body(&self, fields: &[(&str, &str)]) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &self.csrf)
            .extend_pairs(fields)
            .finish()
    }
}

/// The text of `response` after checking it is the site's error page with `status`.
pub(crate) async fn error_page(
    response: reqwest::Response,
    status: StatusCode,
    what: &str,
) -> String {
    assert_eq!(response.status(), status, "{what}");
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains("<a class=\"brand\" href=\"/\">cargohold</a>"),
        "{what}: {page}"
    );
    let heading = format!(
        "<h1>{} · {}</h1>",
        status.as_u16(),
        status.canonical_reason().unwrap()
    );
    assert!(page.contains(&heading), "{what}: {page}");
    page
}

fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    set_cookie(response, name).and_then(|header| {
        let value = header.split(';').next()?.split_once('=')?.1;
        (!value.is_empty()).then(|| value.to_owned())
    })
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub(crate) async fn add_user(server: &TestServer, login: &str, password: &str, admin: bool) {
    let user = NewUser {
        login: login.into(),
        is_admin: admin,
        password: Some(password.into()),
    };
    ops::users::add(&server.app, user, None).await.unwrap();
}

#[tokio::test]
async fn forms_without_this_browsers_csrf_token_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    let web = WebClient::signed_in(&server, "root", "root password").await;
    let before = server.stored_state().await;
    for (path, fields) in [
        ("me/tokens", vec![("name", "x"), ("scope", "read")]),
        (
            "admin/users",
            vec![("login", "mallory"), ("password", "12345678")],
        ),
        ("admin/teams", vec![("team", "t"), ("action", "create")]),
        (
            "admin/registries/main/permissions",
            vec![("kind", "user"), ("holder", "root"), ("role", "read")],
        ),
        ("logout", vec![]),
    ] {
        for csrf in ["", "forged-token-of-another-site-0123456789"] {
            let mut form = vec![("csrf", csrf)];
            form.extend(fields.iter().copied());
            let response = web.post_raw(path, &form).await;
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{path} with csrf `{csrf}`"
            );
            let page = response.text().await.unwrap();
            assert!(page.contains("reload the page and try again"), "{page}");
        }
    }
    assert_eq!(server.stored_state().await, before);
    // The session survived the forged sign-out.
    assert_eq!(web.get("me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_password_or_a_disabled_account_opens_no_session() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    add_user(&server, "gone", "gone password", false).await;
    ops::users::change(&server.app, "gone", ops::users::UserChange::Disable, None)
        .await
        .unwrap();
    let web = WebClient::visit(&server).await;
    for (login, password) in [
        ("alice", "not her password"),
        ("nobody", "whatever password"),
        ("gone", "gone password"),
        ("bad login!", "x"),
    ] {
        let response = web
            .post("login", &[("login", login), ("password", password)])
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{login}");
        assert!(set_cookie(&response, "cargohold_session").is_none());
        let page = response.text().await.unwrap();
        assert!(page.contains("wrong login or password"), "{page}");
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM web_sessions").await, 0);
}

#[tokio::test]
async fn session_cookies_are_http_only_same_site_and_secure_behind_https() {
    let server = TestServer::start_with(|config| {
        config.public_url = Some("https://crates.example.com/".parse().unwrap());
    })
    .await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::visit(&server).await;
    let response = web
        .post(
            "login",
            &[("login", "alice"), ("password", "alice password")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&response, "cargohold_session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    let csrf = set_cookie(&response, "cargohold_csrf").unwrap();
    assert!(
        csrf.contains("SameSite=Strict") && csrf.contains("HttpOnly"),
        "{csrf}"
    );
    // Only the hash of the session secret is stored.
    let secret = cookie_value(&response, "cargohold_session").unwrap();
    let stored = server.column("SELECT id_hash FROM web_sessions").await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], secret);
}

#[tokio::test]
async fn signing_in_goes_back_only_to_pages_of_this_site_and_signing_out_ends_the_session() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::visit(&server).await;
    for (next, expected) in [
        ("/registries/main", "/registries/main"),
        ("//evil.example/steal", "/me"),
        ("https://evil.example/", "/me"),
        ("/\\evil.example", "/me"),
    ] {
        let response = web
            .post(
                "login",
                &[
                    ("login", "alice"),
                    ("password", "alice password"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(response.headers()[LOCATION], expected, "next = {next}");
    }
    let mut web = WebClient::signed_in(&server, "alice", "alice password").await;
    assert_eq!(web.get("me").await.status(), StatusCode::OK);
    let sessions = server.count("SELECT COUNT(*) FROM web_sessions").await;
    let response = web.post("logout", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM web_sessions").await,
        sessions - 1
    );
    // The old cookie no longer opens /me, even if a browser kept it.
    let response = web.get("me").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login?next=%2Fme");
    web.session = None;
    assert_eq!(web.get("me").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn administration_is_refused_to_users_and_sends_visitors_to_sign_in() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let visitor = WebClient::visit(&server).await;
    let alice = WebClient::signed_in(&server, "alice", "alice password").await;
    let before = server.stored_state().await;
    for path in [
        "admin",
        "admin/users",
        "admin/teams",
        "admin/registries/main",
        "admin/audit",
    ] {
        let response = visitor.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(
            response.headers()[LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/login?next=")
        );
        let response = alice.get(path).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("not an administrator")
        );
    }
    for (path, fields) in [
        ("admin/users", vec![("login", "mallory"), ("admin", "on")]),
        ("admin/users/alice", vec![("change", "make-admin")]),
        ("admin/teams", vec![("team", "t"), ("action", "create")]),
        (
            "admin/registries/main/permissions",
            vec![("kind", "user"), ("holder", "alice"), ("role", "admin")],
        ),
        ("admin/reindex", vec![]),
    ] {
        let response = alice.post(path, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(server.stored_state().await, before);
}

#[tokio::test]
async fn bad_token_requests_on_me_get_a_clear_message_and_store_no_token() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&server, "alice", "alice password").await;
    let before = server.stored_state().await;
    for (fields, message) in [
        (vec![("name", "t"), ("scope", "fly")], "unknown scope `fly`"),
        (vec![("name", "t")], "choose at least one scope"),
        (
            vec![
                ("name", "t"),
                ("scope", "read"),
                ("expires_in_days", "soon"),
            ],
            "is not a number of days",
        ),
        (
            vec![("name", "t"), ("scope", "read"), ("crates", "a b")],
            "crate pattern",
        ),
        (
            vec![("name", "t"), ("scope", "read"), ("registry", "nowhere")],
            "nowhere",
        ),
        // An everyday user cannot mint an administrator's token.
        (
            vec![("name", "t"), ("scope", "admin")],
            "not an administrator",
        ),
    ] {
        let response = web.post("me/tokens", &fields).await;
        let status = response.status();
        let page = response.text().await.unwrap();
        assert!(status.is_client_error(), "{fields:?} gave {status}");
        assert!(
            page.contains(message),
            "{fields:?}: expected “{message}” in {page}"
        );
        assert!(!page.contains("id=\"new-token\""));
    }
    // A password that is too short is refused too.
    let response = web
        .post(
            "me/password",
            &[
                ("current_password", "alice password"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("at least 8 characters")
    );
    assert_eq!(server.stored_state().await, before);
}

#[tokio::test]
async fn a_token_made_on_me_is_shown_once_and_works_with_the_api() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&server, "alice", "alice password").await;
    let response = web
        .post(
            "me/tokens",
            &[
                ("name", "ci"),
                ("scope", "read"),
                ("scope", "publish-new"),
                ("registry", "main"),
                ("crates", "acme-*"),
                ("expires_in_days", "7"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let page = response.text().await.unwrap();
    let token = page
        .split("id=\"new-token\" class=\"copy\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page shows the token")
        .to_owned();
    let me: serde_json::Value = server
        .authed(reqwest::Method::GET, "api/v1/me", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["login"], "alice");
    let listed = server
        .column("SELECT scopes FROM api_tokens WHERE name = 'ci'")
        .await;
    assert_eq!(listed, vec!["read,publish-new".to_owned()]);
    // Shown once: the page listing the tokens never shows a secret again.
    let again = web.get("me").await.text().await.unwrap();
    assert!(!again.contains(&token));
    assert!(again.contains("acme-*"));
}

#[tokio::test]
async fn the_rebuild_button_restores_a_lost_index_file_byte_for_byte() {
    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("restored", "1.0.0"))
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .publish(&CrateFixture::new("restored", "1.1.0"))
            .await
            .status(),
        200
    );
    let (_, original) = server.index_file("restored").await;
    server.execute("DELETE FROM index_files").await;
    server
        .execute("UPDATE crates SET max_version = NULL, search_text = ''")
        .await;
    let web = WebClient::signed_in(&server, "root", "root password").await;
    let response = web.post("admin/reindex", &[]).await;
    let response = web.follow(response, "/admin").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Rebuilt the derived data of 1 crate (1 needed a correction)"),
        "{page}"
    );
    assert_eq!(
        server.column("SELECT max_version FROM crates").await,
        vec!["1.1.0".to_owned()]
    );
    assert_eq!(
        server.column("SELECT content FROM index_files").await,
        vec![original.clone()]
    );
    let (status, served) = server.index_file("restored").await;
    assert_eq!(status, 200);
    assert_eq!(served, original);
    let search = web.get("search?q=restored").await.text().await.unwrap();
    assert!(search.contains("1 crate found"), "{search}");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'reindex'")
            .await,
        1
    );
}

#[tokio::test]
async fn pages_of_a_private_registry_are_not_found_for_visitors_and_name_nothing() {
    let server = TestServer::start_with(|config| {
        let mut secret = cargohold::config::RegistryConfig::local("secret");
        secret.auth_required = true;
        config.registries.push(secret);
    })
    .await;
    let mut fixture = CrateFixture::new("hidden-gem", "1.0.0");
    fixture.description = "a secret description".into();
    assert_eq!(server.publish_to("secret", &fixture).await.status(), 200);
    let visitor = WebClient::visit(&server).await;
    for path in [
        "registries/secret",
        "registries/secret/setup",
        "registries/secret/crates/hidden-gem",
        "registries/secret/crates/no-such-crate",
    ] {
        let response = visitor.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let page = response.text().await.unwrap();
        assert!(
            !page.contains("hidden-gem") && !page.contains("secret description"),
            "{page}"
        );
    }
    for path in [
        "",
        "search?q=hidden",
        "search?q=&registry=secret",
        "keywords/secret",
    ] {
        let page = visitor.get(path).await.text().await.unwrap();
        assert!(
            !page.contains("hidden-gem") && !page.contains("secret description"),
            "{path}: {page}"
        );
    }
}

#[tokio::test]
async fn crate_pages_show_versions_dependencies_features_and_dependents() {
    let server = TestServer::start().await;
    let base = CrateFixture::new("base-lib", "1.0.0").feature("extra", &[]);
    assert_eq!(server.publish(&base).await.status(), 200);
    let app = CrateFixture::new("top-app", "0.3.0").dep("base-lib", "^1");
    assert_eq!(server.publish(&app).await.status(), 200);
    let yanked = CrateFixture::new("base-lib", "1.1.0");
    assert_eq!(server.publish(&yanked).await.status(), 200);
    let response = server
        .authed(
            reqwest::Method::DELETE,
            "registries/main/api/v1/crates/base-lib/1.1.0/yank",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let web = WebClient::visit(&server).await;
    let page = web
        .get("registries/main/crates/base-lib")
        .await
        .text()
        .await
        .unwrap();
    // The newest available version is shown; the yanked one is listed as yanked.
    assert!(page.contains("id=\"crate-version\">1.0.0<"), "{page}");
    assert!(
        page.contains("?version=1.1.0\">1.1.0</a> <span class=\"tag yanked\">yanked</span>"),
        "{page}"
    );
    assert!(page.contains("<code>extra</code>"), "{page}");
    assert!(
        page.contains("href=\"/registries/main/crates/top-app\">top-app</a> 0.3.0"),
        "{page}"
    );
    let page = web
        .get("registries/main/crates/top-app")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<a href=\"/registries/main/crates/base-lib\">base-lib</a>"),
        "{page}"
    );
    assert!(page.contains("<code>^1</code>"), "{page}");
    // A yanked version's own page says so.
    let page = web
        .get("registries/main/crates/base-lib?version=1.1.0")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"yanked\""), "{page}");
    // Unknown versions and crates are plain 404 pages.
    assert_eq!(
        web.get("registries/main/crates/base-lib?version=9.9.9")
            .await
            .status(),
        404
    );
    assert_eq!(web.get("registries/main/crates/nope").await.status(), 404);
}

#[tokio::test]
async fn set_me_up_gives_the_lines_cargo_needs_for_each_kind_of_registry() {
    let server = TestServer::start_with(|config| {
        use cargohold::config::RegistryConfig;
        let mut internal = RegistryConfig::local("internal");
        internal.auth_required = true;
        config.registries = vec![RegistryConfig::local("main"), internal];
        // An upstream nobody answers at: the page must not need it.
        config.registries.push(RegistryConfig::proxy(
            "crates-io",
            "http://127.0.0.1:9/index/".parse().unwrap(),
        ));
        let mut company =
            RegistryConfig::virtual_of("company", &["internal", "crates-io"], Some("internal"));
        company.auth_required = true;
        config.registries.push(company);
    })
    .await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&server, "alice", "alice password").await;
    let page = web
        .get("registries/company/setup")
        .await
        .text()
        .await
        .unwrap();
    let index = server.index_url_of("company");
    for expected in [
        "global-credential-providers = [&#34;cargo:token&#34;]".to_owned(),
        format!("[registries.company]\nindex = &#34;{index}&#34;"),
        "[source.crates-io]\nreplace-with = &#34;company&#34;".to_owned(),
        "cargo login --registry company".to_owned(),
        "cargo publish --registry company".to_owned(),
        "CARGO_REGISTRIES_COMPANY_TOKEN".to_owned(),
    ] {
        assert!(page.contains(&expected), "expected {expected:?} in {page}");
    }
    // A public local registry needs neither the provider nor source replacement.
    let page = web.get("registries/main/setup").await.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "[registries.main]\nindex = &#34;{}&#34;",
            server.index_url()
        )),
        "{page}"
    );
    assert!(
        !page.contains("replace-with") && !page.contains("global-credential-providers"),
        "{page}"
    );
    // A proxy takes no publishes, and its page says where it gets crates.
    let page = web
        .get("registries/crates-io/setup")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("http://127.0.0.1:9/index/"), "{page}");
    assert!(
        !page.contains("cargo publish --registry crates-io"),
        "{page}"
    );
}

#[tokio::test]
async fn the_admin_registry_page_shows_where_the_git_index_stands() {
    let server = TestServer::start_with(|config| {
        config.registries = vec![cargohold::config::RegistryConfig {
            git_index: true,
            ..cargohold::config::RegistryConfig::local("main")
        }];
    })
    .await;
    add_user(&server, "root", "root password", true).await;
    let response = server.publish(&CrateFixture::new("tracked", "1.0.0")).await;
    assert_eq!(response.status(), 200);
    server
        .wait_for_git_commit("main", "Publish tracked 1.0.0")
        .await;
    let web = WebClient::signed_in(&server, "root", "root password").await;
    let page = web.get("admin/registries/main").await.text().await.unwrap();
    let url = server.git_url_of("main");
    assert!(page.contains(&url), "{page}");
    assert!(page.contains("“Publish tracked 1.0.0”"), "{page}");
    assert!(page.contains("holding changes up to #1 of #1"), "{page}");
}

/// Yanks `name@version` of `main` with the administrator's token.
async fn yank(server: &TestServer, name: &str, version: &str) {
    let response = server
        .authed(
            reqwest::Method::DELETE,
            &format!("registries/main/api/v1/crates/{name}/{version}/yank"),
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_dependent_is_listed_once_however_many_ways_it_depends_on_the_crate() {
    let server = TestServer::start().await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("foo-lib", "0.1.1"))
            .await
            .status(),
        200
    );
    let also_as = |mut fixture: CrateFixture, kind: &'static str, req: &str| {
        let mut dep = fixture.deps[0].clone();
        dep.kind = kind;
        dep.req = req.into();
        fixture.deps.push(dep);
        fixture
    };
    // The same requirement as a normal and as a dev dependency.
    let depper = also_as(
        CrateFixture::new("depper", "0.1.0").dep("foo-lib", "^0.1"),
        "dev",
        "^0.1",
    );
    // Two requirements, one per kind.
    let twice = also_as(
        CrateFixture::new("twice", "0.2.0").dep("foo-lib", "^0.1"),
        "build",
        "^0.1.1",
    );
    for fixture in [&depper, &twice] {
        let response = server.publish(fixture).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    let web = WebClient::visit(&server).await;
    let page = web
        .get("registries/main/crates/foo-lib")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches(">depper</a>").count(), 1, "{page}");
    assert!(
        page.contains(
            ">depper</a> 0.1.0 <span class=\"muted\">requires <code>^0.1</code></span></li>"
        ),
        "{page}"
    );
    assert_eq!(page.matches(">twice</a>").count(), 1, "{page}");
    assert!(
        page.contains(
            ">twice</a> 0.2.0 <span class=\"muted\">requires <code>^0.1</code> and <code>^0.1.1</code></span>"
        ),
        "{page}"
    );
}

#[tokio::test]
async fn a_crate_page_counts_one_download_in_the_singular() {
    let server = TestServer::start().await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("once", "1.0.0"))
            .await
            .status(),
        200
    );
    let web = WebClient::visit(&server).await;
    assert_eq!(server.download("once", "1.0.0").await.0, 200);
    server.app.flush_downloads().await.unwrap();
    let page = web
        .get("registries/main/crates/once")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"chart-total\">1 download in that time<"),
        "{page}"
    );
    assert_eq!(server.download("once", "1.0.0").await.0, 200);
    server.app.flush_downloads().await.unwrap();
    let page = web
        .get("registries/main/crates/once")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"chart-total\">2 downloads in that time<"),
        "{page}"
    );
}

#[tokio::test]
async fn a_crate_whose_every_version_is_yanked_offers_no_cargo_add_but_says_why() {
    let server = TestServer::start().await;
    for fixture in [
        CrateFixture::new("gone", "1.0.0"),
        CrateFixture::new("kept", "1.0.0"),
        CrateFixture::new("kept", "1.1.0"),
    ] {
        assert_eq!(server.publish(&fixture).await.status(), 200);
    }
    yank(&server, "gone", "1.0.0").await;
    yank(&server, "kept", "1.1.0").await;

    let web = WebClient::visit(&server).await;
    let page = web
        .get("registries/main/crates/gone")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"all-yanked\">Every version of gone is yanked"),
        "{page}"
    );
    assert!(
        !page.contains("cargo add") && !page.contains("id=\"toml-line\""),
        "{page}"
    );
    // One version left: it is offered as before.
    let page = web
        .get("registries/main/crates/kept")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("all-yanked"), "{page}");
    assert!(
        page.contains("id=\"cargo-add\">cargo add kept@1.0.0 <span class=\"flag\">--registry</span> main</code>"),
        "{page}"
    );
    assert!(
        page.contains(
            "id=\"toml-line\">kept = { version = &#34;1.0.0&#34;, registry = &#34;main&#34; }</code>"
        ),
        "{page}"
    );
}

#[tokio::test]
async fn a_crates_io_proxy_is_used_as_crates_io_without_login_or_registry_key() {
    let server = TestServer::start_with(|config| {
        use cargohold::config::RegistryConfig;
        // Nothing here asks the upstream: the pages are made from the database.
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig::proxy(
                "crates-io-cache",
                "https://index.crates.io/".parse().unwrap(),
            ),
        ];
    })
    .await;
    let fixture = CrateFixture::new("itoa", "1.0.19");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("itoa-1.0.19.crate");
    std::fs::write(&file, fixture.tarball()).unwrap();
    let registry = server.app.registry("crates-io-cache").unwrap().clone();
    let admin = cargohold::auth::Actor::operator(1, "admin", true);
    let report =
        cargohold::ops::import::import(&server.app, &registry, &admin, vec![file], |_, _| {}).await;
    assert_eq!(report.imported, ["itoa@1.0.19"], "{:?}", report.rejected);

    let web = WebClient::visit(&server).await;
    let page = web
        .get("registries/crates-io-cache/setup")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("[source.crates-io]\nreplace-with = &#34;crates-io-cache&#34;"),
        "{page}"
    );
    assert!(
        page.contains("<pre id=\"add-command\"><code>cargo add SOME_CRATE</code></pre>"),
        "{page}"
    );
    for absent in ["cargo login", "--registry", "member", "cargo publish"] {
        assert!(!page.contains(absent), "{absent:?} in {page}");
    }
    let page = web
        .get("registries/crates-io-cache/crates/itoa")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"cargo-add\">cargo add itoa@1.0.19</code>"),
        "{page}"
    );
    assert!(
        page.contains("id=\"toml-line\">itoa = &#34;1.0.19&#34;</code>"),
        "{page}"
    );
    assert!(
        page.contains("href=\"/registries/crates-io-cache/setup\""),
        "{page}"
    );
    assert!(!page.contains("--registry"), "{page}");

    // A local registry is still used by name, with a token to publish.
    let page = web.get("registries/main/setup").await.text().await.unwrap();
    for expected in [
        "cargo login --registry main",
        "cargo add SOME_CRATE --registry main",
        "cargo publish --registry main",
    ] {
        assert!(page.contains(expected), "expected {expected:?} in {page}");
    }
}

#[tokio::test]
async fn a_virtual_registry_links_the_members_its_viewer_may_read_and_no_other() {
    use crate::access::grant;
    use cargohold::access::Role;
    use cargohold::config::RegistryConfig;
    use cargohold::ops::permissions::Grantee;

    let server = TestServer::start_with(|config| {
        let private = |name: &str| RegistryConfig {
            auth_required: true,
            ..RegistryConfig::local(name)
        };
        config.registries = vec![
            private("internal"),
            private("secret-team"),
            RegistryConfig::proxy(
                "crates-io-cache",
                "https://index.crates.io/".parse().unwrap(),
            ),
            RegistryConfig {
                auth_required: true,
                ..RegistryConfig::virtual_of(
                    "all",
                    &["internal", "secret-team", "crates-io-cache"],
                    Some("internal"),
                )
            },
        ];
    })
    .await;
    add_user(&server, "alice", "alice password", false).await;
    add_user(&server, "bob", "bob password", false).await;
    // The first grant closes `secret-team` to everyone else.
    grant(
        &server,
        "secret-team",
        Grantee::User("bob".into()),
        Role::Read,
    )
    .await;

    let alice = WebClient::signed_in(&server, "alice", "alice password").await;
    let page = alice.get("registries/all").await.text().await.unwrap();
    assert!(
        page.contains(
            "<li><a href=\"/registries/internal\">internal</a></li>\
             <li><a href=\"/registries/crates-io-cache\">crates-io-cache</a></li>"
        ),
        "{page}"
    );
    assert!(!page.contains("with 0 crates"), "{page}");
    for path in ["registries/all", "registries/all/setup", ""] {
        let page = alice.get(path).await.text().await.unwrap();
        assert!(!page.contains("secret-team"), "{path}: {page}");
    }
    // Its set-up page: crates.io replaced, so no `--registry` to add a crate; a token
    // to read it and to publish.
    let page = alice
        .get("registries/all/setup")
        .await
        .text()
        .await
        .unwrap();
    for expected in [
        "local member",
        "cargo login --registry all",
        "<pre id=\"add-command\"><code>cargo add SOME_CRATE</code></pre>",
        "<pre id=\"publish-command\"><code>cargo publish --registry all</code></pre>",
    ] {
        assert!(page.contains(expected), "expected {expected:?} in {page}");
    }

    let bob = WebClient::signed_in(&server, "bob", "bob password").await;
    let page = bob.get("registries/all").await.text().await.unwrap();
    assert!(
        page.contains(
            "<li><a href=\"/registries/internal\">internal</a></li>\
             <li><a href=\"/registries/secret-team\">secret-team</a></li>\
             <li><a href=\"/registries/crates-io-cache\">crates-io-cache</a></li>"
        ),
        "{page}"
    );
    // Visitors see nothing of a private virtual registry.
    let visitor = WebClient::visit(&server).await;
    assert_eq!(
        visitor.get("registries/all").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_yanked_versions_page_says_so_and_offers_the_newest_version_cargo_will_add() {
    let server = TestServer::start().await;
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let fixture = CrateFixture::new("kept", version);
        assert_eq!(server.publish(&fixture).await.status(), 200);
    }
    yank(&server, "kept", "1.1.0").await;
    yank(&server, "kept", "1.2.0").await;

    let web = WebClient::visit(&server).await;
    let page = web
        .get("registries/main/crates/kept?version=1.2.0")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(
            "id=\"yanked-notice\">Version 1.2.0 is yanked: cargo will not add it to a project"
        ),
        "{page}"
    );
    assert!(
        page.contains(
            "The newest version cargo will add is <a href=\"/registries/main/crates/kept?version=1.0.0\">1.0.0</a>."
        ),
        "{page}"
    );
    // Nothing on the page adds the yanked version; the lines add 1.0.0.
    assert!(!page.contains("kept@1.2.0"), "{page}");
    assert!(!page.contains("version = &#34;1.2.0&#34;"), "{page}");
    assert!(
        page.contains("id=\"install-instead\">1.2.0 is yanked, so these add 1.0.0"),
        "{page}"
    );
    assert!(
        page.contains("id=\"cargo-add\">cargo add kept@1.0.0 <span class=\"flag\">--registry</span> main</code>"),
        "{page}"
    );
    assert!(
        page.contains(
            "id=\"toml-line\">kept = { version = &#34;1.0.0&#34;, registry = &#34;main&#34; }</code>"
        ),
        "{page}"
    );
    // The version that is not yanked still offers itself, with no yanked notice.
    let page = web
        .get("registries/main/crates/kept?version=1.0.0")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"cargo-add\">cargo add kept@1.0.0 <span class=\"flag\">--registry</span> main</code>"),
        "{page}"
    );
    assert!(
        !page.contains("yanked-notice") && !page.contains("install-instead"),
        "{page}"
    );

    // With every version yanked, a version's page says so and offers nothing.
    yank(&server, "kept", "1.0.0").await;
    let page = web
        .get("registries/main/crates/kept?version=1.1.0")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"yanked-notice\">Version 1.1.0 is yanked"),
        "{page}"
    );
    assert!(
        !page.contains("The newest version cargo will add"),
        "{page}"
    );
    assert!(page.contains("id=\"all-yanked\""), "{page}");
    assert!(
        !page.contains("cargo add") && !page.contains("id=\"toml-line\""),
        "{page}"
    );
}

#[tokio::test]
async fn a_token_without_a_name_is_refused_on_me_and_none_is_stored() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&server, "alice", "alice password").await;
    let before = server.stored_state().await;
    let names_before = server.column("SELECT name FROM api_tokens").await;
    for fields in [
        vec![("name", ""), ("scope", "read")],
        vec![("name", "   "), ("scope", "read")],
        vec![("name", "\t\u{a0}\n"), ("scope", "read")],
        vec![("scope", "read")],
    ] {
        let response = web.post("me/tokens", &fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{fields:?}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("id=\"form-error\">give the token a name"),
            "{fields:?}: {page}"
        );
        // The form is shown again, and no token.
        assert!(page.contains("id=\"create-token\""), "{page}");
        assert!(!page.contains("id=\"new-token\""), "{page}");
        assert!(page.contains("You have no tokens yet."), "{page}");
    }
    assert_eq!(server.stored_state().await, before);
    assert_eq!(
        server.column("SELECT name FROM api_tokens").await,
        names_before
    );
}

#[tokio::test]
async fn a_bad_page_number_or_query_gets_the_sites_error_page_saying_what_is_wrong() {
    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    let web = WebClient::signed_in(&server, "root", "root password").await;
    let before = server.stored_state().await;
    for (path, message) in [
        ("search?q=x&page=abc", "page must be a whole number from 1"),
        ("search?page=-1", "page must be a whole number from 1"),
        (
            "registries/main?page=0",
            "page must be a whole number from 1",
        ),
        (
            "registries/main?page=1.5",
            "page must be a whole number from 1",
        ),
        (
            "keywords/fast?page=99999999999999999999",
            "page must be a whole number from 1",
        ),
        (
            "admin/audit?before=yesterday",
            "before must be a whole number: the id of an audit event",
        ),
        (
            "search?page=1&page=2",
            "the query of this address cannot be read: duplicate field `page`",
        ),
        (
            "registries/main/crates/anything?version=1.0.0&version=2.0.0",
            "the query of this address cannot be read: duplicate field `version`",
        ),
        (
            "login?next=/a&next=/b",
            "the query of this address cannot be read: duplicate field `next`",
        ),
    ] {
        let response = web.get(path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("id=\"error-message\">{message}<")),
            "{path}: {page}"
        );
        // The site's layout, not a bare message.
        assert!(
            page.contains("<a class=\"brand\" href=\"/\">cargohold</a>"),
            "{path}: {page}"
        );
        assert!(
            page.contains("<h1>400 · Bad Request</h1>"),
            "{path}: {page}"
        );
    }
    // Good and absent page numbers still list.
    for path in [
        "search?q=x&page=1",
        "search?page=",
        "registries/main?page=2",
        "keywords/fast",
        "admin/audit?before=",
    ] {
        assert_eq!(web.get(path).await.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(server.stored_state().await, before);
}

#[tokio::test]
async fn session_cookies_and_csrf_tokens_do_not_look_like_api_tokens_and_signing_in_works() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let visitor = WebClient::visit(&server).await;
    assert!(!visitor.csrf.starts_with("cargohold_"), "{}", visitor.csrf);

    let web = WebClient::signed_in(&server, "alice", "alice password").await;
    let session = web.session.clone().unwrap();
    assert!(!session.starts_with("cargohold_"), "{session}");
    assert!(!web.csrf.starts_with("cargohold_"), "{}", web.csrf);
    let page = web.get("me").await.text().await.unwrap();
    let in_page: Vec<&str> = page
        .split("name=\"csrf\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(!in_page.is_empty(), "{page}");
    for csrf in &in_page {
        assert_eq!(*csrf, web.csrf);
    }
    assert!(!page.contains("cargohold_"), "{page}");

    // A form sent with that token does what it says.
    let response = web
        .post("me/tokens", &[("name", "laptop"), ("scope", "read")])
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        server
            .column("SELECT name FROM api_tokens WHERE name = 'laptop'")
            .await,
        vec!["laptop".to_owned()]
    );
    // A session opened when session secrets still carried the prefix signs its browser in.
    let old_secret = cargohold::auth::generate_token();
    let alice = server
        .count("SELECT id FROM users WHERE login = 'alice'")
        .await;
    let now = cargohold::clock::now();
    cargohold::db::sessions::insert(
        server.app.db.write(),
        &cargohold::auth::hash_token(&old_secret),
        alice,
        now,
        now + 3600,
    )
    .await
    .unwrap();
    let mut earlier = WebClient::visit(&server).await;
    earlier.session = Some(old_secret);
    assert_eq!(earlier.get("me").await.status(), StatusCode::OK);
    // Signing out ends the session the new cookie stands for.
    let sessions = server.count("SELECT COUNT(*) FROM web_sessions").await;
    assert_eq!(
        web.post("logout", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM web_sessions").await,
        sessions - 1
    );
    assert_eq!(web.get("me").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_form_missing_a_field_gets_the_sites_error_page_naming_the_field_and_changes_nothing() {
    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    let visitor = WebClient::visit(&server).await;
    let root = WebClient::signed_in(&server, "root", "root password").await;
    let before = server.stored_state().await;
    let sessions = server.count("SELECT COUNT(*) FROM web_sessions").await;
    let again = "; reload the page and send it again<";
    for (web, path, fields, message) in [
        (
            &visitor,
            "login",
            vec![("login", "root")],
            "the form is missing the field `password`",
        ),
        (
            &visitor,
            "login",
            vec![
                ("login", "root"),
                ("login", "mallory"),
                ("password", "root password"),
            ],
            "the form has the field `login` more than once",
        ),
        (
            &root,
            "admin/teams",
            vec![("team", "release")],
            "the form is missing the field `action`",
        ),
        (
            &root,
            "admin/users",
            vec![("password", "12345678"), ("admin", "on")],
            "the form is missing the field `login`",
        ),
        (
            &root,
            "admin/registries/main/permissions",
            vec![("kind", "user"), ("holder", "root")],
            "the form is missing the field `role`",
        ),
        (
            &root,
            "me/password",
            vec![("current_password", "root password")],
            "the form is missing the field `password`",
        ),
    ] {
        let what = format!("{path} {fields:?}");
        let page = error_page(
            web.post(path, &fields).await,
            StatusCode::BAD_REQUEST,
            &what,
        )
        .await;
        assert!(
            page.contains(&format!("id=\"error-message\">{message}{again}")),
            "{what}: {page}"
        );
    }
    // A form without its CSRF field is refused as one with a forged token is.
    for (web, path, fields) in [
        (
            &visitor,
            "login",
            vec![("login", "root"), ("password", "root password")],
        ),
        (
            &root,
            "me/tokens",
            vec![("name", "laptop"), ("scope", "read")],
        ),
        (
            &root,
            "admin/teams",
            vec![("team", "t"), ("action", "create")],
        ),
    ] {
        let what = format!("{path} {fields:?} without csrf");
        let page = error_page(
            web.post_raw(path, &fields).await,
            StatusCode::FORBIDDEN,
            &what,
        )
        .await;
        assert!(
            page.contains("reload the page and try again"),
            "{what}: {page}"
        );
    }
    assert_eq!(server.stored_state().await, before);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM web_sessions").await,
        sessions,
        "no session was opened"
    );
    // The same forms, whole, still do what they say.
    let response = visitor
        .post("login", &[("login", "root"), ("password", "root password")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(cookie_value(&response, "cargohold_session").is_some());
    let response = root
        .post("admin/teams", &[("team", "release"), ("action", "create")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.stored_state().await.teams, before.teams + 1);
}

#[tokio::test]
async fn a_form_not_sent_as_a_form_gets_the_sites_415_error_page_and_changes_nothing() {
    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    let visitor = WebClient::visit(&server).await;
    let root = WebClient::signed_in(&server, "root", "root password").await;
    let before = server.stored_state().await;
    let sessions = server.count("SELECT COUNT(*) FROM web_sessions").await;
    let token_form = root.form_body(&[("name", "laptop"), ("scope", "read")]);
    let login_form = visitor.form_body(&[("login", "root"), ("password", "root password")]);
    let user_form = root.form_body(&[("login", "mallory"), ("password", "12345678")]);
    let login_json = format!(
        r#"{{"csrf":"{}","login":"root","password":"root password"}}"#,
        visitor.csrf
    );
    let web_form = "not as a web form (`application/x-www-form-urlencoded`); \
                    reload the page and send it again<";
    for (web, path, content_type, body, sent) in [
        (
            &root,
            "me/tokens",
            Some("text/plain"),
            token_form.clone(),
            "this form was sent as `text/plain`, ",
        ),
        (
            &root,
            "me/tokens",
            None,
            token_form.clone(),
            "this form was sent without a content type, ",
        ),
        (
            &visitor,
            "login",
            Some("application/json"),
            login_json,
            "this form was sent as `application/json`, ",
        ),
        (
            &visitor,
            "login",
            Some("multipart/form-data; boundary=x"),
            login_form,
            "this form was sent as `multipart/form-data`, ",
        ),
        (
            &root,
            "admin/users",
            Some("text/plain;charset=UTF-8"),
            user_form,
            "this form was sent as `text/plain`, ",
        ),
    ] {
        let what = format!("{path} as {content_type:?}");
        let response = web.post_body(path, content_type, body).await;
        assert!(
            cookie_value(&response, "cargohold_session").is_none(),
            "{what}"
        );
        let page = error_page(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, &what).await;
        assert!(
            page.contains(&format!("id=\"error-message\">{sent}{web_form}")),
            "{what}: {page}"
        );
    }
    assert_eq!(server.stored_state().await, before);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM api_tokens").await,
        before.tokens
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM web_sessions").await,
        sessions,
        "no session was opened"
    );
    // The same form sent as browsers send it makes the token.
    let response = root
        .post_body(
            "me/tokens",
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            token_form,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        server
            .column("SELECT name FROM api_tokens WHERE name = 'laptop'")
            .await,
        vec!["laptop".to_owned()]
    );
}

#[tokio::test]
async fn the_audit_page_offers_every_recorded_action_to_filter_on_and_keeps_the_one_chosen() {
    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    server.publish(&CrateFixture::new("audited", "1.0.0")).await;
    let root = WebClient::signed_in(&server, "root", "root password").await;

    let response = root.get("admin/audit?action=publish").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    for action in cargohold::ops::audit::ACTIONS {
        assert!(page.contains(&format!(">{action}</option>")), "{action}");
    }
    assert!(page.contains("<option selected>publish</option>"), "{page}");
    assert!(!page.contains("<option selected>yank</option>"));
    let table = &page[page.find("id=\"audit\"").expect("the events table")..];
    assert!(table.contains("audited"), "{table}");
    assert!(!table.contains("user_add"), "{table}");
    // Details read as words, not as JSON.
    assert!(
        table.contains("checksum: ") && table.contains("size: "),
        "{table}"
    );
    assert!(!table.contains("{&#34;"), "{table}");

    // "any" shows every event again.
    let page = root.get("admin/audit?action=").await.text().await.unwrap();
    assert!(!page.contains("<option selected>"), "{page}");
    assert!(page.contains("user_add"));
}

/// The secret a page shows for a token just made, if it shows one.
fn new_token_in(page: &str) -> Option<String> {
    page.split("id=\"new-token\" class=\"copy\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
}

/// The `cargo login` line a new token's page gives, if it gives one.
fn login_lines_in(page: &str) -> Option<String> {
    page.split("<pre id=\"login-command\"><code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .map(str::to_owned)
}

/// The environment variable a new token's page names for CI, if it names one.
fn ci_variable_in(page: &str) -> Option<String> {
    page.split("<code id=\"ci-variable\">")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .map(str::to_owned)
}

/// Makes a token named `name` on /me for `registries` (none: every one) and
/// returns the page that shows it.
async fn token_page(web: &WebClient<'_>, name: &str, registries: &[&str]) -> String {
    let mut fields = vec![("name", name), ("scope", "read"), ("scope", "publish-new")];
    fields.extend(registries.iter().map(|registry| ("registry", *registry)));
    let response = web.post("me/tokens", &fields).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{name}");
    let page = response.text().await.unwrap();
    assert!(new_token_in(&page).is_some(), "{name}: {page}");
    assert!(!page.contains("NAME"), "{name}: {page}");
    page
}

#[tokio::test]
async fn a_new_tokens_page_names_the_registry_to_log_cargo_in_to() {
    let server = TestServer::start_with(|config| {
        use cargohold::config::RegistryConfig;
        let mut internal = RegistryConfig::local("internal");
        internal.auth_required = true;
        config.registries = vec![
            RegistryConfig::local("main"),
            internal,
            RegistryConfig::local("platform-tools"),
        ];
        // Public and read-only: cargo never sends it a token.
        config.registries.push(RegistryConfig::proxy(
            "crates-io",
            "http://127.0.0.1:9/index/".parse().unwrap(),
        ));
        let mut company =
            RegistryConfig::virtual_of("company", &["internal", "crates-io"], Some("internal"));
        company.auth_required = true;
        config.registries.push(company);
    })
    .await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&server, "alice", "alice password").await;

    let page = token_page(&web, "one", &["internal"]).await;
    assert_eq!(
        login_lines_in(&page).as_deref(),
        Some("cargo login --registry internal"),
        "{page}"
    );
    assert_eq!(
        ci_variable_in(&page).as_deref(),
        Some("CARGO_REGISTRIES_INTERNAL_TOKEN"),
        "{page}"
    );
    // A virtual registry in place of crates.io is logged in to by its name, as
    // its set-up page says.
    let page = token_page(&web, "through-company", &["company"]).await;
    assert_eq!(
        login_lines_in(&page).as_deref(),
        Some("cargo login --registry company"),
        "{page}"
    );
    let setup = web
        .get("registries/company/setup")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        setup.contains("<pre id=\"login-command\"><code>cargo login --registry company</code>"),
        "{setup}"
    );
    // For every registry: the one line for the registry setup leads with, the
    // virtual one, and CI's variable for it; not one line per registry.
    let page = token_page(&web, "everywhere", &[]).await;
    assert_eq!(
        login_lines_in(&page).as_deref(),
        Some("cargo login --registry company"),
        "{page}"
    );
    assert_eq!(
        ci_variable_in(&page).as_deref(),
        Some("CARGO_REGISTRIES_COMPANY_TOKEN"),
        "{page}"
    );
    assert!(!page.contains("--registry internal"), "{page}");
    assert!(!page.contains("--registry main"), "{page}");
    let page = token_page(&web, "two-locals", &["main", "internal"]).await;
    assert_eq!(
        login_lines_in(&page).as_deref(),
        Some("cargo login --registry main"),
        "{page}"
    );
    // The variable's name is the registry's, upper-cased, `-` as `_`, as cargo wants it.
    let page = token_page(&web, "tools", &["platform-tools"]).await;
    assert_eq!(
        ci_variable_in(&page).as_deref(),
        Some("CARGO_REGISTRIES_PLATFORM_TOOLS_TOKEN"),
        "{page}"
    );
    // Cargo wants no token for the public cache: no line to run, no variable.
    let page = token_page(&web, "cache-only", &["crates-io"]).await;
    assert_eq!(login_lines_in(&page), None, "{page}");
    assert_eq!(ci_variable_in(&page), None, "{page}");
    assert!(page.contains("it is shown only this once."), "{page}");

    // With only one registry, a token for every registry is for that one.
    let single = TestServer::start().await;
    add_user(&single, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&single, "alice", "alice password").await;
    let page = token_page(&web, "laptop", &[]).await;
    assert_eq!(
        login_lines_in(&page).as_deref(),
        Some("cargo login --registry main"),
        "{page}"
    );
}

/// The text of the cell of class `class` in the row of token `name` on /me.
fn token_cell(page: &str, name: &str, class: &str) -> String {
    let row = page
        .split(&format!(" data-token-name=\"{name}\">"))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row for {name} in {page}"));
    row.split(&format!("<td class=\"{class}\""))
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split("</td>").next())
        .unwrap_or_else(|| panic!("no {class} cell in {row}"))
        .to_owned()
}

#[tokio::test]
async fn me_shows_when_a_token_was_created_last_used_and_expires_to_the_minute() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&server, "alice", "alice password").await;
    let page = token_page(&web, "laptop", &[]).await;
    let token = new_token_in(&page).unwrap();
    let page = web.get("me").await.text().await.unwrap();
    assert_eq!(token_cell(&page, "laptop", "last-used"), "never");

    // Used by the API a moment ago: the page says when, to the minute.
    let minute = |unix: i64| {
        let at = cargohold_protocol::index::format_pubtime(unix);
        format!("{} {} UTC", &at[..10], &at[11..16])
    };
    let before = cargohold::clock::now();
    let response = server
        .authed(reqwest::Method::GET, "api/v1/me", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let after = cargohold::clock::now();
    let page = web.get("me").await.text().await.unwrap();
    let last_used = token_cell(&page, "laptop", "last-used");
    assert!(
        [minute(before), minute(after)].contains(&last_used),
        "{last_used}"
    );

    // Each time as date, hour and minute in UTC.
    server
        .execute(
            "UPDATE api_tokens SET created_at = 1790000000, last_used_at = 1790003600, \
             expires_at = 4102444800",
        )
        .await;
    let page = web.get("me").await.text().await.unwrap();
    assert_eq!(
        token_cell(&page, "laptop", "created"),
        "2026-09-21 14:13 UTC"
    );
    assert_eq!(
        token_cell(&page, "laptop", "last-used"),
        "2026-09-21 15:13 UTC"
    );
    assert_eq!(
        token_cell(&page, "laptop", "expires"),
        "2100-01-01 00:00 UTC"
    );
}

/// Whether `page` has the header of signed-in `login`, with its sign-out button.
fn signed_in_header(page: &str, login: &str) -> bool {
    page.contains(&format!("<span id=\"nav-user\">{login}</span></a>"))
        && page.contains("<a href=\"/me\" id=\"nav-me\"")
        && page.contains("id=\"nav-logout\"")
        && !page.contains("id=\"nav-login\"")
}

#[tokio::test]
async fn error_pages_show_the_signed_in_header_to_a_signed_in_user() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let visitor = WebClient::visit(&server).await;
    let alice = WebClient::signed_in(&server, "alice", "alice password").await;
    let before = server.stored_state().await;

    // A form from before signing in again (its CSRF token is out of date).
    let response = alice
        .post_raw(
            "me/tokens",
            &[
                ("csrf", "an-out-of-date-token-0123456789abcdef"),
                ("name", "laptop"),
                ("scope", "read"),
            ],
        )
        .await;
    let page = error_page(response, StatusCode::FORBIDDEN, "stale form").await;
    assert!(page.contains("reload the page and try again"), "{page}");
    assert!(signed_in_header(&page, "alice"), "{page}");
    // Its sign-out button carries this browser's token, so it works.
    assert!(
        page.contains(&format!("name=\"csrf\" value=\"{}\"", alice.csrf)),
        "{page}"
    );
    // A page that is not there, one refused, a form the page cannot read.
    for (response, status, what) in [
        (
            alice.get("registries/main/crates/nope").await,
            StatusCode::NOT_FOUND,
            "missing crate",
        ),
        (
            alice.get("registries/nowhere/me").await,
            StatusCode::NOT_FOUND,
            "cargo login's page of a missing registry",
        ),
        (
            alice.get("admin").await,
            StatusCode::FORBIDDEN,
            "admin page",
        ),
        (
            alice.post("me/password", &[]).await,
            StatusCode::BAD_REQUEST,
            "form without its field",
        ),
        (
            alice.get("search?page=0").await,
            StatusCode::BAD_REQUEST,
            "bad query",
        ),
    ] {
        let page = error_page(response, status, what).await;
        assert!(signed_in_header(&page, "alice"), "{what}: {page}");
    }
    // A browser that lost its CSRF cookie gets one with the page, matching the
    // page's sign-out form.
    let response = alice
        .client
        .get(server.url("registries/main/crates/nope"))
        .header(
            COOKIE,
            format!("cargohold_session={}", alice.session.as_deref().unwrap()),
        )
        .send()
        .await
        .unwrap();
    let csrf = cookie_value(&response, "cargohold_csrf").expect("a CSRF cookie");
    let page = error_page(response, StatusCode::NOT_FOUND, "without a CSRF cookie").await;
    assert!(signed_in_header(&page, "alice"), "{page}");
    assert!(
        page.contains(&format!("name=\"csrf\" value=\"{csrf}\"")),
        "{page}"
    );
    let mut fresh = WebClient::visit(&server).await;
    fresh.session = alice.session.clone();
    fresh.csrf = csrf;
    assert_eq!(
        fresh.post("logout", &[]).await.status(),
        StatusCode::SEE_OTHER
    );

    // Visitors, and a session that is over, still get the visitor's header.
    let page = error_page(
        visitor.get("registries/main/crates/nope").await,
        StatusCode::NOT_FOUND,
        "visitor",
    )
    .await;
    assert!(page.contains("id=\"nav-login\">Sign in"), "{page}");
    assert!(!page.contains("nav-me"), "{page}");
    let page = error_page(
        alice.get("registries/main/crates/nope").await,
        StatusCode::NOT_FOUND,
        "signed out",
    )
    .await;
    assert!(page.contains("id=\"nav-login\">Sign in"), "{page}");
    assert_eq!(
        server.stored_state().await.tokens,
        before.tokens,
        "the stale form made no token"
    );
}

#[tokio::test]
async fn forms_that_change_something_go_back_to_their_page_which_shows_the_notice_once() {
    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    let root = WebClient::signed_in(&server, "root", "root password").await;
    let created = token_page(&root, "old-laptop", &[]).await;
    assert!(new_token_in(&created).is_some());
    let token_id = server
        .count("SELECT id FROM api_tokens WHERE name = 'old-laptop'")
        .await;
    let revoke = format!("me/tokens/{token_id}/revoke");
    for (path, fields, page, notice) in [
        (
            revoke.as_str(),
            vec![],
            "/me",
            "The token “old-laptop” is revoked.",
        ),
        (
            "me/password",
            vec![
                ("current_password", "root password"),
                ("password", "a new password"),
            ],
            "/me",
            "Your password is changed.",
        ),
        (
            "admin/users",
            vec![("login", "bob"), ("password", "bob password")],
            "/admin/users",
            "Created the user bob.",
        ),
        (
            "admin/users/bob",
            vec![("change", "make-admin")],
            "/admin/users",
            "bob: done (make-admin).",
        ),
        (
            "admin/teams",
            vec![("team", "release"), ("action", "create")],
            "/admin/teams",
            "Created the team release.",
        ),
        (
            "admin/teams",
            vec![("team", "release"), ("action", "add"), ("logins", "bob")],
            "/admin/teams",
            "release: added bob.",
        ),
        (
            "admin/registries/main/permissions",
            vec![("kind", "user"), ("holder", "bob"), ("role", "read")],
            "/admin/registries/main",
            "user `bob` now holds `read` in main. Note: this is the first grant of `main`: users \
             without a grant can no longer publish there, nor yank or change the owners of their \
             crates (its index stays public).",
        ),
        (
            "admin/reindex",
            vec![],
            "/admin",
            "Rebuilt the derived data of 0 crates (0 needed a correction).",
        ),
    ] {
        let what = format!("{path} {fields:?}");
        let response = root.post(path, &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what}");
        // The notice waits a minute at most, for this site's pages only.
        let flash = set_cookie(&response, "cargohold_flash").expect("a notice cookie");
        for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=60", "Path=/"] {
            assert!(flash.contains(attribute), "{what}: {flash}");
        }
        let changed = server.stored_state().await;
        let shown = root.follow(response, page).await;
        assert_eq!(shown.status(), StatusCode::OK, "{what}");
        // Shown, then forgotten.
        let gone = set_cookie(&shown, "cargohold_flash").expect("the notice cookie is dropped");
        assert!(gone.contains("Max-Age=0"), "{what}: {gone}");
        let text = shown.text().await.unwrap();
        assert!(
            text.contains(&format!("id=\"notice\">{notice}<")),
            "{what}: {text}"
        );
        // Reloading the page it went to sends nothing again and says nothing again.
        let again = root.get(page.trim_start_matches('/')).await;
        assert_eq!(again.status(), StatusCode::OK, "{what}");
        assert!(
            !again.text().await.unwrap().contains("id=\"notice\""),
            "{what}"
        );
        assert_eq!(server.stored_state().await, changed, "{what}");
    }
    assert_eq!(
        server
            .column("SELECT login FROM users WHERE login = 'bob' AND is_admin")
            .await,
        vec!["bob".to_owned()]
    );
    // A notice for one page is not shown on another.
    let response = root
        .post("admin/teams", &[("team", "ops"), ("action", "create")])
        .await;
    let notice = cookie_value(&response, "cargohold_flash").unwrap();
    let other = root
        .client
        .get(server.url("admin/users"))
        .header(
            COOKIE,
            format!("{}; cargohold_flash={notice}", root.cookies()),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!other.contains("id=\"notice\""), "{other}");
    // A refused form changed nothing: the page again, with the reason and its status.
    let response = root
        .post("admin/teams", &[("team", "release"), ("action", "create")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(set_cookie(&response, "cargohold_flash").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("id=\"form-error\">")
    );
}

#[tokio::test]
async fn a_new_token_is_shown_in_its_own_answer_only_and_sending_the_form_again_makes_no_second() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&server, "alice", "alice password").await;
    let form = [("name", "laptop"), ("scope", "read")];
    let response = web.post("me/tokens", &form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // Neither in an address nor in a cookie, and kept by no cache.
    assert!(response.headers().get(LOCATION).is_none());
    assert!(response.headers().get(SET_COOKIE).is_none());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.unwrap();
    let token = new_token_in(&page).expect("the page shows the token");
    assert!(token.starts_with("cargohold_"), "{token}");

    // A reload sends the form again: refused, and the token is not shown again.
    let before = server.stored_state().await;
    let response = web.post("me/tokens", &form).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(
            "id=\"form-error\">you already have a token named “laptop”, so no other was made"
        ),
        "{page}"
    );
    assert!(new_token_in(&page).is_none(), "{page}");
    assert!(!page.contains(&token), "{page}");
    assert_eq!(server.stored_state().await, before);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM api_tokens WHERE name = 'laptop'")
            .await,
        1
    );
    // Once that token is revoked, the name may be used again.
    let id = server
        .count("SELECT id FROM api_tokens WHERE name = 'laptop'")
        .await;
    let response = web.post(&format!("me/tokens/{id}/revoke"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        web.post("me/tokens", &form).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_start_page_says_what_this_instance_offers() {
    use crate::access::grant;
    use cargohold::access::Role;
    use cargohold::config::RegistryConfig;
    use cargohold::ops::permissions::Grantee;

    let crates_io = || {
        RegistryConfig::proxy(
            "crates-io-cache",
            "https://index.crates.io/".parse().unwrap(),
        )
    };
    let only_local = TestServer::start().await;
    let with_cache = TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig::local("main"), crates_io()];
    })
    .await;
    let behind_one_url = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            crates_io(),
            RegistryConfig::virtual_of("all", &["main", "crates-io-cache"], Some("main")),
        ];
    })
    .await;
    let only_cache = TestServer::start_with(|config| {
        config.registries = vec![crates_io()];
    })
    .await;
    let list = " Search above, or start with a registry below.";
    for (server, tagline) in [
        (&only_local, "Private crates for your team."),
        (&with_cache, "Private crates and a crates.io cache."),
        (
            &behind_one_url,
            "Private crates and a crates.io cache behind one URL.",
        ),
        (&only_cache, "A crates.io cache for your team."),
    ] {
        let page = WebClient::visit(server).await.get("").await;
        assert_eq!(page.status(), StatusCode::OK);
        let page = page.text().await.unwrap();
        assert!(
            page.contains(&format!("<p id=\"tagline\">{tagline}{list}</p>")),
            "expected “{tagline}” in {page}"
        );
    }

    // Only a private registry, open to carol alone: nothing to list for others.
    let private = TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig {
            auth_required: true,
            ..RegistryConfig::local("secret")
        }];
    })
    .await;
    add_user(&private, "bob", "bob password", false).await;
    private.create_user("carol").await;
    grant(
        &private,
        "secret",
        Grantee::User("carol".into()),
        Role::Read,
    )
    .await;
    let visitor = WebClient::visit(&private).await;
    let page = visitor.get("").await.text().await.unwrap();
    assert!(
        page.contains("<p id=\"tagline\">Sign in to see the registries here.</p>"),
        "{page}"
    );
    let bob = WebClient::signed_in(&private, "bob", "bob password").await;
    let page = bob.get("").await.text().await.unwrap();
    assert!(
        page.contains(
            "<p id=\"tagline\">No registry here is open to you yet: \
             an administrator can grant you access.</p>"
        ),
        "{page}"
    );
}

#[tokio::test]
async fn an_address_nothing_answers_gets_the_sites_404_page() {
    let server = TestServer::start().await;
    let response = server.get("no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains("there is no page at /no/such/page") && page.contains("cargohold"),
        "{page}"
    );
    // The APIs keep their own answers.
    assert!(
        server.get("api/v1/nothing").await.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn an_administrator_sees_a_users_tokens_and_revokes_one_which_then_fails_against_the_api() {
    use cargohold::auth::Scope;
    use cargohold::ops::tokens::TokenRequest;
    use reqwest::Method;

    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    add_user(&server, "alice", "alice password", false).await;
    add_user(&server, "bob", "bob password", false).await;
    let laptop = server
        .create_token(
            "alice",
            TokenRequest {
                name: "laptop".into(),
                scopes: vec![Scope::Read, Scope::PublishUpdate],
                crate_patterns: vec!["acme-*".into()],
                registries: vec!["main".into()],
                expires_in_days: Some(30),
            },
        )
        .await;
    let spare = server
        .create_token(
            "alice",
            TokenRequest {
                name: "spare".into(),
                ..TokenRequest::default()
            },
        )
        .await;
    let bobs = server
        .create_token(
            "bob",
            TokenRequest {
                name: "bobs-token".into(),
                ..TokenRequest::default()
            },
        )
        .await;
    let api_me = |token: String| server.authed(Method::GET, "api/v1/me", &token).send();
    assert_eq!(api_me(laptop.clone()).await.unwrap().status(), 200);
    let laptop_id = server
        .count("SELECT id FROM api_tokens WHERE name = 'laptop'")
        .await;
    let bobs_id = server
        .count("SELECT id FROM api_tokens WHERE name = 'bobs-token'")
        .await;
    let root = WebClient::signed_in(&server, "root", "root password").await;
    let alice = WebClient::signed_in(&server, "alice", "alice password").await;

    // The users list links each user's tokens.
    let users = root.get("admin/users").await.text().await.unwrap();
    assert!(
        users.contains("href=\"/admin/users/alice/tokens\""),
        "{users}"
    );

    // The page lists what each token may do, and never a secret or a hash.
    let response = root.get("admin/users/alice/tokens").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    for shown in [
        "<h1>Tokens of alice</h1>",
        "data-token-name=\"laptop\"",
        "data-token-name=\"spare\"",
        "read, publish-update",
        "acme-*",
        &format!("/admin/users/alice/tokens/{laptop_id}/revoke"),
    ] {
        assert!(page.contains(shown), "{shown} in {page}");
    }
    let hashes = server.column("SELECT token_hash FROM api_tokens").await;
    for secret in [&laptop, &spare, &bobs].into_iter().chain(&hashes) {
        assert!(
            !page.contains(secret.as_str()),
            "a secret or hash in {page}"
        );
    }
    assert!(!page.contains("bobs-token"), "{page}");

    // Refused, changing nothing: a user who is no administrator, a visitor, a
    // form without this browser's CSRF token, another user's token, an id that
    // is no token's, and a user who does not exist.
    let before = server.stored_state().await;
    let revoke = format!("admin/users/alice/tokens/{laptop_id}/revoke");
    let response = alice.get("admin/users/alice/tokens").await;
    let refusal = error_page(response, StatusCode::FORBIDDEN, "a user's GET").await;
    assert!(refusal.contains("not an administrator"), "{refusal}");
    let response = alice.post(&revoke, &[]).await;
    let refusal = error_page(response, StatusCode::FORBIDDEN, "a user's POST").await;
    assert!(refusal.contains("not an administrator"), "{refusal}");
    let visitor = WebClient::visit(&server).await;
    let response = visitor.get("admin/users/alice/tokens").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/login?next=%2Fadmin%2Fusers%2Falice%2Ftokens"
    );
    assert_eq!(
        visitor.post(&revoke, &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        root.post_raw(&revoke, &[("csrf", "forged")]).await.status(),
        StatusCode::FORBIDDEN
    );
    for (path, message) in [
        (
            format!("admin/users/alice/tokens/{bobs_id}/revoke"),
            format!("`alice` has no token with id {bobs_id}"),
        ),
        (
            "admin/users/alice/tokens/99999/revoke".to_owned(),
            "`alice` has no token with id 99999".to_owned(),
        ),
        (
            "admin/users/alice/tokens/latest/revoke".to_owned(),
            "`alice` has no token with id latest".to_owned(),
        ),
    ] {
        let response = root.post(&path, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("id=\"form-error\">{message}")),
            "{path}: {page}"
        );
    }
    let response = root.get("admin/users/nobody/tokens").await;
    let missing = error_page(response, StatusCode::NOT_FOUND, "unknown user").await;
    assert!(missing.contains("there is no user `nobody`"), "{missing}");
    let response = root.post("admin/users/nobody/tokens/1/revoke", &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(server.stored_state().await, before);
    assert_eq!(api_me(laptop.clone()).await.unwrap().status(), 200);
    assert_eq!(api_me(bobs.clone()).await.unwrap().status(), 200);

    // Revoked: back to the page, which says so and offers no second revocation.
    let response = root.post(&revoke, &[]).await;
    let response = root.follow(response, "/admin/users/alice/tokens").await;
    let page = response.text().await.unwrap();
    assert!(
        page.contains("id=\"notice\">The token “laptop” of alice is revoked."),
        "{page}"
    );
    assert!(!page.contains(&revoke), "{page}");
    let revoked_row = page
        .split("data-token-name=\"laptop\"")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap();
    assert!(
        revoked_row.contains("<td class=\"state\" data-label=\"State\">revoked</td>"),
        "{revoked_row}"
    );
    // The token no longer opens the API; the others still do.
    assert_eq!(api_me(laptop).await.unwrap().status(), 401);
    assert_eq!(api_me(spare).await.unwrap().status(), 200);
    assert_eq!(api_me(bobs).await.unwrap().status(), 200);
    let events = ops::audit::list(
        &server.app,
        cargohold::db::audit::AuditFilter {
            action: Some("token_revoke".into()),
            limit: 10,
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].actor.as_deref(), Some("root"));
    assert!(events[0].detail.contains("laptop"), "{events:?}");
    assert_eq!(
        server.stored_state().await.revoked_tokens,
        before.revoked_tokens + 1
    );
}

/// Whether `login` can sign in with `password` (a 303 to the next page).
async fn signs_in(server: &TestServer, login: &str, password: &str) -> bool {
    let web = WebClient::visit(server).await;
    let response = web
        .post(
            "login",
            &[("login", login), ("password", password), ("next", "/me")],
        )
        .await;
    response.status() == StatusCode::SEE_OTHER
}

#[tokio::test]
async fn changing_ones_password_on_me_needs_the_current_one_and_a_wrong_one_changes_nothing() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let alice = WebClient::signed_in(&server, "alice", "alice password").await;
    // The same account signed in on another browser (or by whoever stole the password).
    let elsewhere = WebClient::signed_in(&server, "alice", "alice password").await;
    let changes = "SELECT COUNT(*) FROM audit_events WHERE action = 'user_password_set'";
    let before = server.stored_state().await;

    // A session alone (say, a browser left signed in) is not enough.
    for fields in [
        vec![
            ("current_password", "a wrong guess"),
            ("password", "taken over!"),
        ],
        vec![("current_password", ""), ("password", "taken over!")],
    ] {
        let response = alice.post("me/password", &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{fields:?}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(
                "id=\"form-error\">the current password is not right, \
                 so your password is unchanged<"
            ),
            "{page}"
        );
        // The page is /me again, signed in, with its forms.
        assert!(signed_in_header(&page, "alice"), "{page}");
        assert!(page.contains("id=\"current-password\""), "{page}");
    }
    // Without the field at all: the site's error page names it.
    let page = error_page(
        alice
            .post("me/password", &[("password", "taken over!")])
            .await,
        StatusCode::BAD_REQUEST,
        "no current password",
    )
    .await;
    assert!(page.contains("`current_password`"), "{page}");
    // Nothing changed but the audit log, which has each wrong guess (the
    // missing field was no guess) against the account, never the password.
    let guesses = "SELECT detail FROM audit_events WHERE action = 'sign_in_failed'";
    assert_eq!(
        server.column(guesses).await,
        vec![r#"{"login":"alice","reason":"wrong current password"}"#; 2]
    );
    assert_eq!(
        server.stored_state().await,
        StoredState {
            audit_events: before.audit_events + 2,
            ..before
        }
    );
    assert_eq!(server.count(changes).await, 0);
    assert!(signs_in(&server, "alice", "alice password").await);
    assert!(!signs_in(&server, "alice", "taken over!").await);

    // With it, the password changes, once, audited as before.
    let page = alice
        .follow(
            alice
                .post(
                    "me/password",
                    &[
                        ("current_password", "alice password"),
                        ("password", "a better password"),
                    ],
                )
                .await,
            "/me",
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your password is changed."), "{page}");
    assert_eq!(server.count(changes).await, 1);
    // The browser that changed it stays signed in; every other one is signed out.
    let still_in = alice.get("me").await.text().await.unwrap();
    assert!(signed_in_header(&still_in, "alice"), "{still_in}");
    let other = elsewhere.get("me").await;
    assert!(
        other.status().is_redirection() || !signed_in_header(&other.text().await.unwrap(), "alice"),
        "the other browser is signed out"
    );
    assert!(signs_in(&server, "alice", "a better password").await);
    assert!(!signs_in(&server, "alice", "alice password").await);

    // An administrator (here the operator, as `cargohold user password` does)
    // still sets someone's password without knowing the old one.
    ops::sessions::set_password(&server.app, "alice", "reset by root".into(), None, None)
        .await
        .unwrap();
    let after_reset = alice.get("me").await;
    assert!(
        after_reset.status().is_redirection()
            || !signed_in_header(&after_reset.text().await.unwrap(), "alice"),
        "a reset signs the account out everywhere"
    );
    assert!(signs_in(&server, "alice", "reset by root").await);
    assert_eq!(server.count(changes).await, 2);
}

/// The HTML of the element with `id` on `page`, up to its closing `</section>`.
fn section<'p>(page: &'p str, id: &str) -> Option<&'p str> {
    page.split(&format!(" id=\"{id}\">"))
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
}

#[tokio::test]
async fn the_start_page_leads_with_the_teams_crates_and_shows_cached_ones_apart() {
    use cargohold::config::RegistryConfig;
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig::proxy("cache", "http://127.0.0.1:9/index/".parse().unwrap()),
            RegistryConfig::virtual_of("all", &["main", "cache"], Some("main")),
        ];
    })
    .await;
    for (name, version) in [
        ("team-core", "1.0.0"),
        ("team-log", "0.1.0"),
        ("team-core", "1.1.0"),
    ] {
        let published = server
            .publish_to("main", &CrateFixture::new(name, version))
            .await;
        assert_eq!(published.status(), 200, "{name} {version}");
    }
    // Then one `cargo fetch` through the cache: many crates, all newer than the team's.
    server
        .execute(
            "INSERT INTO crates (registry_id, name, canonical_name, max_version, created_at, updated_at) \
             SELECT r.id, 'upstream-' || n.i, 'upstream_' || n.i, '1.0.0', 4000000000 + n.i, 4000000000 + n.i \
             FROM registries r, (SELECT 1 AS i UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 \
               UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9 UNION SELECT 10) n \
             WHERE r.name = 'cache'",
        )
        .await;

    let page = WebClient::visit(&server).await.get("").await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let link = |name: &str| format!("href=\"/registries/main/crates/{name}\"");
    let new = section(&page, "new-crates").expect("a list of new crates");
    assert!(new.contains(&link("team-core")), "{new}");
    assert!(new.contains(&link("team-log")), "{new}");
    assert!(
        !new.contains("upstream-"),
        "cached crates are no team's new crates: {new}"
    );
    // Only what got a version after its first: not the new list again.
    let updated = section(&page, "updated-crates").expect("a list of updated crates");
    assert!(updated.contains(&link("team-core")), "{updated}");
    assert!(!updated.contains("team-log"), "{updated}");
    assert!(!updated.contains("upstream-"), "{updated}");
    assert_ne!(new, updated);
    // The cache's crates are shown apart, newest first, with a way to all of them.
    let cached = section(&page, "cached-crates").expect("the cached crates, apart");
    assert!(
        cached.contains("href=\"/registries/cache/crates/upstream-10\""),
        "{cached}"
    );
    assert!(
        cached.contains("<a href=\"/registries/cache\">cache</a>, which holds 10 crates in all"),
        "{cached}"
    );
    assert!(!cached.contains("team-"), "{cached}");
    let first = |id: &str| page.find(&format!(" id=\"{id}\">")).unwrap();
    assert!(first("new-crates") < first("cached-crates"), "{page}");

    // Before any second version: the list says so instead of repeating the first.
    let fresh = TestServer::start().await;
    let published = fresh
        .publish_to("main", &CrateFixture::new("only-once", "1.0.0"))
        .await;
    assert_eq!(published.status(), 200);
    let page = WebClient::visit(&fresh)
        .await
        .get("")
        .await
        .text()
        .await
        .unwrap();
    let updated = section(&page, "updated-crates").unwrap();
    assert!(
        updated.contains("No crate has a second version yet."),
        "{updated}"
    );
    assert!(section(&page, "new-crates").unwrap().contains("only-once"));
    assert!(section(&page, "cached-crates").is_none(), "{page}");
}

#[tokio::test]
async fn the_header_tells_the_signed_in_account_from_the_administration_link() {
    let server = TestServer::start().await;
    add_user(&server, "root", "root password", true).await;
    add_user(&server, "alice", "alice password", false).await;
    let root = WebClient::signed_in(&server, "root", "root password").await;
    let page = root.get("").await.text().await.unwrap();
    let header = page.split("</header>").next().unwrap();
    // The login is the account's link, said as such; administration is named in full.
    assert!(
        header.contains(
            "<a href=\"/me\" id=\"nav-me\" class=\"account\" title=\"Your account: tokens and password\">\
             <span class=\"label\">Account</span> <span id=\"nav-user\">root</span></a>"
        ),
        "{header}"
    );
    assert!(
        header.contains("<a href=\"/admin\" id=\"nav-admin\">Administration</a>"),
        "{header}"
    );
    assert!(!header.contains(">Admin<"), "{header}");
    let alice = WebClient::signed_in(&server, "alice", "alice password").await;
    let header = alice.get("").await.text().await.unwrap();
    let header = header.split("</header>").next().unwrap();
    assert!(signed_in_header(header, "alice"), "{header}");
    assert!(!header.contains("nav-admin"), "{header}");
}
