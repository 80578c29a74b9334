//! `cargohold advisory import | report` as the operator runs them, on the RustSec
//! advisory-db snapshot kept for the dependency audit (.ci/advisory-db.tar.xz).

use std::path::Path;
use std::process::Command;

use super::cargohold;

/// `main` (local) and `crates-io-cache`, a proxy of crates.io (never asked here).
const CONFIG: &str = "[[registries]]\nname = \"main\"\n\n\
                      [[registries]]\nname = \"crates-io-cache\"\nkind = \"proxy\"\n";

fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = cargohold(dir, args);
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The snapshot's `crates/` folder, unpacked into `dir`.
fn snapshot(dir: &Path) {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/advisory-db.tar.xz");
    let status = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-xJf")
        .arg(&archive)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn advisory_import_of_the_real_database_says_what_it_stored_and_is_idempotent() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("cargohold.toml"), CONFIG).unwrap();
    let (ok, _, err) = run(data.path(), &["user", "add", "alice"]);
    assert!(ok, "{err}");
    let db = tempfile::tempdir().unwrap();
    snapshot(db.path());
    let path = db.path().to_str().unwrap();

    let (ok, first, err) = run(data.path(), &["advisory", "import", path]);
    assert!(ok, "{err}");
    assert!(first.starts_with("imported "), "{first}");
    assert!(first.contains(" advisories ("), "{first}");
    assert!(first.contains("withdrawn left out) on "), "{first}");
    assert!(first.contains("0 cached versions are affected"), "{first}");
    // Its `crates/` folder is taken as well, and a second import stores the same.
    let crates = db.path().join("crates");
    let (ok, second, err) = run(
        data.path(),
        &["advisory", "import", crates.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert_eq!(first, second);

    let (ok, out, err) = run(data.path(), &["advisory", "report"]);
    assert!(ok, "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("no cached version is affected by any of the"),
        "{err}"
    );
    let (ok, out, err) = run(data.path(), &["advisory", "report", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "[]");
    let (ok, _, err) = run(data.path(), &["advisory", "report", "--registry", "main"]);
    assert!(!ok);
    assert!(err.contains("`main` is a local registry"), "{err}");

    let (ok, out, err) = run(
        data.path(),
        &["audit", "--action", "advisory_import", "--json"],
    );
    assert!(ok, "{err}");
    let events: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(events.len(), 2, "{out}");
    assert!(
        events[0]["detail"]["advisories"].as_i64().unwrap() > 800,
        "{out}"
    );

    // A folder holding something that is not an advisory changes nothing.
    let bad = crates.join("time/RUSTSEC-2020-0071.md");
    std::fs::write(&bad, "# not front matter\n").unwrap();
    let (ok, out, err) = run(data.path(), &["advisory", "import", path]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("RUSTSEC-2020-0071.md is not a RustSec advisory")
            && err.contains("nothing was imported"),
        "{err}"
    );
    let (_, out, _) = run(
        data.path(),
        &["audit", "--action", "advisory_import", "--json"],
    );
    let events: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(events.len(), 2, "{out}");
}

#[test]
fn advisory_help_explains_the_commands_with_examples() {
    let data = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(data.path(), &["advisory", "--help"]);
    assert!(ok, "{err}");
    assert!(out.contains("import") && out.contains("report"), "{out}");
    let (ok, out, err) = run(data.path(), &["advisory", "import", "--help"]);
    assert!(ok, "{err}");
    for expected in [
        "https://github.com/rustsec/advisory-db",
        "withdrawn",
        "cargohold advisory import ~/advisory-db",
    ] {
        assert!(out.contains(expected), "{expected} in {out}");
    }
    let (ok, out, err) = run(data.path(), &["advisory", "report", "--help"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("--registry") && out.contains("--json"),
        "{out}"
    );
}
