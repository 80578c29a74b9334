//! The proxy registry: `cargo fetch --locked` of a real project (this workspace, a few hundred
//! crates.io packages) through a `kind = "proxy"` registry whose upstream is nginx serving a
//! snapshot of the crates.io files, against fetching from that nginx directly. Cold (the
//! proxy's cache is empty, so everything comes through it from the upstream) and warm (it
//! holds everything; once with index files fresh, once revalidating each with the upstream).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::Bench;
use crate::report::{Section, ratio};
use crate::servers::{Cargohold, Nginx};
use crate::snapshot;

/// The proxy's name in cargohold.toml, hence in its URLs.
const REGISTRY: &str = "crates-io";
/// Long enough that no index file goes stale during the benchmark.
const FRESH_FOR_A_DAY: u64 = 86_400;

/// One `cargo fetch`.
struct Fetch {
    seconds: f64,
    /// `.crate` files in CARGO_HOME afterwards.
    crates: usize,
    /// What the proxy asked of its upstream meanwhile: index files and `.crate` files.
    upstream: Option<(u64, u64)>,
}

/// A way of fetching, with what its rounds gave.
struct Contender {
    label: &'static str,
    fetches: Vec<Fetch>,
}

pub fn run(bench: &Bench, root: &Path, cache: &Path) -> anyhow::Result<Section> {
    let lockfile = std::fs::read_to_string(root.join("Cargo.lock")).context("Cargo.lock")?;
    let snapshot = snapshot::build(cache, &lockfile)?;
    let scratch = bench.scratch()?;
    let project = scratch.join("project");
    let sources = workspace_copy(root, &project)?;

    let nginx = Nginx::start(&snapshot.root)?;
    std::fs::write(
        snapshot.root.join("index/config.json"),
        format!(
            "{{\"dl\":\"{}crates/{{crate}}/{{crate}}-{{version}}.crate\"}}",
            nginx.url
        ),
    )?;
    let upstream = format!("{}index/", nginx.url);
    let runtime = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::new();
    let counters = |server: &Cargohold| -> anyhow::Result<(u64, u64)> {
        let body = runtime.block_on(async {
            client
                .get(format!(
                    "{}api/v1/registries/{REGISTRY}/cache?per_page=1",
                    server.url
                ))
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        })?;
        Ok((
            stats_counter(&body, "index_fetches")?,
            stats_counter(&body, "crate_fetches")?,
        ))
    };
    // CARGO_HOME lives in memory when it can: cargo unpacks every crate it downloads (about
    // 500 MB of files here), which on a slow disk takes far longer than any server and costs
    // the same whichever server the crates came from.
    let memory = Path::new("/dev/shm");
    let in_memory = memory.is_dir();
    let home_dir = match in_memory {
        true => tempfile::tempdir_in(memory)?,
        false => tempfile::tempdir()?,
    };
    let home = home_dir.path().join("cargo-home");
    let fetch_from = |server: Option<&Cargohold>| -> anyhow::Result<Fetch> {
        let url = match server {
            Some(server) => format!("{}registries/{REGISTRY}/index/", server.url),
            None => upstream.clone(),
        };
        let before = server.map(counters).transpose()?;
        let (seconds, crates) = cargo_fetch(&project, &home, &url)?;
        let upstream = match (server, before) {
            (Some(server), Some((index, crates))) => {
                let (index_after, crates_after) = counters(server)?;
                Some((index_after - index, crates_after - crates))
            }
            _ => None,
        };
        if crates != snapshot.packages.len() {
            bail!(
                "cargo fetch from {url} left {crates} .crate files, not the {} the lockfile names",
                snapshot.packages.len()
            );
        }
        Ok(Fetch {
            seconds,
            crates,
            upstream,
        })
    };
    let start = |name: &str, freshness: u64| -> anyhow::Result<Cargohold> {
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("cargohold.toml");
        std::fs::write(
            &config,
            format!(
                "[[registries]]\nname = \"{REGISTRY}\"\nkind = \"proxy\"\nupstream = \"{upstream}\"\nfreshness-seconds = {freshness}\n"
            ),
        )?;
        Cargohold::start_with_config(&bench.binary, &dir.join("data"), Some(&config))
    };

    // Once from nginx to check the project fetches every crate (and to warm the page cache),
    // once through each long-lived proxy to fill it.
    fetch_from(None)?;
    let warm = start("warm", FRESH_FOR_A_DAY)?;
    fetch_from(Some(&warm))?;
    let revalidating = start("revalidating", 0)?;
    fetch_from(Some(&revalidating))?;

    let mut contenders = [
        "nginx, directly",
        "cargohold proxy, cold (empty cache)",
        "cargohold proxy, warm",
        "cargohold proxy, warm, revalidating every index file (freshness-seconds = 0)",
    ]
    .map(|label| Contender {
        label,
        fetches: Vec::new(),
    });
    for round in 0..bench.fetches {
        eprintln!("  round {} of {}", round + 1, bench.fetches);
        // A cold proxy is a new server on an empty data directory, started before the clock does.
        // The previous round's stays on disk: deleting it just before would slow this one's
        // file creation (see `Bench::scratch`).
        let cold = start(&format!("cold-{round}"), FRESH_FOR_A_DAY)?;
        // Rotate the order, so none profits from going first or last.
        for i in 0..contenders.len() {
            let which = (i + round) % contenders.len();
            let server = match which {
                0 => None,
                1 => Some(&cold),
                2 => Some(&warm),
                _ => Some(&revalidating),
            };
            let fetch = fetch_from(server)?;
            contenders[which].fetches.push(fetch);
        }
    }

    for c in &contenders {
        let seconds: Vec<String> = c
            .fetches
            .iter()
            .map(|f| format!("{:.2}", f.seconds))
            .collect();
        eprintln!("  {}: {} s", c.label, seconds.join(", "));
    }
    let median = |fetches: &[Fetch], of: &dyn Fn(&Fetch) -> f64| {
        let mut values: Vec<f64> = fetches.iter().map(of).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let reference = median(&contenders[0].fetches, &|f| f.seconds);
    let rows = contenders
        .iter()
        .map(|c| {
            let seconds = median(&c.fetches, &|f| f.seconds);
            let upstream = match c.fetches[0].upstream {
                Some(_) => format!(
                    "{:.0} / {:.0}",
                    median(&c.fetches, &|f| f.upstream.map_or(0.0, |u| u.0 as f64)),
                    median(&c.fetches, &|f| f.upstream.map_or(0.0, |u| u.1 as f64)),
                ),
                None => "–".into(),
            };
            vec![
                c.label.to_owned(),
                format!("{seconds:.2}"),
                ratio(seconds, reference),
                c.fetches[0].crates.to_string(),
                upstream,
            ]
        })
        .collect();
    Ok(Section {
        title: "Proxy registry",
        command: format!(
            "cargo fetch --locked of this workspace ({sources} manifests, Cargo.lock with {} crates.io packages), empty CARGO_HOME each time; median of {} rounds in rotating order",
            snapshot.packages.len(),
            bench.fetches
        ),
        header: vec![
            "fetched from",
            "median seconds",
            "vs nginx",
            ".crate files downloaded",
            "upstream requests per fetch (index / .crate)",
        ],
        rows,
        notes: vec![
            format!(
                "nginx serves a snapshot of the crates.io files the lockfile needs ({} index files, {} .crate files, {:.1} MiB; built once from index.crates.io \
                 and static.crates.io, each .crate checked against the lockfile's checksum) and is the proxy's upstream (`kind = \"proxy\"`, `upstream` = nginx's \
                 index). Cold: a new cargohold on an empty data directory every round, so every index file and .crate goes through it from nginx (stored in \
                 SQLite and the blob store on the way). Warm: the same proxy after a first fetch filled it, `freshness-seconds = {FRESH_FOR_A_DAY}`; revalidating: \
                 `freshness-seconds = 0`, so every index file is asked of nginx again with its ETag (a 304). cargo unpacks every crate it downloads; \
                 CARGO_HOME is {}, since on a slow disk unpacking takes far longer than the transfers and hides the difference between servers.",
                snapshot.names,
                snapshot.packages.len(),
                snapshot.crate_bytes as f64 / 1024.0 / 1024.0,
                if in_memory {
                    "on tmpfs (/dev/shm)"
                } else {
                    "on disk here (no /dev/shm)"
                }
            ),
            "Targets: warm within 1.2× of nginx, cold within 1.5× (lower is better here).".into(),
        ],
    })
}

/// `cargo fetch --locked` in `project` with an empty CARGO_HOME whose crates.io is `index_url`:
/// the seconds it took and the `.crate` files it downloaded.
fn cargo_fetch(project: &Path, home: &Path, index_url: &str) -> anyhow::Result<(f64, usize)> {
    crate::resolve::fresh_cargo_home(home, &format!("sparse+{index_url}"))?;
    let seconds = crate::resolve::timed_cargo(project, home, &["fetch", "--locked"])
        .with_context(|| format!("fetching from {index_url}"))?;
    let crates = std::fs::read_dir(home.join("registry/cache"))?
        .flatten()
        .filter_map(|dir| std::fs::read_dir(dir.path()).ok())
        .flat_map(|files| files.flatten())
        .filter(|file| file.file_name().to_string_lossy().ends_with(".crate"))
        .count();
    Ok((seconds, crates))
}

/// A copy of the workspace at `root` that `cargo fetch --locked` reads as it reads the real one:
/// every `Cargo.toml`, the `Cargo.lock`, and an empty file for every `.rs` file (so each target
/// a manifest declares or cargo discovers exists). Returns how many manifests it copied.
fn workspace_copy(root: &Path, dest: &Path) -> anyhow::Result<usize> {
    let mut manifests = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in std::fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let name = entry.file_name();
            let path = relative.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                // Build output (target directories carry CACHEDIR.TAG) and hidden directories hold no sources.
                let skip = name.to_string_lossy().starts_with('.')
                    || name == "target"
                    || entry.path().join("CACHEDIR.TAG").exists();
                if !skip {
                    stack.push(path);
                }
                continue;
            }
            let name = name.to_string_lossy();
            let copy =
                name == "Cargo.toml" || (name == "Cargo.lock" && relative.as_os_str().is_empty());
            let stub = name.ends_with(".rs");
            if copy || stub {
                let target = dest.join(&path);
                std::fs::create_dir_all(target.parent().context("a parent")?)?;
                if copy {
                    std::fs::copy(entry.path(), &target)?;
                    manifests += usize::from(name == "Cargo.toml");
                } else {
                    std::fs::write(&target, "")?;
                }
            }
        }
    }
    Ok(manifests)
}

/// The counter `key` of a cache listing's `stats`.
fn stats_counter(listing: &str, key: &str) -> anyhow::Result<u64> {
    let listing: serde_json::Value = serde_json::from_str(listing)?;
    listing["stats"][key]
        .as_u64()
        .with_context(|| format!("no counter `{key}` in {listing}"))
}
