//! The blob store as `serve` meets it: a bucket that does not exist is refused at start, and one
//! that disappears later is named by `/ready`, by the publish it fails, and by one log line.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cargohold_test_support::{CrateFixture, S3Server, ScratchDatabase};

use super::{BIN, serve_and_stop, signal_term, wait_with_timeout};

/// Writes a `cargohold.toml` in `dir` whose blobs live in `bucket` on `s3`.
fn write_config(dir: &Path, s3: &S3Server, bucket: &str) {
    let config = format!(
        "storage-url = \"s3://{bucket}/x\"\n\n\
         [s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess-key-id = \"k\"\nsecret-access-key = \"s\"\n",
        s3.endpoint
    );
    std::fs::write(dir.join("cargohold.toml"), config).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_to_start_on_a_bucket_that_does_not_exist_and_creates_nothing() {
    let s3 = S3Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &s3, "nosuchbucket");
    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || {
            let mut child = Command::new(BIN)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .current_dir(&dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            for _ in 0..600 {
                if child.try_wait().unwrap().is_some() {
                    return child.wait_with_output().unwrap();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            child.kill().unwrap();
            panic!("serve was still running after 30 s");
        }
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: cargohold cannot start without its blob store: bucket `nosuchbucket` does not exist \
             at {}; create it or fix storage-url",
            s3.endpoint
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        !dir.path().join("cargohold-data").exists(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_into_a_deleted_bucket_is_logged_as_one_line_naming_the_cause() {
    let s3 = S3Server::start().await;
    s3.create_bucket("registry").await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &s3, "registry");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        // Where backtraces are asked for, an expected fault still gets none.
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let url = loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            child.kill().unwrap();
            panic!("serve exited early:\n{banner}");
        }
        banner.push_str(&line);
        if let Some(rest) = line.strip_prefix("cargohold is listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let token = banner
        .split_whitespace()
        .find(|word| word.starts_with("cargohold_"))
        .unwrap()
        .to_owned();
    s3.delete_bucket("registry").await;

    let response = reqwest::Client::new()
        .put(format!("{url}registries/main/api/v1/crates/new"))
        .header("authorization", &token)
        .body(CrateFixture::new("homeless", "1.0.0").publish_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let detail = cargohold_test_support::error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("bucket does not exist"), "{detail}");

    signal_term(&child);
    wait_with_timeout(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("request failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{stderr}");
    assert!(
        failed[0].contains("bucket does not exist")
            && failed[0].contains("NoSuchBucket")
            && failed[0].contains("/registry/x/crates/main/homeless/"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("backtrace") && !stderr.contains("Caused by"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_with_blobs_in_a_directory_warns_that_every_node_must_share_it() {
    // SQLite is one node's database: its blobs may well be in its own directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cargohold.toml"), "").unwrap();
    let stderr = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || serve_and_stop(&dir).1
    })
    .await
    .unwrap();
    assert!(!stderr.contains("NFS"), "{stderr}");

    // PostgreSQL only when the tests run on it (CARGOHOLD_TEST_DATABASE_URL).
    let Some(database) = ScratchDatabase::from_env().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        format!("database-url = \"{}\"\n", database.url),
    )
    .unwrap();
    let stderr = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || serve_and_stop(&dir).1
    })
    .await
    .unwrap();
    database.drop_later();
    let warnings: Vec<&str> = stderr.lines().filter(|line| line.contains("NFS")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with(
            "warning: the database is PostgreSQL but .crate files are kept in the local directory"
        ) && warnings[0].contains("every node must share that directory")
            && warnings[0].contains("storage-url = \"s3://bucket/prefix\""),
        "{stderr}"
    );
}
