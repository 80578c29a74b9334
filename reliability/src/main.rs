//! `cargohold-reliability`: the crash and load harnesses at full length, on SQLite or
//! PostgreSQL. Results go to the terminal as Markdown rows for docs/reliability.md.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cargohold_reliability::crash::{self, CrashOptions};
use cargohold_reliability::load::{self, KINDS, LoadOptions};
use cargohold_reliability::node::{self, Setup};
use clap::{Parser, Subcommand};

/// Kill, load and check a real cargohold server; see docs/reliability.md.
#[derive(Debug, Parser)]
struct Args {
    /// The cargohold binary to run (default: build the workspace's release binary)
    #[arg(long, global = true)]
    binary: Option<PathBuf>,
    /// An empty PostgreSQL database to run on, e.g. postgres://postgres@127.0.0.1:5432/crash
    /// (default: the embedded SQLite)
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    harness: Harness,
}

#[derive(Debug, Subcommand)]
enum Harness {
    /// Publish, yank and change owners while killing the server with SIGKILL; then
    /// check every acknowledged change is there and `cargohold check` passes
    Crash {
        /// SIGKILLs to deliver
        #[arg(long, default_value_t = 100)]
        kills: usize,
        /// Concurrent workers making changes
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Longest time, in milliseconds, between a start and the next kill
        #[arg(long, default_value_t = 400)]
        max_interval_millis: u64,
    },
    /// Many clients mixing index reads, downloads, searches and publishes; any
    /// 5xx, timeout or locked database fails the run
    Load {
        /// Concurrent clients, each with its own connections
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds of load
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let binary = match args.binary {
        // Absolute: the server starts in its data directory.
        Some(binary) => std::fs::canonicalize(&binary)
            .with_context(|| format!("no cargohold binary at {}", binary.display()))?,
        None => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .context("the workspace root")?
                .to_owned();
            node::build_release(&root)?
        }
    };
    let data = tempfile::tempdir()?;
    let setup = Setup {
        binary,
        data_dir: data.path().to_owned(),
        database_url: args.database_url.clone(),
        listen: node::free_listen_address()?,
    };
    let database = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    match args.harness {
        Harness::Crash {
            kills,
            workers,
            max_interval_millis,
        } => {
            let options = CrashOptions {
                kills,
                workers,
                kill_after_millis: (20, max_interval_millis.max(20)),
                ..CrashOptions::default()
            };
            let report = crash::run(&setup, &options).await?;
            println!(
                "| database | kills | changes acknowledged | publishes | yanks/unyanks | owner changes | requests cut off | of which had landed | versions checked | `cargohold check` | lost or wrong | seconds |"
            );
            println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
            println!(
                "| {database} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
                report.kills,
                report.acknowledged,
                report.publishes,
                report.yanks,
                report.owner_changes,
                report.cut_off,
                report.landed_before_kill,
                report.versions_checked,
                if report.problems.is_empty() {
                    "passes"
                } else {
                    "see problems"
                },
                report.problems.len(),
                report.seconds
            );
            for problem in &report.problems {
                eprintln!("problem: {problem}");
            }
            Ok(report.problems.is_empty())
        }
        Harness::Load { clients, seconds } => {
            let options = LoadOptions {
                clients,
                seconds,
                ..LoadOptions::default()
            };
            let report = load::run(&setup, &options).await?;
            println!(
                "{database}, {} clients, {:.0} s: {} requests, {:.0} per second; {} publishes acknowledged and found in the index; `database is locked`: {}",
                report.clients,
                report.seconds,
                report.total(),
                report.total() as f64 / report.seconds,
                report.publishes_checked,
                report.locked
            );
            println!(
                "\n| request | answered 2xx/3xx | 4xx | 5xx | failed or timed out | p50 ms | p99 ms |"
            );
            println!("|---|---|---|---|---|---|---|");
            for kind in KINDS {
                if let Some(count) = report.kinds.get(kind) {
                    println!(
                        "| {kind} | {} | {} | {} | {} | {:.2} | {:.2} |",
                        count.ok,
                        count.client_errors,
                        count.server_errors,
                        count.failed,
                        count.percentile_millis(0.5),
                        count.percentile_millis(0.99)
                    );
                }
            }
            for problem in &report.problems {
                eprintln!("problem: {problem}");
            }
            Ok(report.is_clean())
        }
    }
}
