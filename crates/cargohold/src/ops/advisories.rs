//! RustSec advisories on the crates.io crates that proxies cache: reading an
//! advisory-db checkout, importing it, which versions an advisory affects, the report.
//!
//! Advisories name crates.io crates, so they apply only to proxies whose crates are
//! crates.io's ([`AdvisoryMode`]: on by default for an upstream of crates.io, off for
//! any other). A local crate of the same name is another crate and is never matched.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use cargohold_protocol::name::canonical_name;
use semver::{Version, VersionReq};
use serde::Serialize;

use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::clock;
pub use crate::config::AdvisoryMode;
use crate::db::{self, advisories::AdvisoryRow, audit::AuditEvent};
use crate::error::{AppError, AppResult};

/// The advisories a proxy applies: `Off` unless they are for its crates.
pub fn mode_of(registry: &Registry) -> AdvisoryMode {
    registry
        .proxy
        .as_ref()
        .map_or(AdvisoryMode::Off, |proxy| proxy.advisories)
}

/// Separates the semver requirements of `patched` and `unaffected` in a row.
const REQ_SEPARATOR: &str = "; ";

/// The semver requirements stored in a `patched` or `unaffected` column.
pub fn requirements(column: &str) -> Vec<VersionReq> {
    column
        .split(';')
        .map(str::trim)
        .filter(|req| !req.is_empty())
        .filter_map(|req| VersionReq::parse(req).ok())
        .collect()
}

/// Whether an advisory with these `patched` and `unaffected` requirements affects
/// `version`: it does when the version matches neither list (RustSec's rule).
pub fn affects(patched: &[VersionReq], unaffected: &[VersionReq], version: &Version) -> bool {
    !patched
        .iter()
        .chain(unaffected)
        .any(|req| req.matches(version))
}

/// An advisory with its requirements parsed, ready to match versions.
#[derive(Debug, Clone)]
pub struct Advisory {
    pub row: AdvisoryRow,
    patched: Vec<VersionReq>,
    unaffected: Vec<VersionReq>,
}

impl Advisory {
    pub fn new(row: AdvisoryRow) -> Self {
        Self {
            patched: requirements(&row.patched),
            unaffected: requirements(&row.unaffected),
            row,
        }
    }

    /// Whether it affects version `num` (a version that does not parse is not matched).
    pub fn affects(&self, num: &str) -> bool {
        Version::parse(num).is_ok_and(|v| affects(&self.patched, &self.unaffected, &v))
    }

    /// Whether it is a vulnerability rather than an informational advisory
    /// (unmaintained, unsound, notice): only these make `advisories = "yank"` yank.
    pub fn is_vulnerability(&self) -> bool {
        self.row.informational.is_none()
    }

    /// Its page on rustsec.org.
    pub fn page_url(&self) -> String {
        format!("https://rustsec.org/advisories/{}.html", self.row.id)
    }

    /// The requirements of the patched versions; empty when no version is patched.
    pub fn patched_list(&self) -> Vec<String> {
        self.patched.iter().map(ToString::to_string).collect()
    }
}

/// The advisories of the crate `name` in `registry`, if the registry applies
/// them (for any other registry, none: a local crate is not the crates.io crate).
pub async fn for_crate(app: &App, registry: &Registry, name: &str) -> AppResult<Vec<Advisory>> {
    if mode_of(registry) == AdvisoryMode::Off {
        return Ok(Vec::new());
    }
    let rows = db::advisories::list_for_crate(app.db.read(), &canonical_name(name)).await?;
    Ok(rows.into_iter().map(Advisory::new).collect())
}

/// What [`load`] read from an advisory-db checkout.
#[derive(Debug)]
pub struct Loaded {
    /// The `crates/` folder read.
    pub dir: PathBuf,
    pub advisories: Vec<AdvisoryRow>,
    /// Withdrawn advisories, which are left out.
    pub withdrawn: usize,
}

