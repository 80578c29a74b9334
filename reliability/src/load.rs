//! The load harness: many clients at once, each with its own connections, mixing
//! what a registry is asked all day (index files, downloads, searches) with
//! publishes, for a bounded time. Every answer is counted; any 5xx, timeout, or
//! "database is locked" is a failure, and afterwards every acknowledged publish
//! must be in the index and `cargohold check` must pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cargohold_test_support::CrateFixture;
use indicatif::ProgressBar;

use crate::node::{Node, Setup};

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub clients: usize,
    pub seconds: u64,
    /// Crates published before the load starts (the read targets).
    pub seed_crates: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            clients: 64,
            seconds: 30,
            seed_crates: 200,
        }
    }
}

/// The kinds of request in the mix, in the report's order.
pub const KINDS: [&str; 5] = ["index", "index 304", "download", "search", "publish"];

/// Answers to one kind of request.
#[derive(Debug, Default, Clone)]
pub struct KindCounts {
    pub ok: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    /// No answer within 30 s, or the connection failed.
    pub failed: u64,
    /// Latencies of answered requests, in microseconds.
    pub latencies_micros: Vec<u64>,
}

impl KindCounts {
    pub fn percentile_millis(&self, p: f64) -> f64 {
        if self.latencies_micros.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies_micros.clone();
        sorted.sort_unstable();
        let at = ((sorted.len() - 1) as f64 * p).round() as usize;
        sorted[at] as f64 / 1000.0
    }
}

#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub clients: usize,
    pub seconds: f64,
    pub kinds: BTreeMap<&'static str, KindCounts>,
    /// Answers whose body mentions a locked database.
    pub locked: u64,
    /// Publishes acknowledged during the load, each checked in the index afterwards.
    pub publishes_checked: usize,
    pub problems: Vec<String>,
}

impl LoadReport {
    pub fn total(&self) -> u64 {
        self.kinds
            .values()
            .map(|k| k.ok + k.client_errors + k.server_errors + k.failed)
            .sum()
    }

    /// Whether anything went wrong: a 5xx, a failed request, a locked database, or a lost publish.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
            && self.locked == 0
            && self
                .kinds
                .values()
                .all(|k| k.server_errors == 0 && k.failed == 0)
    }
}

/// Runs the load against a fresh registry in `setup`.
pub async fn run(setup: &Setup, options: &LoadOptions) -> anyhow::Result<LoadReport> {
    setup.write_config()?;
    let node = Node::start(setup)?;
    let token = node
        .token()
        .context("the first start prints an admin token")?;
    let base = setup.url();
    let seed_client = reqwest::Client::new();
    let mut seeded = Vec::new();
    for i in 0..options.seed_crates {
        let fixture = CrateFixture::new(&format!("load-seed-{i}"), "1.0.0");
        let response = seed_client
            .put(format!("{base}registries/main/api/v1/crates/new"))
            .header("authorization", &token)
            .body(fixture.publish_body())
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("seeding failed: {}", response.status());
        }
        seeded.push(fixture.name);
    }
    let seeded = Arc::new(seeded);

    let started = Instant::now();
    let until = started + Duration::from_secs(options.seconds);
    let progress = ProgressBar::new(options.seconds).with_style(crate::bar_style());
    progress.set_message("seconds of load");
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress.inc(1);
            }
        })
    };
    let mut clients = Vec::new();
    for c in 0..options.clients {
        let client = Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: base.clone(),
            token: token.clone(),
            seeded: seeded.clone(),
            id: c,
        };
        clients.push(tokio::spawn(client.run(until)));
    }
    let mut report = LoadReport {
        clients: options.clients,
        ..LoadReport::default()
    };
    let mut published = Vec::new();
    for client in clients {
        let (counts, locked, names) = client.await?;
        for (kind, count) in counts {
            let total = report.kinds.entry(kind).or_default();
            total.ok += count.ok;
            total.client_errors += count.client_errors;
            total.server_errors += count.server_errors;
            total.failed += count.failed;
            total.latencies_micros.extend(count.latencies_micros);
        }
        report.locked += locked;
        published.extend(names);
    }
    report.seconds = started.elapsed().as_secs_f64();
    ticker.abort();
    progress.finish_and_clear();

    // Every acknowledged publish is in the index.
    for name in &published {
        let path = cargohold_protocol::name::index_path(name);
        let response = seed_client
            .get(format!("{base}registries/main/index/{path}"))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !text.contains("\"vers\":\"1.0.0\"") {
            report.problems.push(format!(
                "acknowledged publish of {name} is not in the index: {status}"
            ));
        }
    }
    report.publishes_checked = published.len();
    let mut check_passed = false;
    let mut last_output = String::new();
    for _ in 0..20 {
        let (passed, output) = setup.check()?;
        if passed {
            check_passed = true;
            break;
        }
        last_output = output;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if !check_passed {
        report.problems.push(format!(
            "cargohold check failed:\n{last_output}\nserver log:\n{}",
            setup.log_tail(10)
        ));
    }
    node.stop()?;
    Ok(report)
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    seeded: Arc<Vec<String>>,
    id: usize,
}

