//! `cargohold delete` as an operator runs it: confirmation, what it prints, the audit log.

use cargohold_test_support::CrateFixture;

use super::{cargohold, write_crate};

/// A data directory whose registry `main` holds `tool` 1.0.0 and 1.1.0.
fn registry_with_two_versions() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let added = cargohold(data.path(), &["user", "add", "admin", "--admin"]);
    assert!(added.status.success(), "{added:?}");
    let source = tempfile::tempdir().unwrap();
    for version in ["1.0.0", "1.1.0"] {
        write_crate(source.path(), &CrateFixture::new("tool", version));
    }
    let imported = cargohold(
        data.path(),
        &[
            "import",
            "--registry",
            "main",
            source.path().to_str().unwrap(),
        ],
    );
    assert!(imported.status.success(), "{imported:?}");
    data
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn delete_asks_for_yes_without_a_terminal_then_deletes_and_points_at_gc() {
    let data = registry_with_two_versions();
    let dir = data.path();

    let help = cargohold(dir, &["delete", "--help"]);
    assert!(help.status.success());
    assert!(
        text(&help.stdout).contains("cargohold delete --registry main my-crate@0.3.1 --yes"),
        "{}",
        text(&help.stdout)
    );

    // No terminal and no --yes: nothing is deleted.
    let refused = cargohold(dir, &["delete", "--registry", "main", "tool"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("pass --yes"),
        "{}",
        text(&refused.stderr)
    );
    let check = cargohold(dir, &["check"]);
    assert!(check.status.success(), "{}", text(&check.stdout));
    assert!(
        text(&check.stdout).contains("2 versions"),
        "{}",
        text(&check.stdout)
    );

    for (args, expected) in [
        (
            vec!["delete", "--registry", "main", "missing", "--yes"],
            "crate `missing` does not exist in registry `main`",
        ),
        (
            vec!["delete", "--registry", "main", "tool@2.0.0", "--yes"],
            "crate `tool` has no version `2.0.0`",
        ),
        (
            vec!["delete", "--registry", "main", "tool@", "--yes"],
            "names no crate",
        ),
        (
            vec!["delete", "--registry", "nowhere", "tool", "--yes"],
            "there is no registry named `nowhere`",
        ),
    ] {
        let output = cargohold(dir, &args);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            text(&output.stderr).contains(expected),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }

    let deleted = cargohold(
        dir,
        &[
            "delete",
            "--registry",
            "main",
            "tool@1.1.0",
            "--reason",
            "broken build",
            "--yes",
        ],
    );
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let out = text(&deleted.stdout);
    assert!(
        out.contains("deleted version 1.1.0 of crate `tool` from registry `main`"),
        "{out}"
    );
    assert!(out.contains("`cargohold gc`"), "{out}");

    let deleted = cargohold(dir, &["delete", "--registry", "main", "tool", "--yes"]);
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let out = text(&deleted.stdout);
    assert!(
        out.contains("deleted crate `tool` from registry `main` (1 version: 1.0.0)"),
        "{out}"
    );

    let audit = cargohold(dir, &["audit", "--action", "delete_version", "--json"]);
    assert!(audit.status.success(), "{}", text(&audit.stderr));
    let events: Vec<serde_json::Value> = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["version"], "1.1.0");
    assert!(
        events[0]["detail"].to_string().contains("broken build"),
        "{events:?}"
    );
    let audit = cargohold(dir, &["audit", "--action", "delete_crate", "--json"]);
    let events: Vec<serde_json::Value> = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");

    let check = cargohold(dir, &["check"]);
    assert!(check.status.success(), "{}", text(&check.stdout));
    let gc = cargohold(dir, &["gc", "--grace-hours", "0"]);
    assert!(
        text(&gc.stdout).contains("removed 2 unreferenced blobs"),
        "{}",
        text(&gc.stdout)
    );
}

/// Two `serve` processes on one database: a deletion made by a third process (the
/// command line) stops both serving the crate from memory, and the git index drops it.
#[tokio::test(flavor = "multi_thread")]
async fn both_nodes_stop_serving_what_the_command_line_deleted() {
    use super::nodes::{Cluster, eventually, publish};

    let cluster = Cluster::new().await;
    let (a, b) = (cluster.start(0), cluster.start(1));
    let token = a.token().unwrap();
    for (name, version) in [("gone", "1.0.0"), ("cut", "1.0.0"), ("cut", "2.0.0")] {
        let response = publish(&a.url, &token, &CrateFixture::new(name, version)).await;
        assert_eq!(response.status(), 200);
    }
    let urls = |node: &str| {
        [
            format!("{node}registries/main/index/go/ne/gone"),
            format!("{node}registries/main/crates/gone/gone-1.0.0.crate"),
            format!("{node}registries/main/index/3/c/cut"),
            format!("{node}registries/main/crates/cut/cut-2.0.0.crate"),
        ]
    };
    // Both nodes serve it all, from memory the second time.
    for node in [&a.url, &b.url] {
        for url in urls(node) {
            for _ in 0..2 {
                let (status, _) = eventually(&url, |status, _| status == 200).await;
                assert_eq!(status, 200, "{url}");
            }
        }
    }
    let dir = cluster.node_dirs[0].path();
    for target in ["gone", "cut@2.0.0"] {
        let output = cargohold(dir, &["delete", "--registry", "main", target, "--yes"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    for node in [&a.url, &b.url] {
        let [gone_index, gone_file, cut_index, cut_file] = urls(node);
        for url in [gone_index, gone_file, cut_file] {
            let (status, _) = eventually(&url, |status, _| status == 404).await;
            assert_eq!(status, 404, "{url} is still served");
        }
        let (_, index) = eventually(&cut_index, |_, body| !body.contains("2.0.0")).await;
        assert!(
            index.contains("\"1.0.0\"") && !index.contains("2.0.0"),
            "{index}"
        );
    }
    // The git index catches up, and check finds nothing wrong.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let check = cargohold(dir, &["check"]);
        if check.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            text(&check.stdout)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
