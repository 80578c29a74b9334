//! The bare repository of a git index, through libgit2: read HEAD, commit changed
//! files, build whole trees, list what HEAD holds. Blocking; callers run it on a
//! blocking thread. Knows nothing of the database.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use git2::{ErrorCode, ObjectType, Oid, Repository, RepositoryInitOptions, Signature, Time, Tree};

/// The branch cargo fetches (through `HEAD`, whatever its name).
pub const BRANCH: &str = "refs/heads/main";

/// The trailer each commit carries: the number of the last database change it holds.
const TRAILER: &str = "Cargohold-Generation:";

const FILE_MODE: i32 = 0o100_644;
const TREE_MODE: i32 = 0o040_000;

/// The commit HEAD points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub commit: Oid,
    pub tree: Oid,
    /// The last database change written (`None`: a commit cargohold did not make).
    pub generation: Option<i64>,
}

/// One crate's file as the database has it after change `generation`.
#[derive(Debug, Clone)]
pub struct FileChange {
    /// The path in the tree (`ab/cd/abcd`).
    pub path: String,
    /// The new content; empty removes the file.
    pub content: String,
    pub generation: i64,
    /// When the change was made (Unix seconds), the commit's date.
    pub time: i64,
}

/// An open bare repository.
pub struct Repo(Repository);

impl Repo {
    /// Opens the repository at `dir`, creating an empty one if there is none.
    pub fn open_or_create(dir: &Path) -> anyhow::Result<Self> {
        match Repository::open_bare(dir) {
            Ok(repo) => Ok(Self(repo)),
            Err(err) if err.code() == ErrorCode::NotFound => {
                let repo = Repository::init_opts(
                    dir,
                    RepositoryInitOptions::new()
                        .bare(true)
                        .initial_head("main")
                        .description("cargohold git index; written by cargohold, read-only"),
                )
                .with_context(|| format!("cannot create the git index at {}", dir.display()))?;
                let mut config = repo.config()?;
                // Nobody pushes here; `git gc` runs in the writer, not detached.
                config.set_bool("http.receivepack", false)?;
                config.set_bool("gc.autoDetach", false)?;
                Ok(Self(repo))
            }
            Err(err) => {
                Err(err).with_context(|| format!("cannot open the git index at {}", dir.display()))
            }
        }
    }

    /// Opens an existing repository; `None` when `dir` holds none.
    pub fn open_existing(dir: &Path) -> anyhow::Result<Option<Self>> {
        match Repository::open_bare(dir) {
            Ok(repo) => Ok(Some(Self(repo))),
            Err(err) if err.code() == ErrorCode::NotFound => Ok(None),
            Err(err) => {
                Err(err).with_context(|| format!("cannot open the git index at {}", dir.display()))
            }
        }
    }

