//! `cargohold check`: proves that what the database says holds everywhere else —
//! every version's blob exists with its size and SHA-256, every index file is what
//! the version rows render to, every highest version is right, every git index's
//! HEAD holds exactly the index files — and with `repair` rebuilds what the
//! database can rebuild (index files, highest versions, git indexes).
//!
//! Safe while servers run: a crate that looks wrong is looked at again inside a
//! transaction holding its lock before it is reported or repaired, so a publish
//! landing mid-check is not mistaken for damage.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use cargohold_protocol::name::index_path;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::app::{App, Registry};
use crate::clock;
use crate::config::RegistryKind;
use crate::db::{self, Conn, audit::AuditEvent, crates::CrateRow, versions::BlobRow};
use crate::error::AppResult;
use crate::index::git::{self, GitFault};
use crate::index::render;
use crate::storage::BlobStore;

/// Blobs read at once: enough to keep a remote store busy, few enough for a disk.
const BLOB_READS: usize = 8;

/// How long a git index that looks behind is given to catch up before it is reported.
const GIT_WRITER_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// One difference between the database and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A version's `.crate` is not what its row says.
    Blob { at: VersionAt, fault: BlobFault },
    /// A crate with versions has no index file.
    IndexFileMissing { registry: String, krate: String },
    /// A crate's index file is not what its version rows render to.
    IndexFileStale {
        registry: String,
        krate: String,
        /// Where it differs, e.g. `line 2 (version 1.2.0) is not the database's`.
        detail: String,
    },
    /// An index file whose crate does not exist or has no versions.
    IndexFileOrphan {
        registry: String,
        name_lower: String,
    },
    /// The git index's HEAD is not what the database says.
    GitIndex { registry: String, fault: GitFault },
    /// `crates.max_version` is not the highest available version.
    MaxVersionWrong {
        registry: String,
        krate: String,
        stored: Option<String>,
        expected: Option<String>,
    },
}

/// The version a blob problem is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionAt {
    pub registry: String,
    pub krate: String,
    pub version: String,
    pub blob_key: String,
    /// Where blobs are kept (`BlobStore::description`: a directory or `s3://bucket/prefix`).
    pub store: String,
    /// For a version of a proxy registry, fetched from its upstream (rather than
    /// published here): the upstream's index URL, as it may be shown.
    pub upstream: Option<String>,
}

/// What is wrong with a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobFault {
    Missing,
    Size { expected: i64, found: u64 },
    Checksum { expected: String, found: String },
    Unreadable(String),
}

impl Problem {
    /// Whether `repair` can fix it from the database alone.
    pub fn repairable(&self) -> bool {
        !matches!(self, Self::Blob { .. })
    }

    /// What an operator can do about a problem `repair` cannot fix.
    pub fn remedy(&self) -> Option<String> {
        let Self::Blob { at, .. } = self else {
            return None;
        };
        let target = format!("{}/{}", at.store.trim_end_matches('/'), at.blob_key);
        let from_backup = format!(
            "restore the file from a backup: copy `blobs/{}` of a `cargohold backup` directory to `{target}`",
            at.blob_key
        );
        let Some(upstream) = &at.upstream else {
            return Some(format!("{from_backup}; the database cannot recreate it"));
        };
        // No command removes one cached version (`delete` takes local registries,
        // `evict` goes by age and size), so the upstream's copy is put back by hand:
        // it is the same file, with the SHA-256 the database holds.
        let upstream = upstream.trim_end_matches('/');
        let how = if upstream == CRATES_IO_INDEX {
            let url = format!(
                "https://static.crates.io/crates/{name}/{name}-{version}.crate",
                name = at.krate,
                version = at.version
            );
            if at.store.starts_with("s3://") {
                format!(" ({url})")
            } else {
                format!(": `curl -fL --create-dirs -o {target} {url}`")
            }
        } else {
            format!(" (the `dl` of {upstream}/config.json gives its download address)")
        };
        Some(format!(
            "{from_backup}, or put the upstream's copy of `{}` {} there, the same file{how}",
            at.krate, at.version
        ))
    }
}

