//! Webhook deliveries as the operator sees them: `cargohold webhook deliveries` and
//! `webhook redeliver` beside a running `serve`, and a secret read from `secret-env`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cargohold_test_support::{CrateFixture, Received, WebhookReceiver};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{BIN, Served, wait_with_timeout};

/// Long enough for the server's sender to look again (every 3 s) on a busy machine.
const WAIT: Duration = Duration::from_secs(20);

/// The variable the webhook's secret is read from, and its value.
const SECRET_VAR: (&str, &str) = ("CARGOHOLD_TEST_HOOK_SECRET", "from-the-environment");

/// Runs `cargohold args` in `dir` with the webhook secret's variable set.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env(SECRET_VAR.0, SECRET_VAR.1)
        .current_dir(dir)
        .output()
        .expect("cargohold runs")
}

/// Runs `cargohold args`, which must succeed; its standard output.
fn succeed(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `cargohold args`, which must fail without printing anything on standard output;
/// its standard error.
fn fail(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        !output.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.stdout.is_empty(), "{args:?}");
    String::from_utf8(output.stderr).unwrap()
}

/// The deliveries `webhook deliveries --json` lists.
fn deliveries(dir: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&succeed(dir, &["webhook", "deliveries", "--json"])).unwrap()
}

/// Waits until `webhook deliveries --json` lists deliveries in exactly `states`, newest first.
async fn wait_for_states(dir: &Path, states: &[&str]) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = deliveries(dir);
        if listed
            .iter()
            .map(|d| d["state"].as_str().unwrap())
            .eq(states.iter().copied())
        {
            return listed;
        }
        assert!(Instant::now() < deadline, "not {states:?}: {listed:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `receiver` got `count` requests.
async fn wait_for_requests(receiver: &WebhookReceiver, count: usize) -> Vec<Received> {
    let deadline = Instant::now() + WAIT;
    loop {
        let received = receiver.received();
        if received.len() >= count {
            return received;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} requests",
            received.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signature(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// Multi-threaded: the receivers must answer while this thread waits for a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_lists_deliveries_and_redelivers_a_finished_one() {
    let ok = WebhookReceiver::start().await;
    let failing = WebhookReceiver::start().await;
    failing.answer_next_with(&[500; 20]);
    // A password and a query, which listings must not show.
    let failing_url = failing
        .url
        .replace("http://", "http://hook:hunter2@")
        .replace("/hooks", "/hooks?token=q1w2e3");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        format!(
            "webhook-retry-seconds = 600\n\n[[registries]]\nname = \"main\"\n\n\
             [[registries.webhooks]]\nurl = \"{}\"\nsecret-env = \"{}\"\n\n\
             [[registries.webhooks]]\nurl = \"{failing_url}\"\n",
            ok.url, SECRET_VAR.0
        ),
    )
    .unwrap();
    let served = Served::start_with_env(dir.path(), &["--listen", "127.0.0.1:0"], &[SECRET_VAR]);
    let token = served.token().expect("the first start prints a token");
    let response = reqwest::Client::new()
        .put(format!("{}registries/main/api/v1/crates/new", served.url))
        .header("authorization", &token)
        .body(CrateFixture::new("watched", "1.0.0").publish_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Signed with the secret the variable holds.
    let first = ok.wait_for_deliveries(1, WAIT).await.remove(0);
    assert_eq!(
        first.header("x-cargohold-signature"),
        Some(signature(SECRET_VAR.1, &first.body).as_str())
    );
    wait_for_requests(&failing, 1).await;
    // Newest first: the failing webhook's delivery was recorded second.
    let listed = wait_for_states(dir.path(), &["retrying", "delivered"]).await;
    let (failed_id, delivered_id) = (
        listed[0]["id"].as_i64().unwrap(),
        listed[1]["id"].as_i64().unwrap(),
    );
    assert_eq!(listed[0]["last_status"], 500);
    assert_eq!(listed[1]["last_status"], 200);
    assert_eq!(listed[1]["delivery_id"], first.json()["id"]);

    let table = succeed(dir.path(), &["webhook", "deliveries"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in [
        "ID",
        "REGISTRY",
        "EVENT",
        "URL",
        "STATE",
        "ATTEMPTS",
        "LAST ANSWER",
    ] {
        assert!(lines[0].contains(column), "{column} in {table}");
    }
    assert!(lines[1].starts_with(&format!("{failed_id} ")), "{table}");
    for expected in [
        "main",
        "publish",
        "retrying",
        "the receiver answered 500 Internal Server Error",
        "http://hook:REDACTED@127.0.0.1:",
    ] {
        assert!(lines[1].contains(expected), "{expected} in {table}");
    }
    assert!(
        lines[2].contains("delivered") && lines[2].contains(" 200"),
        "{table}"
    );
    assert!(
        !table.contains("hunter2") && !table.contains("q1w2e3"),
        "{table}"
    );

    let only_failed = succeed(dir.path(), &["webhook", "deliveries", "--failed"]);
    assert_eq!(only_failed.lines().count(), 2, "{only_failed}");
    assert!(only_failed.contains("retrying"), "{only_failed}");
    let stderr = fail(dir.path(), &["webhook", "deliveries", "--registry", "mian"]);
    assert!(
        stderr.contains("mian") && stderr.contains("main"),
        "{stderr}"
    );

    // Refusals change nothing: no new delivery, nothing sent, nothing audited.
    let before = deliveries(dir.path());
    let stderr = fail(dir.path(), &["webhook", "redeliver", "4242"]);
    assert!(
        stderr.contains("there is no webhook delivery with id 4242"),
        "{stderr}"
    );
    let stderr = fail(
        dir.path(),
        &["webhook", "redeliver", &failed_id.to_string()],
    );
    assert!(
        stderr.contains(&format!("webhook delivery {failed_id} is not finished yet")),
        "{stderr}"
    );
    let stderr = fail(dir.path(), &["webhook", "redeliver", "latest"]);
    assert!(stderr.contains("invalid value 'latest'"), "{stderr}");
    assert_eq!(deliveries(dir.path()), before);
    let audited = succeed(
        dir.path(),
        &["audit", "--action", "webhook_redeliver", "--json"],
    );
    assert_eq!(audited.trim(), "[]");
    assert_eq!(ok.received().len(), 1);

    let said = succeed(
        dir.path(),
        &["webhook", "redeliver", &delivered_id.to_string()],
    );
    assert!(
        said.starts_with(&format!(
            "queued delivery {delivered_id} (publish of `main` to {})",
            ok.url
        )),
        "{said}"
    );
    let again = ok.wait_for_deliveries(2, WAIT).await.remove(1);
    assert_eq!(again.body, first.body);
    for header in ["x-cargohold-delivery", "x-cargohold-signature"] {
        assert_eq!(again.header(header), first.header(header), "{header}");
    }
    let listed = wait_for_states(dir.path(), &["delivered", "retrying", "delivered"]).await;
    assert_eq!(listed[0]["redelivery_of"], delivered_id);
    let table = succeed(dir.path(), &["webhook", "deliveries"]);
    assert!(
        table.contains(&format!("delivered (again of {delivered_id})")),
        "{table}"
    );
    let audited: Vec<serde_json::Value> = serde_json::from_str(&succeed(
        dir.path(),
        &["audit", "--action", "webhook_redeliver", "--json"],
    ))
    .unwrap();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["registry"], "main");
    assert_eq!(audited[0]["detail"]["delivery"], delivered_id);
    assert!(served.terminate().success());
}

#[test]
fn webhook_commands_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (&["webhook", "--help"][..], "deliveries"),
        (&["webhook", "deliveries", "--help"], "--failed"),
        (&["webhook", "deliveries", "--help"], "given up"),
        (&["webhook", "redeliver", "--help"], "X-Cargohold-Delivery"),
    ] {
        let help = succeed(dir.path(), args);
        assert!(help.contains(expected), "{expected} in {args:?}: {help}");
    }
}

/// Runs `cargohold serve` on `config`, which must stop at once; its standard error.
fn serve_refused(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cargohold.toml"), config).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .env_remove("CARGOHOLD_TEST_UNSET_HOOK_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_with_timeout(&mut child);
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    stderr
}

#[test]
fn secret_and_secret_env_together_are_refused() {
    let stderr = serve_refused(
        "[[registries]]\nname = \"main\"\n[[registries.webhooks]]\n\
         url = \"https://ci.example.com/hooks\"\nsecret = \"s\"\nsecret-env = \"HOOK_SECRET\"\n",
    );
    assert!(
        stderr.contains(
            "registry `main`: the webhook https://ci.example.com/hooks has both `secret` and `secret-env`"
        ),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_a_secret_env_variable_that_is_not_set_naming_it() {
    let stderr = serve_refused(
        "[[registries]]\nname = \"main\"\n[[registries.webhooks]]\n\
         url = \"https://ci.example.com/hooks\"\nsecret-env = \"CARGOHOLD_TEST_UNSET_HOOK_SECRET\"\n",
    );
    assert!(
        stderr.contains("`CARGOHOLD_TEST_UNSET_HOOK_SECRET` is not set"),
        "{stderr}"
    );
}
