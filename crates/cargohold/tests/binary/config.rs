//! Configuration mistakes: refused before anything starts, with what to change.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::BIN;

/// Runs `cargohold args` in `dir` (where `cargohold.toml` is), giving up after 20 s:
/// a server that started despite its configuration would never end by itself.
fn run_in(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    panic!(
        "cargohold {args:?} was still running after 20 s:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn serve_and_config_show_refuse_a_proxy_setting_on_a_local_registry_and_start_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        "[[registries]]\nname = \"internal\"\nfreshness-seconds = 60\n",
    )
    .unwrap();
    for args in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["config", "show"],
    ] {
        let output = run_in(dir.path(), args, &[]);
        assert!(!output.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains("listening"), "{args:?}: {stdout}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("registry `internal` (kind = \"local\")")
                && stderr
                    .contains("`freshness-seconds` applies to `kind = \"proxy\"` registries only"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        !dir.path().join("cargohold-data").exists(),
        "nothing was created"
    );
}

#[test]
fn a_typo_in_a_config_key_names_the_file_the_table_and_the_key_meant() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cargohold.toml");
    std::fs::write(&file, "publc-url = \"https://crates.example.com/\"\n").unwrap();
    let output = run_in(dir.path(), &["config", "show"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: unknown key `publc-url` at the top level (did you mean `public-url`?)",
            file.canonicalize().unwrap().display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("the keys there are `listen`, `public-url`"),
        "{stderr}"
    );

    // Set through the environment, the variable is named instead.
    std::fs::write(&file, "").unwrap();
    let output = run_in(
        dir.path(),
        &["config", "show"],
        &[("CARGOHOLD_LIMITS__MAX_CRATE_SIZ", "5")],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "the environment variable CARGOHOLD_LIMITS__MAX_CRATE_SIZ: unknown key `max-crate-siz` \
             in [limits] (did you mean `max-crate-size`?)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_mistyped_s3_storage_url_is_refused_and_creates_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        "storage-url = \"s3:/bucket/x\"\n",
    )
    .unwrap();
    let output = run_in(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "storage-url `s3:/bucket/x` is not a supported form (did you mean `s3://bucket/x`?)"
        ) && stderr.contains("s3://bucket/prefix"),
        "{stderr}"
    );
    let mut created: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    created.sort();
    assert_eq!(created, ["cargohold.toml"], "nothing was created");
}

#[test]
fn a_value_of_the_wrong_type_is_refused_in_the_files_words_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cargohold.toml");
    for (text, expected) in [
        (
            "[[registries]]\nname = \"internal\"\nauth-required = \"yes\"\n",
            "registry `internal`: `auth-required` must be true or false, not the string \"yes\"",
        ),
        (
            "[limits]\nmax-crate-size = \"20MB\"\n",
            "[limits]: `max-crate-size` must be a whole number of bytes",
        ),
        (
            "listen = \"localhost:18599\"\n",
            "127.0.0.1:18599 (this machine only) or 0.0.0.0:18599 (every interface)",
        ),
        (
            "[[registry]]\nname = \"internal\"\n",
            "unknown key `registry` at the top level (did you mean `registries`?)",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let output = run_in(dir.path(), &["serve"], &[]);
        assert!(!output.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!(
                "error: {}: ",
                file.canonicalize().unwrap().display()
            )) && stderr.contains(expected),
            "{text}: {stderr}"
        );
        assert!(!stderr.contains("default."), "{text}: {stderr}");
        assert!(output.stdout.is_empty(), "{text}");
    }
    let mut created: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    created.sort();
    assert_eq!(created, ["cargohold.toml"], "nothing was created");
}

#[test]
fn a_postgresql_database_that_does_not_exist_is_named_once_with_how_to_create_it() {
    // Only when the tests run on PostgreSQL.
    let Ok(server) = std::env::var("CARGOHOLD_TEST_DATABASE_URL") else {
        return;
    };
    if server.is_empty() {
        return;
    }
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path("cargohold_no_such_database");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        format!("database-url = \"{url}\"\n"),
    )
    .unwrap();
    let output = run_in(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "the database `cargohold_no_such_database` does not exist; create it \
             (`createdb cargohold_no_such_database`"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
    let mut created: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    created.sort();
    assert_eq!(created, ["cargohold.toml"], "nothing was created");
}

#[test]
fn serve_refuses_a_webhook_that_is_not_http_or_wants_an_unknown_event_and_starts_nothing() {
    for (webhook, expected) in [
        (
            "url = \"ftp://ci.example.com/hooks\"",
            "registry `main`: the webhook url `ftp://ci.example.com/hooks` must be an http:// or \
             https:// URL",
        ),
        (
            "url = \"https://ci.example.com/hooks\"\nevents = [\"published\"]",
            "registry `main`: the webhook https://ci.example.com/hooks names the event `published`, \
             which is not one of `publish`, `yank`, `unyank`, `delete_crate`, `delete_version`, \
             `owner_add`, `owner_remove` (did you mean `publish`?)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cargohold.toml"),
            format!("[[registries]]\nname = \"main\"\n\n[[registries.webhooks]]\n{webhook}\n"),
        )
        .unwrap();
        let output = run_in(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
        assert!(!output.status.success(), "{webhook}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{webhook}: {stderr}");
        assert!(
            !dir.path().join("cargohold-data").exists(),
            "nothing was created"
        );
    }
}
