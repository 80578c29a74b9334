//! The crash harness: workers publish, yank, unyank and change owners through the
//! API while the server is killed with SIGKILL at random moments and started again.
//! Then every acknowledged change must be there, nothing else may be, every version
//! must download with its index checksum, and `cargohold check` must pass.
//!
//! A request cut off by a kill has an unknown outcome, so its worker sends the same
//! request again until it gets an answer (a publish that did land is then refused as
//! already uploaded, which proves it landed). The model each worker keeps is thus
//! exact, and the registry must match it exactly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cargohold_test_support::CrateFixture;
use indicatif::ProgressBar;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::node::{Node, Setup};

/// How long a crash run goes.
#[derive(Debug, Clone)]
pub struct CrashOptions {
    /// SIGKILLs to deliver.
    pub kills: usize,
    /// Concurrent workers, each with crates of its own.
    pub workers: usize,
    /// Crates per worker.
    pub crates_per_worker: usize,
    /// A kill comes this many milliseconds after the server is up, at random within the range.
    pub kill_after_millis: (u64, u64),
}

impl Default for CrashOptions {
    fn default() -> Self {
        Self {
            kills: 100,
            workers: 4,
            crates_per_worker: 5,
            kill_after_millis: (20, 400),
        }
    }
}

/// What a crash run did and found.
#[derive(Debug, Default, Clone)]
pub struct CrashReport {
    pub kills: usize,
    pub seconds: f64,
    /// Requests answered 2xx (each an acknowledged change).
    pub acknowledged: u64,
    pub publishes: u64,
    pub yanks: u64,
    pub owner_changes: u64,
    /// Requests cut off by a kill (and sent again until answered).
    pub cut_off: u64,
    /// Cut-off publishes that turned out to have landed before the kill.
    pub landed_before_kill: u64,
    /// Versions checked at the end (index line, download, checksum).
    pub versions_checked: usize,
    pub crates_checked: usize,
    /// 5xx answers, unexpected 4xx, and mismatches; empty when nothing was lost.
    pub problems: Vec<String>,
    /// `cargohold check` runs until it passed (the git index catches up after a restart).
    pub check_attempts: usize,
}

#[derive(Debug, Clone, Default)]
struct CrateModel {
    /// version → (checksum, yanked)
    versions: BTreeMap<String, (String, bool)>,
    /// Whether `bob` is an owner besides `admin`.
    bob: bool,
}

#[derive(Default)]
struct Counters {
    acknowledged: AtomicU64,
    publishes: AtomicU64,
    yanks: AtomicU64,
    owner_changes: AtomicU64,
    cut_off: AtomicU64,
    landed_before_kill: AtomicU64,
}

