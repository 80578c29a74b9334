//! Sparse index throughput: cargohold against nginx serving the very same files from disk,
//! full responses and 304 revalidations; and cargohold's memory and start-up on that registry.

use std::path::Path;

use anyhow::Context;

use crate::dataset::Registry;
use crate::floor::Stack;
use crate::placement::Placement;
use crate::report::{Section, ratio};
use crate::servers::{Cargohold, Floor, Nginx};
use crate::{Bench, load};

/// Milliseconds each connection of the paced runs waits before each request: with
/// 64 connections, about a third of what either server answers at full load on
/// the 2-core machines measured.
const THINK_MS: u32 = 1;

/// Index files as the servers name them: path, cargohold's ETag, nginx's ETag, the floor's ETag.
struct IndexFile {
    path: String,
    ours: String,
    nginx: String,
    floor: String,
}

pub fn run(bench: &Bench, registry: &Registry) -> anyhow::Result<Vec<Section>> {
    let scratch = bench.scratch()?;
    let data = registry.copy_to(&scratch)?;
    let server = Cargohold::start(&bench.binary, &data)?;
    let start_time = server.start_time;
    let idle_kib = server.rss_kib();

    // Lay the index out on disk for nginx, exactly as cargohold serves it.
    let www = scratch.join("www");
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
    let targets = Targets {
        full: &full,
        ours_304: &ours_304,
        nginx_304: &nginx_304,
        floor_304: &floor_304,
    };
    let urls = [&nginx.url, &server.url, &floor.url, &tokio_floor.url].map(String::as_str);
    let (full_runs, revalidate_runs) =
        four_servers(bench, Placement::Shared, urls, &targets, &scratch)?;
    let peak_kib = server.peak_rss_kib();

    // The same requests at a pace both servers keep up with.
    let paced = |url: &str, targets: &[(String, Option<String>)]| {
        load::run_paced(url, targets, THINK_MS, bench.seconds, 64, &scratch)
    };
    let paced_full = load::rotate(
        bench.rounds,
        &mut [&mut || paced(&nginx.url, &full), &mut || {
            paced(&server.url, &full)
        }],
    )?;
    let paced_revalidate = load::rotate(
        bench.rounds,
        &mut [&mut || paced(&nginx.url, &nginx_304), &mut || {
            paced(&server.url, &ours_304)
        }],
    )?;

    // The same registry made private, read with a token as cargo sends it.
    let token = read_token(&bench.binary, &data)?;
    let config = scratch.join("private.toml");
    std::fs::write(
        &config,
        "[[registries]]\nname = \"main\"\nauth-required = true\n",
    )?;
    let private = Cargohold::start_with_config(&bench.binary, &data, Some(&config))?;
    let revalidate = |url: &str, token: Option<&str>| {
        load::run_with_token(
            url,
            &ours_304,
            token,
            Placement::Shared,
            bench.seconds,
            64,
            &scratch,
        )
    };
    let private_runs = load::rotate(
        bench.rounds,
        &mut [&mut || revalidate(&server.url, None), &mut || {
            revalidate(&private.url, Some(&token))
        }],
    )?;
    drop((server, private, nginx, floor, tokio_floor));

    // The same requests with every server alone on one core and wrk on another.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = if cores >= 2 {
        Some(split_runs(bench, &data, &www, &targets, &scratch)?)
    } else {
        eprintln!("one core only: the index benchmark skips servers and wrk on cores of their own");
        None
    };

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
            format!(
                "{} / {}",
                micros(nginx.client_wait),
                micros(ours.client_wait)
            ),
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
            "wrk's wait per turn on a core, µs (nginx / cargohold)",
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
            "wrk's wait per turn on a core: how long wrk's threads waited in the kernel's run queue each \
             time they became ready to run, on average (schedstat, read near each run's end). The kernels measured \
             so far switch a busy thread out only at a tick (250 Hz: every 4 ms). Against a server that keeps wrk's \
             sockets full, wrk never sleeps, so it queues behind the server's threads for up to a tick at a \
             time while the answers it has not read age; its p99 is then about one tick whatever the server \
             (docs/performance.md). The table below has no such wait."
                .into(),
        ],
    };
    let split_index = pinned.map(|(split_full_runs, split_revalidate_runs)| Section {
        title: "Sparse index throughput, server and wrk on cores of their own",
        command: format!(
            "the requests above, each server alone on core 0 (nginx with one worker; the tokio runtimes size \
             themselves to that one core) and wrk -t1 -c64 -d{}s --latency alone on core 1, both with taskset; \
             req/s and each latency the median of {} alternating runs",
            bench.seconds, bench.rounds
        ),
        header: index.header.clone(),
        rows: vec![
            row("200, full file", &split_full_runs),
            row("304, If-None-Match", &split_revalidate_runs),
        ],
        notes: vec![
            "Here no server competes with wrk for its core, so the ratio is each server's own work per request \
             (in user space and in the kernel) on one core. In the shared table above, the kernel places two \
             wrk threads and the server's threads on two cores, and how it does so moves every server's rate \
             and p99 from round to round (docs/performance.md)."
                .into(),
        ],
    });
    let paced_row = |what: &str, runs: &[load::Load]| {
        let (nginx, ours) = (runs[0], runs[1]);
        vec![
            what.to_owned(),
            format!("{:.0}", nginx.requests_per_second),
            format!("{:.0}", ours.requests_per_second),
            format!("{:.2} / {:.2}", nginx.p50_ms, nginx.p99_ms),
            format!("{:.2} / {:.2}", ours.p50_ms, ours.p99_ms),
            ratio(ours.p99_ms, nginx.p99_ms),
            format!("{} / {}", nginx.errors, ours.errors),
        ]
    };
    let paced_index = Section {
        title: "Sparse index latency at a paced load",
        command: format!(
            "the requests of the first table, wrk -t2 -c64 -d{}s --latency with every connection pausing {THINK_MS} ms \
             before each request (wrk's delay()); req/s and each latency the median of {} alternating runs",
            bench.seconds, bench.rounds
        ),
        header: vec![
            "requests",
            "nginx req/s",
            "cargohold req/s",
            "nginx p50 / p99 ms",
            "cargohold p50 / p99 ms",
            "p99, cargohold / nginx",
            "errors (nginx / cargohold)",
        ],
        rows: vec![
            paced_row("200, full file", &paced_full),
            paced_row("304, If-None-Match", &paced_revalidate),
        ],
        notes: vec![
            "At full load (the first table) the faster server keeps wrk busier on the two cores they share, and \
             the p99 is mostly wrk's own wait for a core. Here each connection pauses between an answer and its \
             next request, so both servers answer about as many requests, wrk sleeps between answers, and each \
             latency is the server's: what clients see from a registry that is busy but not saturated. \
             Lower is better in the ratio column."
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
    Ok([
        Some(index),
        Some(paced_index),
        split_index,
        Some(footprint),
        Some(private_section),
    ]
    .into_iter()
    .flatten()
    .collect())
}

/// Microseconds, whole; a dash where they were not measured.
fn micros(value: f64) -> String {
    if value.is_nan() {
        "–".to_owned()
    } else {
        format!("{value:.0}")
    }
}

/// What wrk asks of each server: the full files, and the 304s by each server's ETags.
struct Targets<'a> {
    full: &'a [(String, Option<String>)],
    ours_304: &'a [(String, Option<String>)],
    nginx_304: &'a [(String, Option<String>)],
    floor_304: &'a [(String, Option<String>)],
}