type ClientResult = (BTreeMap<&'static str, KindCounts>, u64, Vec<String>);

impl Client {
    async fn run(self, until: Instant) -> ClientResult {
        let mut counts: BTreeMap<&'static str, KindCounts> = BTreeMap::new();
        let mut locked = 0;
        let mut published = Vec::new();
        let mut etags: BTreeMap<String, String> = BTreeMap::new();
        while Instant::now() < until {
            let name = &self.seeded[rand::random_range(0..self.seeded.len())];
            let choice = rand::random_range(0..100);
            let (kind, request) = if choice < 40 {
                let path = cargohold_protocol::name::index_path(name);
                let url = format!("{}registries/main/index/{path}", self.base);
                match etags.get(name) {
                    Some(etag) if choice < 20 => (
                        "index 304",
                        self.http.get(url).header("if-none-match", etag.as_str()),
                    ),
                    _ => ("index", self.http.get(url)),
                }
            } else if choice < 75 {
                let url = format!(
                    "{}registries/main/crates/{name}/{name}-1.0.0.crate",
                    self.base
                );
                ("download", self.http.get(url))
            } else if choice < 92 {
                let query = &name[..rand::random_range(3..name.len())];
                let url = format!(
                    "{}registries/main/api/v1/crates?q={query}&per_page=10",
                    self.base
                );
                ("search", self.http.get(url))
            } else {
                let fresh = format!("load-c{}-p{}", self.id, published.len());
                let body = CrateFixture::new(&fresh, "1.0.0").publish_body();
                let url = format!("{}registries/main/api/v1/crates/new", self.base);
                published.push(fresh);
                (
                    "publish",
                    self.http
                        .put(url)
                        .header("authorization", &self.token)
                        .body(body),
                )
            };
            let sent = Instant::now();
            let count = counts.entry(kind).or_default();
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let etag = response
                        .headers()
                        .get("etag")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let body = response.bytes().await.unwrap_or_default();
                    count
                        .latencies_micros
                        .push(sent.elapsed().as_micros() as u64);
                    if status.is_server_error() {
                        count.server_errors += 1;
                    } else if status.is_client_error() {
                        count.client_errors += 1;
                    } else {
                        count.ok += 1;
                    }
                    if String::from_utf8_lossy(&body).contains("database is locked") {
                        locked += 1;
                    }
                    if kind == "index"
                        && let Some(etag) = etag
                    {
                        etags.insert(name.clone(), etag);
                    }
                    if kind == "publish" && !status.is_success() {
                        published.pop();
                    }
                }
                Err(_) => {
                    count.failed += 1;
                    if kind == "publish" {
                        published.pop();
                    }
                }
            }
        }
        (counts, locked, published)
    }
}
