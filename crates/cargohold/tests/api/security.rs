//! Hostile input on every route: traversal and odd encodings in each path
//! parameter get a 4xx, read nothing outside the data directory and change
//! nothing; no request steers a proxy to another upstream; pages carry
//! security headers.
//!
//! Requests are written on the socket by hand: an HTTP client would normalise
//! `..`, `%2e%2e` and backslashes away before they reached the server.

use std::collections::HashMap;
use std::path::Path;

use cargohold::config::RegistryConfig;
use cargohold::ops::{self, users::NewUser};
use cargohold_test_support::{CrateFixture, TestServer};

use crate::fake_upstream::{FakeUpstream, Reply, left_pad, left_pad_upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// An answer read off the wire, headers and body as sent.
struct Answer {
    status: u16,
    /// The status line and header lines, as sent.
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends `method target` exactly as given (no normalisation, no escaping), with
/// `headers` and `body`, and reads the whole answer.
async fn send_raw(
    addr: &std::net::SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut response),
    )
    .await;
    assert!(read.is_ok(), "no answer within 30 s to {method} {target}");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP answer to {method} {target}: {:?}",
                String::from_utf8_lossy(&response)
            )
        });
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Answer {
        status,
        head,
        body: response[split + 4..].to_vec(),
    }
}

fn percent_encode_all(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02x}")).collect()
}

/// Secrets planted where a traversal would find them: next to the data
/// directory, inside it, and inside the git index's directory.
struct Planted {
    secrets: Vec<String>,
    /// The absolute path of the one next to the data directory.
    outside: std::path::PathBuf,
}

fn plant_secrets(data_dir: &Path) -> Planted {
    let name = data_dir.file_name().unwrap().to_string_lossy().into_owned();
    let outside = data_dir.with_file_name(format!("{name}-secret.txt"));
    let mut secrets = Vec::new();
    for (path, secret) in [
        (outside.clone(), "SECRET-NEXT-TO-THE-DATA-DIR"),
        (data_dir.join("secret.txt"), "SECRET-IN-THE-DATA-DIR"),
        (data_dir.join("git/secret.txt"), "SECRET-IN-THE-GIT-DIR"),
    ] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, secret).unwrap();
        secrets.push(secret.to_owned());
    }
    Planted { secrets, outside }
}

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.outside);
    }
}

/// Hostile spellings of one path segment (or, for the `{*path}` routes, of the rest of the path).
fn hostile_values(planted: &Planted) -> Vec<String> {
    let absolute = planted.outside.to_string_lossy().into_owned();
    let mut values: Vec<String> = [
        "",
        ".",
        "..",
        "%2e",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%2e.",
        "..%2f..%2fsecret.txt",
        "..%2F..%2F..%2Fsecret.txt",
        "%2e%2e%2f%2e%2e%2fsecret.txt",
        "../secret.txt",
        "../../secret.txt",
        "../../../secret.txt",
        "..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "%252e%252e",
        "%252e%252e%252fsecret.txt",
        "..%252f..%252fsecret.txt",
        "%2f",
        "%2fetc%2fpasswd",
        "+",
        "%2b",
        "present+",
        "present+1",
        "1.0.0+",
        "%00",
        "a%00b",
        "present%00",
        "1.0.0%00",
        "%0a",
        "present%0d%0aset-cookie:%20x=1",
        "%5c",
        "..%5c..%5csecret.txt",
        "..\\..\\secret.txt",
        "%c0%ae%c0%ae",
        "%c0%af",
        "%ef%bc%8e%ef%bc%8e",
        "%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.txt",
        "%e2%80%a4%e2%80%a4",
        "pr%d0%b5sent",
        "present%e2%80%8b",
        "%ff",
        "%",
        "%zz",
        "~",
        "*",
        "present%3a",
        "%3f",
        "%23",
    ]
    .iter()
    .map(|v| v.to_string())
    .collect();
    values.push("a".repeat(5000));
    values.push(format!("aa/aa/{}", "a".repeat(100)));
    values.push(percent_encode_all(&absolute));
    values.push(format!("..%2f..%2f{}", percent_encode_all(&absolute)));
    values.push(format!(
        "..%2f{}",
        percent_encode_all(&Path::new(&absolute).file_name().unwrap().to_string_lossy())
    ));
    values.push(format!(
        "../{}",
        Path::new(&absolute).file_name().unwrap().to_string_lossy()
    ));
    values
}