/// nginx, cargohold, the hyper floor and the tokio floor at `urls`, in that order,
/// taking turns round by round with wrk on `placement`: each one's median run of
/// the full files, then of the 304s.
fn four_servers(
    bench: &Bench,
    placement: Placement,
    [nginx, ours, floor, tokio_floor]: [&str; 4],
    targets: &Targets<'_>,
    scratch: &Path,
) -> anyhow::Result<(Vec<load::Load>, Vec<load::Load>)> {
    let run = |url: &str, targets: &[(String, Option<String>)]| {
        load::run_with_token(url, targets, None, placement, bench.seconds, 64, scratch)
    };
    let rotate = |each: [&[(String, Option<String>)]; 4]| {
        load::rotate(
            bench.rounds,
            &mut [
                &mut || run(nginx, each[0]),
                &mut || run(ours, each[1]),
                &mut || run(floor, each[2]),
                &mut || run(tokio_floor, each[3]),
            ],
        )
    };
    let full = rotate([targets.full; 4])?;
    // Both floors tag files alike.
    let revalidate = rotate([
        targets.nginx_304,
        targets.ours_304,
        targets.floor_304,
        targets.floor_304,
    ])?;
    Ok((full, revalidate))
}

/// [`four_servers`] on servers started anew, each pinned to one core, with wrk on another.
fn split_runs(
    bench: &Bench,
    data: &Path,
    www: &Path,
    targets: &Targets<'_>,
    scratch: &Path,
) -> anyhow::Result<(Vec<load::Load>, Vec<load::Load>)> {
    let split = Placement::Split;
    let server = Cargohold::start_on(&bench.binary, data, split)?;
    let nginx = Nginx::start_on(www, split)?;
    let floor = Floor::start_on(www, Stack::Hyper, split)?;
    let tokio_floor = Floor::start_on(www, Stack::Tokio, split)?;
    let urls = [&nginx.url, &server.url, &floor.url, &tokio_floor.url].map(String::as_str);
    // Fresh servers: each reads every file once before it is measured, as the
    // servers of the shared placement did while the index was laid out (a HEAD
    // fills cargohold's cache and nginx's open-file cache as a GET does).
    for url in urls {
        etags(url, targets.full.iter().map(|(path, _)| path.as_str()))?;
    }
    four_servers(bench, split, urls, targets, scratch)
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
