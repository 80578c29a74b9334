//! Sparse index throughput: cargohold against nginx serving the very same files from disk,
//! full responses and 304 revalidations; and cargohold's memory and start-up on that registry.

use std::path::Path;

use anyhow::Context;

use crate::dataset::Registry;
use crate::floor::Stack;
use crate::report::{Section, ratio};
use crate::servers::{Cargohold, Floor, Nginx};
use crate::{Bench, load};

/// Index files as the servers name them: path, cargohold's ETag, nginx's ETag, the floor's ETag.
struct IndexFile {
    path: String,
    ours: String,
    nginx: String,
    floor: String,
}

pub fn run(bench: &Bench, registry: &Registry) -> anyhow::Result<Vec<Section>> {
    let scratch = tempfile::tempdir()?;
    let data = registry.copy_to(scratch.path())?;
    let server = Cargohold::start(&bench.binary, &data)?;
    let start_time = server.start_time;
    let idle_kib = server.rss_kib();

    // Lay the index out on disk for nginx, exactly as cargohold serves it.
    let www = scratch.path().join("www");
    let laid_out = lay_out_index(registry, &server.url, &www)?;
    let nginx = Nginx::start(&www)?;
    let floor = Floor::start(&www, Stack::Hyper)?;
    let tokio_floor = Floor::start(&www, Stack::Tokio)?;
    let paths = || laid_out.iter().map(|(path, _)| path.as_str());
    let (nginx_etags, floor_etags) = (etags(&nginx.url, paths())?, etags(&floor.url, paths())?);
    let files: Vec<IndexFile> = laid_out
        .iter()
        .zip(nginx_etags.into_iter().zip(floor_etags))
        .map(|((path, ours), (nginx, floor))| IndexFile {
            path: path.clone(),
            ours: ours.clone(),
            nginx,
            floor,
        })
        .collect();

    let full: Vec<(String, Option<String>)> =
        files.iter().map(|f| (f.path.clone(), None)).collect();
    let ours_304: Vec<_> = files
        .iter()
        .map(|f| (f.path.clone(), Some(f.ours.clone())))
        .collect();
    let nginx_304: Vec<_> = files
        .iter()
        .map(|f| (f.path.clone(), Some(f.nginx.clone())))
        .collect();
    let floor_304: Vec<_> = files
        .iter()
        .map(|f| (f.path.clone(), Some(f.floor.clone())))
        .collect();
    let run = |url: &str, targets: &[(String, Option<String>)]| {
        load::run(url, targets, bench.seconds, 64, scratch.path())
    };
    let full_runs = load::rotate(
        bench.rounds,
        &mut [
            &mut || run(&nginx.url, &full),
            &mut || run(&server.url, &full),
            &mut || run(&floor.url, &full),
            &mut || run(&tokio_floor.url, &full),
        ],
    )?;
    let revalidate_runs = load::rotate(
        bench.rounds,
        &mut [
            &mut || run(&nginx.url, &nginx_304),
            &mut || run(&server.url, &ours_304),
            &mut || run(&floor.url, &floor_304),
            // Both floors tag files alike.
            &mut || run(&tokio_floor.url, &floor_304),
        ],
    )?;
    let peak_kib = server.peak_rss_kib();

    // The same registry made private, read with a token as cargo sends it.
    let token = read_token(&bench.binary, &data)?;
    let config = scratch.path().join("private.toml");
    std::fs::write(
        &config,
        "[[registries]]\nname = \"main\"\nauth-required = true\n",
    )?;
    let private = Cargohold::start_with_config(&bench.binary, &data, Some(&config))?;
    let private_runs = load::rotate(
        bench.rounds,
        &mut [&mut || run(&server.url, &ours_304), &mut || {
            let url = &private.url;
            load::run_with_token(
                url,
                &ours_304,
                Some(&token),
                bench.seconds,
                64,
                scratch.path(),
            )
        }],
    )?;
    drop((server, private));

    let row = |what: &str, runs: &[load::Load]| {
        let (nginx, ours, floor, tokio_floor) = (runs[0], runs[1], runs[2], runs[3]);
        vec![
            what.to_owned(),
            format!("{:.0}", nginx.requests_per_second),
            format!("{:.0}", ours.requests_per_second),
            ratio(ours.requests_per_second, nginx.requests_per_second),
            format!("{:.2} / {:.2}", nginx.p50_ms, nginx.p99_ms),
            format!("{:.2} / {:.2}", ours.p50_ms, ours.p99_ms),
            format!("{} / {}", nginx.errors, ours.errors),
            format!("{:.0} / {:.2}", floor.requests_per_second, floor.p99_ms),
            ratio(ours.requests_per_second, floor.requests_per_second),
            format!(
                "{:.0} / {:.2}",
                tokio_floor.requests_per_second, tokio_floor.p99_ms
            ),
            ratio(tokio_floor.requests_per_second, nginx.requests_per_second),
        ]
    };
    let versions = registry.version_count();
    let index = Section {
        title: "Sparse index throughput",
        command: format!(
            "wrk -t2 -c64 -d{}s --latency, {} index files ({} crates, {versions} versions), round-robin, with the headers cargo sends over http://; req/s and each latency the median of {} alternating runs",
            bench.seconds,
            files.len(),
            registry.crates.len(),
            bench.rounds
        ),
        header: vec![
            "requests",
            "nginx req/s",
            "cargohold req/s",
            "cargohold / nginx",
            "nginx p50 / p99 ms",
            "cargohold p50 / p99 ms",
            "errors (nginx / cargohold)",
            "hyper floor req/s / p99 ms",
            "cargohold / hyper floor",
            "tokio floor req/s / p99 ms",
            "tokio floor / nginx",
        ],
        rows: vec![
            row("200, full file", &full_runs),
            row("304, If-None-Match", &revalidate_runs),
        ],
        notes: vec![
            "nginx serves the same bytes from disk with sendfile, an open-file cache and ETags; \
             wrk, nginx and cargohold share the machine's cores. Target: cargohold ≥ 1.0× nginx with a p99 no worse."
                .into(),
            "The floors are bench/src/floor.rs, answering the same files from a map in memory, with no routing, \
             lookups or caches. The hyper floor runs on cargohold's HTTP stack (hyper, tokio, mimalloc): the most \
             cargohold could do without leaving hyper. The tokio floor leaves hyper as well: a bare loop that parses \
             request heads with httparse and writes canned answers to the socket, on the same runtime and \
             allocator; about the most any server on tokio could do here. The four servers take turns, round by round."
                .into(),
        ],
    };
    let footprint = Section {
        title: "Memory and start-up",
        command: format!("cargohold serve on the registry above ({versions} versions)"),
        header: vec!["measure", "value", "target"],
        rows: vec![
            vec![
                "start-up (spawn to listening)".into(),
                format!("{:.0} ms", start_time.as_secs_f64() * 1000.0),
                "≤ 1 s".into(),
            ],
            vec![
                "resident memory, idle after start".into(),
                format!("{:.1} MiB", idle_kib as f64 / 1024.0),
                "≤ 30 MiB".into(),
            ],
            vec![
                "peak resident memory under the index load".into(),
                format!("{:.1} MiB", peak_kib as f64 / 1024.0),
                "≤ 150 MiB".into(),
            ],
        ],
        notes: vec![],
    };
    let (public, private) = (private_runs[0], private_runs[1]);
    let private_section = Section {
        title: "Private registry index",
        command: format!(
            "wrk -t2 -c64 -d{}s --latency, the 304s above against cargohold with main public, then private (auth-required = true) with a read-scoped token on every request; req/s and each latency the median of {} alternating runs",
            bench.seconds, bench.rounds
        ),
        header: vec![
            "registry",
            "req/s",
            "p50 / p99 ms",
            "errors",
            "vs public",
        ],
        rows: [("public", public), ("private, with a token", private)]
            .into_iter()
            .map(|(what, load)| {
                vec![
                    what.to_owned(),
                    format!("{:.0}", load.requests_per_second),
                    format!("{:.2} / {:.2}", load.p50_ms, load.p99_ms),
                    load.errors.to_string(),
                    ratio(load.requests_per_second, public.requests_per_second),
                ]
            })
            .collect(),
        notes: vec![
            "Each private read checks the token (its SHA-256, its scopes, its expiry) and the user's role; \
             a check is reused for a second (crates/cargohold/src/auth_cache.rs), so the database is asked \
             about a token at most once a second, not once a request."
                .into(),
        ],
    };
    Ok(vec![index, footprint, private_section])
}

