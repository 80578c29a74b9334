//! The `cargohold` binary as an operator runs it: first start, the CLI, configuration, shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cargohold_test_support::CrateFixture;

mod admin;
mod advisory;
mod audit;
mod backup;
mod blob_store;
mod config;
mod delete;
mod git_index;
mod nodes;
mod reliability;
mod security;
mod webhooks;

const BIN: &str = env!("CARGO_BIN_EXE_cargohold");

/// A `cargohold serve` process and what it printed before it was ready.
struct Served {
    child: Child,
    url: String,
    banner: String,
}

impl Served {
    fn start(data_dir: &Path) -> Self {
        Self::start_at(data_dir, "127.0.0.1:0")
    }

    /// Starts on `listen`: the same address across restarts keeps the public URL.
    fn start_at(data_dir: &Path, listen: &str) -> Self {
        Self::start_with(data_dir, &["--listen", listen])
    }

    /// Starts with these arguments of `serve`, in `data_dir` (whose `cargohold.toml` it reads).
    fn start_with(data_dir: &Path, serve_args: &[&str]) -> Self {
        Self::start_with_env(data_dir, serve_args, &[])
    }

    /// Starts as [`Served::start_with`] does, with these environment variables set too.
    fn start_with_env(data_dir: &Path, serve_args: &[&str], env: &[(&str, &str)]) -> Self {
        let child = Command::new(BIN)
            .args(["--data-dir", data_dir.to_str().unwrap(), "serve"])
            .args(serve_args)
            .envs(env.iter().copied())
            .current_dir(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargohold starts");
        // From here on, Drop stops the process whatever happens.
        let mut served = Self {
            child,
            url: String::new(),
            banner: String::new(),
        };
        let mut stdout = BufReader::new(served.child.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).unwrap();
            assert!(read > 0, "serve exited early:\n{}", served.banner);
            served.banner.push_str(&line);
            if let Some(rest) = line.strip_prefix("cargohold is listening on ") {
                served.url = rest.split_whitespace().next().unwrap().to_owned();
                return served;
            }
        }
    }

    fn token(&self) -> Option<String> {
        self.banner
            .split_whitespace()
            .find(|word| word.starts_with("cargohold_"))
            .map(str::to_owned)
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        signal_term(&self.child);
        wait_with_timeout(&mut self.child)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal_term(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_with_timeout(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("cargohold did not stop within 10 seconds of SIGTERM");
}

fn cargohold(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .current_dir(data_dir)
        .output()
        .expect("cargohold runs")
}

/// Sends a raw HTTP/1.1 request and returns the status code.
fn http_status(url: &str, request: &str, body: &[u8]) -> u16 {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_status(&mut stream)
}

fn read_status(stream: &mut TcpStream) -> u16 {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {response:?}"))
}

fn publish_request(addr: &str, token: &str, body_len: usize) -> String {
    format!(
        "PUT /registries/main/api/v1/crates/new HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\n\
         Content-Length: {body_len}\r\nConnection: close\r\n\r\n"
    )
}

#[test]
fn first_start_prints_an_admin_token_and_the_cargo_config_once() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path());
    let token = served.token().expect("the first start prints a token");
    assert!(
        served.banner.contains("[registries.main]"),
        "{}",
        served.banner
    );
    let index_line = format!("index = \"sparse+{}registries/main/index/\"", served.url);
    assert!(served.banner.contains(&index_line), "{}", served.banner);
    assert!(
        served.banner.contains("cargo login --registry main"),
        "{}",
        served.banner
    );

    // The printed token works: it can publish.
    let body = CrateFixture::new("first", "1.0.0").publish_body();
    let addr = served
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let status = http_status(
        &served.url,
        &publish_request(&addr, &token, body.len()),
        &body,
    );
    assert_eq!(status, 200);
    assert!(served.terminate().success());

    let again = Served::start(dir.path());
    assert_eq!(
        again.token(),
        None,
        "the token is shown only on the first start:\n{}",
        again.banner
    );
    again.terminate();
}

/// The README's production shape: a private local registry, a crates.io cache and a
/// private virtual registry over both that takes publishes.
const ONE_URL_CONFIG: &str = "[[registries]]\nname = \"internal\"\nauth-required = true\n\n\
    [[registries]]\nname = \"crates-io-cache\"\nkind = \"proxy\"\n\n\
    [[registries]]\nname = \"all\"\nkind = \"virtual\"\nauth-required = true\n\
    members = [\"internal\", \"crates-io-cache\"]\npublish-to = \"internal\"\n";

#[test]
fn first_start_with_a_virtual_registry_leads_with_its_one_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cargohold.toml"), ONE_URL_CONFIG).unwrap();
    let served = Served::start(dir.path());
    let banner = &served.banner;
    for expected in [
        "To get every crate through `all`, one URL over `internal`, `crates-io-cache`, and publish to \
         `internal` through it, add this to .cargo/config.toml:",
        "[registry]\nglobal-credential-providers = [\"cargo:token\"]\n",
        &format!(
            "[registries.all]\nindex = \"sparse+{}registries/all/index/\"\n",
            served.url
        ),
        "[source.crates-io]\nreplace-with = \"all\"\n",
        "cargo login --registry all\n",
    ] {
        assert!(
            banner.contains(expected),
            "expected {expected:?} in\n{banner}"
        );
    }
    // Following the cache's lines would leave the internal crates out.
    assert!(!banner.contains("crates-io-cache\"\n"), "{banner}");
    assert!(!banner.contains("--registry internal"), "{banner}");
    assert!(served.terminate().success());
}

