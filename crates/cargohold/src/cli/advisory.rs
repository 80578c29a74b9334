//! `cargohold advisory import | report`: RustSec advisories on the crates.io crates proxies cache.

use std::path::PathBuf;

use anyhow::Context;
use cargohold_protocol::index::format_pubtime;
use clap::Subcommand;

use super::admin::print_table;
use crate::app::App;
use crate::ops;

/// `advisory` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdvisoryCommand {
    /// Replace the stored advisories with those of a RustSec advisory-db checkout
    #[command(after_long_help = "\
Reads every crates/<name>/RUSTSEC-….md file of a checkout of
https://github.com/rustsec/advisory-db (or of its crates/ folder), leaving out
withdrawn advisories, and replaces the advisories cargohold holds with them in one
transaction: a file that is not a valid advisory changes nothing. Safe to run
again and while `serve` runs; every node sees the new set at once.

Advisories apply to the crates.io crates proxies cache (advisories = \"show\", the
default for a proxy of crates.io, or \"yank\"), never to crates published here.

Examples:
  cargohold advisory import ~/advisory-db
  cargohold advisory import /srv/mirror/advisory-db/crates")]
    Import {
        /// An advisory-db checkout, or its crates/ folder
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// List every cached version an advisory affects, with its downloads, most recently cached first
    #[command(after_long_help = "\
Examples:
  cargohold advisory report
  cargohold advisory report --registry crates-io-cache --json")]
    Report {
        /// Only this proxy, or the proxies of this virtual registry [default: every proxy of crates.io]
        #[arg(long, value_name = "R")]
        registry: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `advisory` subcommand.
pub async fn advisory(app: App, command: AdvisoryCommand) -> anyhow::Result<()> {
    match command {
        AdvisoryCommand::Import { path } => {
            let loaded = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || ops::advisories::load(&path))
                    .await
                    .context("reading the advisories failed")??
            };
            let source = loaded.dir.display().to_string();
            let imported = ops::advisories::import(&app, &loaded, &source, None).await?;
            let withdrawn = match loaded.withdrawn {
                0 => String::new(),
                n => format!(" ({n} withdrawn left out)"),
            };
            outln!(
                "imported {} advisories{withdrawn} on {} crates from {source}; {} cached version{} {} affected \
                 (`cargohold advisory report` lists them)",
                imported.advisories,
                imported.crates,
                imported.affected_versions,
                if imported.affected_versions == 1 {
                    ""
                } else {
                    "s"
                },
                if imported.affected_versions == 1 {
                    "is"
                } else {
                    "are"
                },
            );
            Ok(())
        }
        AdvisoryCommand::Report { registry, json } => {
            let affected = ops::advisories::report(&app, registry.as_deref()).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&affected)?);
                return Ok(());
            }
            if affected.is_empty() {
                let stored = crate::db::advisories::count(app.db.read()).await?;
                if stored == 0 {
                    eprintln!(
                        "no advisories are stored: import them with `cargohold advisory import PATH`"
                    );
                } else {
                    eprintln!("no cached version is affected by any of the {stored} advisories");
                }
                return Ok(());
            }
            let rows: Vec<[String; 7]> = affected
                .into_iter()
                .map(|v| {
                    [
                        v.registry,
                        format!("{}@{}", v.krate, v.version),
                        v.downloads.to_string(),
                        format_pubtime(v.cached_at),
                        v.advisory.id,
                        v.advisory
                            .informational
                            .unwrap_or_else(|| "vulnerability".to_owned()),
                        v.advisory.title,
                    ]
                })
                .collect();
            print_table(
                [
                    "REGISTRY",
                    "VERSION",
                    "DOWNLOADS",
                    "CACHED (UTC)",
                    "ADVISORY",
                    "KIND",
                    "TITLE",
                ],
                &rows,
            );
            Ok(())
        }
    }
}
