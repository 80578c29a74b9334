//! Several `cargohold serve` processes on one database and one S3 bucket, as behind a load
//! balancer: what one node is told, every node serves; a contested publish has one winner.

use std::path::Path;
use std::time::{Duration, Instant};

use cargohold_test_support::{CrateFixture, S3Server, ScratchDatabase};

use super::{BIN, Served};

/// A node's configuration: the shared database, bucket and git directory, its own data directory.
fn write_node_config(
    dir: &Path,
    poll_millis: u64,
    public_url: &str,
    database_url: &str,
    s3: &S3Server,
    git_dir: &Path,
) {
    let config = format!(
        "public-url = \"{public_url}\"\ndatabase-url = \"{database_url}\"\nstorage-url = \"s3://shared/blobs\"\nindex-poll-millis = {poll_millis}\n\
         git-dir = \"{}\"\n\n\
         [s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess-key-id = \"node\"\nsecret-access-key = \"node-secret\"\n\n\
         [[registries]]\nname = \"main\"\ngit-index = true\n",
        git_dir.display(),
        s3.endpoint
    );
    std::fs::write(dir.join("cargohold.toml"), config).unwrap();
}

/// What two nodes share (a bucket, a git directory, and a database: a scratch PostgreSQL
/// one when the tests run on PostgreSQL, else one SQLite file), and their own data directories.
pub(super) struct Cluster {
    s3: S3Server,
    pub(super) database: Option<ScratchDatabase>,
    pub(super) node_dirs: [tempfile::TempDir; 2],
    ports: [u16; 2],
    shared: tempfile::TempDir,
}

impl Cluster {
    pub(super) async fn new() -> Self {
        Self::polling_every(50).await
    }

    /// Nodes that look for each other's index changes every `poll_millis`.
    async fn polling_every(poll_millis: u64) -> Self {
        let s3 = S3Server::start().await;
        s3.create_bucket("shared").await;
        let shared = tempfile::tempdir().unwrap();
        let database = ScratchDatabase::from_env().await;
        let database_url = match &database {
            Some(database) => database.url.clone(),
            None => format!("sqlite://{}", shared.path().join("cargohold.db").display()),
        };
        let node_dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let ports = [free_port(), free_port()];
        // Behind a load balancer every node has the same public URL; here it is node 0's.
        let public_url = format!("http://127.0.0.1:{}/", ports[0]);
        for dir in &node_dirs {
            let git_dir = shared.path().join("git");
            write_node_config(
                dir.path(),
                poll_millis,
                &public_url,
                &database_url,
                &s3,
                &git_dir,
            );
        }
        Self {
            s3,
            database,
            node_dirs,
            ports,
            shared,
        }
    }

    /// Starts node `i`; its `url` is its own address, not the shared public URL.
    pub(super) fn start(&self, i: usize) -> Served {
        let listen = format!("127.0.0.1:{}", self.ports[i]);
        let mut node = Served::start_at(self.node_dirs[i].path(), &listen);
        node.url = format!("http://{listen}/");
        node
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(database) = self.database.take() {
            database.drop_later();
        }
    }
}

