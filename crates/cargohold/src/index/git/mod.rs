//! The git index of a registry (`git-index = true`): a bare repository kept in
//! step with the database, served over git's smart HTTP at `/registries/{name}/git`.
//!
//! The queue is the database itself: every change to an index file takes the next
//! number (`index_files.generation`) in its own transaction. Each commit records,
//! in a trailer, the number of the last change it holds, so the writer — on any
//! process — reads HEAD, asks for the files changed since, and commits them one
//! by one. A crash before the branch moves loses nothing (the changes are still
//! newer than HEAD's number); one after it repeats nothing (HEAD has the new number).
//! The branch only moves from the commit a writer started on, and a lock file
//! keeps two writers from doing the same work.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use cargohold_protocol::name::index_path;
use serde::Deserialize;
use tokio::sync::Notify;

use crate::app::{App, Registry};
use crate::clock;
use crate::db::{self, index_files::ChangedFile};

pub mod http;
pub mod repo;

use repo::{FileChange, Head, Repo};

/// Files read from the database at once.
const BATCH: i64 = 500;

/// Commits between two `git gc --auto` runs (git packs loose objects when there are many).
const GC_EVERY: usize = 1000;

/// The file at the root of the tree that tells cargo where downloads and the API are.
const CONFIG_JSON: &str = "config.json";

/// A registry's git index: where it lives and how its writer is woken.
#[derive(Debug)]
pub struct GitIndex {
    /// The bare repository, `{data-dir}/git/{registry}.git`.
    pub dir: PathBuf,
    /// The URL users give cargo: `{public}/registries/{registry}/git`.
    pub url: String,
    /// What `config.json` at the root must hold.
    config_json: String,
    wake: Notify,
    commits_since_gc: AtomicUsize,
}

impl GitIndex {
    pub fn new(root: &Path, registry: &str, url: String, config_json: &str) -> Self {
        Self {
            dir: root.join(format!("{registry}.git")),
            url,
            config_json: format!("{config_json}\n"),
            wake: Notify::new(),
            commits_since_gc: AtomicUsize::new(0),
        }
    }

    /// Tells this process's writer that the database has changes for it.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`GitIndex::wake`] was called (at once if it was meanwhile).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Waits for the writer lock, which is released when the guard drops, then
    /// clears what a writer killed in the middle of a ref update left behind.
    async fn lock(&self) -> anyhow::Result<File> {
        let path = self.dir.with_extension("git.lock");
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            file.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
            remove_stale_ref_locks(&dir);
            Ok(file)
        })
        .await?
    }

    /// Runs `f` on the repository on a blocking thread.
    async fn with_repo<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Repo) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || f(&Repo::open_or_create(&dir)?)).await?
    }
}

/// What one writer round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    pub commits: usize,
}

/// Brings the git index of `registry` up to the database: one commit per changed
/// crate file, in the order the changes were made. A repository without a
/// cargohold commit is built whole in one commit.
pub async fn sync(app: &App, registry: &Registry) -> anyhow::Result<Synced> {
    let git = git_of(registry)?;
    let _lock = git.lock().await?;
    let head = git.with_repo(|repo| repo.head()).await?;
    let mut head = match head {
        Some(
            head @ Head {
                generation: Some(_),
                ..
            },
        ) => head,
        other => {
            // No commit yet, or one cargohold did not write: start from the database.
            let subject = match other {
                None => format!("Create the index of registry `{}`", registry.name),
                Some(_) => format!(
                    "Rebuild the index of registry `{}` from the database",
                    registry.name
                ),
            };
            let built = build_whole(app, registry, other, &subject, false).await?;
            return Ok(Synced {
                commits: usize::from(built.is_some()),
            });
        }
    };
    let mut synced = Synced::default();
    loop {
        let after = head.generation.unwrap_or_default();
        let mut changed =
            db::index_files::changed_in(app.db.read(), registry.id, after, BATCH).await?;
        add_deleted_crates(app, registry, after, &mut changed).await?;
        let Some(last) = changed.last().map(|c| c.generation) else {
            break;
        };
        let changes: Vec<FileChange> = changed.into_iter().map(file_change).collect();
        let (new_head, commits) = git
            .with_repo(move |repo| repo.apply(head, &changes, describe))
            .await?;
        synced.commits += commits;
        // Files whose content HEAD already had make no commit, but are done.
        head = Head {
            generation: Some(last),
            ..new_head
        };
    }
    synced.commits += ensure_config_json(git, head).await?;
    after_commits(git, synced.commits).await;
    Ok(synced)
}

