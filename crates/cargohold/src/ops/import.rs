//! Importing `.crate` files from disk (another registry's storage, `~/.cargo/registry/cache`, an
//! air-gapped copy), each through the same pipeline as a publish.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use cargohold_protocol::CrateName;
use cargohold_protocol::tarball;
use futures::StreamExt;

use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::config::RegistryKind;
use crate::db;
use crate::error::AppError;
use crate::ops::publish::{self, Source, Upload};
use crate::ops::shadowing;

/// How many files are checked at once; writes still queue on the database.
const CONCURRENCY: usize = 4;

/// What an import into a local registry does with a `.crate` of a crate the
/// registry does not have yet, when a proxy after it in a virtual registry serves
/// a crate of that name from its upstream: the imported crate would take the name
/// away from the upstream for everyone using the virtual registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpstreamNames {
    /// Rejects the file, saying to import it into the proxy instead. A
    /// `~/.cargo/registry/cache` folder is full of such files, imported by mistake.
    #[default]
    Skip,
    /// Imports it on purpose, hiding the upstream crate, as an administrator's
    /// publish may (logged, and audited as `hides_upstream`).
    Hide,
}

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
/// the file just done. A file is rejected on its own; the others go on. A new
/// crate that would hide an upstream crate is rejected ([`UpstreamNames::Skip`]).
pub async fn import(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    files: Vec<PathBuf>,
    progress: impl FnMut(&Path, &Outcome),
) -> Report {
    import_with(app, registry, actor, files, UpstreamNames::Skip, progress).await
}

/// [`import`], with what to do about new crates named like an upstream crate.
pub async fn import_with(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    files: Vec<PathBuf>,
    upstream_names: UpstreamNames,
    mut progress: impl FnMut(&Path, &Outcome),
) -> Report {
    let mut report = Report::default();
    let mut results = futures::stream::iter(files)
        .map(|path| async move {
            let outcome = import_file(app, registry, actor, &path, upstream_names).await;
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

async fn import_file(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    path: &Path,
    upstream_names: UpstreamNames,
) -> Outcome {
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
    if upstream_names == UpstreamNames::Skip && registry.kind == RegistryKind::Local {
        match hides_upstream(app, registry, &bytes).await {
            Ok(Some(reason)) | Err(reason) => return Outcome::Rejected { reason },
            Ok(None) => {}
        }
    }
    if registry.kind == RegistryKind::Proxy {
        match local_crate(app, registry, &bytes).await {
            Ok(Some(reason)) | Err(reason) => return Outcome::Rejected { reason },
            Ok(None) => {}
        }
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
        Err(err) => Outcome::Rejected {
            reason: reason_of(err),
        },
    }
}

/// How a refusal reads in the report.
fn reason_of(err: AppError) -> String {
    match err {
        AppError::Internal(err) => format!("internal error: {err:#}"),
        AppError::Unavailable { cause, .. } | AppError::OutOfSpace { cause, .. } => {
            format!("{cause:#}")
        }
        err => err.to_string(),
    }
}

/// Why the `.crate` `tarball` must not go into the local `registry`: it is the
/// first of a crate the registry lacks, and a proxy after the registry in a virtual
/// registry serves a crate of that name upstream. `Ok(None)` lets the file through
/// to the publish checks, which refuse an archive whose name is unreadable.
async fn hides_upstream(
    app: &App,
    registry: &Registry,
    tarball: &[u8],
) -> Result<Option<String>, String> {
    let Some(name) = name_in(tarball) else {
        return Ok(None);
    };
    // Crates already here hold their name: more versions hide nothing more (as for a publish).
    let existing = db::crates::find_by_canonical(app.db.read(), registry.id, &name.canonical())
        .await
        .map_err(|err| reason_of(err.into()))?;
    if existing.is_some() {
        return Ok(None);
    }
    let hidden = shadowing::would_hide(app, registry, &name)
        .await
        .map_err(reason_of)?;
    if hidden.is_empty() {
        return Ok(None);
    }
    tracing::debug!(
        krate.name = %name,
        registry = %registry.name,
        hidden = ?hidden,
        "not importing `{name}` into `{}`: it would hide the upstream crate of that name",
        registry.name,
    );
    Ok(Some(shadowing::import_refusal(&name, registry, &hidden)))
}

/// Why the `.crate` `tarball` must not go into the proxy `registry`: a local
/// registry has a crate of that name. A developer's `~/.cargo/registry/cache`
/// holds the internal crates beside the crates.io ones once crates.io is
/// replaced, and imported into the cache, an internal crate would be served as
/// the upstream's, and its name refused to its own team as an upstream one.
async fn local_crate(
    app: &App,
    registry: &Registry,
    tarball: &[u8],
) -> Result<Option<String>, String> {
    let Some(name) = name_in(tarball) else {
        return Ok(None);
    };
    for local in app.registries().filter(|r| r.kind == RegistryKind::Local) {
        let found = db::crates::find_by_canonical(app.db.read(), local.id, &name.canonical())
            .await
            .map_err(|err| reason_of(err.into()))?;
        if let Some(found) = found {
            return Ok(Some(format!(
                "`{}` is a crate of the local registry `{}`, not of `{}`'s upstream: a cache \
                 holds its upstream's crates only (cargo's own cache mixes both once crates.io is \
                 replaced); to copy it, import it into `{}`",
                found.name, local.name, registry.name, local.name
            )));
        }
    }
    Ok(None)
}

/// The crate name as the archive's top directory gives it; the publish refuses an
/// archive whose Cargo.toml says otherwise, so this is the name it would store.
fn name_in(tarball: &[u8]) -> Option<CrateName> {
    tarball::top_directory(tarball)
        .ok()
        .and_then(|top| name_of_directory(&top))
}

/// The crate name of a `.crate`'s top directory, `{name}-{version}`. Names hold no
/// `.` and versions start with `MAJOR.MINOR.PATCH`, so the first `-` followed by a
/// version is the one between them.
fn name_of_directory(top: &str) -> Option<CrateName> {
    top.match_indices('-')
        .map(|(at, _)| at)
        .find(|&at| semver::Version::parse(&top[at + 1..]).is_ok())
        .and_then(|at| CrateName::new(&top[..at]).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_name_is_what_comes_before_the_version() {
        let name = |top: &str| name_of_directory(top).map(|n| n.as_str().to_owned());
        assert_eq!(name("serde-1.0.228").as_deref(), Some("serde"));
        assert_eq!(name("serde_json-1.0.0").as_deref(), Some("serde_json"));
        assert_eq!(name("sdl2-2d-0.1.0").as_deref(), Some("sdl2-2d"));
        assert_eq!(name("x-1-1.0.0-rc.1+build.5").as_deref(), Some("x-1"));
        assert_eq!(name("a-1.0.0-1.2.3").as_deref(), Some("a"));
        assert_eq!(name("no-version"), None);
        assert_eq!(name("-1.0.0"), None);
    }
}