/// Reads every advisory of an advisory-db checkout, or of its `crates/` folder:
/// `crates/<name>/RUSTSEC-….md`. Any file that is not a valid advisory fails the
/// whole load, naming the file, so an import never takes half a database.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let dir = if path.join("crates").is_dir() {
        path.join("crates")
    } else {
        path.to_path_buf()
    };
    let packages = std::fs::read_dir(&dir).with_context(|| {
        format!(
            "cannot read {}: give a checkout of https://github.com/rustsec/advisory-db or its crates/ folder",
            path.display()
        )
    })?;
    let mut files = Vec::new();
    for package in packages {
        let package = package.with_context(|| format!("cannot read {}", dir.display()))?;
        let package_path = package.path();
        if is_hidden(&package_path) || !package_path.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&package_path)
            .with_context(|| format!("cannot read {}", package_path.display()))?
        {
            let file = file
                .with_context(|| format!("cannot read {}", package_path.display()))?
                .path();
            if !is_hidden(&file) {
                files.push(file);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        anyhow::bail!(
            "no advisories in {}: give a checkout of https://github.com/rustsec/advisory-db or its \
             crates/ folder (crates/<name>/RUSTSEC-….md)",
            path.display()
        );
    }
    let mut advisories = Vec::with_capacity(files.len());
    let mut withdrawn = 0;
    for file in &files {
        let advisory = read_advisory(file)?;
        if advisory.withdrawn() {
            withdrawn += 1;
            continue;
        }
        advisories.push(row_of(&advisory));
    }
    Ok(Loaded {
        dir,
        advisories,
        withdrawn,
    })
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with('.'))
}

/// One advisory file, checked to be where advisory-db keeps it.
fn read_advisory(file: &Path) -> anyhow::Result<rustsec::Advisory> {
    let not_an_advisory = |why: String| {
        anyhow::anyhow!(
            "{} is not a RustSec advisory ({why}); nothing was imported",
            file.display()
        )
    };
    if file.extension().and_then(|e| e.to_str()) != Some("md") {
        return Err(not_an_advisory("advisories are RUSTSEC-….md files".into()));
    }
    let advisory = rustsec::Advisory::load_file(file).map_err(|err| {
        let mut why = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            why.push_str(": ");
            why.push_str(&cause.to_string());
            source = cause.source();
        }
        not_an_advisory(why)
    })?;
    let package = advisory.metadata.package.as_str();
    let folder = file.parent().and_then(|p| p.file_name());
    if folder.and_then(|f| f.to_str()) != Some(package) {
        return Err(not_an_advisory(format!(
            "it names the crate `{package}` but is not in a folder of that name"
        )));
    }
    Ok(advisory)
}

/// The row stored for an advisory.
fn row_of(advisory: &rustsec::Advisory) -> AdvisoryRow {
    let meta = &advisory.metadata;
    let reqs = |reqs: &[VersionReq]| {
        reqs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(REQ_SEPARATOR)
    };
    AdvisoryRow {
        id: meta.id.to_string(),
        package: meta.package.to_string(),
        canonical_name: canonical_name(meta.package.as_str()),
        date: meta.date.as_str().to_owned(),
        title: meta.title.clone(),
        url: meta.url.as_ref().map(ToString::to_string),
        informational: meta.informational.as_ref().map(|i| i.as_str().to_owned()),
        aliases: meta
            .aliases
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        cvss: meta.cvss.as_ref().map(ToString::to_string),
        patched: reqs(advisory.versions.patched()),
        unaffected: reqs(advisory.versions.unaffected()),
    }
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub advisories: usize,
    /// Crates the advisories name.
    pub crates: usize,
    /// Cached versions the advisories affect, in the proxies that apply them.
    pub affected_versions: usize,
}

