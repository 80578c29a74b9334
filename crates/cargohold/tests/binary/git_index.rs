//! The git index across process lifetimes: changes committed while no writer ran
//! (a killed server, an import) reach it exactly once, and `reindex` / `check`
//! rebuild and verify it from the command line.

use std::path::Path;
use std::time::Duration;

use cargohold_test_support::CrateFixture;

use super::{Served, cargohold, http_get, write_crate};

/// A data directory whose `main` keeps a git index, with an administrator, and
/// the address every server on it listens at (the public URL in `config.json`
/// stays the same across restarts and for the command line).
fn git_data_dir() -> (tempfile::TempDir, String) {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    std::fs::write(
        data.path().join("cargohold.toml"),
        format!("listen = \"{listen}\"\n\n[[registries]]\nname = \"main\"\ngit-index = true\n"),
    )
    .unwrap();
    let added = cargohold(data.path(), &["user", "add", "admin", "--admin"]);
    assert!(added.status.success(), "{added:?}");
    (data, listen)
}

fn git(data: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(data.join("git/main.git"))
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The subjects of the git index's commits, newest first (none before the first).
fn subjects(data: &Path) -> Vec<String> {
    let output = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(data.join("git/main.git"))
        .args(["log", "--format=%s"])
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits up to ten seconds for the git index to have `count` commits.
fn wait_for_commits(data: &Path, count: usize) -> Vec<String> {
    for _ in 0..200 {
        let now = subjects(data);
        if now.len() >= count {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the git index never reached {count} commits");
}

fn import(data: &Path, fixtures: &[CrateFixture]) {
    let source = tempfile::tempdir().unwrap();
    for fixture in fixtures {
        write_crate(source.path(), fixture);
    }
    let output = cargohold(data, &["import", source.path().to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn changes_made_while_no_writer_ran_reach_the_git_index_once_after_a_kill() {
    let (data, listen) = git_data_dir();
    let served = Served::start_at(data.path(), &listen);
    assert_eq!(
        wait_for_commits(data.path(), 1),
        ["Create the index of registry `main`"]
    );
    // SIGKILL: nothing gets to finish. Then two crates arrive with no server running.
    drop(served);
    import(
        data.path(),
        &[
            CrateFixture::new("alpha", "1.0.0"),
            CrateFixture::new("beta", "2.0.0"),
        ],
    );
    assert_eq!(subjects(data.path()).len(), 1);

    // The next server catches up: one commit per change, in the order they were made.
    let served = Served::start_at(data.path(), &listen);
    let mut caught_up = wait_for_commits(data.path(), 3);
    caught_up[..2].sort();
    assert_eq!(
        caught_up,
        [
            "Publish alpha 1.0.0",
            "Publish beta 2.0.0",
            "Create the index of registry `main`"
        ]
    );
    drop(served);

    // Killed again and restarted: nothing is written twice.
    let served = Served::start_at(data.path(), &listen);
    import(data.path(), &[CrateFixture::new("alpha", "1.1.0")]);
    let all = wait_for_commits(data.path(), 4);
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all[0], "Publish alpha 1.1.0");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(subjects(data.path()).len(), 4);

    // What git holds is what the sparse index serves, byte for byte.
    for (name, path) in [("alpha", "al/ph/alpha"), ("beta", "be/ta/beta")] {
        let sparse = http_get(&format!("{}registries/main/index/{path}", served.url));
        assert!(sparse.contains(name));
        assert_eq!(git(data.path(), &["show", &format!("HEAD:{path}")]), sparse);
    }
    served.terminate();
    let check = cargohold(data.path(), &["check", "--registry", "main"]);
    assert!(check.status.success(), "{check:?}");
}

#[test]
fn reindex_restores_a_lost_git_index_byte_for_byte_and_can_squash_its_history() {
    let (data, listen) = git_data_dir();
    import(
        data.path(),
        &[
            CrateFixture::new("alpha", "1.0.0"),
            CrateFixture::new("gamma", "0.3.0"),
        ],
    );
    let served = Served::start_at(data.path(), &listen);
    wait_for_commits(data.path(), 1);
    import(data.path(), &[CrateFixture::new("alpha", "1.2.0")]);
    wait_for_commits(data.path(), 2);
    served.terminate();
    let tree = git(data.path(), &["ls-tree", "-r", "HEAD"]);
    assert_eq!(tree.lines().count(), 3, "{tree}");

    // The repository is gone: check says so and fails; reindex brings back the same tree.
    std::fs::remove_dir_all(data.path().join("git/main.git")).unwrap();
    let check = cargohold(data.path(), &["check"]);
    assert!(!check.status.success());
    let printed = String::from_utf8_lossy(&check.stdout);
    assert!(
        printed.contains("main git index: cannot be read: there is no repository"),
        "{printed}"
    );
    let reindex = cargohold(data.path(), &["reindex"]);
    assert!(reindex.status.success(), "{reindex:?}");
    assert!(
        String::from_utf8_lossy(&reindex.stdout)
            .contains("git indexes: 1 rebuilt, 1 with a new commit"),
        "{reindex:?}"
    );
    assert_eq!(git(data.path(), &["ls-tree", "-r", "HEAD"]), tree);

    // A HEAD behind the database is found, repaired, and then the check is clean.
    let back = cargohold(data.path(), &["reindex"]);
    assert!(String::from_utf8_lossy(&back.stdout).contains("0 with a new commit"));
    let served = Served::start_at(data.path(), &listen);
    import(data.path(), &[CrateFixture::new("delta", "0.1.0")]);
    wait_for_commits(data.path(), 2);
    served.terminate();
    git(data.path(), &["update-ref", "refs/heads/main", "HEAD~1"]);
    let behind = cargohold(data.path(), &["check"]);
    assert!(!behind.status.success());
    let printed = String::from_utf8_lossy(&behind.stdout);
    assert!(
        printed.contains("main git index: HEAD is behind the database"),
        "{printed}"
    );
    assert!(
        printed.contains("main git index: de/lt/delta is missing from HEAD"),
        "{printed}"
    );
    let repair = cargohold(data.path(), &["check", "--repair"]);
    assert!(repair.status.success(), "{repair:?}");
    assert!(cargohold(data.path(), &["check"]).status.success());

    // Squashed: one commit, the same files.
    let full = git(data.path(), &["ls-tree", "-r", "HEAD"]);
    let squash = cargohold(data.path(), &["reindex", "--squash-git"]);
    assert!(squash.status.success(), "{squash:?}");
    assert_eq!(
        git(data.path(), &["rev-list", "--count", "HEAD"]).trim(),
        "1"
    );
    assert_eq!(git(data.path(), &["ls-tree", "-r", "HEAD"]), full);
    assert!(cargohold(data.path(), &["check"]).status.success());
}