#[test]
fn serve_prints_the_address_it_listens_on_and_the_public_url_when_they_differ() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start_with(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "https://crates.example.com/",
        ],
    );
    let listening = served
        .banner
        .lines()
        .find(|l| l.starts_with("cargohold is listening on "))
        .unwrap()
        .to_owned();
    assert!(served.url.starts_with("http://127.0.0.1:"), "{listening}");
    assert!(
        listening.contains("(public URL https://crates.example.com/; database: "),
        "{listening}"
    );
    // The address printed is the one that answers.
    assert_eq!(
        http_status(
            &served.url,
            "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b""
        ),
        200
    );
    // The cargo lines carry the public URL.
    assert!(
        served
            .banner
            .contains("index = \"sparse+https://crates.example.com/registries/main/index/\""),
        "{}",
        served.banner
    );
    assert!(served.terminate().success());

    let plain = Served::start(dir.path());
    let listening = plain
        .banner
        .lines()
        .find(|l| l.starts_with("cargohold is listening on "))
        .unwrap()
        .to_owned();
    assert!(!listening.contains("public URL"), "{listening}");
    plain.terminate();
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path());
    let token = served.token().unwrap();
    let addr = served
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let body = CrateFixture::new("in-flight", "1.0.0").publish_body();

    // Half the upload, then SIGTERM, then the rest: the publish must complete.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .write_all(publish_request(&addr, &token, body.len()).as_bytes())
        .unwrap();
    stream.write_all(&body[..body.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    signal_term(&served.child);
    std::thread::sleep(Duration::from_millis(200));
    stream.write_all(&body[body.len() / 2..]).unwrap();
    assert_eq!(read_status(&mut stream), 200);
    assert!(
        served.terminate().success(),
        "a graceful stop exits with success"
    );

    let again = Served::start(dir.path());
    let index = http_get(&format!(
        "{}registries/main/index/in/-f/in-flight",
        again.url
    ));
    assert!(index.contains("\"vers\":\"1.0.0\""), "{index}");
    again.terminate();
}

#[test]
fn users_and_scoped_tokens_are_created_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let added = cargohold(dir.path(), &["user", "add", "alice"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let created = cargohold(
        dir.path(),
        &[
            "token",
            "create",
            "alice",
            "--name",
            "ci",
            "--scope",
            "publish-new,publish-update",
            "--crate",
            "alice-*",
            "--expires-in",
            "30",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "token create prints the token and nothing else: {stdout:?}"
    );
    let token = lines[0];
    assert!(
        token.starts_with("cargohold_") && token.len() == 50,
        "{token}"
    );

    let served = Served::start(dir.path());
    let addr = served
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let allowed = CrateFixture::new("alice-lib", "1.0.0").publish_body();
    assert_eq!(
        http_status(
            &served.url,
            &publish_request(&addr, token, allowed.len()),
            &allowed
        ),
        200
    );
    let outside = CrateFixture::new("bob-lib", "1.0.0").publish_body();
    assert_eq!(
        http_status(
            &served.url,
            &publish_request(&addr, token, outside.len()),
            &outside
        ),
        403
    );
    served.terminate();

    // The listing shows when it expires (and that it was used); revoking it twice says so.
    let listed = String::from_utf8(cargohold(dir.path(), &["token", "list"]).stdout).unwrap();
    assert!(
        listed.lines().next().unwrap().contains("expires"),
        "{listed}"
    );
    let line = listed
        .lines()
        .find(|line| line.contains(" ci "))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(!line.contains("never"), "{line}");
    let id = line.split_whitespace().next().unwrap();
    let revoke =
        || String::from_utf8(cargohold(dir.path(), &["token", "revoke", id]).stdout).unwrap();
    assert!(revoke().starts_with("revoked token"));
    let again = revoke();
    assert!(again.contains("was already revoked"), "{again}");
}

#[test]
fn mistakes_on_the_command_line_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // A data directory with no registry in it is a mistyped --data-dir: nothing is created.
    let typo = dir.path().join("cargohold-dta");
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(&typo)
        .args(["user", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no cargohold data") && stderr.contains("--data-dir"),
        "{stderr}"
    );
    assert!(!typo.exists());

    assert!(
        cargohold(dir.path(), &["user", "add", "carol"])
            .status
            .success()
    );
    let no_user = cargohold(dir.path(), &["token", "create", "nobody"]);
    assert!(!no_user.status.success());
    let stderr = String::from_utf8_lossy(&no_user.stderr);
    assert!(stderr.contains("cargohold user add nobody"), "{stderr}");

    let bad_scope = cargohold(
        dir.path(),
        &["token", "create", "carol", "--scope", "everything"],
    );
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("publish-new"));

    let admin_scope = cargohold(
        dir.path(),
        &["token", "create", "carol", "--scope", "admin"],
    );
    assert!(!admin_scope.status.success());
    assert!(String::from_utf8_lossy(&admin_scope.stderr).contains("not an administrator"));

    let twice = cargohold(dir.path(), &["user", "add", "Carol"]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "--help"],
        &["user", "add", "--help"],
        &["token", "--help"],
        &["token", "create", "--help"],
        &["import", "--help"],
        &["mirror", "--help"],
        &["evict", "--help"],
        &["reindex", "--help"],
        &["check", "--help"],
        &["gc", "--help"],
        &["backup", "--help"],
        &["restore", "--help"],
        &["user", "password", "--help"],
        &["config", "--help"],
        &["config", "show", "--help"],
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("Usage:"),
            "{args:?}: {stdout}"
        );
    }
}