/// crates.io's sparse index, whose downloads have a well-known address.
const CRATES_IO_INDEX: &str = "https://index.crates.io";

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blob { at, fault } => {
                write!(
                    f,
                    "{}/{} {}: blob {} ",
                    at.registry, at.krate, at.version, at.blob_key
                )?;
                match fault {
                    BlobFault::Missing => write!(f, "is missing"),
                    BlobFault::Size { expected, found } => {
                        write!(f, "has {found} bytes, the database says {expected}")
                    }
                    BlobFault::Checksum { expected, found } => {
                        write!(f, "has SHA-256 {found}, the database says {expected}")
                    }
                    BlobFault::Unreadable(error) => write!(f, "cannot be read: {error}"),
                }
            }
            Self::IndexFileMissing { registry, krate } => {
                write!(f, "{registry}/{krate}: index file is missing")
            }
            Self::IndexFileStale {
                registry,
                krate,
                detail,
            } => write!(
                f,
                "{registry}/{krate}: index file differs from the database: {detail}"
            ),
            Self::IndexFileOrphan {
                registry,
                name_lower,
            } => write!(
                f,
                "{registry}/{name_lower}: index file belongs to no crate with versions"
            ),
            Self::GitIndex { registry, fault } => {
                write!(f, "{registry} git index: ")?;
                match fault {
                    GitFault::Unreadable(reason) => write!(f, "cannot be read: {reason}"),
                    GitFault::Behind { head, database } => write!(
                        f,
                        "HEAD is behind the database (it holds changes up to #{head}, the database has made #{database})"
                    ),
                    GitFault::NotWrittenHere { commit } => {
                        write!(f, "HEAD ({commit}) is a commit cargohold did not write")
                    }
                    GitFault::Missing { path } => write!(f, "{path} is missing from HEAD"),
                    GitFault::Differs { path } => {
                        write!(f, "{path} in HEAD differs from the database")
                    }
                    GitFault::Extra { path } => {
                        write!(
                            f,
                            "{path} is in HEAD but not among the index files of the database"
                        )
                    }
                }
            }
            Self::MaxVersionWrong {
                registry,
                krate,
                stored,
                expected,
            } => write!(
                f,
                "{registry}/{krate}: max_version is {}, the versions say {}",
                stored.as_deref().unwrap_or("none"),
                expected.as_deref().unwrap_or("none")
            ),
        }
    }
}

/// What a check went through and found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub crates: u64,
    pub versions: u64,
    /// Every difference found, in registry and crate order: the same with or
    /// without `repair`, since each is found before anything is repaired.
    pub problems: Vec<Problem>,
    /// Whether `repair` was asked for.
    pub repaired: bool,
    /// Git indexes whose rebuild failed, by registry, with the reason: their
    /// problems are still there.
    pub failed_repairs: Vec<(String, String)>,
}

impl Report {
    /// Whether `problem` was repaired.
    pub fn is_repaired(&self, problem: &Problem) -> bool {
        self.repaired && problem.repairable() && self.repair_failure(problem).is_none()
    }

    /// Why the repair of `problem` failed, when it was tried and did.
    pub fn repair_failure(&self, problem: &Problem) -> Option<&str> {
        let Problem::GitIndex { registry, .. } = problem else {
            return None;
        };
        self.failed_repairs
            .iter()
            .find(|(failed, _)| failed == registry)
            .map(|(_, reason)| reason.as_str())
    }

    /// The problems still there: all of them, or after a repair those it did not fix.
    pub fn remaining(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !self.is_repaired(p))
    }
}