/// Rebuilds the git index of `registry` from the database in one commit (none if
/// HEAD already holds exactly that); with `squash`, as a new history of one commit.
/// Returns whether a commit was made.
pub async fn rebuild(app: &App, registry: &Registry, squash: bool) -> anyhow::Result<bool> {
    let git = git_of(registry)?;
    let _lock = git.lock().await?;
    let head = git.with_repo(|repo| repo.head()).await?;
    let subject = if squash {
        format!(
            "Squash the history of registry `{}`: the index as the database has it",
            registry.name
        )
    } else {
        format!(
            "Rebuild the index of registry `{}` from the database",
            registry.name
        )
    };
    let built = build_whole(app, registry, head, &subject, squash).await?;
    after_commits(git, usize::from(built.is_some())).await;
    Ok(built.is_some())
}

/// A difference between a registry's git index and its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitFault {
    /// No repository, no commit, or one that cannot be read.
    Unreadable(String),
    /// HEAD holds changes up to `head`; the database has made changes up to `database`.
    Behind { head: i64, database: i64 },
    /// HEAD is a commit cargohold did not write (it names no change).
    NotWrittenHere { commit: String },
    /// A crate's file is not in HEAD.
    Missing { path: String },
    /// A file in HEAD is not what the database says.
    Differs { path: String },
    /// A file in HEAD that no crate of the database has.
    Extra { path: String },
}

/// Compares HEAD of the git index of `registry` with the database, writing nothing.
/// `corrections` replaces the content of the database's files by path (`None`:
/// no such file), for files the caller found the version rows to disagree with.
pub async fn verify(
    app: &App,
    registry: &Registry,
    corrections: &BTreeMap<String, Option<String>>,
) -> anyhow::Result<Vec<GitFault>> {
    let git = git_of(registry)?;
    let dir = git.dir.clone();
    let found = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let Some(repo) = Repo::open_existing(&dir)? else {
            return Ok(Err(format!("there is no repository at {}", dir.display())));
        };
        let head = match repo.head() {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(Err("the repository has no commit".to_owned())),
            Err(err) => return Ok(Err(format!("{err:#}"))),
        };
        match repo.files(head.tree) {
            Ok(files) => Ok(Ok((head, files))),
            Err(err) => Ok(Err(format!("HEAD's tree cannot be read: {err:#}"))),
        }
    })
    .await??;
    let (head, mut in_head) = match found {
        Ok(found) => found,
        Err(reason) => return Ok(vec![GitFault::Unreadable(reason)]),
    };
    let mut faults = Vec::new();
    let database = database_generation(app, registry).await?;
    let mut wanted = vec![(
        CONFIG_JSON.to_owned(),
        repo::blob_id(git.config_json.as_bytes())?,
    )];
    let mut after = String::new();
    let mut corrected = HashSet::new();
    while let Some(page) = next_page(app, registry, &mut after).await? {
        for (path, content) in page {
            let content = match corrections.get(&path) {
                Some(correction) => {
                    corrected.insert(path.clone());
                    match correction {
                        Some(content) => content.clone(),
                        None => continue,
                    }
                }
                None => content,
            };
            wanted.push((path, repo::blob_id(content.as_bytes())?));
        }
    }
    for (path, correction) in corrections {
        if let Some(content) = correction
            && !corrected.contains(path)
        {
            wanted.push((path.clone(), repo::blob_id(content.as_bytes())?));
        }
    }
    for (path, id) in wanted {
        match in_head.remove(&path) {
            None => faults.push(GitFault::Missing { path }),
            Some(found) if found != id => faults.push(GitFault::Differs { path }),
            Some(_) => {}
        }
    }
    faults.extend(in_head.into_keys().map(|path| GitFault::Extra { path }));
    // Only as the reason for a difference: a change undone before the writer ran
    // leaves HEAD's number behind with nothing to commit.
    let reason = match head.generation {
        _ if faults.is_empty() => None,
        None => Some(GitFault::NotWrittenHere {
            commit: head.commit.to_string(),
        }),
        Some(generation) if generation < database => Some(GitFault::Behind {
            head: generation,
            database,
        }),
        Some(_) => None,
    };
    if let Some(reason) = reason {
        faults.insert(0, reason);
    }
    Ok(faults)
}