/// Replaces the stored advisories with `loaded` in one transaction, which also
/// writes the audit event and takes an index change number, so every node forgets
/// the proxy index files it keeps and serves the new yank states at once.
pub async fn import(
    app: &App,
    loaded: &Loaded,
    source: &str,
    by: Option<&Actor>,
) -> AppResult<Imported> {
    super::require_instance_admin(by)?;
    let crates: BTreeSet<&str> = loaded
        .advisories
        .iter()
        .map(|a| a.canonical_name.as_str())
        .collect();
    let now = clock::now();
    let mut tx = app.db.begin().await?;
    db::advisories::delete_all(&mut tx).await?;
    for row in &loaded.advisories {
        db::advisories::insert(&mut tx, row).await?;
    }
    let generation = db::index_files::next_generation(&mut tx).await?;
    let count = loaded.advisories.len() as i64;
    db::advisories::insert_import(&mut tx, now, source, count, generation).await?;
    db::audit::insert(
        &mut tx,
        &AuditEvent {
            detail: Some(
                serde_json::json!({
                    "source": source,
                    "advisories": count,
                    "crates": crates.len(),
                    "withdrawn_left_out": loaded.withdrawn,
                })
                .to_string(),
            ),
            ..super::audit_event(by, "advisory_import")
        },
        now,
    )
    .await?;
    tx.commit().await?;
    forget_yanking_index_files(app);
    let affected_versions = report(app, None).await?.len();
    Ok(Imported {
        advisories: loaded.advisories.len(),
        crates: crates.len(),
        affected_versions,
    })
}

/// Forgets the index files kept in memory by every proxy that yanks by advisory,
/// after an import (here, or seen committed by another process).
pub fn forget_yanking_index_files(app: &App) {
    for registry in app.registries() {
        if mode_of(registry) == AdvisoryMode::Yank {
            registry.index_cache.clear();
        }
    }
}

/// The versions of `name` in an index file that a non-informational advisory
/// affects, for a proxy with `advisories = "yank"`; empty for any other registry.
pub async fn versions_to_yank(
    app: &App,
    registry: &Registry,
    name: &str,
    versions: impl Iterator<Item = &str>,
) -> AppResult<Vec<String>> {
    if mode_of(registry) != AdvisoryMode::Yank {
        return Ok(Vec::new());
    }
    let advisories: Vec<Advisory> = for_crate(app, registry, name)
        .await?
        .into_iter()
        .filter(Advisory::is_vulnerability)
        .collect();
    if advisories.is_empty() {
        return Ok(Vec::new());
    }
    Ok(versions
        .filter(|num| advisories.iter().any(|a| a.affects(num)))
        .map(str::to_owned)
        .collect())
}

/// A cached version an advisory affects: one line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct AffectedVersion {
    pub registry: String,
    #[serde(rename = "crate")]
    pub krate: String,
    pub version: String,
    pub downloads: i64,
    /// When the proxy stored the version (Unix seconds).
    pub cached_at: i64,
    pub advisory: AdvisoryRow,
}

/// Every cached version an advisory affects, most recently cached first (then by
/// crate, newest version first): in `registry` (a proxy,
/// or a virtual registry's proxies), or in every proxy that applies advisories.
pub async fn report(app: &App, registry: Option<&str>) -> AppResult<Vec<AffectedVersion>> {
    let registries: Vec<&Registry> = match registry {
        None => app
            .registries()
            .filter(|r| mode_of(r) != AdvisoryMode::Off)
            .map(|r| &**r)
            .collect(),
        Some(name) => applying_registries(app.registry_for_operator(name)?)?,
    };
    let mut affected = Vec::new();
    for registry in registries {
        let rows = db::advisories::list_cached_versions(app.db.read(), registry.id).await?;
        let mut parsed: HashMap<String, Advisory> = HashMap::new();
        for row in rows {
            let advisory = parsed
                .entry(row.advisory.id.clone())
                .or_insert_with(|| Advisory::new(row.advisory.clone()));
            if advisory.affects(&row.num) {
                affected.push(AffectedVersion {
                    registry: registry.name.clone(),
                    krate: row.crate_name,
                    version: row.num,
                    downloads: row.downloads,
                    cached_at: row.published_at,
                    advisory: row.advisory,
                });
            }
        }
    }
    affected.sort_by(|a, b| {
        let newest = |v: &AffectedVersion| Version::parse(&v.version).ok();
        b.cached_at
            .cmp(&a.cached_at)
            .then_with(|| a.krate.cmp(&b.krate))
            .then_with(|| newest(b).cmp(&newest(a)))
            .then_with(|| a.advisory.id.cmp(&b.advisory.id))
    });
    Ok(affected)
}