/// What a request sends besides its target.
#[derive(Clone, Copy)]
enum Send {
    /// No credentials.
    Bare,
    /// The administrator's token in `Authorization`.
    Token,
    /// The administrator's token and a JSON body.
    Json(&'static str),
    /// A publish body.
    Publish,
    /// A `.crate` file.
    Crate,
    /// The signed-in administrator's cookies and a form with the CSRF token.
    Form(&'static str),
}

/// Every route with a path parameter, once per parameter: `{}` marks where the hostile value goes.
const ROUTES: &[(&str, &str, Send)] = &[
    // cargo's web API
    ("PUT", "/registries/{}/api/v1/crates/new", Send::Publish),
    (
        "DELETE",
        "/registries/{}/api/v1/crates/present/1.0.0/yank",
        Send::Token,
    ),
    (
        "DELETE",
        "/registries/main/api/v1/crates/{}/1.0.0/yank",
        Send::Token,
    ),
    (
        "DELETE",
        "/registries/main/api/v1/crates/present/{}/yank",
        Send::Token,
    ),
    (
        "PUT",
        "/registries/{}/api/v1/crates/yanked/1.0.0/unyank",
        Send::Token,
    ),
    (
        "PUT",
        "/registries/main/api/v1/crates/{}/1.0.0/unyank",
        Send::Token,
    ),
    (
        "PUT",
        "/registries/main/api/v1/crates/yanked/{}/unyank",
        Send::Token,
    ),
    (
        "GET",
        "/registries/{}/api/v1/crates/present/owners",
        Send::Token,
    ),
    (
        "GET",
        "/registries/main/api/v1/crates/{}/owners",
        Send::Token,
    ),
    (
        "PUT",
        "/registries/{}/api/v1/crates/present/owners",
        Send::Json(r#"{"users":["someone"]}"#),
    ),
    (
        "PUT",
        "/registries/main/api/v1/crates/{}/owners",
        Send::Json(r#"{"users":["someone"]}"#),
    ),
    (
        "DELETE",
        "/registries/main/api/v1/crates/{}/owners",
        Send::Json(r#"{"users":["admin"]}"#),
    ),
    ("GET", "/registries/{}/api/v1/crates?q=present", Send::Token),
    ("GET", "/registries/main/api/{}", Send::Token),
    ("GET", "/registries/main/api/v1/{}", Send::Token),
    // uploads and downloads
    (
        "PUT",
        "/registries/{}/crates/fresh/fresh-1.0.0.crate",
        Send::Crate,
    ),
    (
        "PUT",
        "/registries/main/crates/{}/{}-1.0.0.crate",
        Send::Crate,
    ),
    ("PUT", "/registries/main/crates/fresh/{}", Send::Crate),
    (
        "PUT",
        "/registries/main/crates/fresh/fresh-{}.crate",
        Send::Crate,
    ),
    (
        "GET",
        "/registries/{}/crates/present/present-1.0.0.crate",
        Send::Bare,
    ),
    (
        "GET",
        "/registries/main/crates/{}/present-1.0.0.crate",
        Send::Bare,
    ),
    (
        "GET",
        "/registries/main/crates/{}/{}-1.0.0.crate",
        Send::Bare,
    ),
    ("GET", "/registries/main/crates/present/{}", Send::Bare),
    (
        "GET",
        "/registries/main/crates/present/present-{}.crate",
        Send::Bare,
    ),
    ("HEAD", "/registries/main/crates/present/{}", Send::Bare),
    // the sparse index
    ("GET", "/registries/{}/index/config.json", Send::Bare),
    ("GET", "/registries/{}/index/pr/es/present", Send::Bare),
    ("GET", "/registries/main/index/{}", Send::Bare),
    ("GET", "/registries/main/index/pr/es/{}", Send::Bare),
    ("GET", "/registries/main/index/{}/present", Send::Bare),
    ("HEAD", "/registries/main/index/{}", Send::Bare),
    // the git index
    (
        "GET",
        "/registries/{}/git/info/refs?service=git-upload-pack",
        Send::Bare,
    ),
    ("GET", "/registries/main/git/{}", Send::Bare),
    ("GET", "/registries/main/git/info/{}", Send::Bare),
    ("GET", "/registries/main/git/objects/{}", Send::Bare),
    ("GET", "/registries/main/git/{}/HEAD", Send::Bare),
    ("POST", "/registries/main/git/{}", Send::Bare),
    // the instance API
    ("DELETE", "/api/v1/me/tokens/{}", Send::Token),
    (
        "PATCH",
        "/api/v1/admin/users/{}",
        Send::Json(r#"{"disabled":true}"#),
    ),
    (
        "PUT",
        "/api/v1/admin/teams/{}/members",
        Send::Json(r#"{"users":["someone"]}"#),
    ),
    (
        "DELETE",
        "/api/v1/admin/teams/{}/members",
        Send::Json(r#"{"users":["admin"]}"#),
    ),
    (
        "GET",
        "/api/v1/admin/registries/{}/permissions",
        Send::Token,
    ),
    (
        "PUT",
        "/api/v1/admin/registries/{}/permissions",
        Send::Json(r#"{"user":"someone","role":"admin"}"#),
    ),
    (
        "DELETE",
        "/api/v1/admin/registries/{}/permissions",
        Send::Json(r#"{"user":"admin"}"#),
    ),
    ("GET", "/api/v1/registries/{}/cache", Send::Token),
    ("GET", "/api/{}", Send::Token),
    // the pages
    ("GET", "/registries/{}", Send::Bare),
    ("GET", "/registries/{}/setup", Send::Bare),
    ("GET", "/registries/{}/crates/present", Send::Bare),
    ("GET", "/registries/main/crates/{}", Send::Bare),
    ("GET", "/registries/{}/me", Send::Bare),
    ("GET", "/keywords/{}", Send::Bare),
    ("POST", "/me/tokens/{}/revoke", Send::Form("")),
    ("POST", "/admin/users/{}", Send::Form("change=disable")),
    ("GET", "/admin/registries/{}", Send::Form("")),
    (
        "POST",
        "/admin/registries/{}/permissions",
        Send::Form("kind=user&holder=someone&role=admin"),
    ),
    // static files and anything else
    ("GET", "/static/{}", Send::Bare),
    ("GET", "/static/{}/style.css", Send::Bare),
    ("GET", "/{}", Send::Bare),
];

/// A signed-in administrator's cookies and CSRF token.
async fn admin_session(server: &TestServer) -> (String, String) {
    ops::sessions::set_password(
        &server.app,
        "admin",
        "a long admin passphrase".into(),
        None,
        None,
    )
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(server.url("login")).send().await.unwrap();
    let csrf = cookie(&page, "cargohold_csrf").unwrap();
    let response = client
        .post(server.url("login"))
        .header("cookie", format!("cargohold_csrf={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={csrf}&login=admin&password=a+long+admin+passphrase"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "the administrator signs in");
    let session = cookie(&response, "cargohold_session").unwrap();
    let csrf = cookie(&response, "cargohold_csrf").unwrap();
    (
        format!("cargohold_session={session}; cargohold_csrf={csrf}"),
        csrf,
    )
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}="))?.split(';').next())
        .map(str::to_owned)
}

/// A server whose `main` keeps a git index, with a published crate `present`,
/// a yanked crate `yanked`, a user `someone` and a team `crew`.
async fn populated_server() -> TestServer {
    let server = TestServer::start_with(|config| {
        let mut main = RegistryConfig::local("main");
        main.git_index = true;
        config.registries = vec![main, RegistryConfig::local("other")];
    })
    .await;
    for fixture in [
        CrateFixture::new("present", "1.0.0"),
        CrateFixture::new("yanked", "1.0.0"),
    ] {
        assert_eq!(server.publish(&fixture).await.status(), 200);
    }
    let yank = server
        .authed(
            reqwest::Method::DELETE,
            "registries/main/api/v1/crates/yanked/1.0.0/yank",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(yank.status(), 200);
    let user = NewUser {
        login: "someone".into(),
        ..NewUser::default()
    };
    ops::users::add(&server.app, user, None).await.unwrap();
    ops::teams::create(&server.app, "crew", None).await.unwrap();
    // The git index catches up (in one commit or several).
    for _ in 0..200 {
        let output = tokio::process::Command::new("git")
            .arg("--git-dir")
            .arg(server.git_dir("main"))
            .args(["show", "HEAD:ya/nk/yanked"])
            .output()
            .await
            .unwrap();
        if String::from_utf8_lossy(&output.stdout).contains("\"yanked\":true") {
            return server;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the git index never showed the yank");
}

#[tokio::test]
async fn hostile_path_parameters_on_every_route_are_client_errors_that_read_and_change_nothing() {
    let server = populated_server().await;
    let planted = plant_secrets(server.data_dir());
    let (cookies, csrf) = admin_session(&server).await;
    let addr = server.address();
    let token = server.admin_token.clone();
    let publish_body = CrateFixture::new("fresh", "1.0.0").publish_body();
    let tarball = CrateFixture::new("fresh", "1.0.0").tarball();
    let git_head_before = server.git_subjects("main").await;
    let before = server.stored_state().await;

    let mut failures = Vec::new();
    let mut sent = 0;
    for value in hostile_values(&planted) {
        for &(method, template, send) in ROUTES {
            let target = template.replace("{}", &value);
            if target == "/" {
                continue;
            }
            let (headers, body): (Vec<(&str, String)>, Vec<u8>) = match send {
                Send::Bare => (vec![], vec![]),
                Send::Token => (vec![("Authorization", token.clone())], vec![]),
                Send::Json(json) => (
                    vec![
                        ("Authorization", token.clone()),
                        ("Content-Type", "application/json".into()),
                    ],
                    json.as_bytes().to_vec(),
                ),
                Send::Publish => (vec![("Authorization", token.clone())], publish_body.clone()),
                Send::Crate => (vec![("Authorization", token.clone())], tarball.clone()),
                Send::Form(fields) => {
                    let mut form = format!("csrf={csrf}");
                    if !fields.is_empty() {
                        form.push('&');
                        form.push_str(fields);
                    }
                    (
                        vec![
                            ("Cookie", cookies.clone()),
                            ("Content-Type", "application/x-www-form-urlencoded".into()),
                        ],
                        form.into_bytes(),
                    )
                }
            };
            let answer = send_raw(&addr, method, &target, &headers, &body).await;
            sent += 1;
            let text = String::from_utf8_lossy(&answer.body);
            let shown = |why: &str| {
                format!(
                    "{method} {}: {why}: {} {}",
                    target.chars().take(150).collect::<String>(),
                    answer.status,
                    text.chars().take(300).collect::<String>()
                )
            };
            // A keyword is a search: a keyword nobody uses lists no crate.
            let empty_search = template.starts_with("/keywords/")
                && answer.status == 200
                && text.contains("No crate you may see has this keyword");
            if !(400..500).contains(&answer.status) && !empty_search {
                failures.push(shown("not a client error"));
            }
            let whole = [answer.head.as_bytes(), &answer.body].concat();
            let whole = String::from_utf8_lossy(&whole);
            for secret in &planted.secrets {
                if whole.contains(secret.as_str()) {
                    failures.push(shown("served a file outside what it may serve"));
                }
            }
            if whole.contains("SQLite format 3") || whole.contains("root:x:0:0") {
                failures.push(shown("served a file outside what it may serve"));
            }
            if answer.head.to_lowercase().contains("set-cookie: x=1") {
                failures.push(shown("let a header be injected"));
            }
        }
    }
    assert!(sent > 1000, "only {sent} requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {sent} hostile requests were mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        server.stored_state().await,
        before,
        "a hostile request changed what is stored"
    );
    // The git index moved on to no new commit either.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(server.git_subjects("main").await, git_head_before);
    // And the server still serves what it should.
    assert_eq!(server.download("present", "1.0.0").await.0, 200);
}

#[tokio::test]
async fn the_next_page_after_signing_in_stays_on_this_site() {
    let server = TestServer::start().await;
    ops::sessions::set_password(
        &server.app,
        "admin",
        "a long admin passphrase".into(),
        None,
        None,
    )
    .await
    .unwrap();
    let addr = server.address();
    let csrf = "c".repeat(40);
    let before = server.stored_state().await;
    for next in [
        "%2f%09%2fevil.example",
        "%2f%0a%2fevil.example",
        "%2f%0d%0aSet-Cookie:%20x=1",
        "%2f%5cevil.example",
        "%2f%2fevil.example",
        "https:%2f%2fevil.example",
        "%2fcaf%c3%a9",
    ] {
        let form = format!("csrf={csrf}&login=admin&password=a+long+admin+passphrase&next={next}");
        let headers = [
            ("Cookie", format!("cargohold_csrf={csrf}")),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ];
        let answer = send_raw(&addr, "POST", "/login", &headers, form.as_bytes()).await;
        assert_eq!(answer.status, 303, "next={next}");
        assert_eq!(answer.header("location"), Some("/me"), "next={next}");
        let session = answer
            .head
            .lines()
            .find_map(|l| {
                l.strip_prefix("set-cookie: cargohold_session=")
                    .or_else(|| l.strip_prefix("Set-Cookie: cargohold_session="))
            })
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned();
        // Already signed in, `GET /login?next=…` redirects at once: the same rule.
        let cookies = [(
            "Cookie",
            format!("cargohold_session={session}; cargohold_csrf={csrf}"),
        )];
        let answer = send_raw(&addr, "GET", &format!("/login?next={next}"), &cookies, b"").await;
        assert_eq!(answer.status, 303, "next={next}");
        assert_eq!(answer.header("location"), Some("/me"), "next={next}");
    }
    let mut after = server.stored_state().await;
    after.audit_events = before.audit_events;
    assert_eq!(after, before);
}

/// A server with a proxy `upstream` of `index` (sending `token`) and a virtual `all` over it.
async fn proxy_of(index: Url, token: &str) -> TestServer {
    let mut proxy = RegistryConfig::proxy("upstream", index);
    proxy.upstream_token = Some(token.to_owned());
    TestServer::start_with(move |config| {
        config.registries = vec![
            RegistryConfig::local("internal"),
            proxy,
            RegistryConfig::virtual_of("all", &["internal", "upstream"], Some("internal")),
        ];
    })
    .await
}

#[tokio::test]
async fn no_request_parameter_or_header_steers_a_proxy_to_another_url() {
    let (index, tarball) = left_pad().await;
    let evil = FakeUpstream::start(|_| HashMap::new()).await;
    let upstream =
        FakeUpstream::start(|addr| left_pad_upstream(addr, &index, Reply::Body(tarball.clone())))
            .await;
    let token = "upstream-token-for-the-proxy-only";
    let server = proxy_of(upstream.index_url(), token).await;
    let planted = plant_secrets(server.data_dir());
    let addr = server.address();
    let evil_addr = evil.addr.clone();
    let steering = [
        ("X-Forwarded-Host", evil_addr.clone()),
        ("X-Forwarded-Proto", "https".to_owned()),
        ("X-Forwarded-Prefix", "/evil".to_owned()),
        ("X-Forwarded-Server", evil_addr.clone()),
        ("X-Forwarded-For", "10.0.0.1".to_owned()),
        ("Forwarded", format!("host={evil_addr};proto=https")),
        ("X-Original-URL", format!("http://{evil_addr}/index/")),
        ("X-Rewrite-URL", "/evil".to_owned()),
        ("X-Host", evil_addr.clone()),
    ];

    // Ordinary requests with every steering header: served from the configured upstream.
    for registry in ["upstream", "all"] {
        for target in [
            format!("/registries/{registry}/index/le/ft/left-pad"),
            format!("http://{evil_addr}/registries/{registry}/index/le/ft/left-pad"),
        ] {
            let answer = send_raw(&addr, "GET", &target, &steering, b"").await;
            assert_eq!(answer.status, 200, "{target}");
            assert_eq!(answer.body, index, "{target}");
        }
        let target = format!("/registries/{registry}/crates/left-pad/left-pad-1.0.0.crate");
        let answer = send_raw(&addr, "GET", &target, &steering, b"").await;
        assert_eq!(answer.status, 200, "{target}");
    }

    // Hostile names, versions and paths, plus ones that spell out another host.
    let mut values = hostile_values(&planted);
    let encoded_evil = percent_encode_all(&evil_addr);
    values.extend([
        format!("@{evil_addr}"),
        format!("left-pad@{evil_addr}"),
        format!("%40{encoded_evil}"),
        format!("%2f%2f{encoded_evil}%2f"),
        format!("http:%2f%2f{encoded_evil}%2f"),
        format!("http://{evil_addr}/"),
        "..%2f..%2f..%2f..%2fevil".to_owned(),
        "1.0.0%2f..%2f..%2f..%2fevil".to_owned(),
        "1.0.0%3fx=1".to_owned(),
        "1.0.0%23x".to_owned(),
        "1.0.0+build.1".to_owned(),
        "left-pad%2f..%2f..%2fevil".to_owned(),
    ]);
    let templates = [
        "/registries/{r}/index/{}",
        "/registries/{r}/index/le/ft/{}",
        "/registries/{r}/index/le/{}/left-pad",
        "/registries/{r}/crates/{}/{}-1.0.0.crate",
        "/registries/{r}/crates/{}/left-pad-1.0.0.crate",
        "/registries/{r}/crates/left-pad/left-pad-{}.crate",
        "/registries/{r}/crates/left-pad/{}",
    ];
    let mut failures = Vec::new();
    for registry in ["upstream", "all"] {
        for template in templates {
            for value in &values {
                let target = template.replace("{r}", registry).replace("{}", value);
                let answer = send_raw(&addr, "GET", &target, &steering, b"").await;
                if !(400..500).contains(&answer.status) {
                    failures.push(format!(
                        "GET {}: {}",
                        target.chars().take(150).collect::<String>(),
                        answer.status
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    assert!(evil.heard().is_empty(), "{:?}", evil.heard());
    let heard = upstream.heard();
    assert!(!heard.is_empty());
    for request in &heard {
        assert!(
            [
                "/index/config.json",
                "/index/le/ft/left-pad",
                "/dl/left-pad/1.0.0/download"
            ]
            .contains(&request.target.as_str()),
            "the proxy asked its upstream for {request:?}"
        );
        assert_eq!(request.host, upstream.addr, "{request:?}");
        assert_eq!(request.authorization.as_deref(), Some(token), "{request:?}");
    }
}

#[tokio::test]
async fn an_upstream_line_for_another_name_is_not_followed_and_the_token_stays_on_the_upstream() {
    let (index, tarball) = left_pad().await;
    let elsewhere = FakeUpstream::start(|_| {
        HashMap::from([("/left-pad.crate".to_owned(), Reply::Body(tarball.clone()))])
    })
    .await;
    let elsewhere_addr = elsewhere.addr.clone();
    let line = String::from_utf8(index.clone()).unwrap();
    let upstream = FakeUpstream::start(|addr| {
        // Downloads move to another host, as object stores do.
        let download = Reply::Redirect(format!("http://{elsewhere_addr}/left-pad.crate"));
        let mut routes = left_pad_upstream(addr, &index, download);
        routes.extend([
            // Index files whose lines name another crate, or none a URL may hold.
            (
                "/index/sn/ea/sneaky".to_owned(),
                Reply::Body(
                    line.replace("\"name\":\"left-pad\"", "\"name\":\"../../../../evil\"")
                        .into_bytes(),
                ),
            ),
            (
                "/index/ot/he/other".to_owned(),
                Reply::Body(line.clone().into_bytes()),
            ),
            (
                "/index/ch/ec/checked".to_owned(),
                Reply::Body(
                    line.replace("\"name\":\"left-pad\"", "\"name\":\"checked\"")
                        .replace("\"cksum\":\"", "\"cksum\":\"../../evil?")
                        .into_bytes(),
                ),
            ),
        ]);
        routes
    })
    .await;
    let token = "upstream-token-for-the-proxy-only";
    let server = proxy_of(upstream.index_url(), token).await;

    let (status, bytes) = server.download_from("upstream", "left-pad", "1.0.0").await;
    assert_eq!((status, bytes), (200, tarball));
    let moved = elsewhere.heard();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        moved[0].authorization, None,
        "the upstream token went to another host"
    );

    for name in ["sneaky", "other", "checked"] {
        let (status, _) = server.download_from("upstream", name, "1.0.0").await;
        assert_eq!(status, 502, "{name}");
    }
    for request in upstream.heard() {
        assert!(
            request.target.starts_with("/index/")
                || request.target == "/dl/left-pad/1.0.0/download",
            "the proxy followed an upstream line to {request:?}"
        );
    }
    assert_eq!(elsewhere.heard().len(), 1);
}

#[tokio::test]
async fn pages_and_api_answers_carry_security_headers_and_pages_need_nothing_inline() {
    let server = populated_server().await;
    let mut readme = CrateFixture::new("illustrated", "1.0.0");
    readme.extra_entries.push(cargohold_test_support::TarEntry::file(
        "illustrated-1.0.0/README.md",
        "# Illustrated\n\n![badge](https://img.example/badge.svg) <b style=\"color:red\">bold</b>\n",
    ));
    readme.manifest = Some(readme.manifest_text().replace(
        "license = \"MIT\"",
        "license = \"MIT\"\nreadme = \"README.md\"",
    ));
    let uploaded = server.upload(&readme, &server.admin_token).await;
    assert_eq!(uploaded.status(), 201);
    let (cookies, _) = admin_session(&server).await;
    let addr = server.address();
    let stylesheet = cargohold::web::stylesheet_path();
    let script = cargohold::web::script_path();
    // The one script a page may load: the copy buttons', from this origin.
    let script_tag = format!("<script src=\"{script}\" defer></script>");
    let pages = [
        "/",
        "/search?q=present",
        "/keywords/none",
        "/registries/main",
        "/registries/main/setup",
        "/registries/main/crates/present",
        "/registries/main/crates/illustrated",
        "/registries/main/crates/missing",
        "/login",
        "/me",
        "/admin",
        "/admin/users",
        "/admin/teams",
        "/admin/registries",
        "/admin/registries/main",
        "/admin/audit",
        "/registries/main/me",
        stylesheet,
        script,
    ];
    for page in pages {
        let answer = send_raw(&addr, "GET", page, &[("Cookie", cookies.clone())], b"").await;
        assert!(answer.status < 500, "{page}: {}", answer.status);
        let csp = answer.header("content-security-policy").unwrap_or_default();
        assert_eq!(csp, cargohold::web::headers::PAGE_CSP, "{page}");
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{page}"
        );
        assert_eq!(
            answer.header("referrer-policy"),
            Some("same-origin"),
            "{page}"
        );
        assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{page}");
        // The policy allows no inline script and no inline style: the pages must need
        // none. The copy buttons' script file is the one script a page loads.
        let html = String::from_utf8_lossy(&answer.body)
            .to_lowercase()
            .replacen(&script_tag.to_lowercase(), "", 1);
        for inline in [
            "<script",
            "<style",
            " style=",
            "javascript:",
            " onclick=",
            " onload=",
        ] {
            assert!(!html.contains(inline), "{page} has {inline}: {html}");
        }
    }
    // The README's image is kept (the policy allows it), its inline style is not.
    let crate_page = server.get("registries/main/crates/illustrated").await;
    let html = crate_page.text().await.unwrap();
    assert!(html.contains("https://img.example/badge.svg"), "{html}");

    // Anonymous visitors, redirects and forms refused for their CSRF token too.
    let answer = send_raw(&addr, "GET", "/me", &[], b"").await;
    assert_eq!(answer.status, 303);
    assert!(answer.header("content-security-policy").is_some());
    let answer = send_raw(
        &addr,
        "POST",
        "/logout",
        &[("Content-Type", "application/x-www-form-urlencoded".into())],
        b"csrf=x",
    )
    .await;
    assert_eq!(answer.status, 403);
    assert!(answer.header("content-security-policy").is_some());

    // JSON, git and operations answers: nothing may load or run, never sniffed, never framed.
    for (method, target) in [
        ("GET", "/registries/main/api/v1/crates?q=present"),
        ("GET", "/registries/main/api/v1/crates/missing/owners"),
        ("PUT", "/registries/main/api/v1/crates/new"),
        ("GET", "/registries/main/api/v1/nothing"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/nothing"),
        (
            "GET",
            "/registries/main/git/info/refs?service=git-upload-pack",
        ),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/metrics"),
    ] {
        let answer = send_raw(&addr, method, target, &[], b"").await;
        assert!(answer.status < 500, "{target}: {}", answer.status);
        let csp = answer.header("content-security-policy").unwrap_or_default();
        assert_eq!(csp, cargohold::web::headers::API_CSP, "{target}");
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{target}"
        );
        assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{target}");
    }
}

#[tokio::test]
async fn credentials_in_an_upstream_url_are_never_shown() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let secret = "password-in-the-upstream-url";
    let index = Url::parse(&format!(
        "http://mirror-user:{secret}@127.0.0.1:{port}/index/"
    ))
    .unwrap();
    let server = proxy_of(index, "upstream-token-for-the-proxy-only").await;
    let (cookies, _) = admin_session(&server).await;
    let addr = server.address();
    for target in [
        "/registries/upstream/index/se/rd/serde",
        "/registries/upstream/crates/serde/serde-1.0.0.crate",
        "/registries/all/index/se/rd/serde",
        "/api/v1/registries/upstream/cache",
        "/",
        "/registries/upstream/setup",
        "/admin",
        "/admin/registries/upstream",
    ] {
        let answer = send_raw(&addr, "GET", target, &[("Cookie", cookies.clone())], b"").await;
        let text = String::from_utf8_lossy(&answer.body);
        assert!(
            !text.contains(secret) && !text.contains("mirror-user"),
            "{target} shows the upstream's credentials: {text}"
        );
        assert!(answer.status != 500, "{target}: {text}");
    }
}