/// Where a git index stands, for the administration page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitStatus {
    /// HEAD's commit id, subject and date; `None` before the first commit.
    pub head: Option<(String, String, i64)>,
    /// The last change HEAD holds, and the database's last change to this registry's files.
    pub head_generation: i64,
    pub database_generation: i64,
}

/// Reads where the git index of `registry` stands, writing nothing.
pub async fn status(app: &App, registry: &Registry) -> anyhow::Result<GitStatus> {
    let dir = git_of(registry)?.dir.clone();
    let head = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let Some(repo) = Repo::open_existing(&dir)? else {
            return Ok(None);
        };
        let Some(head) = repo.head()? else {
            return Ok(None);
        };
        let (subject, time) = repo.summary(head.commit)?;
        Ok(Some((head, subject, time)))
    })
    .await??;
    Ok(GitStatus {
        head_generation: head
            .as_ref()
            .and_then(|(h, _, _)| h.generation)
            .unwrap_or_default(),
        head: head.map(|(h, subject, time)| (h.commit.to_string(), subject, time)),
        database_generation: database_generation(app, registry).await?,
    })
}

/// The next page of `registry`'s files in name order, after `after` (moved on):
/// each file's path in the tree and content, files without versions left out.
/// `None` after the last page.
async fn next_page(
    app: &App,
    registry: &Registry,
    after: &mut String,
) -> sqlx::Result<Option<Vec<(String, String)>>> {
    let page = db::index_files::page(app.db.read(), registry.id, after, BATCH).await?;
    let Some(last) = page.last() else {
        return Ok(None);
    };
    *after = last.name_lower.clone();
    Ok(Some(
        page.into_iter()
            .filter(|f| !f.content.is_empty())
            .map(|f| (index_path(&f.name_lower), f.content))
            .collect(),
    ))
}

fn git_of(registry: &Registry) -> anyhow::Result<&GitIndex> {
    registry
        .git
        .as_ref()
        .with_context(|| format!("registry `{}` keeps no git index", registry.name))
}