/// Checks `only` (every registry holding crates when `None`); with `repair`,
/// fixes index files, highest versions and git indexes. `progress` hears of each
/// crate done, with the total.
pub async fn check(
    app: &App,
    only: Option<&Registry>,
    repair: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> AppResult<Report> {
    let mut registries: Vec<&Arc<Registry>> = app
        .registries()
        .filter(|r| r.kind != RegistryKind::Virtual)
        .filter(|r| only.is_none_or(|only| only.id == r.id))
        .collect();
    registries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut crates = Vec::new();
    for registry in &registries {
        crates.push(db::crates::list_all(app.db.read(), registry.id).await?);
    }
    let total = crates.iter().map(|c| c.len() as u64).sum();
    let mut report = Report {
        repaired: repair,
        ..Report::default()
    };
    for (registry, crates) in registries.iter().zip(crates) {
        let mut with_versions = HashSet::new();
        // What the rows say a wrong index file should hold (`None`: no file), by
        // path: the git index is compared with that, not with the wrong file.
        let mut corrections = BTreeMap::new();
        for krate in crates {
            let blobs = db::versions::list_blobs(app.db.read(), krate.id).await?;
            if !blobs.is_empty() {
                with_versions.insert((krate.name.to_lowercase(), krate.id));
            }
            report.versions += blobs.len() as u64;
            check_blobs(app, registry, &krate, &blobs, &mut report.problems).await?;
            if !crate_problems(app.db.read(), registry, &krate)
                .await?
                .0
                .is_empty()
            {
                // Look again holding the crate's lock: a change may have landed in between.
                let mut tx = app.db.begin().await?;
                db::crates::lock(&mut tx, krate.id).await?;
                let (problems, wanted) = crate_problems(&mut tx, registry, &krate).await?;
                if let Some(wanted) = wanted {
                    corrections.insert(index_path(&krate.name.to_lowercase()), Some(wanted));
                }
                if repair && !problems.is_empty() {
                    repair_crate(&mut tx, registry, &krate, !blobs.is_empty()).await?;
                }
                tx.commit().await?;
                if repair {
                    registry.index_changed(&krate.name.to_lowercase());
                }
                report.problems.extend(problems);
            }
            report.crates += 1;
            progress(report.crates, total);
        }
        for name_lower in orphan_index_files(app, registry, &with_versions).await? {
            corrections.entry(index_path(&name_lower)).or_insert(None);
            if repair {
                // Other servers holding the file in memory serve it until they restart
                // (a deleted row announces no change); no crate has that name anyway.
                db::index_files::delete(app.db.write(), registry.id, &name_lower).await?;
                registry.index_changed(&name_lower);
            }
            report.problems.push(Problem::IndexFileOrphan {
                registry: registry.name.clone(),
                name_lower,
            });
        }
        if registry.git.is_some() {
            let failure =
                check_git_index(app, registry, repair, &corrections, &mut report.problems).await?;
            if let Some(reason) = failure {
                report.failed_repairs.push((registry.name.clone(), reason));
            }
        }
    }
    let repaired = report
        .problems
        .iter()
        .filter(|p| report.is_repaired(p))
        .count();
    if repair && repaired > 0 {
        let mut tx = app.db.begin().await?;
        db::audit::insert(
            &mut tx,
            &AuditEvent {
                detail: Some(serde_json::json!({ "repaired": repaired }).to_string()),
                ..super::audit_event(None, "repair")
            },
            clock::now(),
        )
        .await?;
        tx.commit().await?;
    }
    tracing::info!(
        crates = report.crates,
        versions = report.versions,
        problems = report.problems.len(),
        "checked"
    );
    Ok(report)
}

/// Compares the git index's HEAD with the index files the version rows give
/// (the stored ones, but `corrections` for those found wrong, so a check finds
/// the same with and without `repair`, which has fixed them by now) and, with
/// `repair`, rebuilds it in one commit. Returns why the rebuild failed, if it did.
async fn check_git_index(
    app: &App,
    registry: &Registry,
    repair: bool,
    corrections: &BTreeMap<String, Option<String>>,
    problems: &mut Vec<Problem>,
) -> AppResult<Option<String>> {
    let mut faults = git::verify(app, registry, corrections).await?;
    if !faults.is_empty() {
        // A running server's writer may be committing the latest changes right now.
        tokio::time::sleep(GIT_WRITER_GRACE).await;
        faults = git::verify(app, registry, corrections).await?;
    }
    let mut failure = None;
    if repair && !faults.is_empty() {
        failure = match git::rebuild(app, registry, false).await {
            Err(err) => {
                let err = format!("{err:#}");
                // Most often the reason the check could not read it, already printed.
                let said = faults.iter().any(|fault| match fault {
                    GitFault::Unreadable(reason) => reason.contains(&err),
                    _ => false,
                });
                Some(format!(
                    "{}; move {} aside and run `cargohold reindex`, which builds it anew",
                    if said {
                        "it cannot be rebuilt in place"
                    } else {
                        &err
                    },
                    registry
                        .git
                        .as_ref()
                        .map_or_else(Default::default, |git| git.dir.display().to_string())
                ))
            }
            Ok(_) => git::verify(app, registry, &BTreeMap::new())
                .await?
                .first()
                .map(|left| {
                    format!(
                        "after the rebuild it still differs from the database ({})",
                        Problem::GitIndex {
                            registry: registry.name.clone(),
                            fault: left.clone(),
                        }
                    )
                }),
        };
    }
    problems.extend(faults.into_iter().map(|fault| Problem::GitIndex {
        registry: registry.name.clone(),
        fault,
    }));
    Ok(failure)
}

/// Where the blobs of `storage` are, as an operator would reach them: a
/// directory as an absolute path (the data directory may have been given relative
/// to where the command ran), or the `s3://` URL.
fn store_location(storage: &BlobStore) -> String {
    let described = storage.description();
    if described.contains("://") {
        return described.to_owned();
    }
    std::fs::canonicalize(described)
        .map_or_else(|_| described.to_owned(), |dir| dir.display().to_string())
}

/// Reads every blob of a crate and adds a problem for each one that is not what its row says.
async fn check_blobs(
    app: &App,
    registry: &Registry,
    krate: &CrateRow,
    blobs: &[BlobRow],
    problems: &mut Vec<Problem>,
) -> AppResult<()> {
    let faults: Vec<Option<BlobFault>> = futures::stream::iter(blobs)
        .map(|blob| blob_fault(&app.storage, blob))
        .buffered(BLOB_READS)
        .collect()
        .await;
    for (blob, fault) in blobs.iter().zip(faults) {
        let Some(fault) = fault else { continue };
        // Eviction deletes the row, then the blob: a version gone since it was listed is no fault.
        if !db::versions::blob_key_in_use(app.db.read(), &blob.blob_key).await? {
            continue;
        }
        problems.push(Problem::Blob {
            at: VersionAt {
                registry: registry.name.clone(),
                krate: krate.name.clone(),
                version: blob.num.clone(),
                blob_key: blob.blob_key.clone(),
                store: store_location(&app.storage),
                upstream: registry.proxy.as_ref().map(|p| p.upstream.shown_url()),
            },
            fault,
        });
    }
    Ok(())
}

/// What is wrong with the blob of `row`, read in full and hashed; `None` if nothing.
async fn blob_fault(storage: &BlobStore, row: &BlobRow) -> Option<BlobFault> {
    let mut stream = match storage.get(&row.blob_key).await {
        Ok(stream) => stream,
        Err(object_store::Error::NotFound { .. }) => return Some(BlobFault::Missing),
        Err(err) => return Some(BlobFault::Unreadable(err.to_string())),
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                size += chunk.len() as u64;
                hasher.update(&chunk);
            }
            Ok(None) => break,
            Err(err) => return Some(BlobFault::Unreadable(err.to_string())),
        }
    }
    if i64::try_from(size).ok() != Some(row.size) {
        return Some(BlobFault::Size {
            expected: row.size,
            found: size,
        });
    }
    let found = hex::encode(hasher.finalize());
    (found != row.checksum).then(|| BlobFault::Checksum {
        expected: row.checksum.clone(),
        found,
    })
}

