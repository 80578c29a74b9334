//! `cargohold import` of generated `.crate` files: crates per second.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::Bench;
use crate::dataset;
use crate::report::Section;

pub fn run(bench: &Bench) -> anyhow::Result<Section> {
    let count = bench.import_crates;
    let scratch = bench.scratch()?;
    let crates = scratch.join("crates");
    std::fs::create_dir_all(&crates)?;
    let mut total_bytes = 0u64;
    for i in 0..count {
        // About 25 KiB each, near the middle of what crates.io holds.
        let fixture = dataset::fixture(&dataset::crate_name(i), i, "1.0.0", 1500);
        let tarball = fixture.tarball();
        total_bytes += tarball.len() as u64;
        std::fs::write(crates.join(format!("{}.crate", fixture.prefix())), tarball)?;
    }
    let data = scratch.join("data");
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let output = Command::new(&bench.binary)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()?;
        if !output.status.success() {
            bail!(
                "cargohold {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    run(&["user", "add", "admin", "--admin"])?;
    let crates_arg = crates.to_str().context("a UTF-8 path")?;
    let timed = |args: &[&str]| -> anyhow::Result<f64> {
        let started = Instant::now();
        run(args)?;
        Ok(started.elapsed().as_secs_f64())
    };
    let first = timed(&["import", crates_arg])?;
    let again = timed(&["import", crates_arg])?;
    let row = |what: &str, seconds: f64| {
        vec![
            what.to_owned(),
            count.to_string(),
            format!("{seconds:.2}"),
            format!("{:.0}", count as f64 / seconds),
        ]
    };
    Ok(Section {
        title: "Import",
        command: format!("cargohold import DIR  # {count} generated .crate files"),
        header: vec!["run", "crates", "seconds", "crates/s"],
        rows: vec![
            row("first import (all new)", first),
            row("again (all already present)", again),
        ],
        notes: vec![format!(
            "Generated crates: {:.1} KiB on average, with dependencies between them; SQLite (synchronous = FULL) \
             and local disk with fsync; the whole process is timed, start-up included. Real crates: see \
             docs/exactness.md (1,255 crates.io .crate files in about 5 s).",
            total_bytes as f64 / count as f64 / 1024.0
        )],
    })
}