/// Writes every file of the database into one tree and commits it on `head`
/// (a new root when there is none, or when squashing). The lock must be held.
async fn build_whole(
    app: &App,
    registry: &Registry,
    head: Option<Head>,
    subject: &str,
    squash: bool,
) -> anyhow::Result<Option<Head>> {
    let git = git_of(registry)?;
    // Read before the files: a change made while they are read has a later number,
    // so the writer applies it again (a no-op when the file read was already new).
    let generation = database_generation(app, registry).await?;
    let config = git.config_json.clone();
    let mut files = git
        .with_repo(move |repo| {
            Ok(vec![(
                CONFIG_JSON.to_owned(),
                repo.write_blob(config.as_bytes())?,
            )])
        })
        .await?;
    let mut after = String::new();
    while let Some(page) = next_page(app, registry, &mut after).await? {
        let written = git
            .with_repo(move |repo| {
                page.into_iter()
                    .map(|(path, content)| Ok((path, repo.write_blob(content.as_bytes())?)))
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .await?;
        files.extend(written);
    }
    let subject = subject.to_owned();
    let now = clock::now();
    let head = git
        .with_repo(move |repo| {
            if squash {
                repo.squash(&files, &subject, generation, now).map(Some)
            } else {
                repo.commit_whole(&files, head, &subject, generation, now)
            }
        })
        .await?;
    if let Some(head) = head {
        tracing::info!(registry = %registry.name, commit = %head.commit, squash, "wrote the whole git index");
    }
    Ok(head)
}

/// Commits `config.json` if HEAD's is not what this server would say (the public URL changed).
async fn ensure_config_json(git: &GitIndex, head: Head) -> anyhow::Result<usize> {
    let config = git.config_json.clone();
    git.with_repo(move |repo| {
        let wanted = repo::blob_id(config.as_bytes())?;
        if repo.file(head.tree, CONFIG_JSON)? == Some(wanted) {
            return Ok(0);
        }
        let change = FileChange {
            path: CONFIG_JSON.to_owned(),
            content: config,
            generation: head.generation.unwrap_or_default(),
            time: clock::now(),
        };
        Ok(repo
            .apply(head, &[change], |_, _| "Update config.json".to_owned())?
            .1)
    })
    .await
}

/// Lets git pack loose objects now and then (it decides whether there are enough).
async fn after_commits(git: &GitIndex, commits: usize) {
    let total = git.commits_since_gc.fetch_add(commits, Ordering::Relaxed) + commits;
    if total < GC_EVERY {
        return;
    }
    git.commits_since_gc.store(0, Ordering::Relaxed);
    let dir = git.dir.clone();
    let result = tokio::process::Command::new("git")
        .arg("--git-dir")
        .arg(&dir)
        // In the foreground, under the writer lock: a detached gc would race the next writer.
        .args(["-c", "gc.autoDetach=false", "gc", "--auto", "--quiet"])
        .output()
        .await;
    match result {
        Ok(output) if output.status.success() => {}
        Ok(output) => tracing::warn!(
            dir = %dir.display(),
            stderr = %String::from_utf8_lossy(&output.stderr),
            "git gc failed"
        ),
        Err(err) => tracing::warn!(error = %err, "could not run git gc"),
    }
}

/// How old a git lock file must be before a writer holding cargohold's lock takes
/// it for the leftover of a killed writer. Ref updates hold theirs for
/// milliseconds; the age spares a `git gc` that outlived a killed server.
const STALE_GIT_LOCK: std::time::Duration = std::time::Duration::from_secs(5);

/// Removes the `*.lock` files git leaves beside a ref (`refs/heads/main.lock`,
/// `HEAD.lock`, `packed-refs.lock`) when the process writing it is killed; while
/// one is there, every later update of that ref fails. Only called with the
/// writer lock held, so no live cargohold writer owns them.
fn remove_stale_ref_locks(dir: &Path) {
    let mut candidates = vec![dir.join("HEAD.lock"), dir.join("packed-refs.lock")];
    if let Ok(entries) = std::fs::read_dir(dir.join("refs/heads")) {
        candidates.extend(
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "lock")),
        );
    }
    for lock in candidates {
        let age = std::fs::metadata(&lock)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        if age.is_some_and(|age| age >= STALE_GIT_LOCK) && std::fs::remove_file(&lock).is_ok() {
            tracing::warn!(lock = %lock.display(), "removed a git lock file left by a writer that stopped mid-update");
        }
    }
}

/// The number of the latest change to `registry`'s files: a change to a file's row,
/// or the deletion of a crate, which leaves no row.
async fn database_generation(app: &App, registry: &Registry) -> sqlx::Result<i64> {
    let files = db::index_files::latest_generation(app.db.read(), registry.id).await?;
    let deletions = db::crates::latest_deletion_generation(app.db.read(), registry.id).await?;
    Ok(files.max(deletions))
}

