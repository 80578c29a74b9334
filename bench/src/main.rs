//! cargohold's benchmarks: `cargo run --release -p cargohold-bench` runs them all, prints a table
//! and writes docs/benchmarks.md with the machine, the versions and the commands.
//!
//! They drive the release binary as an operator would, on generated data, with no
//! network, beside nginx where there is a physical limit to compare with. They are
//! not tests: figures vary with the machine, so every comparison is made side by
//! side in one run and reported as a ratio.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::Parser;

mod dataset;
mod downloads;
mod floor;
mod import;
mod index;
mod instructions;
mod load;
mod placement;
mod proxy;
mod publish;
mod report;
mod resolve;
mod servers;
mod snapshot;

/// Every benchmark, in the order they run.
const ALL: [&str; 7] = [
    "index",
    "instructions",
    "downloads",
    "publish",
    "resolve",
    "import",
    "proxy",
];

/// Benchmarks of cargohold; see docs/benchmarks.md.
#[derive(Debug, Parser)]
struct Args {
    /// Run only these benchmarks: index (with memory and start-up), instructions (per index request,
    /// under valgrind), downloads, publish, resolve, import, proxy.
    /// The other sections of an existing report are kept.
    #[arg(long = "only", value_name = "NAME")]
    only: Vec<String>,
    /// Run the floor server on the files under DIR instead (the index benchmark starts it)
    #[arg(long, value_name = "DIR", hide = true)]
    floor_server: Option<PathBuf>,
    /// The floor server's software: hyper, or a bare loop on tokio
    #[arg(long, value_enum, default_value = "hyper", hide = true)]
    floor_stack: floor::Stack,
    /// Crates in the large registry (each has 1 to 20 versions, 10.5 on average)
    #[arg(long, default_value_t = 10_000)]
    crates: usize,
    /// Seconds of load per throughput measurement
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Alternating runs per throughput comparison (the median is reported)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Sequential publishes per registry size
    #[arg(long, default_value_t = 1000)]
    publishes: usize,
    /// `cargo generate-lockfile` runs per server
    #[arg(long, default_value_t = 5)]
    resolutions: usize,
    /// Generated crates for the import benchmark
    #[arg(long, default_value_t = 1000)]
    import_crates: usize,
    /// Rounds of `cargo fetch` per way of fetching in the proxy benchmark (the median is reported)
    #[arg(long, default_value_t = 5)]
    fetches: usize,
    /// Measure this cargohold binary instead of building the workspace's (to
    /// compare two builds, one run each, with --out elsewhere)
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Where the report goes
    #[arg(long, default_value = "docs/benchmarks.md")]
    out: PathBuf,
}

/// What every benchmark needs.
pub struct Bench {
    pub binary: PathBuf,
    pub seconds: u64,
    pub rounds: usize,
    pub publishes: usize,
    pub resolutions: usize,
    pub import_crates: usize,
    pub fetches: usize,
    /// Where measurements are kept in full, in the order they were taken
    /// (target/bench-data/raw), for looking into a tail after the run.
    pub raw: PathBuf,
    /// Where the sections copy registries and write their files; see [`Bench::scratch`].
    scratch: tempfile::TempDir,
}

impl Bench {
    /// A new empty directory for one measurement. Nothing under it is deleted
    /// before the whole run ends: on ext4 without a journal, creating a file skips
    /// each free inode deleted in the last one to six minutes, one lookup each, so
    /// removing the 300,000 files of one registry copy made the next section's
    /// publishes up to 1.7× slower (docs/performance.md).
    pub fn scratch(&self) -> anyhow::Result<PathBuf> {
        Ok(tempfile::tempdir_in(self.scratch.path())?.keep())
    }
}

// The same allocator as cargohold, for the floor server's sake.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(www) = &args.floor_server {
        return floor::serve(www, args.floor_stack);
    }
    if let Some(unknown) = args.only.iter().find(|name| !ALL.contains(&name.as_str())) {
        bail!(
            "no benchmark named `{unknown}`; there are: {}",
            ALL.join(", ")
        );
    }
    let root = workspace_root()?;
    servers::ensure_tools()?;
    if args.binary.is_some() && args.out == Path::new("docs/benchmarks.md") {
        bail!(
            "--binary measures a build other than this checkout's, whose commit docs/benchmarks.md names; \
             write the report elsewhere with --out"
        );
    }
    let binary = match &args.binary {
        Some(binary) => std::path::absolute(binary)?,
        None => build_release(&root)?,
    };
    let cache = target_dir(&root).join("bench-data");
    let raw = cache.join("raw");
    std::fs::create_dir_all(&raw)?;
    let bench = Bench {
        binary: binary.clone(),
        seconds: args.seconds,
        rounds: args.rounds,
        publishes: args.publishes,
        resolutions: args.resolutions,
        import_crates: args.import_crates,
        fetches: args.fetches.max(1),
        raw,
        scratch: tempfile::tempdir()?,
    };
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let needs_registry = ["index", "instructions", "downloads", "publish", "resolve"]
        .iter()
        .any(|name| wanted(name));
    let large = if needs_registry {
        Some(dataset::registry(&cache, &binary, args.crates)?)
    } else {
        None
    };

    let mut sections = Vec::new();
    if let Some(large) = &large {
        if wanted("index") {
            eprintln!("index throughput, memory, start-up");
            sections.extend(index::run(&bench, large)?);
        }
        if wanted("instructions") {
            eprintln!("instructions per index request (callgrind)");
            sections.push(instructions::run(&bench, large)?);
        }
        if wanted("downloads") {
            eprintln!("downloads");
            sections.push(downloads::run(&bench, large)?);
        }
        if wanted("publish") {
            eprintln!("publish latency");
            let small = dataset::registry(&cache, &binary, 100)?;
            sections.extend(publish::run(&bench, large, &small)?);
        }
        if wanted("resolve") {
            eprintln!("resolution");
            sections.push(resolve::run(&bench, large)?);
        }
    }
    if wanted("import") {
        eprintln!("import");
        sections.push(import::run(&bench)?);
    }
    if wanted("proxy") {
        eprintln!("proxy registry");
        sections.push(proxy::run(&bench, &root, &cache)?);
    }

    let invocation = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let invocation = format!("cargo run --release -p cargohold-bench -- {invocation}");
    let mut report = report::render(&root, &sections, invocation.trim());
    let out = root.join(&args.out);
    if !args.only.is_empty()
        && let Ok(previous) = std::fs::read_to_string(&out)
    {
        // Only some benchmarks ran: their sections replace (or join) those of the last report.
        report = report::merge(&previous, &report, &sections, invocation.trim());
    }
    print!("{report}");
    std::fs::write(&out, &report)
        .with_context(|| format!("could not write {}", args.out.display()))?;
    eprintln!("written to {}", args.out.display());
    drop(bench);
    eprintln!(
        "removed the scratch copies; on ext4 without a journal, wait six minutes before timing \
         anything that creates files on this disk (docs/performance.md)"
    );
    Ok(())
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    Ok(Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate lives in the workspace")?
        .to_owned())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
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
    Ok(target_dir(root).join("release/cargohold"))
}