/// The differences between a crate's rows and its index file and highest version,
/// and the index file the rows give when the stored one is missing or differs.
async fn crate_problems<'c>(
    conn: impl Into<Conn<'c>>,
    registry: &Registry,
    krate: &CrateRow,
) -> AppResult<(Vec<Problem>, Option<String>)> {
    let mut conn = conn.into();
    let mut problems = Vec::new();
    let lower = krate.name.to_lowercase();
    let lines = db::versions::index_lines(&mut conn, krate.id).await?;
    // Rendered as `index::refresh_crate` would, so equal means what a refresh would store.
    let wanted = render::index_file(&lines, 0);
    let stored = db::index_files::find(&mut conn, registry.id, &lower).await?;
    match stored {
        None if !lines.is_empty() => problems.push(Problem::IndexFileMissing {
            registry: registry.name.clone(),
            krate: krate.name.clone(),
        }),
        Some(stored)
            if !lines.is_empty()
                && (stored.content != wanted.content || stored.etag != wanted.etag) =>
        {
            problems.push(Problem::IndexFileStale {
                registry: registry.name.clone(),
                krate: krate.name.clone(),
                detail: difference(&stored.content, &wanted.content),
            });
        }
        _ => {}
    }
    let wanted = (!problems.is_empty()).then_some(wanted.content);
    // The stored row, not `krate`: it may have changed since the crates were listed.
    let stored_max = db::crates::find_by_canonical(&mut conn, registry.id, &krate.canonical_name)
        .await?
        .and_then(|row| row.max_version);
    let states = db::versions::list_states(&mut conn, krate.id).await?;
    let expected = super::max_version(states.iter().map(|(num, yanked)| (num.as_str(), *yanked)));
    if stored_max != expected {
        problems.push(Problem::MaxVersionWrong {
            registry: registry.name.clone(),
            krate: krate.name.clone(),
            stored: stored_max,
            expected,
        });
    }
    Ok((problems, wanted))
}

/// Where a stored index file first departs from the wanted one, in words.
fn difference(stored: &str, wanted: &str) -> String {
    let stored: Vec<&str> = stored.lines().collect();
    let wanted: Vec<&str> = wanted.lines().collect();
    let Some(at) = (0..stored.len().max(wanted.len())).find(|&i| stored.get(i) != wanted.get(i))
    else {
        return "same lines, but its bytes or ETag differ".into();
    };
    let version = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|entry| entry["vers"].as_str().map(str::to_owned))
    };
    match wanted.get(at).and_then(|line| version(line)) {
        Some(version) => format!("line {} (version {version}) is not the database's", at + 1),
        None => format!("line {} is not in the database", at + 1),
    }
}