/// Asks `url` until `done` holds for its answer (status, body), for at most 5 seconds.
pub(super) async fn eventually(url: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        if done(status, &body) || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn publish(node: &str, token: &str, fixture: &CrateFixture) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("{node}registries/main/api/v1/crates/new"))
        .header("authorization", token)
        .body(fixture.publish_body())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_on_one_database_and_bucket_serve_each_others_changes() {
    let cluster = Cluster::new().await;
    let (s3, dir_a) = (&cluster.s3, &cluster.node_dirs[0]);
    let (a, b) = (cluster.start(0), cluster.start(1));
    let token = a.token().expect("the first node sets the database up");
    assert_eq!(b.token(), None, "the second node finds it set up");
    assert!(
        b.banner.contains("storage: s3://shared/blobs"),
        "{}",
        b.banner
    );

    // Published through A: B's index, download and search have it.
    let fixture = CrateFixture::new("everywhere", "1.0.0");
    let response = publish(&a.url, &token, &fixture).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let index = format!("{}registries/main/index/ev/er/everywhere", b.url);
    let (status, body) = eventually(&index, |status, _| status == 200).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"vers\":\"1.0.0\""), "{body}");
    let download = format!(
        "{}registries/main/crates/everywhere/everywhere-1.0.0.crate",
        b.url
    );
    let bytes = reqwest::get(&download)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), fixture.tarball().as_slice());
    let search = reqwest::get(format!(
        "{}registries/main/api/v1/crates?q=everywhere",
        b.url
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(search.contains("\"name\":\"everywhere\""), "{search}");

    // Yanked through B: A's index says so.
    let yank = reqwest::Client::new()
        .delete(format!(
            "{}registries/main/api/v1/crates/everywhere/1.0.0/yank",
            b.url
        ))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(yank.status(), 200);
    let index_a = format!("{}registries/main/index/ev/er/everywhere", a.url);
    let (_, body) = eventually(&index_a, |_, body| body.contains("\"yanked\":true")).await;
    assert!(body.contains("\"yanked\":true"), "{body}");

    // Twenty publishes of one version, spread over both nodes: exactly one wins.
    let contested = CrateFixture::new("contested", "1.0.0");
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let node = if i % 2 == 0 {
                a.url.clone()
            } else {
                b.url.clone()
            };
            let (token, contested) = (token.clone(), contested.clone());
            tokio::spawn(async move { publish(&node, &token, &contested).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 400 || s == 409),
        "losers get a 4xx, never a 5xx: {statuses:?}"
    );
    let versions = reqwest::get(format!("{}registries/main/index/co/nt/contested", a.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(versions.lines().count(), 1, "{versions}");

    // Both nodes' writes agree with the bucket and the index.
    drop((a, b));
    let check = std::process::Command::new(BIN)
        .args(["--data-dir", dir_a.path().to_str().unwrap(), "check"])
        .current_dir(dir_a.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(s3.keys("shared").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_a_node_in_the_middle_of_publishes_loses_nothing_acknowledged() {
    let cluster = Cluster::new().await;
    let dir_b = &cluster.node_dirs[1];
    let (mut a, b) = (cluster.start(0), cluster.start(1));
    let token = a.token().unwrap();

    // Forty publishes in flight on A, each with a few hundred KiB to store, when A is killed.
    let payload: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let fixtures: Vec<CrateFixture> = (0..40)
        .map(|i| {
            let mut fixture = CrateFixture::new(&format!("inflight-{i}"), "1.0.0");
            fixture
                .extra_entries
                .push(cargohold_test_support::TarEntry::file(
                    format!("inflight-{i}-1.0.0/data.bin"),
                    payload.clone(),
                ));
            fixture
        })
        .collect();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let attempts: Vec<_> = fixtures
        .iter()
        .map(|fixture| {
            let (url, token, fixture) = (a.url.clone(), token.clone(), fixture.clone());
            let answered = answered.clone();
            tokio::spawn(async move {
                // A publish cut off by the kill fails on the client side; that is allowed.
                let response = reqwest::Client::new()
                    .put(format!("{url}registries/main/api/v1/crates/new"))
                    .header("authorization", token)
                    .body(fixture.publish_body())
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status() == 200 => {
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Some(fixture.name)
                    }
                    _ => None,
                }
            })
        })
        .collect();
    // Kill A once a few publishes are through and the rest are still being stored.
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "no publish went through A");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for attempt in attempts {
        if let Some(name) = attempt.await.unwrap() {
            acknowledged.push(name);
        }
    }

    assert!(acknowledged.len() >= 5, "{acknowledged:?}");
    assert!(
        acknowledged.len() < fixtures.len(),
        "the kill came after every publish finished; it should cut some off"
    );
    // Every acknowledged publish is served by the surviving node.
    for name in &acknowledged {
        let path = cargohold_protocol::name::index_path(name);
        let (status, _) = eventually(&format!("{}registries/main/index/{path}", b.url), |s, _| {
            s == 200
        })
        .await;
        assert_eq!(
            status, 200,
            "{name} was acknowledged but B does not serve it"
        );
    }
    // And the database, the bucket and the index agree: no version is half there. The git
    // index is derived after the answer, so B's writer (woken within a poll) may still be
    // catching up; on a loaded machine that takes a while.
    let deadline = Instant::now() + Duration::from_secs(15);
    let check = loop {
        let check = std::process::Command::new(BIN)
            .args(["--data-dir", dir_b.path().to_str().unwrap(), "check"])
            .current_dir(dir_b.path())
            .output()
            .unwrap();
        if check.status.success() || Instant::now() > deadline {
            break check;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    drop(b);
    let printed = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    eprintln!(
        "{} of {} publishes acknowledged before the kill; {printed}",
        acknowledged.len(),
        fixtures.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_sharing_a_git_dir_commit_each_change_once() {
    let cluster = Cluster::new().await;
    let (a, b) = (cluster.start(0), cluster.start(1));
    let token = a.token().unwrap();
    let mut expected = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        let fixture = CrateFixture::new(&format!("gitted-{i}"), "1.0.0");
        let response = publish(&node.url, &token, &fixture).await;
        assert_eq!(response.status(), 200);
        expected.push(format!("Publish gitted-{i} 1.0.0"));
    }
    // Both writers are woken by every change; the shared lock lets one commit it.
    let repo = cluster.shared.path().join("git/main.git");
    let subjects = || {
        let output = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&repo)
            .args(["log", "--format=%s", "main"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !expected.iter().all(|s| subjects().contains(s)) {
        assert!(Instant::now() < deadline, "{:?}", subjects());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = subjects();
    for subject in &expected {
        let times = log.iter().filter(|s| *s == subject).count();
        assert_eq!(times, 1, "{subject} committed {times} times: {log:?}");
    }
    drop((a, b));
    let check = std::process::Command::new(BIN)
        .args([
            "--data-dir",
            cluster.node_dirs[1].path().to_str().unwrap(),
            "check",
        ])
        .current_dir(cluster.node_dirs[1].path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// On PostgreSQL a commit is announced to the other nodes (LISTEN/NOTIFY), so they do not
/// wait for their next poll. (On SQLite nodes only poll; the SQLite pass has nothing to show.)
#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_other_nodes_hear_of_a_change_at_once() {
    let cluster = Cluster::polling_every(60_000).await;
    if cluster.database.is_none() {
        return;
    }
    let (a, b) = (cluster.start(0), cluster.start(1));
    let token = a.token().unwrap();
    // B caches "no such crate" first, so only an announcement can make it look again.
    let index_b = format!("{}registries/main/index/he/ar/heard", b.url);
    assert_eq!(reqwest::get(&index_b).await.unwrap().status(), 404);
    let response = publish(&a.url, &token, &CrateFixture::new("heard", "1.0.0")).await;
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let (status, _) = eventually(&index_b, |status, _| status == 200).await;
    assert_eq!(status, 200, "B did not hear of the publish within 5 s");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