    /// The commit on the branch, or `None` before the first one.
    pub fn head(&self) -> anyhow::Result<Option<Head>> {
        let reference = match self.0.find_reference(BRANCH) {
            Ok(reference) => reference,
            Err(err) if err.code() == ErrorCode::NotFound => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let commit = reference
            .peel_to_commit()
            .context("the git index's branch does not point at a readable commit")?;
        Ok(Some(Head {
            commit: commit.id(),
            tree: commit.tree_id(),
            generation: generation_of(commit.message().unwrap_or_default()),
        }))
    }

    /// The subject and date (Unix seconds) of `commit`.
    pub fn summary(&self, commit: Oid) -> anyhow::Result<(String, i64)> {
        let commit = self.0.find_commit(commit)?;
        let subject = commit
            .summary()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_owned();
        Ok((subject, commit.time().seconds()))
    }

    /// Writes `content` as a blob (nothing new when it exists already).
    pub fn write_blob(&self, content: &[u8]) -> anyhow::Result<Oid> {
        Ok(self.0.blob(content)?)
    }

    /// Commits each change on top of `head`, one commit per file that really
    /// changed, and moves the branch once at the end, only if it still points at
    /// `head`. `subject` words a commit from the file's old and new content.
    /// Returns the new head and how many commits were made.
    pub fn apply(
        &self,
        head: Head,
        changes: &[FileChange],
        subject: impl Fn(Option<&str>, &str) -> String,
    ) -> anyhow::Result<(Head, usize)> {
        let mut tree = self.0.find_tree(head.tree)?;
        let mut parent = self.0.find_commit(head.commit)?;
        let mut commits = 0;
        let mut generation = head.generation;
        for change in changes {
            let wanted = if change.content.is_empty() {
                None
            } else {
                Some(self.write_blob(change.content.as_bytes())?)
            };
            let current = tree.get_path(Path::new(&change.path)).ok().map(|e| e.id());
            if current == wanted {
                continue;
            }
            let old = current
                .map(|id| self.0.find_blob(id))
                .transpose()?
                .map(|blob| String::from_utf8_lossy(blob.content()).into_owned());
            let subject = subject(old.as_deref(), &change.content);
            let components: Vec<&str> = change.path.split('/').collect();
            let Some(new_tree) = self.put(Some(&tree), &components, wanted)? else {
                bail!(
                    "a change to {} would leave the git index empty",
                    change.path
                );
            };
            tree = self.0.find_tree(new_tree)?;
            let message = message(&subject, change.generation);
            let id = self.commit(&message, change.time, &tree, Some(&parent))?;
            parent = self.0.find_commit(id)?;
            generation = Some(change.generation);
            commits += 1;
        }
        let new_head = Head {
            commit: parent.id(),
            tree: tree.id(),
            generation,
        };
        if commits > 0 {
            self.move_branch(new_head.commit, Some(head.commit))?;
        }
        Ok((new_head, commits))
    }

    /// Commits the tree holding exactly `files` (path → blob), on top of `parent`
    /// or as a new root when `None`, and moves the branch to it if it still points
    /// at `parent`. With a parent whose tree is the same, commits nothing.
    pub fn commit_whole(
        &self,
        files: &[(String, Oid)],
        parent: Option<Head>,
        subject: &str,
        generation: i64,
        time: i64,
    ) -> anyhow::Result<Option<Head>> {
        let tree_id = self.write_tree(files)?;
        if let Some(parent) = parent
            && parent.tree == tree_id
            && parent.generation.is_some()
        {
            return Ok(None);
        }
        let tree = self.0.find_tree(tree_id)?;
        let parent_commit = parent.map(|p| self.0.find_commit(p.commit)).transpose()?;
        let id = self.commit(
            &message(subject, generation),
            time,
            &tree,
            parent_commit.as_ref(),
        )?;
        self.move_branch(id, parent.map(|p| p.commit))?;
        Ok(Some(Head {
            commit: id,
            tree: tree_id,
            generation: Some(generation),
        }))
    }

    /// Replaces the history with one root commit holding `files`, whatever the branch holds.
    pub fn squash(
        &self,
        files: &[(String, Oid)],
        subject: &str,
        generation: i64,
        time: i64,
    ) -> anyhow::Result<Head> {
        let tree_id = self.write_tree(files)?;
        let tree = self.0.find_tree(tree_id)?;
        let id = self.commit(&message(subject, generation), time, &tree, None)?;
        self.0
            .reference(BRANCH, id, true, "cargohold: squash the history")?;
        Ok(Head {
            commit: id,
            tree: tree_id,
            generation: Some(generation),
        })
    }

    /// The blob at `path` in `tree`, if there is one (a lookup, not a walk).
    pub fn file(&self, tree: Oid, path: &str) -> anyhow::Result<Option<Oid>> {
        let tree = self.0.find_tree(tree)?;
        Ok(tree
            .get_path(Path::new(path))
            .ok()
            .filter(|e| e.kind() == Some(ObjectType::Blob))
            .map(|e| e.id()))
    }

    /// Every file of `tree` (path → blob id).
    pub fn files(&self, tree: Oid) -> anyhow::Result<BTreeMap<String, Oid>> {
        let tree = self.0.find_tree(tree)?;
        let mut files = BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(ObjectType::Blob)
                && let Ok(name) = entry.name()
            {
                files.insert(format!("{dir}{name}"), entry.id());
            }
            git2::TreeWalkResult::Ok
        })?;
        Ok(files)
    }

    fn commit(
        &self,
        message: &str,
        time: i64,
        tree: &Tree<'_>,
        parent: Option<&git2::Commit<'_>>,
    ) -> anyhow::Result<Oid> {
        let signature = Signature::new("cargohold", "cargohold@localhost", &Time::new(time, 0))?;
        let parents: Vec<&git2::Commit<'_>> = parent.into_iter().collect();
        Ok(self
            .0
            .commit(None, &signature, &signature, message, tree, &parents)?)
    }

    /// Points the branch at `to` if it still points at `from` (`None`: if it does not exist).
    fn move_branch(&self, to: Oid, from: Option<Oid>) -> anyhow::Result<()> {
        let result = match from {
            Some(from) => {
                self.0
                    .reference_matching(BRANCH, to, true, from, "cargohold: index changes")
            }
            None => self
                .0
                .reference(BRANCH, to, false, "cargohold: first index"),
        };
        result.map(drop).map_err(|err| {
            anyhow::Error::new(err)
                .context("the git index moved while it was being written; the next round retries")
        })
    }

    /// `tree` with the file at `path` set to `blob` (removed when `None`); `None`
    /// when the tree ends up empty.
    fn put(
        &self,
        tree: Option<&Tree<'_>>,
        path: &[&str],
        blob: Option<Oid>,
    ) -> anyhow::Result<Option<Oid>> {
        let Some((first, rest)) = path.split_first() else {
            bail!("an empty path in the git index");
        };
        let mut builder = self.0.treebuilder(tree)?;
        let entry = if rest.is_empty() {
            blob.map(|id| (id, FILE_MODE))
        } else {
            let subtree = tree
                .and_then(|t| t.get_name(first))
                .filter(|e| e.kind() == Some(ObjectType::Tree))
                .map(|e| self.0.find_tree(e.id()))
                .transpose()?;
            self.put(subtree.as_ref(), rest, blob)?
                .map(|id| (id, TREE_MODE))
        };
        match entry {
            Some((id, mode)) => {
                builder.insert(first, id, mode)?;
            }
            None if builder.get(first)?.is_some() => builder.remove(first)?,
            None => {}
        }
        if builder.is_empty() {
            return Ok(None);
        }
        Ok(Some(builder.write()?))
    }

    /// Writes the trees holding exactly `files` and returns the root's id.
    fn write_tree(&self, files: &[(String, Oid)]) -> anyhow::Result<Oid> {
        #[derive(Default)]
        struct Dir<'a> {
            files: Vec<(&'a str, Oid)>,
            dirs: BTreeMap<&'a str, Dir<'a>>,
        }
        fn write(repo: &Repository, dir: &Dir<'_>) -> anyhow::Result<Oid> {
            let mut builder = repo.treebuilder(None)?;
            for (name, id) in &dir.files {
                builder.insert(name, *id, FILE_MODE)?;
            }
            for (name, sub) in &dir.dirs {
                builder.insert(name, write(repo, sub)?, TREE_MODE)?;
            }
            Ok(builder.write()?)
        }
        let mut root = Dir::default();
        for (path, id) in files {
            let mut dir = &mut root;
            let mut parts = path.split('/').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    dir.files.push((part, *id));
                } else {
                    dir = dir.dirs.entry(part).or_default();
                }
            }
        }
        write(&self.0, &root)
    }
}