/// Rebuilds a locked crate's highest version and index file from its rows.
async fn repair_crate(
    tx: &mut db::Tx,
    registry: &Registry,
    krate: &CrateRow,
    has_versions: bool,
) -> AppResult<()> {
    let now = clock::now();
    if has_versions {
        super::refresh_crate_state(tx, registry.id, krate.id, &krate.name.to_lowercase(), now)
            .await?;
    } else {
        db::crates::set_max_version(&mut *tx, krate.id, None, now).await?;
    }
    Ok(())
}

/// Index files of `registry` that belong to none of the crates with versions,
/// each confirmed by a second look (a crate may have been published since).
async fn orphan_index_files(
    app: &App,
    registry: &Registry,
    with_versions: &HashSet<(String, i64)>,
) -> AppResult<Vec<String>> {
    let mut orphans = Vec::new();
    for (name_lower, crate_id) in db::index_files::list_names(app.db.read(), registry.id).await? {
        if with_versions.contains(&(name_lower.clone(), crate_id)) {
            continue;
        }
        let canonical = cargohold_protocol::name::canonical_name(&name_lower);
        let owner = db::crates::find_by_canonical(app.db.read(), registry.id, &canonical).await?;
        let belongs = match owner {
            Some(krate) if krate.id == crate_id && krate.name.to_lowercase() == name_lower => {
                !db::versions::list_states(app.db.read(), krate.id)
                    .await?
                    .is_empty()
            }
            _ => false,
        };
        if !belongs {
            orphans.push(name_lower);
        }
    }
    Ok(orphans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damaged(store: &str, upstream: Option<&str>) -> Problem {
        Problem::Blob {
            at: VersionAt {
                registry: "crates-io-cache".into(),
                krate: "serde".into(),
                version: "1.0.228".into(),
                blob_key: "crates/crates-io-cache/serde/1.0.228/abc.crate".into(),
                store: store.into(),
                upstream: upstream.map(str::to_owned),
            },
            fault: BlobFault::Missing,
        }
    }

    #[test]
    fn a_local_blob_is_restored_from_a_backup() {
        assert_eq!(
            damaged("/srv/blobs/", None).remedy().unwrap(),
            "restore the file from a backup: copy `blobs/crates/crates-io-cache/serde/1.0.228/abc.crate` of a \
             `cargohold backup` directory to `/srv/blobs/crates/crates-io-cache/serde/1.0.228/abc.crate`; \
             the database cannot recreate it"
        );
    }

    #[test]
    fn a_cached_blob_of_crates_io_is_downloaded_again_to_its_place() {
        let remedy = damaged("/srv/blobs", Some("https://index.crates.io/"))
            .remedy()
            .unwrap();
        assert!(
            remedy.ends_with(
                ", or put the upstream's copy of `serde` 1.0.228 there, the same file: `curl -fL --create-dirs \
                 -o /srv/blobs/crates/crates-io-cache/serde/1.0.228/abc.crate \
                 https://static.crates.io/crates/serde/serde-1.0.228.crate`"
            ),
            "{remedy}"
        );
        assert!(!remedy.contains("evict"), "{remedy}");
        let in_s3 = damaged("s3://bucket/cargohold", Some("https://index.crates.io/"))
            .remedy()
            .unwrap();
        assert!(
            in_s3.ends_with(
                "to `s3://bucket/cargohold/crates/crates-io-cache/serde/1.0.228/abc.crate`, or put the \
                 upstream's copy of `serde` 1.0.228 there, the same file \
                 (https://static.crates.io/crates/serde/serde-1.0.228.crate)"
            ),
            "{in_s3}"
        );
    }

    #[test]
    fn a_cached_blob_of_another_upstream_names_where_its_address_is() {
        let remedy = damaged("/srv/blobs", Some("https://mirror.example/index/"))
            .remedy()
            .unwrap();
        assert!(
            remedy.ends_with(
                ", or put the upstream's copy of `serde` 1.0.228 there, the same file (the `dl` of \
                 https://mirror.example/index/config.json gives its download address)"
            ),
            "{remedy}"
        );
    }

    #[test]
    fn only_blobs_have_a_remedy() {
        let stale = Problem::IndexFileMissing {
            registry: "main".into(),
            krate: "alpha".into(),
        };
        assert_eq!(stale.remedy(), None);
    }
}
