//! `ops::gc` against a real server's blobs: old orphans go, a fresh one (a publish
//! in progress) and every version's blob stay, and a dry run removes nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cargohold::ops::gc;
use cargohold_test_support::{CrateFixture, StoredState, TestServer};

const DAY: i64 = 86_400;

/// Writes a blob no version names, last modified `age` ago.
fn orphan(server: &TestServer, key: &str, bytes: &[u8], age: Duration) -> PathBuf {
    let path = server.data_dir().join("blobs").join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    age_file(&path, age);
    path
}

fn age_file(path: &Path, age: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[tokio::test]
async fn gc_removes_old_orphans_and_keeps_fresh_ones_and_every_versions_blob() {
    let server = TestServer::start().await;
    for version in ["1.0.0", "1.1.0"] {
        let response = server.publish(&CrateFixture::new("alpha", version)).await;
        assert_eq!(response.status(), 200);
    }
    // Published blobs are old too: age alone never makes a blob garbage.
    let keys = server.column("SELECT blob_key FROM versions").await;
    for key in &keys {
        age_file(
            &server.data_dir().join("blobs").join(key),
            Duration::from_secs(30 * DAY as u64),
        );
    }
    let (_, before_download) = server.download("alpha", "1.0.0").await;
    let old = orphan(
        &server,
        "crates/main/alpha/0.9.0/0123abcd.crate",
        b"left by a failed publish",
        Duration::from_secs(2 * DAY as u64),
    );
    // What a publish that has written its blob but not yet committed its row leaves.
    let in_flight = orphan(
        &server,
        "crates/main/alpha/1.2.0/4567cdef.crate",
        b"a publish in progress",
        Duration::ZERO,
    );
    let state = server.stored_state().await;

    let dry = gc::collect(&server.app, DAY, true).await.unwrap();
    let listed: Vec<&str> = dry.removed.iter().map(|b| b.key.as_str()).collect();
    assert_eq!(listed, ["crates/main/alpha/0.9.0/0123abcd.crate"]);
    assert_eq!((dry.removed_bytes, dry.young, dry.referenced), (24, 1, 2));
    assert!(old.exists(), "a dry run removes nothing");
    assert_eq!(server.stored_state().await, state);

    let done = gc::collect(&server.app, DAY, false).await.unwrap();
    assert_eq!(done.removed.len(), 1);
    assert_eq!(done.removed_bytes, 24);
    assert!(!old.exists());
    // Nor is the version's directory left behind empty.
    assert!(!old.parent().unwrap().exists(), "{}", old.display());
    assert!(in_flight.exists());
    for key in &keys {
        assert!(server.data_dir().join("blobs").join(key).exists(), "{key}");
    }
    // Nothing else changed: one blob fewer and the gc's audit event, the rest as it was.
    let after = server.stored_state().await;
    assert_eq!(after.blobs, state.blobs - 1);
    assert_eq!(after.audit_events, state.audit_events + 1);
    assert_eq!(
        StoredState {
            blobs: state.blobs,
            audit_events: state.audit_events,
            ..after
        },
        state
    );
    assert_eq!(
        server.download("alpha", "1.0.0").await,
        (200, before_download)
    );

    // A second run finds nothing more to free while the in-flight blob is young.
    let again = gc::collect(&server.app, DAY, false).await.unwrap();
    assert!(again.removed.is_empty());
    assert_eq!(again.young, 1);
}