/// The id git gives `content` as a blob, without writing it anywhere.
pub fn blob_id(content: &[u8]) -> anyhow::Result<Oid> {
    Ok(Oid::hash_object(ObjectType::Blob, content)?)
}

/// A commit message: the subject, then the trailer naming the last change it holds.
fn message(subject: &str, generation: i64) -> String {
    format!("{subject}\n\n{TRAILER} {generation}\n")
}

/// The change number in a commit message's trailer.
fn generation_of(message: &str) -> Option<i64> {
    message
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(TRAILER)?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, content: &str, generation: i64) -> FileChange {
        FileChange {
            path: path.into(),
            content: content.into(),
            generation,
            time: 1_700_000_000 + generation,
        }
    }

    /// The number of commits reachable from the branch.
    fn count_commits(repo: &Repo) -> usize {
        let head = repo.head().unwrap().unwrap();
        let mut walk = repo.0.revwalk().unwrap();
        walk.push(head.commit).unwrap();
        walk.count()
    }

    fn subject(old: Option<&str>, new: &str) -> String {
        format!("{} -> {}", old.unwrap_or("nothing").trim(), new.trim())
    }

    #[test]
    fn the_trailer_round_trips_through_a_message() {
        assert_eq!(generation_of(&message("Publish a 1.0.0", 42)), Some(42));
        assert_eq!(generation_of("Some commit\n\nno trailer\n"), None);
    }

    #[test]
    fn changes_become_one_commit_each_and_an_unchanged_file_none() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::open_or_create(dir.path()).unwrap();
        assert_eq!(repo.head().unwrap(), None);
        let config = repo.write_blob(b"{}").unwrap();
        let first = repo
            .commit_whole(&[("config.json".into(), config)], None, "create", 0, 1)
            .unwrap()
            .unwrap();
        let (head, commits) = repo
            .apply(
                first,
                &[
                    change("ab/cd/abcd", "{\"v\":1}\n", 1),
                    change("3/x/xyz", "{\"v\":2}\n", 2),
                    change("3/x/xyz", "{\"v\":2}\n", 3),
                ],
                subject,
            )
            .unwrap();
        assert_eq!((commits, head.generation), (2, Some(2)));
        assert_eq!(repo.head().unwrap(), Some(head));
        let files = repo.files(head.tree).unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["3/x/xyz", "ab/cd/abcd", "config.json"]
        );
        assert_eq!(files["ab/cd/abcd"], blob_id(b"{\"v\":1}\n").unwrap());
        assert_eq!(count_commits(&repo), 3);

        // Removing the only file of a directory removes the directory.
        let (head, commits) = repo
            .apply(head, &[change("3/x/xyz", "", 4)], subject)
            .unwrap();
        assert_eq!(commits, 1);
        assert!(!repo.files(head.tree).unwrap().contains_key("3/x/xyz"));
    }

    #[test]
    fn a_whole_tree_equal_to_the_parent_commits_nothing_and_squash_leaves_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::open_or_create(dir.path()).unwrap();
        let a = repo.write_blob(b"a\n").unwrap();
        let files = vec![("1/a".to_owned(), a), ("config.json".to_owned(), a)];
        let head = repo.commit_whole(&files, None, "create", 1, 1).unwrap();
        let again = repo.commit_whole(&files, head, "rebuild", 1, 2).unwrap();
        assert_eq!(again, None);
        let (head, _) = repo
            .apply(head.unwrap(), &[change("2/bb", "b\n", 2)], subject)
            .unwrap();
        assert_eq!(count_commits(&repo), 2);
        let squashed = repo
            .squash(
                &repo
                    .files(head.tree)
                    .unwrap()
                    .into_iter()
                    .collect::<Vec<_>>(),
                "squash",
                2,
                3,
            )
            .unwrap();
        assert_eq!(squashed.tree, head.tree);
        assert_eq!(count_commits(&repo), 1);
    }

    #[test]
    fn a_branch_moved_by_someone_else_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::open_or_create(dir.path()).unwrap();
        let a = repo.write_blob(b"a\n").unwrap();
        let first = repo
            .commit_whole(&[("config.json".into(), a)], None, "create", 0, 1)
            .unwrap()
            .unwrap();
        let (_moved, _) = repo
            .apply(first, &[change("1/a", "x\n", 1)], subject)
            .unwrap();
        let err = repo
            .apply(first, &[change("1/b", "y\n", 2)], subject)
            .unwrap_err()
            .to_string();
        assert!(err.contains("moved while it was being written"), "{err}");
    }
}
