//! Publish latency: sequential `cargo publish`-shaped requests into a large and a small registry.

use std::time::Instant;

use crate::Bench;
use crate::dataset::{self, Registry};
use crate::report::Section;
use crate::servers::Cargohold;

/// Publishes `count` new crates one after another and returns each latency in milliseconds.
fn latencies(bench: &Bench, registry: &Registry, count: usize) -> anyhow::Result<Vec<f64>> {
    let scratch = tempfile::tempdir()?;
    let data = registry.copy_to(scratch.path())?;
    let server = Cargohold::start(&bench.binary, &data)?;
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
    let mut times = Vec::with_capacity(count);
    for body in bodies {
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
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status.is_success(), "publish failed: {status} {text}");
    }
    Ok(times)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn run(bench: &Bench, large: &Registry, small: &Registry) -> anyhow::Result<Section> {
    let mut rows = Vec::new();
    for registry in [large, small] {
        let mut times = latencies(bench, registry, bench.publishes)?;
        times.sort_by(f64::total_cmp);
        rows.push(vec![
            format!(
                "{} crates, {} versions",
                registry.crates.len(),
                registry.version_count()
            ),
            bench.publishes.to_string(),
            format!("{:.2}", percentile(&times, 0.5)),
            format!("{:.2}", percentile(&times, 0.99)),
            format!("{:.2}", times.iter().sum::<f64>() / times.len() as f64),
        ]);
    }
    Ok(Section {
        title: "Publish",
        command: "PUT /api/v1/crates/new, one after another on one keep-alive connection, new crates with two dependencies".into(),
        header: vec!["registry", "publishes", "p50 ms", "p99 ms", "mean ms"],
        rows,
        notes: vec![
            "SQLite with synchronous = FULL and fsynced blobs: every acknowledged publish is on disk. \
             Target: p50 ≤ 5 ms, p99 ≤ 20 ms, and no growth with the registry's size."
                .into(),
        ],
    })
}
