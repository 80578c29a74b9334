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

/// The command lines, arguments joined by spaces, of the running processes that name `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

#[test]
fn a_stopped_server_finishes_its_git_pass_and_gc_before_it_exits() {
    let (data, listen) = git_data_dir();
    let served = Served::start_at(data.path(), &listen);
    wait_for_commits(data.path(), 1);
    drop(served);
    // A thousand changes while no writer ran: the next server's first pass commits
    // them one by one, which is enough commits for it to run `git gc --auto`.
    let fixtures: Vec<_> = (0..1000)
        .map(|i| CrateFixture::new(&format!("many-{i:04}"), "1.0.0"))
        .collect();
    import(data.path(), &fixtures);

    // git packs as soon as it sees a few loose objects, so the gc does run; the
    // server is stopped while it does.
    let served = Served::start_with_env(
        data.path(),
        &["--listen", &listen],
        &[
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "gc.auto"),
            ("GIT_CONFIG_VALUE_0", "256"),
        ],
    );
    let git_dir = data.path().join("git/main.git");
    let git_dir = git_dir.to_str().unwrap();
    let started = std::time::Instant::now();
    while !processes_naming(git_dir)
        .iter()
        .any(|cmdline| cmdline.contains(" gc "))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writer never ran git gc"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(served.terminate().success());

    // Every commit is there, git gc has packed them, and no git outlives the server.
    assert_eq!(subjects(data.path()).len(), 1001);
    assert_eq!(processes_naming(git_dir), Vec::<String>::new());
    let objects = git(data.path(), &["count-objects", "-v"]);
    assert!(objects.lines().any(|l| l == "count: 0"), "{objects}");
    assert!(!objects.lines().any(|l| l == "packs: 0"), "{objects}");
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

/// `alpha` and `beta` imported into a git-index data directory, the git index
/// built, then damaged: alpha's blob gone, beta's stored index file wrong (the
/// git index still holds what the rows say). Returns the directory and alpha's blob key.
async fn damaged_git_data_dir() -> (tempfile::TempDir, String) {
    let (data, _) = git_data_dir();
    import(
        data.path(),
        &[
            CrateFixture::new("alpha", "1.0.0"),
            CrateFixture::new("beta", "1.0.0"),
        ],
    );
    let reindex = cargohold(data.path(), &["reindex"]);
    assert!(reindex.status.success(), "{reindex:?}");
    let clean = cargohold(data.path(), &["check"]);
    assert!(clean.status.success(), "{clean:?}");
    let url = format!("sqlite://{}", data.path().join("cargohold.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let key: String = sqlx::query_scalar("SELECT blob_key FROM versions WHERE num = '1.0.0' AND crate_id = (SELECT id FROM crates WHERE name = 'alpha')")
        .fetch_one(&db)
        .await
        .unwrap();
    std::fs::remove_file(data.path().join("blobs").join(&key)).unwrap();
    sqlx::query(
        "UPDATE index_files SET content = REPLACE(content, '\"yanked\":false', '\"yanked\":true') \
         WHERE name_lower = 'beta'",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    (data, key)
}

#[tokio::test]
async fn check_and_check_repair_count_the_same_problems_in_a_registry_with_a_git_index() {
    let (data, key) = damaged_git_data_dir().await;
    let blob = format!("main/alpha 1.0.0: blob {key} is missing");
    let stale = "main/beta: index file differs from the database: line 1 (version 1.0.0) is not the database's";

    let check = cargohold(data.path(), &["check"]);
    assert!(!check.status.success());
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        format!("{blob}\n{stale}\nchecked 2 crates and 2 versions: 2 problems\n")
    );
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("2 problems remain"),
        "{check:?}"
    );

    let repair = cargohold(data.path(), &["check", "--repair"]);
    assert!(!repair.status.success());
    let printed = String::from_utf8_lossy(&repair.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 3, "{printed}");
    assert!(
        lines[0].starts_with(&format!("{blob} (cannot be repaired: ")),
        "{printed}"
    );
    assert_eq!(lines[1], format!("repaired: {stale}"));
    assert_eq!(
        lines[2],
        "checked 2 crates and 2 versions: 2 problems, 1 repaired"
    );
    assert!(
        String::from_utf8_lossy(&repair.stderr).contains("1 problem remains"),
        "{repair:?}"
    );

    // What is left is what the repair said was left; the git index needed nothing.
    let after = cargohold(data.path(), &["check"]);
    assert_eq!(
        String::from_utf8_lossy(&after.stdout),
        format!("{blob}\nchecked 2 crates and 2 versions: 1 problem\n")
    );
    assert_eq!(git(data.path(), &["log", "--format=%s"]).lines().count(), 1);
}

#[tokio::test]
async fn a_git_index_repair_that_fails_is_counted_as_left_with_what_to_do() {
    let (data, key) = damaged_git_data_dir().await;
    // The branch names a commit that is not there.
    std::fs::write(
        data.path().join("git/main.git/refs/heads/main"),
        "1234567890123456789012345678901234567890\n",
    )
    .unwrap();
    let check = cargohold(data.path(), &["check"]);
    let printed = String::from_utf8_lossy(&check.stdout);
    assert!(
        printed.contains("main git index: cannot be read: ")
            && printed.ends_with("checked 2 crates and 2 versions: 3 problems\n"),
        "{printed}"
    );

    let repair = cargohold(data.path(), &["check", "--repair"]);
    assert!(!repair.status.success());
    let printed = String::from_utf8_lossy(&repair.stdout);
    assert!(
        printed.contains(&format!(
            "main/alpha 1.0.0: blob {key} is missing (cannot be repaired"
        )),
        "{printed}"
    );
    assert!(
        printed.contains("repaired: main/beta: index file differs"),
        "{printed}"
    );
    let git_line = printed
        .lines()
        .find(|line| line.starts_with("main git index: cannot be read: "))
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(
        git_line.ends_with(&format!(
            " (the repair failed: it cannot be rebuilt in place; move {} aside and run \
             `cargohold reindex`, which builds it anew)",
            data.path().join("git/main.git").display()
        )),
        "{git_line}"
    );
    assert!(
        printed.ends_with("checked 2 crates and 2 versions: 3 problems, 1 repaired\n"),
        "{printed}"
    );
    assert!(
        String::from_utf8_lossy(&repair.stderr).contains("2 problems remain"),
        "{repair:?}"
    );

    // Done as it says, only the blob is left.
    std::fs::rename(
        data.path().join("git/main.git"),
        data.path().join("git/main.git.broken"),
    )
    .unwrap();
    let reindex = cargohold(data.path(), &["reindex"]);
    assert!(reindex.status.success(), "{reindex:?}");
    let after = cargohold(data.path(), &["check"]);
    assert_eq!(
        String::from_utf8_lossy(&after.stdout),
        format!(
            "main/alpha 1.0.0: blob {key} is missing\nchecked 2 crates and 2 versions: 1 problem\n"
        )
    );
}
