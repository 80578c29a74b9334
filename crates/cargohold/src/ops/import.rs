//! Importing `.crate` files from disk (another registry's storage, `~/.cargo/registry/cache`, an
//! air-gapped copy), each through the same pipeline as a publish.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;

use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::error::AppError;
use crate::ops::publish::{self, Source, Upload};

/// How many files are checked at once; writes still queue on the database.
const CONCURRENCY: usize = 4;

/// What happened to one file.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Published: `name@version`, and the dependencies it names that the registry lacks.
    Imported {
        crate_version: String,
        missing_dependencies: Vec<String>,
        missing_dev_dependencies: Vec<String>,
    },
    /// These exact bytes were already published.
    AlreadyPresent { crate_version: String },
    /// Refused, with the reason.
    Rejected { reason: String },
}

/// The result of an import, file by file.
#[derive(Debug, Default)]
pub struct Report {
    pub imported: Vec<String>,
    pub already_present: Vec<String>,
    pub rejected: Vec<(PathBuf, String)>,
    /// Missing dependency → the versions that need it to build.
    pub missing_dependencies: BTreeMap<String, Vec<String>>,
    /// Crates named only as dev-dependencies and missing: not needed to build anything.
    pub missing_dev_dependencies: BTreeMap<String, Vec<String>>,
}

impl Report {
    fn add(&mut self, path: PathBuf, outcome: Outcome) {
        match outcome {
            Outcome::Imported {
                crate_version,
                missing_dependencies,
                missing_dev_dependencies,
            } => {
                for dep in missing_dependencies {
                    self.missing_dependencies
                        .entry(dep)
                        .or_default()
                        .push(crate_version.clone());
                }
                for dep in missing_dev_dependencies {
                    self.missing_dev_dependencies
                        .entry(dep)
                        .or_default()
                        .push(crate_version.clone());
                }
                self.imported.push(crate_version);
            }
            Outcome::AlreadyPresent { crate_version } => self.already_present.push(crate_version),
            Outcome::Rejected { reason } => self.rejected.push((path, reason)),
        }
    }

    /// Drops missing dependencies that a later file of the same import supplied.
    fn forget_supplied_dependencies(&mut self) {
        let present: Vec<String> = self
            .imported
            .iter()
            .chain(&self.already_present)
            .filter_map(|cv| cv.rsplit_once('@').map(|(name, _)| name.to_owned()))
            .collect();
        self.missing_dependencies
            .retain(|dep, _| !present.iter().any(|name| name == dep));
        self.missing_dev_dependencies
            .retain(|dep, _| !present.iter().any(|name| name == dep));
    }
}

/// Every `.crate` file named by `paths`: files as given, folders walked, sorted for a stable order.
pub fn find_crate_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found)?;
        } else if path.exists() {
            found.push(path.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", path.display()),
            ));
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, found)?;
        } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "crate") {
            found.push(path);
        }
    }
    Ok(())
}

/// Imports `files` into `registry` as `actor`, calling `progress` after each with
/// the file just done. A file is rejected on its own; the others go on.
pub async fn import(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    files: Vec<PathBuf>,
    mut progress: impl FnMut(&Path, &Outcome),
) -> Report {
    let mut report = Report::default();
    let mut results = futures::stream::iter(files)
        .map(|path| async move {
            let outcome = import_file(app, registry, actor, &path).await;
            (path, outcome)
        })
        .buffer_unordered(CONCURRENCY);
    while let Some((path, outcome)) = results.next().await {
        progress(&path, &outcome);
        report.add(path, outcome);
    }
    report.forget_supplied_dependencies();
    report
}

async fn import_file(app: &App, registry: &Registry, actor: &Actor, path: &Path) -> Outcome {
    let limit = app.config.limits.max_crate_size;
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(err) => {
            return Outcome::Rejected {
                reason: format!("could not read the file: {err}"),
            };
        }
    };
    if bytes.len() as u64 > limit {
        return Outcome::Rejected {
            reason: format!(
                "the file is {} bytes, over the {limit}-byte limit (limits.max-crate-size)",
                bytes.len()
            ),
        };
    }
    let upload = Upload {
        source: Source::Import,
        tarball: Bytes::from(bytes),
    };
    match publish::publish(app, registry, actor, upload).await {
        Ok(published) => {
            let crate_version = format!("{}@{}", published.entry.name, published.entry.vers);
            if published.already_present {
                Outcome::AlreadyPresent { crate_version }
            } else {
                Outcome::Imported {
                    crate_version,
                    missing_dependencies: published.missing_dependencies,
                    missing_dev_dependencies: published.missing_dev_dependencies,
                }
            }
        }
        Err(AppError::Internal(err)) => Outcome::Rejected {
            reason: format!("internal error: {err:#}"),
        },
        Err(AppError::Unavailable { cause, .. } | AppError::OutOfSpace { cause, .. }) => {
            Outcome::Rejected {
                reason: format!("{cause:#}"),
            }
        }
        Err(err) => Outcome::Rejected {
            reason: err.to_string(),
        },
    }
}