#[test]
fn configuration_layers_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        "listen = \"127.0.0.1:9001\"\npublic-url = \"https://crates.example.com/\"\n\n[limits]\nmax-crate-size = 1234\n",
    )
    .unwrap();
    let show = |envs: &[(&str, &str)], args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .args(["config", "show"])
            .envs(envs.iter().copied())
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let from_file = show(&[], &[]);
    assert!(
        from_file.contains("listen = \"127.0.0.1:9001\""),
        "{from_file}"
    );
    assert!(
        from_file.contains("public-url = \"https://crates.example.com/\""),
        "{from_file}"
    );
    assert!(from_file.contains("max-crate-size = 1234"), "{from_file}");

    let env = show(
        &[
            ("CARGOHOLD_LISTEN", "127.0.0.1:9002"),
            ("CARGOHOLD_LIMITS__MAX_CRATE_SIZE", "99"),
        ],
        &[],
    );
    assert!(env.contains("listen = \"127.0.0.1:9002\""), "{env}");
    assert!(env.contains("max-crate-size = 99"), "{env}");

    let flag = show(
        &[("CARGOHOLD_DATA_DIR", "/from/env")],
        &["--data-dir", "/from/flag"],
    );
    assert!(flag.contains("data-dir = \"/from/flag\""), "{flag}");

    let db = show(
        &[(
            "CARGOHOLD_DATABASE_URL",
            "postgres://app:hunter2@db/registry",
        )],
        &[],
    );
    assert!(
        db.contains("postgres://app:REDACTED@db/registry") && !db.contains("hunter2"),
        "{db}"
    );

    std::fs::write(
        dir.path().join("cargohold.toml"),
        "lisen = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let typo = Command::new(BIN)
        .args(["config", "show"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!typo.status.success());
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("lisen"),
        "the unknown key is named"
    );
}

/// A blocking GET over a plain socket: the body as text.
fn http_get(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// The index URL of `main` for a data directory with the default configuration.
const DEFAULT_INDEX: &str = "sparse+http://127.0.0.1:8000/registries/main/index/";

/// Writes `fixture`'s `.crate` under `dir`, named as cargo names it.
pub fn write_crate(dir: &Path, fixture: &CrateFixture) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{}.crate", fixture.prefix()));
    std::fs::write(&path, fixture.tarball()).unwrap();
    path
}

