//! Instructions per index request: what each server's own code executes (user space,
//! counted by valgrind's callgrind) to answer one 304 or one 200. Unlike requests per
//! second, the count hardly moves with the machine's noise, so it shows what a change
//! to the hot path saves, and how the servers' own work compares; the kernel's part
//! (the socket calls, alike for every server) is not in it.
//!
//! Each server runs alone under callgrind, with 8 connections for 10 seconds after a
//! warm-up of as long (caches filled, allocator settled); counting starts after it.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::dataset::Registry;
use crate::floor::Stack;
use crate::index::{etags, lay_out_index};
use crate::report::{Section, ratio};
use crate::servers::{Cargohold, Floor, Nginx};
use crate::{Bench, load};

const SECONDS: u64 = 10;
const CONNECTIONS: u32 = 8;

pub fn run(bench: &Bench, registry: &Registry) -> anyhow::Result<Section> {
    let scratch = bench.scratch()?;
    let data = registry.copy_to(&scratch)?;
    let www = scratch.join("www");
    let counts = scratch.join("counts");
    std::fs::create_dir_all(&counts)?;

    // cargohold first: the others serve the files it lays out.
    let out = counts.join("cargohold");
    let server = Cargohold::start_counted(&bench.binary, &data, &out)?;
    let laid_out = lay_out_index(registry, &server.url, &www)?;
    let paths: Vec<&str> = laid_out.iter().map(|(path, _)| path.as_str()).collect();
    let ours = measure(&server.url, server.pid(), &out, &laid_out, &scratch)?;
    drop(server);

    let out = counts.join("nginx");
    let nginx = Nginx::start_counted(&www, &out)?;
    let tagged = with_etags(&paths, etags(&nginx.url, paths.iter().copied())?);
    let nginx = measure(&nginx.url, nginx.pid(), &out, &tagged, &scratch)?;

    let mut floors = Vec::new();
    for (stack, name) in [(Stack::Hyper, "hyper"), (Stack::Tokio, "tokio")] {
        let out = counts.join(name);
        let floor = Floor::start_counted(&www, stack, &out)?;
        let tagged = with_etags(&paths, etags(&floor.url, paths.iter().copied())?);
        floors.push(measure(&floor.url, floor.pid(), &out, &tagged, &scratch)?);
    }

    let row = |what: &str, pick: fn(&Counted) -> f64| {
        vec![
            what.to_owned(),
            format!("{:.0}", pick(&nginx)),
            format!("{:.0}", pick(&ours)),
            ratio(pick(&ours), pick(&nginx)),
            format!("{:.0}", pick(&floors[0])),
            format!("{:.0}", pick(&floors[1])),
        ]
    };
    Ok(Section {
        title: "Instructions per index request",
        command: format!(
            "valgrind --tool=callgrind, each server alone; wrk -t2 -c{CONNECTIONS} -d{SECONDS}s after a warm-up as long, over {} index files",
            laid_out.len()
        ),
        header: vec![
            "requests",
            "nginx",
            "cargohold",
            "cargohold / nginx",
            "hyper floor",
            "tokio floor",
        ],
        rows: vec![
            row("304, If-None-Match", |c| c.not_modified),
            row("200, full file", |c| c.full),
        ],
        notes: vec![
            "Instructions the server process executes in user space per request, counted by callgrind: the \
             kernel's share (the same socket calls for every server) is left out. The count barely moves \
             from run to run, so it is the measure for A/B-ing a change to the hot path; requests per second \
             (above) are what users get."
                .into(),
        ],
    })
}

/// Instructions per request of one server.
struct Counted {
    not_modified: f64,
    full: f64,
}

/// `paths` with the ETag a server gave each, for revalidations.
fn with_etags(paths: &[&str], etags: Vec<String>) -> Vec<(String, String)> {
    paths.iter().map(|p| p.to_string()).zip(etags).collect()
}

/// Counts the server `pid` (running under callgrind, writing to `out`) through a
/// round of 304s and a round of full answers over `files` (path, ETag).
fn measure(
    url: &str,
    pid: u32,
    out: &Path,
    files: &[(String, String)],
    scratch: &Path,
) -> anyhow::Result<Counted> {
    let revalidate: Vec<_> = files
        .iter()
        .map(|(path, etag)| (path.clone(), Some(etag.clone())))
        .collect();
    let full: Vec<_> = files.iter().map(|(path, _)| (path.clone(), None)).collect();
    let per_request = |targets: &[(String, Option<String>)], dump: u32| {
        load::run(url, targets, SECONDS, CONNECTIONS, scratch)?;
        callgrind_control("-z", pid)?;
        let load = load::run(url, targets, SECONDS, CONNECTIONS, scratch)?;
        callgrind_control("-d", pid)?;
        let dump = out.with_file_name(format!(
            "{}.{dump}",
            out.file_name().context("a file name")?.to_string_lossy()
        ));
        anyhow::Ok(instructions(&dump)? as f64 / load.requests.max(1) as f64)
    };
    Ok(Counted {
        not_modified: per_request(&revalidate, 1)?,
        full: per_request(&full, 2)?,
    })
}

fn callgrind_control(action: &str, pid: u32) -> anyhow::Result<()> {
    let status = Command::new("callgrind_control")
        .arg(action)
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("callgrind_control runs (apt-get install valgrind)")?;
    if !status.success() {
        bail!("callgrind_control {action} {pid} failed");
    }
    Ok(())
}

/// The instructions counted in a callgrind dump (its `summary:` line), waiting for it to be written.
fn instructions(dump: &Path) -> anyhow::Result<u64> {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(dump)
            && let Some(count) = text
                .lines()
                .find_map(|line| line.strip_prefix("summary: "))
                .and_then(|count| count.trim().parse().ok())
        {
            return Ok(count);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("callgrind wrote no counts to {}", dump.display())
}
