//! RustSec advisories on cached crates.io crates: the import, the crate page, the
//! report, and `advisories = "yank"` in the index a proxy serves. The upstream is another
//! cargohold standing in for crates.io (`advisories` set, as for a mirror of it).

use std::time::Duration;

use cargohold::app::App;
use cargohold::config::AdvisoryMode;
use cargohold::ops::advisories;
use cargohold_test_support::{AdvisoryDb, AdvisoryFile, CrateFixture, TestServer};

/// The advisory of these tests: `vuln-dep` is fixed in 1.0.1 (a backport) and 1.2.0.
const ID: &str = "RUSTSEC-2099-0001";
const PATCHED: &[&str] = &["~1.0.1", ">= 1.2.0"];

/// An upstream with `vuln-dep` 1.0.0 (affected), 1.0.1 (patched) and 1.1.0 (affected).
async fn upstream() -> TestServer {
    let upstream = TestServer::start().await;
    for version in ["1.0.0", "1.0.1", "1.1.0"] {
        let response = upstream
            .publish(&CrateFixture::new("vuln-dep", version))
            .await;
        assert_eq!(response.status(), 200);
    }
    upstream
}

/// `internal`, `crates-io-cache` of `upstream` applying advisories as `mode` says, and `all`.
async fn company(upstream: &TestServer, mode: AdvisoryMode) -> TestServer {
    TestServer::company(upstream, move |proxy| proxy.advisories = Some(mode)).await
}

/// Caches `vuln-dep` `versions` in the proxy.
async fn cache(server: &TestServer, versions: &[&str]) {
    for version in versions {
        // The first download stores the version in the background; the second waits for it.
        for _ in 0..2 {
            let (status, _) = server
                .download_from("crates-io-cache", "vuln-dep", version)
                .await;
            assert_eq!(status, 200, "vuln-dep {version}");
        }
    }
}

fn advisory_db() -> AdvisoryDb {
    let db = AdvisoryDb::new();
    db.add(&AdvisoryFile::new(ID, "vuln-dep", PATCHED));
    db
}

/// Imports `db` as `cargohold advisory import` does: from an app of its own, as
/// another process would, so the server learns of it through the database.
async fn import(server: &TestServer, db: &AdvisoryDb) -> anyhow::Result<advisories::Imported> {
    let loaded = advisories::load(db.path())?;
    let cli = App::build(server.app.config.clone()).await?;
    let imported = advisories::import(&cli, &loaded, "test", None).await?;
    cli.db.close().await;
    Ok(imported)
}

