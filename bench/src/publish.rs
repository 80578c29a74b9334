//! Publish latency: sequential `cargo publish`-shaped requests into a large and a
//! small registry, without and with the git index (then also until the commit
//! that holds the new crate is on the branch).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Bench;
use crate::dataset::{self, Registry};
use crate::report::Section;
use crate::servers::Cargohold;

/// Latencies of one run, in milliseconds.
struct Times {
    /// Until the publish was answered.
    answered: Vec<f64>,
    /// Until the git index's branch held the new crate (with the git index only).
    in_git: Vec<f64>,
}

/// Publishes `count` new crates one after another; with `git`, also waits for
/// each one's commit on the git index's branch before the next.
fn latencies(bench: &Bench, registry: &Registry, count: usize, git: bool) -> anyhow::Result<Times> {
    let scratch = bench.scratch()?;
    let data = registry.copy_to(&scratch)?;
    let config = scratch.join("cargohold.toml");
    std::fs::write(
        &config,
        // No per-user publish limit: the benchmark publishes far more than 120 a minute.
        format!(
            "[limits]\npublishes-per-minute = 0\n\n[[registries]]\nname = \"main\"\ngit-index = {git}\n"
        ),
    )?;
    let server = Cargohold::start_with_config(&bench.binary, &data, Some(&config))?;
    let branch = data.join("git/main.git/refs/heads/main");
    if git {
        // The first commit holds the whole registry; publishes are timed after it.
        wait_for_change(&branch, None, Duration::from_secs(600))?;
    }
    // Bodies are built first: only the server's work is timed.
    let bodies: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let name = format!("published-{i:05}");
            dataset::fixture(&name, i % registry.crates.len(), "1.0.0", 40).publish_body()
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::new();
    let url = format!("{}registries/main/api/v1/crates/new", server.url);
    let mut times = Times {
        answered: Vec::with_capacity(count),
        in_git: Vec::with_capacity(count),
    };
    for body in bodies {
        let before = git.then(|| std::fs::read(&branch)).transpose()?;
        let started = Instant::now();
        let response = runtime.block_on(
            client
                .put(&url)
                .header("authorization", &registry.token)
                .body(body)
                .send(),
        )?;
        let status = response.status();
        let text = runtime.block_on(response.text())?;
        times
            .answered
            .push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status.is_success(), "publish failed: {status} {text}");
        if let Some(before) = before {
            wait_for_change(&branch, Some(&before), Duration::from_secs(10))?;
            times.in_git.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    write_raw(bench, registry, git, &times)?;
    Ok(times)
}

/// Keeps every latency of a run in the order the publishes were made, one
/// publish per line (answered ms, then until-in-git ms with the git index), in
/// target/bench-data/raw/publish-CRATES[-git].txt: a tail that comes every so
/// many publishes is something periodic, one that does not is the machine.
fn write_raw(bench: &Bench, registry: &Registry, git: bool, times: &Times) -> anyhow::Result<()> {
    let suffix = if git { "-git" } else { "" };
    let path = bench
        .raw
        .join(format!("publish-{}{suffix}.txt", registry.crates.len()));
    let mut text = String::new();
    for (i, answered) in times.answered.iter().enumerate() {
        match times.in_git.get(i) {
            Some(in_git) => writeln!(text, "{answered:.3} {in_git:.3}")?,
            None => writeln!(text, "{answered:.3}")?,
        }
    }
    std::fs::write(&path, text)?;
    Ok(())
}

/// Waits until the file at `path` exists and differs from `before`.
fn wait_for_change(path: &Path, before: Option<&[u8]>, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(now) = std::fs::read(path)
            && Some(now.as_slice()) != before
        {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "the git index did not move within {limit:?}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Writes out what is dirty, then waits a minute: ext4 without a journal does not
/// reuse an inode freed in the last minute (five more while its inode table block
/// is dirty), and creating a file steps over each such inode one lookup at a time.
/// The previous run's `git gc` deleted thousands of files just before.
fn settle_after_deletes() -> anyhow::Result<()> {
    eprintln!("waiting a minute after the last run's git gc deleted its loose objects");
    std::process::Command::new("sync").status()?;
    std::thread::sleep(Duration::from_secs(61));
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn run(bench: &Bench, large: &Registry, small: &Registry) -> anyhow::Result<Vec<Section>> {
    let label = |registry: &Registry| {
        format!(
            "{} crates, {} versions",
            registry.crates.len(),
            registry.version_count()
        )
    };
    // The runs without the git index come first: each git run ends with `git gc`
    // packing thousands of loose objects and deleting them, and on ext4 without a
    // journal creating files stays slower for a while after mass deletes.
    let mut plain = Vec::new();
    for registry in [large, small] {
        let mut times = latencies(bench, registry, bench.publishes, false)?.answered;
        times.sort_by(f64::total_cmp);
        plain.push(vec![
            label(registry),
            bench.publishes.to_string(),
            format!("{:.2}", percentile(&times, 0.5)),
            format!("{:.2}", percentile(&times, 0.99)),
            format!("{:.2}", times.iter().sum::<f64>() / times.len() as f64),
        ]);
    }
    let mut with_git = Vec::new();
    for (i, registry) in [large, small].into_iter().enumerate() {
        if i > 0 {
            settle_after_deletes()?;
        }
        let Times {
            mut answered,
            mut in_git,
        } = latencies(bench, registry, bench.publishes, true)?;
        answered.sort_by(f64::total_cmp);
        in_git.sort_by(f64::total_cmp);
        with_git.push(vec![
            label(registry),
            bench.publishes.to_string(),
            format!("{:.2}", percentile(&answered, 0.5)),
            format!("{:.2}", percentile(&answered, 0.99)),
            format!("{:.2}", percentile(&in_git, 0.5)),
            format!("{:.2}", percentile(&in_git, 0.99)),
        ]);
    }
    let ratio = |rows: &[Vec<String>], column: usize| {
        let value = |row: &Vec<String>| row[column].parse::<f64>().unwrap_or(f64::NAN);
        crate::report::ratio(value(&rows[0]), value(&rows[1]))
    };
    let git_note = format!(
        "Large ÷ small registry, p50 until in git: {} (1.00× = no growth with the number of crates). \
         The writer commits each change on its own, touching only the trees on the crate's path.",
        ratio(&with_git, 4)
    );
    Ok(vec![
        Section {
            title: "Publish",
            command: "PUT /api/v1/crates/new, one after another on one keep-alive connection, new crates with two dependencies".into(),
            header: vec!["registry", "publishes", "p50 ms", "p99 ms", "mean ms"],
            rows: plain,
            notes: vec![
                "SQLite with synchronous = FULL and fsynced blobs: every acknowledged publish is on disk. \
                 Target: p50 ≤ 5 ms, p99 ≤ 20 ms, and no growth with the registry's size."
                    .into(),
            ],
        },
        Section {
            title: "Publish with the git index",
            command: "the same publishes into a registry with `git-index = true`; \"until in git\" waits for the branch to hold the new crate's commit before the next publish".into(),
            header: vec![
                "registry",
                "publishes",
                "p50 ms answered",
                "p99 ms answered",
                "p50 ms until in git",
                "p99 ms until in git",
            ],
            rows: with_git,
            notes: vec![git_note],
        },
    ])
}
