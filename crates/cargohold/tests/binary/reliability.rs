//! The crash and load harnesses (the `cargohold-reliability` crate), run briefly
//! against this build's binary, on SQLite or on the PostgreSQL the tests use.
//! docs/reliability.md has the full-length runs.

use cargohold_reliability::crash::{self, CrashOptions};
use cargohold_reliability::load::{self, LoadOptions};
use cargohold_reliability::node::{Setup, free_listen_address};
use cargohold_test_support::ScratchDatabase;

use super::BIN;

async fn setup() -> (Setup, tempfile::TempDir, Option<ScratchDatabase>) {
    let data = tempfile::tempdir().unwrap();
    let database = ScratchDatabase::from_env().await;
    let setup = Setup {
        binary: BIN.into(),
        data_dir: data.path().to_owned(),
        database_url: database.as_ref().map(|d| d.url.clone()),
        listen: free_listen_address().unwrap(),
    };
    (setup, data, database)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_changes_loses_nothing_acknowledged() {
    let (setup, _data, database) = setup().await;
    let options = CrashOptions {
        kills: 12,
        workers: 3,
        crates_per_worker: 3,
        kill_after_millis: (30, 250),
    };
    let report = crash::run(&setup, &options).await.unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.kills, 12);
    assert!(report.publishes > 0 && report.versions_checked as u64 == report.publishes);
    assert!(
        report.yanks + report.owner_changes > 0,
        "the run made only publishes: {report:?}"
    );
    if let Some(database) = database {
        database.drop_later();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_mixing_reads_and_publishes_get_no_5xx() {
    let (setup, _data, database) = setup().await;
    let options = LoadOptions {
        clients: 64,
        seconds: 4,
        seed_crates: 30,
    };
    let report = load::run(&setup, &options).await.unwrap();
    let summary: Vec<_> = report
        .kinds
        .iter()
        .map(|(kind, c)| (kind, c.ok, c.client_errors, c.server_errors, c.failed))
        .collect();
    assert!(
        report.is_clean(),
        "{summary:?}, locked {}, problems {:#?}",
        report.locked,
        report.problems
    );
    assert!(report.total() > 500, "only {} requests", report.total());
    assert!(report.publishes_checked > 0, "{summary:?}");
    if let Some(database) = database {
        database.drop_later();
    }
}