/// The registries behind `registry` that apply advisories, or why it has none.
fn applying_registries(registry: &Registry) -> AppResult<Vec<&Registry>> {
    if let Some(members) = &registry.members {
        let proxies: Vec<&Registry> = members
            .proxies
            .iter()
            .filter(|p| mode_of(p) != AdvisoryMode::Off)
            .map(|p| &**p)
            .collect();
        if proxies.is_empty() {
            return Err(AppError::BadRequest(format!(
                "`{}` has no proxy of crates.io among its members; advisories apply only to crates.io crates",
                registry.name
            )));
        }
        return Ok(proxies);
    }
    match mode_of(registry) {
        AdvisoryMode::Off if registry.proxy.is_some() => Err(AppError::BadRequest(format!(
            "`{}` is not a proxy of crates.io, so advisories are not applied to it; if its upstream \
             mirrors crates.io, set advisories = \"show\" in its [[registries]] table",
            registry.name
        ))),
        AdvisoryMode::Off => Err(AppError::BadRequest(format!(
            "`{}` is a local registry: its crates are published here, not the crates.io crates \
             advisories are about; ask about a proxy of crates.io (or a virtual registry over one)",
            registry.name
        ))),
        _ => Ok(vec![registry]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str) -> Version {
        Version::parse(v).unwrap()
    }

    fn reqs(list: &[&str]) -> Vec<VersionReq> {
        list.iter().map(|r| VersionReq::parse(r).unwrap()).collect()
    }

    #[test]
    fn a_version_matching_neither_list_is_affected() {
        let patched = reqs(&[">= 1.2.0"]);
        let unaffected = reqs(&["< 1.0.0"]);
        assert!(affects(&patched, &unaffected, &version("1.1.9")));
        assert!(!affects(&patched, &unaffected, &version("1.2.0")));
        assert!(!affects(&patched, &unaffected, &version("0.9.0")));
    }

    #[test]
    fn an_advisory_with_no_patched_version_affects_every_version() {
        assert!(affects(&[], &[], &version("0.1.0")));
        assert!(affects(&[], &[], &version("99.0.0")));
    }

    #[test]
    fn stored_requirements_read_back_as_written() {
        let column = [">=0.2.23", "=0.2.0", "^0.1.5, <0.1.9"].join(REQ_SEPARATOR);
        let read = requirements(&column);
        assert_eq!(read, reqs(&[">= 0.2.23", "= 0.2.0", "^0.1.5, < 0.1.9"]));
    }

    /// The snapshot of advisory-db kept for the dependency audit, unpacked.
    fn snapshot() -> (tempfile::TempDir, Loaded) {
        let dir = tempfile::tempdir().unwrap();
        let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/advisory-db.tar.xz");
        let status = std::process::Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .arg("-xJf")
            .arg(&archive)
            .status()
            .unwrap();
        assert!(status.success(), "could not unpack {}", archive.display());
        let loaded = load(dir.path()).unwrap();
        (dir, loaded)
    }

    fn advisory(loaded: &Loaded, id: &str) -> Advisory {
        let row = loaded.advisories.iter().find(|a| a.id == id);
        Advisory::new(
            row.unwrap_or_else(|| panic!("{id} is in the snapshot"))
                .clone(),
        )
    }

    #[test]
    fn real_advisories_match_the_versions_rustsec_names() {
        let (_dir, loaded) = snapshot();
        assert!(loaded.advisories.len() > 800, "{}", loaded.advisories.len());
        // time: patched >= 0.2.23, unaffected 0.2.0 to 0.2.6.
        let time = advisory(&loaded, "RUSTSEC-2020-0071");
        assert!(time.is_vulnerability());
        assert_eq!(time.row.package, "time");
        assert!(time.row.aliases.contains("CVE-2020-26235"));
        for affected in ["0.1.45", "0.1.0", "0.2.7", "0.2.22"] {
            assert!(time.affects(affected), "{affected}");
        }
        for safe in ["0.2.0", "0.2.6", "0.2.23", "0.3.36"] {
            assert!(!time.affects(safe), "{safe}");
        }
        // smallvec: patched ">= 0.6.14, < 1.0.0" and ">= 1.6.1".
        let smallvec = advisory(&loaded, "RUSTSEC-2021-0003");
        assert!(smallvec.affects("1.6.0"));
        assert!(smallvec.affects("0.6.13"));
        assert!(!smallvec.affects("0.6.14"));
        assert!(!smallvec.affects("1.6.1"));
        assert!(!smallvec.affects("1.13.2"));
    }

    #[test]
    fn the_matching_agrees_with_rustsec_on_every_advisory_of_the_snapshot() {
        let (dir, loaded) = snapshot();
        let mut checked = 0;
        for row in &loaded.advisories {
            let path = dir
                .path()
                .join("crates")
                .join(&row.package)
                .join(format!("{}.md", row.id));
            let theirs = rustsec::Advisory::load_file(&path).unwrap();
            let ours = Advisory::new(row.clone());
            // Every version a requirement names, and its neighbours.
            let mut versions = vec![Version::new(0, 0, 1), Version::new(99, 0, 0)];
            for req in theirs
                .versions
                .patched()
                .iter()
                .chain(theirs.versions.unaffected())
            {
                for c in &req.comparators {
                    let (minor, patch) = (c.minor.unwrap_or(0), c.patch.unwrap_or(0));
                    versions.push(Version::new(c.major, minor, patch));
                    versions.push(Version::new(c.major, minor, patch + 1));
                    if patch > 0 {
                        versions.push(Version::new(c.major, minor, patch - 1));
                    }
                }
            }
            for version in versions {
                assert_eq!(
                    ours.affects(&version.to_string()),
                    theirs.versions.is_vulnerable(&version),
                    "{} {version}",
                    row.id
                );
                checked += 1;
            }
        }
        assert!(checked > 5000, "{checked}");
    }

    #[test]
    fn informational_advisories_keep_their_kind() {
        let (_dir, loaded) = snapshot();
        let kinds: BTreeSet<Option<&str>> = loaded
            .advisories
            .iter()
            .map(|a| a.informational.as_deref())
            .collect();
        for kind in [None, Some("unmaintained"), Some("unsound")] {
            assert!(kinds.contains(&kind), "{kind:?} in {kinds:?}");
        }
        let unsound = loaded
            .advisories
            .iter()
            .find(|a| a.informational.as_deref() == Some("unsound"))
            .map(|a| Advisory::new(a.clone()))
            .unwrap();
        assert!(!unsound.is_vulnerability());
    }

    #[test]
    fn withdrawn_advisories_are_left_out() {
        let (dir, loaded) = snapshot();
        let mut withdrawn = 0;
        for entry in walk(&dir.path().join("crates")) {
            let text = std::fs::read_to_string(&entry).unwrap();
            if text.contains("\nwithdrawn = ") {
                withdrawn += 1;
                let id = entry.file_stem().unwrap().to_str().unwrap();
                assert!(loaded.advisories.iter().all(|a| a.id != id), "{id}");
            }
        }
        assert!(withdrawn > 0);
        assert_eq!(loaded.withdrawn, withdrawn);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for package in std::fs::read_dir(dir).unwrap() {
            for file in std::fs::read_dir(package.unwrap().path()).unwrap() {
                files.push(file.unwrap().path());
            }
        }
        files
    }

    #[test]
    fn the_crates_folder_itself_loads_too() {
        let (dir, loaded) = snapshot();
        let again = load(&dir.path().join("crates")).unwrap();
        assert_eq!(again.advisories, loaded.advisories);
    }

    #[test]
    fn a_malformed_advisory_is_refused_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("crates/foo");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(
            package.join("RUSTSEC-2099-0001.md"),
            "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\n```\n# Title\n",
        )
        .unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("RUSTSEC-2099-0001.md is not a RustSec advisory"),
            "{err}"
        );
        assert!(err.contains("nothing was imported"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = load(empty.path()).unwrap_err().to_string();
        assert!(err.contains("no advisories in"), "{err}");
    }
}
