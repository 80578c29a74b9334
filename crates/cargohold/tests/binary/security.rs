//! Secrets never reach the logs: `cargohold serve` at its most verbose (`RUST_LOG=trace`),
//! in text and in JSON, sees tokens, passwords and session cookies go by and prints none
//! of them, nor their hashes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use cargohold_test_support::CrateFixture;
use sha2::{Digest, Sha256};

use super::{BIN, cargohold, signal_term, wait_with_timeout};

/// A `cargohold serve` whose stdout and stderr go to files.
struct Logged {
    child: Child,
    addr: String,
    stdout: std::path::PathBuf,
    stderr: std::path::PathBuf,
}

impl Logged {
    fn start(data: &Path) -> Self {
        let stdout = data.join("serve.stdout");
        let stderr = data.join("serve.stderr");
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(data)
            .env("RUST_LOG", "trace")
            .env_remove("RUST_LOG_STYLE")
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("cargohold starts");
        let mut logged = Self {
            child,
            addr: String::new(),
            stdout,
            stderr,
        };
        for _ in 0..600 {
            let printed = std::fs::read_to_string(&logged.stdout).unwrap_or_default();
            if let Some(rest) = printed
                .lines()
                .find_map(|l| l.strip_prefix("cargohold is listening on http://"))
            {
                logged.addr = rest.split('/').next().unwrap().to_owned();
                return logged;
            }
            assert!(
                logged.child.try_wait().unwrap().is_none(),
                "serve exited early: {printed}{}",
                std::fs::read_to_string(&logged.stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("serve did not start within 30 seconds");
    }

    /// Stops the server and returns everything it printed, stdout then stderr.
    fn stop(mut self) -> String {
        signal_term(&self.child);
        wait_with_timeout(&mut self.child);
        let out = std::fs::read_to_string(&self.stdout).unwrap();
        let err = std::fs::read_to_string(&self.stderr).unwrap();
        format!("{out}{err}")
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP/1.1 exchange: status, header block (as sent) and body.
fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status for {method} {path}: {response:?}"));
    (status, head.to_owned(), body.to_owned())
}

/// The value of cookie `name` set by a response head.
fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, value)| {
            value
                .trim()
                .strip_prefix(&format!("{name}="))?
                .split(';')
                .next()
                .map(str::to_owned)
        })
}

/// The first `cargohold_…` token in `text`.
fn token_in(text: &str) -> String {
    let start = text.find("cargohold_").expect("a token is shown");
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn with_stdin(data: &Path, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .current_dir(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{input}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    output
}

fn new_token(data: &Path, args: &[&str]) -> String {
    let output = cargohold(data, args);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Runs every way a secret reaches the server, with logs at `trace` in `format`,
/// and returns what the server printed and the secrets it was shown.
fn exercise(format: &str) -> (String, Vec<String>) {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let upstream_token = "upstream-secret-4d1f0c9e7b2a";
    let url_password = "url-password-6f2e81c3d9a4";
    // A proxy whose upstream refuses connections: its token is sent nowhere, and logged nowhere.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.join("cargohold.toml"),
        format!(
            "log-format = \"{format}\"\n\n\
             [[registries]]\nname = \"main\"\ngit-index = true\n\n\
             [[registries]]\nname = \"private\"\nauth-required = true\ngit-index = true\n\n\
             [[registries]]\nname = \"cache\"\nkind = \"proxy\"\n\
             upstream = \"http://mirror-user:{url_password}@127.0.0.1:{closed_port}/index/\"\n\
             upstream-token = \"{upstream_token}\"\n"
        ),
    )
    .unwrap();
    let admin_password = "admin-passphrase-7c41e0d2";
    let alice_password = "alice-passphrase-93b5a6f1";
    let changed_password = "changed-passphrase-1e8d2c7a";
    let wrong_password = "wrong-passphrase-5a0b3e9f";
    with_stdin(
        dir,
        &["user", "add", "admin", "--admin", "--password-stdin"],
        admin_password,
    );
    with_stdin(
        dir,
        &["user", "add", "alice", "--password-stdin"],
        alice_password,
    );
    let admin_token = new_token(
        dir,
        &[
            "token",
            "create",
            "admin",
            "--scope",
            "read,publish-new,publish-update,yank,change-owners,admin",
        ],
    );
    let alice_token = new_token(dir, &["token", "create", "alice"]);
    let wrong_token = "cargohold_wrongwrongwrongwrongwrongwrongwrong0";
    let mut secrets = vec![
        admin_token.clone(),
        alice_token.clone(),
        wrong_token.to_owned(),
        upstream_token.to_owned(),
        url_password.to_owned(),
        admin_password.to_owned(),
        alice_password.to_owned(),
        changed_password.to_owned(),
        wrong_password.to_owned(),
    ];

    let served = Logged::start(dir);
    let addr = served.addr.clone();
    let token_header = |token: &str| vec![("Authorization", token.to_owned())];
    let call = |method: &str, path: &str, headers: Vec<(&str, String)>, body: &[u8]| {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        exchange(&addr, method, path, &headers, body)
    };

    // cargo's API with a token: publish, yank, unyank, owners; then wrong tokens.
    for registry in ["main", "private"] {
        let body = CrateFixture::new("logged", "1.0.0").publish_body();
        let path = format!("/registries/{registry}/api/v1/crates/new");
        assert_eq!(call("PUT", &path, token_header(&admin_token), &body).0, 200);
        let yank = format!("/registries/{registry}/api/v1/crates/logged/1.0.0/yank");
        assert_eq!(
            call("DELETE", &yank, token_header(&admin_token), b"").0,
            200
        );
        let unyank = format!("/registries/{registry}/api/v1/crates/logged/1.0.0/unyank");
        assert_eq!(call("PUT", &unyank, token_header(&admin_token), b"").0, 200);
        let owners = format!("/registries/{registry}/api/v1/crates/logged/owners");
        let add = br#"{"users":["alice"]}"#;
        assert_eq!(call("PUT", &owners, token_header(&admin_token), add).0, 200);
        assert_eq!(call("GET", &owners, token_header(&alice_token), b"").0, 200);
    }
    let body = CrateFixture::new("refused", "1.0.0").publish_body();
    for header in [
        wrong_token.to_owned(),
        format!("Bearer {wrong_token}"),
        format!("Bearer {admin_token}x"),
    ] {
        let status = call(
            "PUT",
            "/registries/main/api/v1/crates/new",
            vec![("Authorization", header)],
            &body,
        )
        .0;
        assert_eq!(status, 401);
    }
    let private_index = "/registries/private/index/lo/gg/logged";
    assert_eq!(
        call("GET", private_index, token_header(&alice_token), b"").0,
        200
    );
    assert_eq!(
        call("GET", private_index, token_header(wrong_token), b"").0,
        401
    );
    let download = "/registries/private/crates/logged/logged-1.0.0.crate";
    assert_eq!(
        call("GET", download, token_header(&alice_token), b"").0,
        200
    );
    // The proxy asks its (absent) upstream, with its token.
    let cached = call("GET", "/registries/cache/index/se/rd/serde", vec![], b"").0;
    assert_eq!(cached, 502);

    // A token created through the API.
    let (status, _, created) = call(
        "PUT",
        "/api/v1/me/tokens",
        vec![
            ("Authorization", admin_token.clone()),
            ("Content-Type", "application/json".into()),
        ],
        br#"{"name":"from-the-api","scopes":["read"]}"#,
    );
    assert_eq!(status, 201, "{created}");
    secrets.push(token_in(&created));

    // The web pages: a failed and a good sign-in, a token made on /me, a new password.
    let (_, head, _) = call("GET", "/login", vec![], b"");
    let csrf = set_cookie(&head, "cargohold_csrf").unwrap();
    let form = |fields: &[(&str, &str)]| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &csrf)
            .extend_pairs(fields)
            .finish()
    };
    let form_headers = |cookie: String| {
        vec![
            ("Cookie", cookie),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ]
    };
    let wrong = form(&[("login", "admin"), ("password", wrong_password)]);
    let (status, _, _) = call(
        "POST",
        "/login",
        form_headers(format!("cargohold_csrf={csrf}")),
        wrong.as_bytes(),
    );
    assert_eq!(status, 401);
    let good = form(&[("login", "admin"), ("password", admin_password)]);
    let (status, head, _) = call(
        "POST",
        "/login",
        form_headers(format!("cargohold_csrf={csrf}")),
        good.as_bytes(),
    );
    assert_eq!(status, 303, "{head}");
    let session = set_cookie(&head, "cargohold_session").unwrap();
    let csrf = set_cookie(&head, "cargohold_csrf").unwrap();
    secrets.push(session.clone());
    let cookies = format!("cargohold_session={session}; cargohold_csrf={csrf}");
    let fields = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("name", "from-the-page")
        .append_pair("scope", "read")
        .finish();
    let (status, _, page) = call(
        "POST",
        "/me/tokens",
        form_headers(cookies.clone()),
        fields.as_bytes(),
    );
    assert_eq!(status, 201);
    secrets.push(token_in(&page));
    let fields = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("current_password", admin_password)
        .append_pair("password", changed_password)
        .finish();
    let (status, _, _) = call(
        "POST",
        "/me/password",
        form_headers(cookies.clone()),
        fields.as_bytes(),
    );
    // Back to the page it came from (Post/Redirect/Get).
    assert_eq!(status, 303);
    let alice = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("login", "alice")
        .append_pair("password", alice_password)
        .finish();
    let (status, _, _) = call(
        "POST",
        "/login",
        form_headers(format!("cargohold_csrf={csrf}")),
        alice.as_bytes(),
    );
    assert_eq!(status, 303);

    // The private git index, fetched with a token as the basic-auth password, and with a wrong one.
    for (token, ok) in [(alice_token.as_str(), true), (wrong_token, false)] {
        let output = Command::new("git")
            .args([
                "ls-remote",
                &format!("http://git:{token}@{addr}/registries/private/git"),
            ])
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert_eq!(output.status.success(), ok, "{output:?}");
    }

    let printed = served.stop();
    // Hashes of every token and of the session are secrets too (they are what is stored),
    // and so is the basic-auth header git sent.
    let hashes: Vec<String> = secrets
        .iter()
        .map(|s| hex::encode(Sha256::digest(s.as_bytes())))
        .collect();
    secrets.extend(hashes);
    for token in [&alice_token, &wrong_token.to_owned()] {
        secrets.push(base64::engine::general_purpose::STANDARD.encode(format!("git:{token}")));
    }
    (printed, secrets)
}

fn assert_no_secret(format: &str, printed: &str, secrets: &[String]) {
    let lower = printed.to_lowercase();
    for secret in secrets {
        assert!(
            !printed.contains(secret.as_str()) && !lower.contains(&secret.to_lowercase()),
            "the {format} log shows the secret {secret:?}:\n{}",
            printed
                .lines()
                .filter(|l| l.contains(secret.as_str()))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(
        !printed.contains("$argon2"),
        "the {format} log shows a password hash"
    );
    // Any token at all, not only the ones this test knows of.
    let token_like = printed.match_indices("cargohold_").any(|(at, _)| {
        let rest = &printed[at + "cargohold_".len()..];
        rest.bytes().take_while(u8::is_ascii_alphanumeric).count() >= 40
    });
    assert!(!token_like, "the {format} log shows a token");
}

#[test]
fn trace_logs_in_text_show_no_token_password_or_hash() {
    let (printed, secrets) = exercise("text");
    assert!(
        printed.contains("TRACE") && printed.contains("DEBUG"),
        "the server logged at trace level"
    );
    assert_no_secret("text", &printed, &secrets);
}

#[test]
fn trace_logs_in_json_show_no_token_password_or_hash() {
    let (printed, secrets) = exercise("json");
    assert!(
        printed.contains("\"level\":\"TRACE\""),
        "the server logged JSON at trace level"
    );
    assert_no_secret("json", &printed, &secrets);
}