#[test]
fn import_walks_folders_reports_every_file_and_is_idempotent() {
    let data = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    assert!(
        cargohold(data.path(), &["user", "add", "admin", "--admin"])
            .status
            .success()
    );
    write_crate(
        &source.path().join("a"),
        &CrateFixture::new("alpha", "1.0.0"),
    );
    write_crate(
        &source.path().join("a/deeper"),
        &CrateFixture::new("alpha", "1.1.0"),
    );
    write_crate(
        &source.path().join("b"),
        &CrateFixture::new("beta", "0.2.0")
            .in_registry(DEFAULT_INDEX)
            .dep("alpha", "1"),
    );
    std::fs::write(
        source.path().join("b/broken-1.0.0.crate"),
        b"not a gzip file",
    )
    .unwrap();
    std::fs::write(source.path().join("b/notes.txt"), b"ignored").unwrap();
    let source_arg = source.path().to_str().unwrap();

    let first = cargohold(data.path(), &["import", source_arg]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        !first.status.success(),
        "a rejected file makes the exit status non-zero"
    );
    assert!(stdout.contains("4 files into `main`"), "{stdout}");
    assert!(
        stdout.contains("3 imported, 0 already present, 1 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("broken-1.0.0.crate: the .crate file is not gzip-compressed"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("note:"),
        "beta's dependency arrived in the same import: {stdout}"
    );

    std::fs::remove_file(source.path().join("b/broken-1.0.0.crate")).unwrap();
    let again = cargohold(data.path(), &["import", source_arg]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(
        stdout.contains("0 imported, 3 already present, 0 rejected"),
        "{stdout}"
    );

    let mut changed = CrateFixture::new("alpha", "1.0.0");
    changed.description = "Other bytes for a published version".into();
    let conflicting = write_crate(&source.path().join("c"), &changed);
    let conflict = cargohold(data.path(), &["import", conflicting.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&conflict.stdout);
    assert!(!conflict.status.success());
    let original = CrateFixture::new("alpha", "1.0.0").checksum();
    assert!(
        stdout.contains(&original) && stdout.contains(&changed.checksum()),
        "{stdout}"
    );
}

#[test]
fn import_reports_dependencies_the_registry_lacks() {
    let data = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    assert!(
        cargohold(data.path(), &["user", "add", "admin", "--admin"])
            .status
            .success()
    );
    write_crate(
        source.path(),
        &CrateFixture::new("lonely", "1.0.0")
            .in_registry(DEFAULT_INDEX)
            .dep("elsewhere", "2"),
    );
    let output = cargohold(data.path(), &["import", source.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("elsewhere (needed by lonely@1.0.0)"),
        "{stdout}"
    );
}

#[test]
fn a_running_server_serves_imported_crates_at_once() {
    let data = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let served = Served::start(data.path());
    let fixture = CrateFixture::new("imported-live", "3.1.4");
    write_crate(source.path(), &fixture);
    let output = cargohold(data.path(), &["import", source.path().to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let index = http_get(&format!(
        "{}registries/main/index/im/po/imported-live",
        served.url
    ));
    assert!(index.contains(&fixture.checksum()), "{index}");
    served.terminate();
}

#[test]
fn import_without_an_owner_says_how_to_make_one() {
    let data = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    write_crate(source.path(), &CrateFixture::new("orphan", "1.0.0"));
    let output = cargohold(data.path(), &["import", source.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cargohold user add admin --admin"),
        "{stderr}"
    );
}

#[test]
fn listening_on_every_interface_without_a_public_url_warns_that_others_cannot_reach_it() {
    let banner_and_warnings = |extra: &[&str]| {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(data.path())
            .args(["serve", "--listen", "0.0.0.0:0"])
            .args(extra)
            .current_dir(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.starts_with("cargohold is listening on ") {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "serve exited early"
            );
        }
        signal_term(&child);
        wait_with_timeout(&mut child);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (line, stderr)
    };
    let (listening, stderr) = banner_and_warnings(&[]);
    assert!(listening.contains("http://127.0.0.1:"), "{listening}");
    assert!(
        stderr.contains("warning:") && stderr.contains("public-url"),
        "{stderr}"
    );
    let (listening, stderr) =
        banner_and_warnings(&["--public-url", "http://crates.example.com:8000/"]);
    assert!(
        listening.contains("http://crates.example.com:8000/"),
        "{listening}"
    );
    assert!(!stderr.contains("public-url"), "{stderr}");
}

#[test]
fn a_listing_whose_reader_has_gone_ends_quietly() {
    let data = tempfile::tempdir().unwrap();
    assert!(
        cargohold(data.path(), &["user", "add", "alice"])
            .status
            .success()
    );
    for args in [&["user", "list"][..], &["token", "list"], &["audit"]] {
        // As `cargohold user list | head -0`: the reader is gone before the first line.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(BIN)
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .current_dir(data.path())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn import_into_a_virtual_registry_over_a_crates_io_cache_is_refused_and_stores_nothing() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("cargohold.toml"),
        "[[registries]]\nname = \"internal\"\n\n\
         [[registries]]\nname = \"crates-io-cache\"\nkind = \"proxy\"\nupstream = \"http://127.0.0.1:9/index/\"\n\n\
         [[registries]]\nname = \"all\"\nkind = \"virtual\"\nmembers = [\"internal\", \"crates-io-cache\"]\n\
         publish-to = \"internal\"\n",
    )
    .unwrap();
    assert!(
        cargohold(data.path(), &["user", "add", "admin", "--admin"])
            .status
            .success()
    );
    let source = tempfile::tempdir().unwrap();
    write_crate(source.path(), &CrateFixture::new("serde", "1.0.0"));
    let path = source.path().to_str().unwrap();

    let refused = cargohold(data.path(), &["import", "--registry", "all", path]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--registry internal") && stderr.contains("--registry crates-io-cache"),
        "{stderr}"
    );
    // Nothing was stored: the same file is new to `internal`.
    let output = cargohold(data.path(), &["import", "--registry", "internal", path]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 imported"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Now an internal crate, it is kept out of the cache of crates.io.
    let output = cargohold(
        data.path(),
        &["import", "--registry", "crates-io-cache", path],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success()
            && stdout.contains("0 imported")
            && stdout.contains("`serde` is a crate of the local registry `internal`"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_running_server_sees_versions_imported_by_another_process_for_crates_it_has_cached() {
    let data = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let served = Served::start(data.path());
    let index_url = format!("{}registries/main/index/ca/ch/cached-crate", served.url);
    write_crate(source.path(), &CrateFixture::new("cached-crate", "1.0.0"));
    let run_import = || {
        let output = cargohold(data.path(), &["import", source.path().to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    // Asked for before it exists (a cached "no such crate"), then after each import.
    assert!(!http_get(&index_url).contains("1.0.0"));
    run_import();
    let sees = |version: &str| {
        (0..40).any(|_| {
            let seen = http_get(&index_url).contains(&format!("\"vers\":\"{version}\""));
            if !seen {
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        })
    };
    assert!(sees("1.0.0"), "the new crate appears within two seconds");
    write_crate(source.path(), &CrateFixture::new("cached-crate", "1.1.0"));
    run_import();
    assert!(sees("1.1.0"), "a new version appears within two seconds");
    served.terminate();
}

#[test]
fn mirror_fetches_a_lockfiles_crates_so_builds_need_no_upstream_afterwards() {
    // The upstream: another cargohold process holding two crates.
    let upstream_data = tempfile::tempdir().unwrap();
    let upstream = Served::start(upstream_data.path());
    let token = upstream.token().unwrap();
    let addr = upstream
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let fixtures = [
        CrateFixture::new("mirrored-a", "1.0.0"),
        CrateFixture::new("mirrored-b", "0.3.1"),
    ];
    for fixture in &fixtures {
        let body = fixture.publish_body();
        let status = http_status(
            &upstream.url,
            &publish_request(&addr, &token, body.len()),
            &body,
        );
        assert_eq!(status, 200);
    }
    let crates_io = "registry+https://github.com/rust-lang/crates.io-index";
    let lockfile = format!(
        "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n\
         [[package]]\nname = \"mirrored-a\"\nversion = \"1.0.0\"\nsource = \"{crates_io}\"\nchecksum = \"{}\"\n\n\
         [[package]]\nname = \"mirrored-b\"\nversion = \"0.3.1\"\nsource = \"{crates_io}\"\nchecksum = \"{}\"\n\n\
         [[package]]\nname = \"from-git\"\nversion = \"0.1.0\"\nsource = \"git+https://example.com/x#abc\"\n",
        fixtures[0].checksum(),
        fixtures[1].checksum()
    );
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("Cargo.lock"), lockfile).unwrap();
    std::fs::write(
        data.path().join("cargohold.toml"),
        format!(
            "[[registries]]\nname = \"crates-io\"\nkind = \"proxy\"\nupstream = \"{}registries/main/index/\"\n",
            upstream.url
        ),
    )
    .unwrap();
    let output = cargohold(
        data.path(),
        &[
            "mirror",
            "--registry",
            "crates-io",
            "--lockfile",
            "Cargo.lock",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("2 packages") && stdout.contains("2 fetched"),
        "path and git packages are not fetched: {stdout}"
    );
    let again = cargohold(
        data.path(),
        &[
            "mirror",
            "--registry",
            "crates-io",
            "--lockfile",
            "Cargo.lock",
        ],
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("2 already cached"));

    upstream.terminate();

    // With the upstream gone, the proxy serves both crates.
    let served = Served::start(data.path());
    for fixture in &fixtures {
        let index = http_get(&format!(
            "{}registries/crates-io/index/{}",
            served.url,
            cargohold_protocol::name::index_path(&fixture.name)
        ));
        assert!(index.contains(&fixture.checksum()), "{index}");
        let status = http_status(
            &served.url,
            &format!(
                "HEAD /registries/crates-io/crates/{0}/{0}-{1}.crate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                fixture.name, fixture.version
            ),
            b"",
        );
        assert_eq!(status, 200);
    }

    // A package the upstream never had is reported, and the exit status says so.
    let broken = data.path().join("Broken.lock");
    std::fs::write(
        &broken,
        format!("version = 4\n\n[[package]]\nname = \"ghost\"\nversion = \"1.0.0\"\nsource = \"{crates_io}\"\n"),
    )
    .unwrap();
    let output = cargohold(
        data.path(),
        &[
            "mirror",
            "--registry",
            "crates-io",
            "--lockfile",
            broken.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("failed ghost@1.0.0"), "{stdout}");
    served.terminate();
}

#[tokio::test]
async fn reindex_rebuilds_lost_index_files_and_highest_versions_from_the_database() {
    let data = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    assert!(
        cargohold(data.path(), &["user", "add", "admin", "--admin"])
            .status
            .success()
    );
    write_crate(source.path(), &CrateFixture::new("alpha", "1.0.0"));
    write_crate(source.path(), &CrateFixture::new("alpha", "1.2.0"));
    let import = cargohold(data.path(), &["import", source.path().to_str().unwrap()]);
    assert!(import.status.success(), "{import:?}");
    let url = format!("sqlite://{}", data.path().join("cargohold.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let original: String = sqlx::query_scalar("SELECT content FROM index_files")
        .fetch_one(&db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM index_files")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE crates SET max_version = '1.0.0'")
        .execute(&db)
        .await
        .unwrap();

    let output = cargohold(data.path(), &["reindex"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout.trim(),
        "rebuilt the derived data of 1 crate; 1 needed a correction"
    );
    let rebuilt: String = sqlx::query_scalar("SELECT content FROM index_files")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rebuilt, original);
    let max: String = sqlx::query_scalar("SELECT max_version FROM crates")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(max, "1.2.0");

    // A second run finds nothing to correct, and an unknown registry is a clear error.
    let again = cargohold(data.path(), &["reindex", "--registry", "main"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 needed a correction"));
    let unknown = cargohold(data.path(), &["reindex", "--registry", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no registry named `nope`"));
}

/// A data directory holding `alpha` 1.0.0 and 1.2.0, imported by the binary, and its database.
async fn imported_alpha() -> (tempfile::TempDir, sqlx::SqlitePool) {
    let data = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    assert!(
        cargohold(data.path(), &["user", "add", "admin", "--admin"])
            .status
            .success()
    );
    write_crate(source.path(), &CrateFixture::new("alpha", "1.0.0"));
    write_crate(source.path(), &CrateFixture::new("alpha", "1.2.0"));
    let import = cargohold(data.path(), &["import", source.path().to_str().unwrap()]);
    assert!(import.status.success(), "{import:?}");
    let url = format!("sqlite://{}", data.path().join("cargohold.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    (data, db)
}

#[tokio::test]
async fn check_prints_each_difference_fails_and_repairs_what_the_database_can_rebuild() {
    let (data, db) = imported_alpha().await;
    let healthy = cargohold(data.path(), &["check"]);
    assert!(healthy.status.success(), "{healthy:?}");
    assert_eq!(
        String::from_utf8_lossy(&healthy.stdout).trim(),
        "checked 1 crate and 2 versions: 0 problems"
    );

    let key: String = sqlx::query_scalar("SELECT blob_key FROM versions WHERE num = '1.0.0'")
        .fetch_one(&db)
        .await
        .unwrap();
    std::fs::remove_file(data.path().join("blobs").join(&key)).unwrap();
    sqlx::query("UPDATE index_files SET content = REPLACE(content, '\"1.2.0\"', '\"1.2.1\"')")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE crates SET max_version = '1.0.0'")
        .execute(&db)
        .await
        .unwrap();

    // Import stores four files at once, so either version may have come first.
    let order: Vec<String> =
        sqlx::query_scalar("SELECT num FROM versions ORDER BY published_at, id")
            .fetch_all(&db)
            .await
            .unwrap();
    let line = order.iter().position(|num| num == "1.2.0").unwrap() + 1;

    let broken = cargohold(data.path(), &["check"]);
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(!broken.status.success(), "{broken:?}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            format!("main/alpha 1.0.0: blob {key} is missing").as_str(),
            format!("main/alpha: index file differs from the database: line {line} (version 1.2.0) is not the database's").as_str(),
            "main/alpha: max_version is 1.0.0, the versions say 1.2.0",
            "checked 1 crate and 2 versions: 3 problems",
        ]
    );
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("error: 3 problems remain; `cargohold check --repair` rebuilds"),
        "{stderr}"
    );

    let repair = cargohold(data.path(), &["check", "--repair"]);
    let stdout = String::from_utf8_lossy(&repair.stdout);
    assert!(
        !repair.status.success(),
        "the missing blob remains: {repair:?}"
    );
    assert!(
        stdout.contains(&format!(
            "main/alpha 1.0.0: blob {key} is missing (cannot be repaired: restore the file from a backup"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("repaired: main/alpha: index file differs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("repaired: main/alpha: max_version is 1.0.0"),
        "{stdout}"
    );
    assert!(stdout.contains("3 problems, 2 repaired"), "{stdout}");

    let again = cargohold(data.path(), &["check"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(!again.status.success());
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            format!("main/alpha 1.0.0: blob {key} is missing").as_str(),
            "checked 1 crate and 2 versions: 1 problem",
        ]
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("error: 1 problem remains\n"));
}

#[tokio::test]
async fn gc_lists_with_dry_run_then_removes_only_old_unreferenced_blobs() {
    let (data, db) = imported_alpha().await;
    let blobs = data.path().join("blobs");
    let keys: Vec<String> = sqlx::query_scalar("SELECT blob_key FROM versions")
        .fetch_all(&db)
        .await
        .unwrap();
    let write = |key: &str, age_days: u64| {
        let path = blobs.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"0123456789").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(age_days * 86_400))
            .unwrap();
        path
    };
    let old = write("crates/main/alpha/0.1.0/aaaa.crate", 3);
    let fresh = write("crates/main/alpha/0.2.0/bbbb.crate", 0);

    let dry = cargohold(data.path(), &["gc", "--dry-run"]);
    assert!(dry.status.success(), "{dry:?}");
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [
            "would remove crates/main/alpha/0.1.0/aaaa.crate (10 bytes)",
            "would remove 1 unreferenced blob (10 bytes); kept 1 younger than 24 hours and 2 in use",
        ]
    );
    assert!(old.exists());

    let gc = cargohold(data.path(), &["gc"]);
    assert!(gc.status.success(), "{gc:?}");
    assert!(String::from_utf8_lossy(&gc.stdout).ends_with(
        "removed 1 unreferenced blob (10 bytes); kept 1 younger than 24 hours and 2 in use\n"
    ));
    assert!(!old.exists() && fresh.exists());
    for key in &keys {
        assert!(blobs.join(key).exists(), "{key}");
    }
    // With no grace period the fresh orphan goes too; versions still keep theirs.
    let now = cargohold(data.path(), &["gc", "--grace-hours", "0"]);
    assert!(
        String::from_utf8_lossy(&now.stdout).contains("removed 1 unreferenced blob (10 bytes)"),
        "{now:?}"
    );
    assert!(!fresh.exists());
    let check = cargohold(data.path(), &["check"]);
    assert!(check.status.success(), "{check:?}");
}

/// The configuration naming `main` and the private `registry`, in which an
/// administrator imported `krate` 1.0.0: the data directory and its `cargohold.toml`.
fn private_registry_holding(registry: &str, krate: &str) -> (tempfile::TempDir, PathBuf, String) {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("cargohold.toml");
    let full = format!(
        "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"{registry}\"\nauth-required = true\n"
    );
    std::fs::write(&config, &full).unwrap();
    assert!(
        cargohold(data.path(), &["user", "add", "admin", "--admin"])
            .status
            .success()
    );
    let source = tempfile::tempdir().unwrap();
    write_crate(source.path(), &CrateFixture::new(krate, "1.0.0"));
    let imported = cargohold(
        data.path(),
        &[
            "import",
            "--registry",
            registry,
            source.path().to_str().unwrap(),
        ],
    );
    assert!(imported.status.success(), "{imported:?}");
    (data, config, full)
}

#[test]
fn a_registry_the_configuration_no_longer_names_is_pointed_out_at_start() {
    let (data, config, _) = private_registry_holding("private", "secret");
    let quiet = cargohold(data.path(), &["user", "list"]);
    assert!(
        !String::from_utf8_lossy(&quiet.stderr).contains("does not name"),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    // The configuration loses `private` (a restore without its file, a renamed table).
    std::fs::write(&config, "[[registries]]\nname = \"main\"\n").unwrap();
    let listed = cargohold(data.path(), &["user", "list"]);
    assert!(listed.status.success());
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(
        stderr.contains(
            "the database holds the registry `private` (1 crate), which the configuration does not name"
        ) && stderr.contains("name = \"private\""),
        "{stderr}"
    );
}

#[test]
fn check_fails_and_names_the_registries_it_skipped_for_want_of_their_configuration() {
    let (data, config, full) = private_registry_holding("secret", "hidden");

    // As after a restore without the backup's configuration.
    std::fs::write(&config, "[[registries]]\nname = \"main\"\n").unwrap();
    let skipped = cargohold(data.path(), &["check"]);
    let stdout = String::from_utf8_lossy(&skipped.stdout);
    let stderr = String::from_utf8_lossy(&skipped.stderr);
    assert!(!skipped.status.success(), "{skipped:?}");
    assert_eq!(
        stdout.trim(),
        "checked 0 crates and 0 versions: 0 problems; not checked: `secret` (1 crate), which the \
         configuration does not name"
    );
    assert!(
        stderr.contains(
            "error: `secret` (1 crate) not checked, as the configuration does not name it: pass --config \
             with the file that does"
        ),
        "{stderr}"
    );

    // Checking one registry on purpose is not a skip; the file that names `secret` checks it.
    let one = cargohold(data.path(), &["check", "--registry", "main"]);
    assert!(one.status.success(), "{one:?}");
    let named = data.path().join("full.toml");
    std::fs::write(&named, &full).unwrap();
    let whole = cargohold(data.path(), &["--config", named.to_str().unwrap(), "check"]);
    assert!(whole.status.success(), "{whole:?}");
    assert_eq!(
        String::from_utf8_lossy(&whole.stdout).trim(),
        "checked 1 crate and 1 version: 0 problems"
    );
}

/// Starts `serve` in `data_dir` (whose `cargohold.toml` it reads), stops it once it
/// listens, and returns its standard output and standard error.
fn serve_and_stop(data_dir: &Path) -> (String, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve exited early:\n{banner}"
        );
        banner.push_str(&line);
        if line.starts_with("cargohold is listening on ") {
            break;
        }
    }
    signal_term(&child);
    assert!(wait_with_timeout(&mut child).success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (banner, stderr)
}

#[test]
fn a_private_virtual_registry_over_a_public_member_is_pointed_out_at_start() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("cargohold.toml");
    std::fs::write(&config, ONE_URL_CONFIG).unwrap();
    let (_, stderr) = serve_and_stop(data.path());
    let warning = "warning: the registry `all` is private (auth-required = true) but its member \
                   `crates-io-cache` is not: anyone who reaches this server reads it without a token at \
                   /registries/crates-io-cache/ (index and downloads) and \
                   /api/v1/registries/crates-io-cache/cache (which crates are cached); if that matters, \
                   add auth-required = true to `crates-io-cache`\n";
    assert!(stderr.contains(warning), "{stderr}");
    let shown = cargohold(data.path(), &["config", "show"]);
    assert!(shown.status.success(), "{shown:?}");
    assert!(
        String::from_utf8_lossy(&shown.stderr).contains(warning),
        "{shown:?}"
    );

    // Every member private: nothing to say.
    std::fs::write(
        &config,
        ONE_URL_CONFIG.replace(
            "kind = \"proxy\"\n",
            "kind = \"proxy\"\nauth-required = true\n",
        ),
    )
    .unwrap();
    let (_, stderr) = serve_and_stop(data.path());
    assert!(!stderr.contains("is private"), "{stderr}");
}

/// `GET path` on a new connection: the status and the body.
fn http_answer(url: &str, path: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {response:?}"));
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, body.to_owned())
}

/// Waits for `child` to exit and returns how long that took from `since`.
fn exited_after(child: &mut Child, since: std::time::Instant) -> Duration {
    assert!(wait_with_timeout(child).success());
    since.elapsed()
}

#[test]
fn with_a_shutdown_delay_sigterm_turns_ready_off_and_serves_on_until_the_delay_ends() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        "shutdown-delay-secs = 2\n",
    )
    .unwrap();
    let mut served = Served::start(dir.path());
    let token = served.token().unwrap();
    let addr = served
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let body = CrateFixture::new("steady", "1.0.0").publish_body();
    let published = http_status(
        &served.url,
        &publish_request(&addr, &token, body.len()),
        &body,
    );
    assert_eq!(published, 200);
    assert_eq!(http_answer(&served.url, "/ready"), (200, "ready\n".into()));

    let signalled = std::time::Instant::now();
    signal_term(&served.child);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        http_answer(&served.url, "/ready"),
        (503, "shutting down\n".into())
    );
    assert_eq!(http_answer(&served.url, "/health").0, 200);
    let (status, index) = http_answer(&served.url, "/registries/main/index/st/ea/steady");
    assert_eq!(status, 200, "{index}");
    assert!(index.contains("\"vers\":\"1.0.0\""), "{index}");
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "it waits out the delay"
    );
    let waited = exited_after(&mut served.child, signalled);
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "exited {waited:?} after SIGTERM"
    );
}

#[test]
fn a_second_signal_ends_the_shutdown_delay_and_without_one_the_server_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        "shutdown-delay-secs = 60\n",
    )
    .unwrap();
    let mut served = Served::start(dir.path());
    let signalled = std::time::Instant::now();
    signal_term(&served.child);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http_answer(&served.url, "/ready").0, 503);
    signal_term(&served.child);
    let waited = exited_after(&mut served.child, signalled);
    assert!(
        waited < Duration::from_secs(5),
        "exited {waited:?} after SIGTERM"
    );
    drop(served);

    // The default: no delay.
    std::fs::remove_file(dir.path().join("cargohold.toml")).unwrap();
    let mut served = Served::start(dir.path());
    let signalled = std::time::Instant::now();
    signal_term(&served.child);
    let waited = exited_after(&mut served.child, signalled);
    assert!(
        waited < Duration::from_secs(1),
        "exited {waited:?} after SIGTERM"
    );
}
