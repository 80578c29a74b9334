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
