//! `cargohold backup` of a running server and `cargohold restore` into a new data directory.

use std::path::Path;

use cargohold_test_support::CrateFixture;

use super::{Served, cargohold};

async fn publish(node: &Served, token: &str, fixture: &CrateFixture) {
    let response = reqwest::Client::new()
        .put(format!("{}registries/main/api/v1/crates/new", node.url))
        .header("authorization", token)
        .body(fixture.publish_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Every file under `dir` with its size and modification time, to see that nothing changed.
fn snapshot_of(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.push((entry.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    files.sort();
    files
}

fn run_ok(data_dir: &Path, args: &[&str]) -> String {
    let output = cargohold(data_dir, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "cargohold {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_of_a_running_server_restores_into_an_empty_data_dir_that_checks_clean() {
    let (live, backups, restored) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let server = Served::start(live.path());
    let token = server.token().unwrap();
    let kept = [
        CrateFixture::new("kept-one", "1.0.0"),
        CrateFixture::new("kept-one", "1.1.0"),
        CrateFixture::new("kept-two", "0.2.0"),
    ];
    for fixture in &kept {
        publish(&server, &token, fixture).await;
    }
    let backup = backups.path().join("monday");
    let printed = run_ok(live.path(), &["backup", backup.to_str().unwrap()]);
    assert!(printed.contains("3 blobs"), "{printed}");
    // Published after the backup: not in it.
    publish(&server, &token, &CrateFixture::new("later", "1.0.0")).await;

    // A second backup into the same directory is refused and changes nothing there.
    let before = snapshot_of(&backup);
    let again = cargohold(live.path(), &["backup", backup.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    assert_eq!(
        snapshot_of(&backup),
        before,
        "a refused backup changed the directory"
    );
    drop(server);

    // The backup keeps the registries and settings it was made with, without
    // where the data lived, and the configuration it holds reads back.
    let saved = std::fs::read_to_string(backup.join("cargohold.toml")).unwrap();
    assert!(saved.contains("name = \"main\""), "{saved}");
    assert!(
        !saved.contains("data-dir") && !saved.contains("database-url"),
        "{saved}"
    );
    let shown = cargohold(
        restored.path(),
        &[
            "--config",
            backup.join("cargohold.toml").to_str().unwrap(),
            "config",
            "show",
        ],
    );
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );

    let printed = run_ok(restored.path(), &["restore", backup.to_str().unwrap()]);
    assert!(printed.contains("3 blobs"), "{printed}");
    assert!(
        printed.contains("the registries and settings it was made with are in")
            && printed.contains("cargohold.toml"),
        "{printed}"
    );
    let checked = run_ok(restored.path(), &["check"]);
    assert!(checked.contains("0 problems"), "{checked}");
    // Restoring over data that is already there is refused.
    let before = snapshot_of(restored.path());
    let over = cargohold(restored.path(), &["restore", backup.to_str().unwrap()]);
    assert!(!over.status.success());
    assert!(String::from_utf8_lossy(&over.stderr).contains("already exists"));
    assert_eq!(
        snapshot_of(restored.path()),
        before,
        "a refused restore changed the data"
    );

    let server = Served::start(restored.path());
    for fixture in &kept {
        let url = format!(
            "{}registries/main/crates/{}/{}-{}.crate",
            server.url, fixture.name, fixture.name, fixture.version
        );
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.bytes().await.unwrap().as_ref(), fixture.tarball());
    }
    let later = reqwest::get(format!("{}registries/main/index/la/te/later", server.url))
        .await
        .unwrap();
    assert_eq!(later.status(), 404);
    // The restored registry keeps its token and takes publishes.
    publish(
        &server,
        &token,
        &CrateFixture::new("after-restore", "1.0.0"),
    )
    .await;
}