/// Adds to `changed` (files changed after `after`, at most [`BATCH`]) the files of
/// crates deleted whole after `after`, which have no row left to change: each as an
/// empty file, which removes it. Of two lists cut at [`BATCH`], only the changes
/// both cover are kept; the rest come in the next round.
async fn add_deleted_crates(
    app: &App,
    registry: &Registry,
    after: i64,
    changed: &mut Vec<ChangedFile>,
) -> sqlx::Result<()> {
    let deleted = db::crates::crates_deleted_in(app.db.read(), registry.id, after, BATCH).await?;
    if deleted.is_empty() {
        return Ok(());
    }
    let covered = |len: usize, last: Option<i64>| match last {
        Some(last) if len as i64 >= BATCH => last,
        _ => i64::MAX,
    };
    let upto = covered(changed.len(), changed.last().map(|c| c.generation))
        .min(covered(deleted.len(), deleted.last().map(|d| d.generation)));
    changed.extend(deleted.into_iter().map(|d| ChangedFile {
        name_lower: d.name.to_ascii_lowercase(),
        content: String::new(),
        last_modified: d.deleted_at,
        generation: d.generation,
    }));
    changed.retain(|c| c.generation <= upto);
    changed.sort_by_key(|c| c.generation);
    Ok(())
}

fn file_change(file: ChangedFile) -> FileChange {
    FileChange {
        path: index_path(&file.name_lower),
        content: file.content,
        generation: file.generation,
        time: file.last_modified,
    }
}

/// The commit subject of a change to a crate's file, from its old and new content:
/// `Publish foo 1.2.0`, `Yank foo 1.0.0`, `Unyank …`, `Remove …`.
fn describe(old: Option<&str>, new: &str) -> String {
    #[derive(Deserialize)]
    struct Line {
        name: String,
        vers: String,
        #[serde(default)]
        yanked: bool,
    }
    let parse = |content: &str| -> Vec<Line> {
        content
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    };
    let (old, new) = (parse(old.unwrap_or_default()), parse(new));
    let Some(name) = new.first().or(old.first()).map(|l| l.name.clone()) else {
        return "Update an index file".to_owned();
    };
    let mut what = Vec::new();
    for line in &new {
        match old.iter().find(|o| o.vers == line.vers) {
            None => what.push(format!("Publish {name} {}", line.vers)),
            Some(before) if !before.yanked && line.yanked => {
                what.push(format!("Yank {name} {}", line.vers));
            }
            Some(before) if before.yanked && !line.yanked => {
                what.push(format!("Unyank {name} {}", line.vers));
            }
            Some(_) => {}
        }
    }
    for line in old.iter().filter(|o| !new.iter().any(|n| n.vers == o.vers)) {
        what.push(format!("Remove {name} {}", line.vers));
    }
    if what.is_empty() {
        return format!("Update {name}");
    }
    what.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_subject_says_what_changed() {
        let line = |vers: &str, yanked: bool| {
            format!("{{\"name\":\"Foo\",\"vers\":\"{vers}\",\"yanked\":{yanked}}}\n")
        };
        let one = line("1.0.0", false);
        let two = format!("{one}{}", line("1.1.0", false));
        assert_eq!(describe(None, &one), "Publish Foo 1.0.0");
        assert_eq!(describe(Some(&one), &two), "Publish Foo 1.1.0");
        let yanked = format!("{one}{}", line("1.1.0", true));
        assert_eq!(describe(Some(&two), &yanked), "Yank Foo 1.1.0");
        assert_eq!(describe(Some(&yanked), &two), "Unyank Foo 1.1.0");
        assert_eq!(describe(Some(&two), &one), "Remove Foo 1.1.0");
        assert_eq!(describe(Some(&one), &one), "Update Foo");
        // Two publishes the writer saw at once share a commit that names both.
        let three = format!("{two}{}", line("1.2.0", false));
        assert_eq!(
            describe(Some(&one), &three),
            "Publish Foo 1.1.0, Publish Foo 1.2.0"
        );
    }
}
