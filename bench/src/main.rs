//! cargohold's benchmarks: `cargo run --release -p cargohold-bench` runs them all, prints a table
//! and writes docs/benchmarks.md with the machine, the versions and the commands.
//!
//! They drive the release binary as an operator would, on generated data, with no
//! network. They are not tests: figures vary with the machine, so comparisons are
//! made side by side in one run and reported as ratios where there is a reference.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use cargohold_test_support::CrateFixture;
use cargohold_test_support::fixture::TarEntry;
use clap::Parser;

/// Benchmarks of cargohold; see docs/benchmarks.md.
#[derive(Debug, Parser)]
struct Args {
    /// Run only these benchmarks (import)
    #[arg(long = "only", value_name = "NAME")]
    only: Vec<String>,
    /// How many crates the import benchmark generates
    #[arg(long, default_value_t = 1000)]
    import_crates: usize,
    /// Where the report goes
    #[arg(long, default_value = "docs/benchmarks.md")]
    out: PathBuf,
}

/// One benchmark's results, ready to print.
struct Section {
    title: &'static str,
    command: String,
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = workspace_root()?;
    let binary = build_release(&root)?;
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);

    let mut sections = Vec::new();
    if wanted("import") {
        sections.push(import_benchmark(&binary, args.import_crates)?);
    }

    let report = render(&root, &sections)?;
    print!("{report}");
    std::fs::write(root.join(&args.out), &report)
        .with_context(|| format!("could not write {}", args.out.display()))?;
    eprintln!("written to {}", args.out.display());
    Ok(())
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest_dir
        .parent()
        .context("the bench crate lives in the workspace")?
        .to_owned())
}

fn build_release(root: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked", "-p", "cargohold"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("building the release binary failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release/cargohold"))
}

/// The index URL the generated crates name their own registry by (the default listen address).
const GENERATED_INDEX: &str = "sparse+http://127.0.0.1:8000/registries/main/index/";

/// `count` crates with a dependency graph, features and a few kilobytes of source each.
fn generate_crates(dir: &Path, count: usize) -> anyhow::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut bytes = 0u64;
    for i in 0..count {
        let name = format!("gen-{i:05}");
        let mut fixture = CrateFixture::new(&name, "1.0.0").in_registry(GENERATED_INDEX);
        for step in [1, 7, 31] {
            if i >= step {
                fixture = fixture.dep(&format!("gen-{:05}", i - step), "1");
            }
        }
        fixture = fixture.feature("default", &["std"]).feature("std", &[]);
        // Pseudo-random constants keep the source from compressing to nothing:
        // about 25 KiB per .crate, near the middle of what crates.io holds.
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
        let source: String = (0..1500)
            .map(|line| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                format!("pub const C{line}: u64 = {state:#018x};\n")
            })
            .collect();
        fixture.extra_entries.push(TarEntry::file(
            format!("{}/src/more.rs", fixture.prefix()),
            source,
        ));
        let tarball = fixture.tarball();
        bytes += tarball.len() as u64;
        std::fs::write(dir.join(format!("{name}-1.0.0.crate")), tarball)?;
    }
    Ok(bytes)
}

fn import_benchmark(binary: &Path, count: usize) -> anyhow::Result<Section> {
    let scratch = tempfile::tempdir()?;
    let crates = scratch.path().join("crates");
    let total_bytes = generate_crates(&crates, count)?;
    let data = scratch.path().join("data");
    let run = |args: &[&str]| -> anyhow::Result<std::process::Output> {
        let output = Command::new(binary)
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
        Ok(output)
    };
    run(&["user", "add", "admin", "--admin"])?;
    let crates_arg = crates.to_str().context("a UTF-8 path")?;
    let started = Instant::now();
    run(&["import", crates_arg])?;
    let first = started.elapsed().as_secs_f64();
    let started = Instant::now();
    run(&["import", crates_arg])?;
    let again = started.elapsed().as_secs_f64();

    Ok(Section {
        title: "Import",
        command: format!("cargohold import DIR  # {count} generated .crate files"),
        header: vec!["run", "crates", "seconds", "crates/s"],
        rows: vec![
            vec![
                "first import (all new)".into(),
                count.to_string(),
                format!("{first:.2}"),
                format!("{:.0}", count as f64 / first),
            ],
            vec![
                "again (all already present)".into(),
                count.to_string(),
                format!("{again:.2}"),
                format!("{:.0}", count as f64 / again),
            ],
        ],
        notes: vec![format!(
            "Generated crates: {:.1} KiB on average, up to three dependencies each on earlier ones, \
             SQLite (synchronous = FULL) and local disk with fsync; the whole process is timed, start-up included. \
             For real crates, see docs/exactness.md: 1,255 crates.io .crate files (the closure of three \
             large projects) import in about 5 s.",
            total_bytes as f64 / count as f64 / 1024.0
        )],
    })
}

fn render(root: &Path, sections: &[Section]) -> anyhow::Result<String> {
    let mut out = String::from("# cargohold benchmarks\n\n");
    out.push_str(
        "Written by `cargo run --release -p cargohold-bench` (one command, no network). \
         Absolute figures depend on the machine; compare within one run.\n\n",
    );
    writeln!(out, "## Machine and versions\n")?;
    for (what, value) in machine(root) {
        writeln!(out, "- {what}: {value}")?;
    }
    for section in sections {
        writeln!(out, "\n## {}\n\n`{}`\n", section.title, section.command)?;
        writeln!(out, "| {} |", section.header.join(" | "))?;
        writeln!(out, "|{}", " --- |".repeat(section.header.len()))?;
        for row in &section.rows {
            writeln!(out, "| {} |", row.join(" | "))?;
        }
        for note in &section.notes {
            writeln!(out, "\n{note}")?;
        }
    }
    Ok(out)
}

fn machine(root: &Path) -> Vec<(&'static str, String)> {
    let command = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    vec![
        (
            "CPU",
            format!(
                "{cpu}, {} cores",
                std::thread::available_parallelism().map_or(0, |n| n.get())
            ),
        ),
        ("memory", memory),
        ("kernel", command("uname", &["-sr"])),
        (
            "cargohold",
            command("git", &["describe", "--always", "--dirty"]),
        ),
        ("rustc", command("rustc", &["--version"])),
    ]
}
