//! `.crate` download throughput: cargohold against nginx serving the same files.

use crate::dataset::Registry;
use crate::index::lay_out_crates;
use crate::report::{Section, ratio};
use crate::servers::{Cargohold, Nginx};
use crate::{Bench, load};

pub fn run(bench: &Bench, registry: &Registry) -> anyhow::Result<Section> {
    let scratch = bench.scratch()?;
    let data = registry.copy_to(&scratch)?;
    let www = scratch.join("www");
    lay_out_crates(registry, &www)?;
    let server = Cargohold::start(&bench.binary, &data)?;
    let nginx = Nginx::start(&www)?;

    // Every 7th version, so both servers read files that are not all in one cache line of the disk.
    let targets: Vec<(String, Option<String>)> = registry
        .crates
        .iter()
        .flat_map(|(name, versions)| {
            versions
                .iter()
                .map(move |v| format!("/registries/main/crates/{name}/{name}-{v}.crate"))
        })
        .step_by(7)
        .map(|path| (path, None))
        .collect();
    let (nginx_load, ours) = load::alternate(
        bench.rounds,
        || load::run(&nginx.url, &targets, bench.seconds, 64, &scratch),
        || load::run(&server.url, &targets, bench.seconds, 64, &scratch),
    )?;
    let size: u64 = std::fs::read_dir(&registry.crate_files)?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum::<u64>()
        / registry.version_count() as u64;
    Ok(Section {
        title: "Downloads",
        command: format!(
            "wrk -t2 -c64 -d{}s --latency over {} .crate files (about {size} bytes each), with the headers cargo sends over http://; req/s and each latency the median of {} alternating runs",
            bench.seconds,
            targets.len(),
            bench.rounds
        ),
        header: vec![
            "server",
            "req/s",
            "p50 / p99 ms",
            "errors",
            "vs nginx",
        ],
        rows: vec![
            vec![
                "nginx".into(),
                format!("{:.0}", nginx_load.requests_per_second),
                format!("{:.2} / {:.2}", nginx_load.p50_ms, nginx_load.p99_ms),
                nginx_load.errors.to_string(),
                "1.00×".into(),
            ],
            vec![
                "cargohold".into(),
                format!("{:.0}", ours.requests_per_second),
                format!("{:.2} / {:.2}", ours.p50_ms, ours.p99_ms),
                ours.errors.to_string(),
                ratio(ours.requests_per_second, nginx_load.requests_per_second),
            ],
        ],
        notes: vec!["Target: cargohold ≥ 0.9× nginx. cargohold also looks each version up and counts the download.".into()],
    })
}
