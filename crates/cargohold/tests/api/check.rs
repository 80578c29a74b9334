//! `ops::check` against a real server's data: each injected fault is found and named,
//! `repair` mends what the database can rebuild, and a healthy registry is clean.

use cargohold::ops::check::{self, Problem};
use cargohold_test_support::{CrateFixture, TestServer};

async fn publish(server: &TestServer, name: &str, version: &str) {
    let response = server.publish(&CrateFixture::new(name, version)).await;
    assert_eq!(response.status(), 200, "{name}@{version}");
}

/// Runs a check and returns every problem as the command prints it.
async fn problems(server: &TestServer, repair: bool) -> Vec<String> {
    let report = check::check(&server.app, None, repair, &|_, _| {})
        .await
        .unwrap();
    report.problems.iter().map(Problem::to_string).collect()
}

fn blob_path(server: &TestServer, key: &str) -> std::path::PathBuf {
    server.data_dir().join("blobs").join(key)
}

#[tokio::test]
async fn a_healthy_registry_checks_clean() {
    let server = TestServer::start().await;
    publish(&server, "alpha", "1.0.0").await;
    publish(&server, "alpha", "1.1.0").await;
    publish(&server, "Beta-Two", "0.1.0").await;
    let report = check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(report.problems, vec![]);
    assert_eq!((report.crates, report.versions), (2, 3));
}

#[tokio::test]
async fn each_injected_fault_is_found_and_named_and_repair_mends_the_derived_ones() {
    let server = TestServer::start().await;
    publish(&server, "alpha", "1.0.0").await;
    publish(&server, "alpha", "1.1.0").await;
    publish(&server, "beta", "2.0.0").await;
    publish(&server, "gamma", "0.3.0").await;
    let keys = server
        .column("SELECT blob_key FROM versions ORDER BY id")
        .await;
    let (alpha_1_0, alpha_1_1) = (&keys[0], &keys[1]);

    // A missing blob, a blob with other bytes of the same length, a stale index line
    // and a wrong highest version.
    std::fs::remove_file(blob_path(&server, alpha_1_0)).unwrap();
    let altered = blob_path(&server, alpha_1_1);
    let mut bytes = std::fs::read(&altered).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&altered, &bytes).unwrap();
    server
        .execute(
            "UPDATE index_files SET content = REPLACE(content, '\"yanked\":false', '\"yanked\":true') \
             WHERE name_lower = 'beta'",
        )
        .await;
    server
        .execute("UPDATE crates SET max_version = '0.1.0' WHERE name = 'gamma'")
        .await;
    let beta_before = server.index_file("beta").await;

    let found = problems(&server, false).await;
    let alpha_1_1_sum = alpha_1_1
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".crate");
    assert_eq!(found.len(), 4, "{found:#?}");
    assert_eq!(
        found[0],
        format!("main/alpha 1.0.0: blob {alpha_1_0} is missing")
    );
    assert!(
        found[1].starts_with(&format!("main/alpha 1.1.0: blob {alpha_1_1} has SHA-256 "))
            && found[1].ends_with(&format!(", the database says {alpha_1_1_sum}")),
        "{}",
        found[1]
    );
    assert_eq!(
        found[2],
        "main/beta: index file differs from the database: line 1 (version 2.0.0) is not the database's"
    );
    assert_eq!(
        found[3],
        "main/gamma: max_version is 0.1.0, the versions say 0.3.0"
    );
    // A plain check changes nothing.
    assert_eq!(server.index_file("beta").await, beta_before);

    // Repair mends the index file and the highest version; the blobs stay reported.
    let repaired = check::check(&server.app, None, true, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(repaired.problems.len(), 4);
    let remaining: Vec<String> = repaired.remaining().map(Problem::to_string).collect();
    assert_eq!(remaining, found[..2]);
    assert!(repaired.problems[0].remedy().unwrap().contains("backup"));

    assert_eq!(problems(&server, false).await, found[..2]);
    let (status, beta) = server.index_file("beta").await;
    assert_eq!(status, 200);
    assert!(beta.contains("\"yanked\":false"), "{beta}");
    assert_eq!(
        server
            .column("SELECT max_version FROM crates WHERE name = 'gamma'")
            .await,
        ["0.3.0"]
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'repair'")
            .await,
        1
    );
}

#[tokio::test]
async fn lost_and_orphaned_index_files_are_found_and_repaired() {
    let server = TestServer::start().await;
    publish(&server, "alpha", "1.0.0").await;
    publish(&server, "beta", "1.0.0").await;
    let (_, alpha) = server.index_file("alpha").await;
    server
        .execute("DELETE FROM index_files WHERE name_lower = 'alpha'")
        .await;
    // An index file under a name its crate does not have.
    server
        .execute("UPDATE index_files SET name_lower = 'ghost' WHERE name_lower = 'beta'")
        .await;

    assert_eq!(
        problems(&server, true).await,
        [
            "main/alpha: index file is missing",
            "main/beta: index file is missing",
            "main/ghost: index file belongs to no crate with versions",
        ]
    );
    assert_eq!(problems(&server, false).await, Vec::<String>::new());
    assert_eq!(server.index_file("alpha").await, (200, alpha));
    assert_eq!(
        server
            .column("SELECT name_lower FROM index_files ORDER BY name_lower")
            .await,
        ["alpha", "beta"]
    );
}

#[tokio::test]
async fn a_git_index_holding_what_the_rows_say_is_no_problem_with_or_without_repair() {
    use cargohold::config::RegistryConfig;

    let server = TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig {
            git_index: true,
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    publish(&server, "alpha", "1.0.0").await;
    publish(&server, "beta", "1.0.0").await;
    server
        .wait_for_git_commit("main", "Publish beta 1.0.0")
        .await;
    let alpha_key = &server
        .column("SELECT blob_key FROM versions ORDER BY id")
        .await[0];
    std::fs::remove_file(blob_path(&server, alpha_key)).unwrap();
    // The stored index file goes wrong; the git index still holds what the rows say.
    server
        .execute(
            "UPDATE index_files SET content = REPLACE(content, '\"yanked\":false', '\"yanked\":true') \
             WHERE name_lower = 'beta'",
        )
        .await;
    let head_before = server.git_subjects("main").await;

    let found = problems(&server, false).await;
    assert_eq!(
        found,
        [
            format!("main/alpha 1.0.0: blob {alpha_key} is missing"),
            "main/beta: index file differs from the database: line 1 (version 1.0.0) is not the database's"
                .to_owned(),
        ]
    );

    // Repair finds the same, mends the index file and leaves the blob reported.
    let repaired = check::check(&server.app, None, true, &|_, _| {})
        .await
        .unwrap();
    let all: Vec<String> = repaired.problems.iter().map(Problem::to_string).collect();
    assert_eq!(all, found);
    let remaining: Vec<String> = repaired.remaining().map(Problem::to_string).collect();
    assert_eq!(remaining, found[..1]);
    assert!(repaired.is_repaired(&repaired.problems[1]));
    assert_eq!(repaired.failed_repairs, vec![]);
    assert_eq!(
        server
            .column("SELECT detail FROM audit_events WHERE action = 'repair'")
            .await,
        [r#"{"repaired":1}"#]
    );
    assert_eq!(problems(&server, false).await, found[..1]);
    assert_eq!(server.git_subjects("main").await, head_before);
}
