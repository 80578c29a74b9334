//! Faults of what cargohold stands on, injected for real: the blob disk full, the
//! database read-only or out of reach. A publish then gets a 5xx that names the
//! cause, stores nothing, and succeeds once the fault clears.
//!
//! The database faults need PostgreSQL (they run in the PostgreSQL pass); the full
//! disk needs a small tmpfs, which needs the right to mount.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cargohold_test_support::{CrateFixture, StoredState, TestServer, error_detail};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A publish that must fail with `status` and a message containing `cause`, and
/// change nothing. A blob written before the database failed (blob before row) is
/// named by no version, and `gc` finds it.
async fn assert_publish_refused(
    server: &TestServer,
    fixture: &CrateFixture,
    status: u16,
    cause: &str,
) {
    let before = server.stored_state().await;
    let response = server.publish(fixture).await;
    assert_eq!(response.status(), status);
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains(cause), "{detail}");
    assert!(detail.contains("nothing was changed"), "{detail}");
    let after = server.stored_state().await;
    let without_blobs = StoredState {
        blobs: before.blobs,
        ..after.clone()
    };
    assert_eq!(without_blobs, before);
    let orphans = cargohold::ops::gc::collect(&server.app, 0, true)
        .await
        .unwrap();
    assert_eq!(orphans.removed.len(), after.blobs - before.blobs);
}

/// A tmpfs of `kib` KiB mounted on a new directory; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(kib: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|output| output.status.success());
        mounted.then_some(Self { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// With `server` keeping something on `disk`: publishes a crate, fills the disk to
/// the last byte, checks a publish is refused with 507 naming `what` and changes
/// nothing while reads go on, then frees the space and checks publishing resumes.
async fn fill_refuse_and_recover(disk: &SmallDisk, server: TestServer, what: &str) {
    let first = CrateFixture::new("before-full", "1.0.0");
    assert_eq!(server.publish(&first).await.status(), 200);

    let filler = disk.dir.path().join("filler");
    let _ = std::fs::write(&filler, vec![1u8; 8 * 1024 * 1024]);
    let fixture = CrateFixture::new("while-full", "1.0.0");
    assert_publish_refused(&server, &fixture, 507, what).await;
    assert_eq!(server.download("before-full", "1.0.0").await.0, 200);
    assert_eq!(server.index_file("before-full").await.0, 200);

    std::fs::remove_file(&filler).unwrap();
    assert_eq!(server.publish(&fixture).await.status(), 200);
    assert_eq!(server.download("while-full", "1.0.0").await.0, 200);
    // Closed before the disk is unmounted.
    server.stop().await;
}

#[tokio::test]
async fn a_full_blob_disk_gets_507_stores_nothing_and_publishing_resumes_when_space_is_freed() {
    let Some(disk) = SmallDisk::mount(512) else {
        eprintln!("skipped: this user cannot mount a tmpfs to fill");
        return;
    };
    let blobs = disk.dir.path().join("blobs");
    let server = TestServer::start_with(|config| {
        config.storage_url = Some(blobs.display().to_string());
    })
    .await;
    fill_refuse_and_recover(&disk, server, "the blob store is out of disk space").await;
}

#[tokio::test]
async fn a_full_sqlite_disk_gets_507_stores_nothing_and_publishing_resumes_when_space_is_freed() {
    let Some(disk) = SmallDisk::mount(2048) else {
        eprintln!("skipped: this user cannot mount a tmpfs to fill");
        return;
    };
    // SQLite on the small disk (in either test pass), blobs where they always are.
    // Its write-ahead log only grows here (no checkpoint before 4 MiB), so any
    // write needs new space.
    let database = disk.dir.path().join("cargohold.db");
    let server = TestServer::start_with(|config| {
        config.database_url = Some(format!("sqlite://{}", database.display()));
    })
    .await;
    fill_refuse_and_recover(&disk, server, "the database is out of disk space").await;
}

fn on_postgres() -> bool {
    std::env::var("CARGOHOLD_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty())
}

/// Runs `sql` on the test PostgreSQL server from a session of its own (`{db}` is
/// replaced by the server's database), as an operator at a psql prompt would.
async fn as_operator(server: &TestServer, sql: &str) {
    use sqlx::Connection;
    let database_url = server.app.config.database_url.clone().unwrap();
    let name = url::Url::parse(&database_url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let admin = std::env::var("CARGOHOLD_TEST_DATABASE_URL").unwrap();
    let mut session = sqlx::postgres::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.replace("{db}", &name)))
        .execute(&mut session)
        .await
        .unwrap();
}

/// New settings reach new sessions only: end the server's, and its pool reconnects.
const RECONNECT: &str =
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}'";

#[tokio::test]
async fn a_read_only_database_gets_503_and_publishing_resumes_when_it_is_writable() {
    if !on_postgres() {
        eprintln!("skipped: runs in the PostgreSQL pass");
        return;
    }
    let server = TestServer::start().await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("writable", "1.0.0"))
            .await
            .status(),
        200
    );
    as_operator(
        &server,
        "ALTER DATABASE {db} SET default_transaction_read_only = on",
    )
    .await;
    as_operator(&server, RECONNECT).await;

    let fixture = CrateFixture::new("read-only", "1.0.0");
    assert_publish_refused(&server, &fixture, 503, "read-only").await;
    let (status, _) = server.index_file("writable").await;
    assert_eq!(status, 200, "reads go on");

    as_operator(
        &server,
        "ALTER DATABASE {db} RESET default_transaction_read_only",
    )
    .await;
    as_operator(&server, RECONNECT).await;
    assert_eq!(server.publish(&fixture).await.status(), 200);
}

/// A TCP relay to PostgreSQL that can be cut: connections are dropped and new ones closed at once.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let relay = Self {
            port,
            up: up.clone(),
            cut: cut.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let target = target.clone();
                let mut cut = cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        relay
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn an_unreachable_database_gets_503_and_publishing_resumes_when_it_is_back() {
    if !on_postgres() {
        eprintln!("skipped: runs in the PostgreSQL pass");
        return;
    }
    let admin_url =
        url::Url::parse(&std::env::var("CARGOHOLD_TEST_DATABASE_URL").unwrap()).unwrap();
    let target = format!(
        "{}:{}",
        admin_url.host_str().unwrap(),
        admin_url.port().unwrap_or(5432)
    );
    let relay = Relay::start(target).await;
    let server = TestServer::start_with(|config| {
        let mut url = url::Url::parse(config.database_url.as_deref().unwrap()).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(relay.port)).unwrap();
        config.database_url = Some(url.to_string());
    })
    .await;
    assert_eq!(
        server
            .publish(&CrateFixture::new("reachable", "1.0.0"))
            .await
            .status(),
        200
    );

    relay.cut();
    let fixture = CrateFixture::new("unreachable", "1.0.0");
    let response = server.publish(&fixture).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let detail = error_detail(&response.text().await.unwrap()).unwrap();
    assert!(detail.contains("database did not answer"), "{detail}");
    let ready = server.get("ready").await;
    assert_eq!(ready.status(), 503);

    relay.restore();
    assert_eq!(server.publish(&fixture).await.status(), 200);
    assert_eq!(server.download("unreachable", "1.0.0").await.0, 200);
    assert_eq!(server.get("ready").await.status(), 200);
}