/// Runs the harness against a fresh registry in `setup` and returns what it saw.
pub async fn run(setup: &Setup, options: &CrashOptions) -> anyhow::Result<CrashReport> {
    setup.write_config()?;
    let started = Instant::now();
    let first = Node::start(setup)?;
    let token = first
        .token()
        .context("the first start prints an admin token")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = setup.url();
    let created = client
        .post(format!("{base}api/v1/admin/users"))
        .header("authorization", &token)
        .json(&serde_json::json!({"login": "bob"}))
        .send()
        .await?;
    if !created.status().is_success() {
        bail!("could not create user bob: {}", created.status());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let problems = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..options.workers {
        let worker = Worker {
            client: client.clone(),
            base: base.clone(),
            token: token.clone(),
            counters: counters.clone(),
            problems: problems.clone(),
            crates: (0..options.crates_per_worker)
                .map(|c| (format!("crash-w{w}-c{c}"), CrateModel::default()))
                .collect(),
        };
        workers.push(tokio::spawn(worker.run(stop.clone())));
    }

    let progress = ProgressBar::new(options.kills as u64).with_style(crate::bar_style());
    progress.set_message("kills");
    let mut node = Some(first);
    for _ in 0..options.kills {
        let (low, high) = options.kill_after_millis;
        tokio::time::sleep(Duration::from_millis(rand::random_range(low..=high))).await;
        if let Some(running) = node.take() {
            running.kill()?;
        }
        progress.inc(1);
        progress.set_message(format!(
            "kills, {} changes acknowledged",
            counters.acknowledged.load(Ordering::Relaxed)
        ));
        let setup = setup.clone();
        node = Some(tokio::task::spawn_blocking(move || Node::start(&setup)).await??);
    }
    progress.finish_and_clear();

    stop.store(true, Ordering::Relaxed);
    let mut model = BTreeMap::new();
    for worker in workers {
        model.extend(worker.await?);
    }

    let mut report = CrashReport {
        kills: options.kills,
        acknowledged: counters.acknowledged.load(Ordering::Relaxed),
        publishes: counters.publishes.load(Ordering::Relaxed),
        yanks: counters.yanks.load(Ordering::Relaxed),
        owner_changes: counters.owner_changes.load(Ordering::Relaxed),
        cut_off: counters.cut_off.load(Ordering::Relaxed),
        landed_before_kill: counters.landed_before_kill.load(Ordering::Relaxed),
        ..CrashReport::default()
    };
    verify(&client, &base, &token, &model, &mut report).await?;

    // The git index is written after the answer; give the writer a moment after the last restart.
    for attempt in 1..=20 {
        report.check_attempts = attempt;
        let (passed, output) = setup.check()?;
        if passed {
            break;
        }
        if attempt == 20 {
            report.problems.push(format!(
                "cargohold check failed:\n{output}\nserver log:\n{}",
                setup.log_tail(10)
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if let Some(node) = node.take() {
        node.stop()?;
    }
    report
        .problems
        .extend(problems.lock().expect("no worker panicked").drain(..));
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Compares the registry with the model: index lines, yanked flags, owners, and
/// every `.crate` against its checksum.
async fn verify(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    model: &BTreeMap<String, CrateModel>,
    report: &mut CrashReport,
) -> anyhow::Result<()> {
    for (name, expected) in model {
        report.crates_checked += 1;
        let index_path = cargohold_protocol::name::index_path(name);
        let response = client
            .get(format!("{base}registries/main/index/{index_path}"))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        let mut found = BTreeMap::new();
        if status == StatusCode::OK {
            for line in text.lines() {
                let entry: serde_json::Value = serde_json::from_str(line)?;
                found.insert(
                    entry["vers"].as_str().unwrap_or_default().to_owned(),
                    (
                        entry["cksum"].as_str().unwrap_or_default().to_owned(),
                        entry["yanked"].as_bool().unwrap_or_default(),
                    ),
                );
            }
        } else if !expected.versions.is_empty() || status != StatusCode::NOT_FOUND {
            report
                .problems
                .push(format!("index file of {name}: {status}"));
            continue;
        }
        if found != expected.versions {
            report.problems.push(format!(
                "{name}: the index has {found:?}, acknowledged were {:?}",
                expected.versions
            ));
        }
        for (version, (checksum, _)) in &expected.versions {
            report.versions_checked += 1;
            let response = client
                .get(format!(
                    "{base}registries/main/crates/{name}/{name}-{version}.crate"
                ))
                .send()
                .await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            let actual = hex::encode(Sha256::digest(&bytes));
            if status != StatusCode::OK || &actual != checksum {
                report.problems.push(format!(
                    "{name}@{version}: download {status}, sha256 {actual}, index says {checksum}"
                ));
            }
        }
        if !expected.versions.is_empty() {
            let owners: serde_json::Value = client
                .get(format!("{base}registries/main/api/v1/crates/{name}/owners"))
                .header("authorization", token)
                .send()
                .await?
                .json()
                .await?;
            let mut logins: Vec<&str> = owners["users"]
                .as_array()
                .map(|users| users.iter().filter_map(|u| u["login"].as_str()).collect())
                .unwrap_or_default();
            logins.sort_unstable();
            let wanted: &[&str] = if expected.bob {
                &["admin", "bob"]
            } else {
                &["admin"]
            };
            if logins != wanted {
                report.problems.push(format!(
                    "{name}: owners {logins:?}, acknowledged {wanted:?}"
                ));
            }
        }
    }
    Ok(())
}

/// One worker: its crates, and what the registry acknowledged about them.
struct Worker {
    client: reqwest::Client,
    base: String,
    token: String,
    counters: Arc<Counters>,
    problems: Arc<std::sync::Mutex<Vec<String>>>,
    crates: BTreeMap<String, CrateModel>,
}

/// What an answered request turned out to be.
enum Answer {
    Done,
    /// A publish sent again after a cut-off was refused: the first attempt landed.
    AlreadyThere,
}

impl Worker {
    async fn run(mut self, stop: Arc<AtomicBool>) -> BTreeMap<String, CrateModel> {
        let names: Vec<String> = self.crates.keys().cloned().collect();
        while !stop.load(Ordering::Relaxed) {
            let name = &names[rand::random_range(0..names.len())];
            let krate = &self.crates[name];
            let choice = rand::random_range(0..100);
            if krate.versions.is_empty() || choice < 55 {
                self.publish(name).await;
            } else if choice < 85 {
                let versions: Vec<&String> = krate.versions.keys().collect();
                let version = versions[rand::random_range(0..versions.len())].clone();
                self.toggle_yank(name, &version).await;
            } else {
                self.toggle_bob(name).await;
            }
        }
        self.crates
    }

    async fn publish(&mut self, name: &str) {
        let next = format!("1.0.{}", self.crates[name].versions.len());
        let fixture = CrateFixture::new(name, &next);
        let body = fixture.publish_body();
        let url = format!("{}registries/main/api/v1/crates/new", self.base);
        if let Some(answer) = self.send(Method::PUT, &url, body, "publish").await {
            if matches!(answer, Answer::AlreadyThere) {
                self.counters
                    .landed_before_kill
                    .fetch_add(1, Ordering::Relaxed);
            }
            self.counters.publishes.fetch_add(1, Ordering::Relaxed);
            let model = self.crates.get_mut(name).expect("own crate");
            model.versions.insert(next, (fixture.checksum(), false));
        }
    }

    async fn toggle_yank(&mut self, name: &str, version: &str) {
        let yanked = self.crates[name].versions[version].1;
        let (method, action) = if yanked {
            (Method::PUT, "unyank")
        } else {
            (Method::DELETE, "yank")
        };
        let url = format!(
            "{}registries/main/api/v1/crates/{name}/{version}/{action}",
            self.base
        );
        if self.send(method, &url, Vec::new(), action).await.is_some() {
            self.counters.yanks.fetch_add(1, Ordering::Relaxed);
            let model = self.crates.get_mut(name).expect("own crate");
            model.versions.get_mut(version).expect("known version").1 = !yanked;
        }
    }

    async fn toggle_bob(&mut self, name: &str) {
        let bob = self.crates[name].bob;
        let method = if bob { Method::DELETE } else { Method::PUT };
        let url = format!("{}registries/main/api/v1/crates/{name}/owners", self.base);
        let body = serde_json::to_vec(&serde_json::json!({"users": ["bob"]})).expect("json");
        if self.send(method, &url, body, "owners").await.is_some() {
            self.counters.owner_changes.fetch_add(1, Ordering::Relaxed);
            self.crates.get_mut(name).expect("own crate").bob = !bob;
        }
    }

    /// Sends until answered. `None` when the answer was a failure (recorded as a problem).
    async fn send(&self, method: Method, url: &str, body: Vec<u8>, what: &str) -> Option<Answer> {
        let mut attempts = 0u32;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            attempts += 1;
            let sent = self
                .client
                .request(method.clone(), url)
                .header("authorization", &self.token)
                .body(body.clone())
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(_) if Instant::now() < deadline => {
                    // The server is down (killed) or was killed mid-request: the outcome is unknown.
                    if attempts == 1 {
                        self.counters.cut_off.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Err(err) => {
                    self.problem(format!("{what} {url}: no answer for 120 s: {err}"));
                    return None;
                }
            };
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                self.counters.acknowledged.fetch_add(1, Ordering::Relaxed);
                return Some(Answer::Done);
            }
            if attempts > 1 && what == "publish" && text.contains("already uploaded") {
                return Some(Answer::AlreadyThere);
            }
            self.problem(format!("{what} {url}: {status} {text}"));
            return None;
        }
    }

    fn problem(&self, message: String) {
        self.problems
            .lock()
            .expect("no worker panicked")
            .push(message);
    }
}