async fn page(server: &TestServer, path: &str) -> String {
    let response = server.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The `yanked` of each version in an index file, in order.
fn yanked(file: &str) -> Vec<(String, bool)> {
    file.lines()
        .map(|line| {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                line["vers"].as_str().unwrap().to_owned(),
                line["yanked"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The `yanked` of each version of `vuln-dep` that `registry` serves, by version,
/// once it is `expected` (an import reaches a server within moments), or as it is
/// after five seconds.
async fn served_once_changed(
    server: &TestServer,
    registry: &str,
    expected: &[(String, bool)],
) -> Vec<(String, bool)> {
    let mut served = Vec::new();
    for _ in 0..100 {
        let (status, file) = server.index_file_in(registry, "vuln-dep").await;
        assert_eq!(status, 200);
        served = yanked(&file);
        // Imported concurrently, versions are listed in the order they were stored.
        served.sort();
        if served == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served
}

#[tokio::test]
async fn a_version_with_an_advisory_is_listed_on_its_crate_page() {
    let upstream = upstream().await;
    let server = company(&upstream, AdvisoryMode::Show).await;
    cache(&server, &["1.0.0", "1.0.1", "1.1.0"]).await;
    let imported = import(&server, &advisory_db()).await.unwrap();
    assert_eq!(
        (
            imported.advisories,
            imported.crates,
            imported.affected_versions
        ),
        (1, 1, 2)
    );

    let affected = page(
        &server,
        "registries/crates-io-cache/crates/vuln-dep?version=1.1.0",
    )
    .await;
    for expected in [
        "1 RustSec advisory affects vuln-dep 1.1.0",
        &format!("href=\"https://rustsec.org/advisories/{ID}.html\""),
        "Out-of-bounds write in parse()",
        "vulnerability",
        "Patched: <code>~1.0.1</code> or <code>&#62;=1.2.0</code>",
        "CVE-2026-99999",
    ] {
        assert!(affected.contains(expected), "{expected} in:\n{affected}");
    }
    // With "show", cargo is not told anything.
    assert!(
        !affected.contains("Served to cargo as yanked"),
        "{affected}"
    );
    // In the versions table, the affected versions carry a mark; the patched one does not.
    let marked: Vec<&str> = ["1.0.0", "1.0.1", "1.1.0"]
        .into_iter()
        .filter(|v| {
            affected.contains(&format!(
                ">{v}</a> <span class=\"tag advisory\" title=\"{ID}\">advisory</span>"
            ))
        })
        .collect();
    assert_eq!(marked, ["1.0.0", "1.1.0"]);

    let patched = page(
        &server,
        "registries/crates-io-cache/crates/vuln-dep?version=1.0.1",
    )
    .await;
    assert!(!patched.contains("id=\"advisories\""), "{patched}");
    // With "show", the index is served as the upstream has it.
    let (status, file) = server.index_file_in("crates-io-cache", "vuln-dep").await;
    assert_eq!(status, 200);
    assert!(yanked(&file).iter().all(|(_, yanked)| !yanked), "{file}");
}

#[tokio::test]
async fn a_local_crate_sharing_a_crates_io_name_is_not_flagged() {
    let upstream = upstream().await;
    let server = company(&upstream, AdvisoryMode::Yank).await;
    // An internal crate that happens to be called like the crates.io one.
    let fixture = CrateFixture::new("vuln-dep", "1.1.0");
    assert_eq!(server.publish_to("internal", &fixture).await.status(), 200);
    import(&server, &advisory_db()).await.unwrap();

    let local = page(&server, "registries/internal/crates/vuln-dep").await;
    assert!(!local.contains(ID), "{local}");
    assert!(!local.contains("tag advisory"), "{local}");
    let (status, file) = server.index_file_in("internal", "vuln-dep").await;
    assert_eq!(status, 200);
    assert_eq!(yanked(&file), [("1.1.0".to_owned(), false)]);
    // Through the one URL, the internal crate is the one served, unyanked.
    let (status, file) = server.index_file_in("all", "vuln-dep").await;
    assert_eq!(status, 200);
    assert_eq!(yanked(&file), [("1.1.0".to_owned(), false)]);

    assert!(
        advisories::report(&server.app, None)
            .await
            .unwrap()
            .is_empty()
    );
    let err = advisories::report(&server.app, Some("internal"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`internal` is a local registry"), "{err}");
}

#[tokio::test]
async fn advisory_import_is_idempotent() {
    let upstream = upstream().await;
    let server = company(&upstream, AdvisoryMode::Show).await;
    cache(&server, &["1.0.0", "1.1.0"]).await;
    let db = advisory_db();
    let first = import(&server, &db).await.unwrap();
    let report = advisories::report(&server.app, None).await.unwrap();
    let second = import(&server, &db).await.unwrap();
    assert_eq!(first, second);
    let again = advisories::report(&server.app, None).await.unwrap();
    let lines = |r: &[advisories::AffectedVersion]| -> Vec<String> {
        r.iter()
            .map(|v| format!("{}@{} {}", v.krate, v.version, v.advisory.id))
            .collect()
    };
    assert_eq!(lines(&report), lines(&again));
    assert_eq!(
        server.count("SELECT COUNT(*) FROM advisories").await,
        1,
        "replaced, not added"
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'advisory_import'")
            .await,
        2
    );

    // A newer database replaces the set: an advisory gone from it is gone here.
    let newer = AdvisoryDb::new();
    newer.add(&AdvisoryFile {
        title: "vuln-dep is unmaintained",
        informational: Some("unmaintained"),
        ..AdvisoryFile::new("RUSTSEC-2099-0002", "vuln-dep", &[])
    });
    newer.add(&AdvisoryFile {
        withdrawn: true,
        ..AdvisoryFile::new("RUSTSEC-2099-0003", "vuln-dep", &[])
    });
    let third = import(&server, &newer).await.unwrap();
    assert_eq!((third.advisories, third.affected_versions), (1, 2));
    assert_eq!(
        server.column("SELECT id FROM advisories").await,
        ["RUSTSEC-2099-0002"]
    );
}

#[tokio::test]
async fn import_of_a_malformed_advisory_directory_is_refused_with_a_clear_message_and_changes_nothing()
 {
    let upstream = upstream().await;
    let server = company(&upstream, AdvisoryMode::Show).await;
    import(&server, &advisory_db()).await.unwrap();
    let before = server.stored_state().await;

    let broken = advisory_db();
    let bad = broken.add(&AdvisoryFile::new("RUSTSEC-2099-0004", "other-dep", &[]));
    std::fs::write(
        &bad,
        "```toml\n[advisory]\nid = \"RUSTSEC-2099-0004\"\n```\n",
    )
    .unwrap();
    let err = import(&server, &broken).await.unwrap_err().to_string();
    assert!(
        err.contains("RUSTSEC-2099-0004.md is not a RustSec advisory"),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");

    let empty = AdvisoryDb::new();
    let err = import(&server, &empty).await.unwrap_err().to_string();
    assert!(err.contains("give a checkout of"), "{err}");

    assert_eq!(server.stored_state().await, before);
    assert_eq!(
        server.column("SELECT id FROM advisories").await,
        [ID],
        "the previous set stays"
    );
}

#[tokio::test]
async fn the_report_lists_every_cached_affected_version_with_its_downloads() {
    let upstream = upstream().await;
    let server = company(&upstream, AdvisoryMode::Show).await;
    cache(&server, &["1.0.0", "1.0.1", "1.1.0"]).await;
    import(&server, &advisory_db()).await.unwrap();
    // Downloads are written by the flush; wait for the counts to land.
    server.app.flush_downloads().await.unwrap();

    for registry in [None, Some("crates-io-cache"), Some("all")] {
        let report = advisories::report(&server.app, registry).await.unwrap();
        let lines: Vec<String> = report
            .iter()
            .map(|v| format!("{} {}@{} {}", v.registry, v.krate, v.version, v.advisory.id))
            .collect();
        assert_eq!(
            lines,
            [
                format!("crates-io-cache vuln-dep@1.1.0 {ID}"),
                format!("crates-io-cache vuln-dep@1.0.0 {ID}"),
            ],
            "{registry:?}"
        );
        assert!(report.iter().all(|v| v.downloads >= 1), "{report:?}");
    }
}

#[tokio::test]
async fn with_advisories_yank_an_import_is_served_at_once_on_every_node() {
    let upstream = upstream().await;
    let configure = |proxy: &mut cargohold::config::RegistryConfig| {
        proxy.advisories = Some(AdvisoryMode::Yank);
    };
    // Index files are kept in memory for the default freshness: only the import forgets them.
    let a = TestServer::company(&upstream, configure).await;
    let b = a
        .start_node(|config| config.registries = a.app.config.registries.clone())
        .await;
    for server in [&a, &b] {
        let (status, file) = server.index_file_in("all", "vuln-dep").await;
        assert_eq!(status, 200);
        assert!(yanked(&file).iter().all(|(_, yanked)| !yanked), "{file}");
    }

    import(&b, &advisory_db()).await.unwrap();

    let expected = [
        ("1.0.0".to_owned(), true),
        ("1.0.1".to_owned(), false),
        ("1.1.0".to_owned(), true),
    ];
    for server in [&a, &b] {
        for registry in ["crates-io-cache", "all"] {
            let served = served_once_changed(server, registry, &expected).await;
            assert_eq!(served, expected, "{registry} on {}", server.url);
        }
    }
    // Downloads of the yanked versions go on (locked builds need them).
    let (status, _) = a.download_from("all", "vuln-dep", "1.1.0").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn with_advisories_yank_versions_imported_into_the_cache_are_served_yanked_too() {
    // The upstream has no `vuln-dep`: the proxy serves only what was imported into it.
    let upstream = TestServer::start().await;
    let server = company(&upstream, AdvisoryMode::Yank).await;
    let folder = tempfile::tempdir().unwrap();
    let files: Vec<_> = ["1.0.0", "1.0.1", "1.1.0"]
        .iter()
        .map(|version| {
            let fixture = CrateFixture::new("vuln-dep", version);
            let path = folder.path().join(format!("vuln-dep-{version}.crate"));
            std::fs::write(&path, fixture.tarball()).unwrap();
            path
        })
        .collect();
    let proxy = server.app.registry("crates-io-cache").unwrap().clone();
    let operator = cargohold::auth::Actor::operator(1, "admin", true);
    let report =
        cargohold::ops::import::import(&server.app, &proxy, &operator, files, |_, _| {}).await;
    assert_eq!(report.imported.len(), 3, "{:?}", report.rejected);
    let (status, file) = server.index_file_in("crates-io-cache", "vuln-dep").await;
    assert_eq!(status, 200);
    assert!(yanked(&file).iter().all(|(_, yanked)| !yanked), "{file}");

    import(&server, &advisory_db()).await.unwrap();

    let expected = [
        ("1.0.0".to_owned(), true),
        ("1.0.1".to_owned(), false),
        ("1.1.0".to_owned(), true),
    ];
    let served = served_once_changed(&server, "crates-io-cache", &expected).await;
    assert_eq!(served, expected);
}