/// A new token of the dataset's administrator with the `read` scope only, made with
/// the command line as an operator would.
fn read_token(binary: &Path, data: &Path) -> anyhow::Result<String> {
    let output = std::process::Command::new(binary)
        .arg("--data-dir")
        .arg(data)
        .args([
            "token",
            "create",
            "admin",
            "--scope",
            "read",
            "--name",
            "bench-read",
        ])
        .output()
        .context("cargohold token create")?;
    anyhow::ensure!(
        output.status.success(),
        "cargohold token create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// Writes every index file of `registry` under `www`, exactly as cargohold at `url`
/// serves it; returns each file's URL path and cargohold's ETag for it.
pub fn lay_out_index(
    registry: &Registry,
    url: &str,
    www: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::new();
    let mut files = Vec::new();
    for (name, _) in &registry.crates {
        let path = format!(
            "registries/main/index/{}",
            cargohold_protocol::name::index_path(name)
        );
        let response = runtime.block_on(client.get(format!("{url}{path}")).send())?;
        let etag = response.headers()["etag"].to_str()?.to_owned();
        let body = runtime.block_on(response.bytes())?;
        let file = www.join(&path);
        std::fs::create_dir_all(file.parent().context("a parent")?)?;
        std::fs::write(&file, &body)?;
        files.push((format!("/{path}"), etag));
    }
    Ok(files)
}

/// The ETag the server at `url` (ending in `/`) gives each of `paths` (`/…`).
pub fn etags<'a>(url: &str, paths: impl Iterator<Item = &'a str>) -> anyhow::Result<Vec<String>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::new();
    paths
        .map(|path| {
            let response = runtime.block_on(client.head(format!("{url}{}", &path[1..])).send())?;
            Ok(response.headers()["etag"].to_str()?.to_owned())
        })
        .collect()
}

/// Writes every `.crate` of `registry` where nginx serves downloads from.
pub fn lay_out_crates(registry: &Registry, www: &Path) -> anyhow::Result<()> {
    for (name, versions) in &registry.crates {
        let dir = www.join(format!("registries/main/crates/{name}"));
        std::fs::create_dir_all(&dir)?;
        for version in versions {
            let file = format!("{name}-{version}.crate");
            std::fs::hard_link(registry.crate_files.join(&file), dir.join(&file)).or_else(
                |_| std::fs::copy(registry.crate_files.join(&file), dir.join(&file)).map(|_| ()),
            )?;
        }
    }
    Ok(())
}
