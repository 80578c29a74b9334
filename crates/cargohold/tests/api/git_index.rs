//! The git index (`git-index = true`) read with the real `git` program: what a
//! clone holds, one commit per change, read-only, credentials for a private
//! registry, and `check` / `reindex` on the repository.

use std::path::Path;
use std::process::Output;

use cargohold::access::Role;
use cargohold::config::RegistryConfig;
use cargohold::ops::check::{self, Problem};
use cargohold::ops::permissions::Grantee;
use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CrateFixture, TestServer};
use reqwest::Method;

use crate::access::{add_user, grant};

async fn git_server(private: bool) -> TestServer {
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig {
                git_index: true,
                auth_required: private,
                ..RegistryConfig::local("main")
            },
            RegistryConfig::local("plain"),
        ];
    })
    .await;
    // The writer makes the first commit at start; changes after it get one each.
    server
        .wait_for_git_commit("main", "Create the index of registry `main`")
        .await;
    server
}

/// Runs the real `git` in `dir`, isolated from the machine's configuration.
async fn git(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("git runs")
}

#[track_caller]
fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "git failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A clone of `main`'s git index in a new directory (kept until the first value drops).
async fn clone_of(server: &TestServer) -> (tempfile::TempDir, std::path::PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let url = server.git_url_of("main");
    stdout(&git(work.path(), &["clone", "-q", &url, "index"]).await);
    let clone = work.path().join("index");
    (work, clone)
}

/// Commits everything in the clone at `dir` as someone other than cargohold.
async fn commit_all(dir: &Path, message: &str) {
    stdout(&git(dir, &["add", "-A"]).await);
    let identity = ["-c", "user.name=x", "-c", "user.email=x@x"];
    stdout(&git(dir, &[&identity[..], &["commit", "-qm", message]].concat()).await);
}

/// `http://user:token@host/…`: git sends these as HTTP basic credentials.
fn with_credentials(url: &str, token: &str) -> String {
    url.replacen("http://", &format!("http://cargo:{token}@"), 1)
}

async fn publish(server: &TestServer, name: &str, version: &str) {
    let response = server.publish(&CrateFixture::new(name, version)).await;
    assert_eq!(response.status(), 200, "{name}@{version}");
}

#[tokio::test]
async fn a_clone_holds_config_json_and_every_sparse_file_with_one_commit_per_change() {
    let server = git_server(false).await;
    // Each change waits for its commit: two changes to one crate made faster than the
    // writer commits share a commit that names both (as crates.io's index does).
    for (name, version) in [("alpha", "1.0.0"), ("alpha", "1.1.0"), ("xyz", "0.1.0")] {
        publish(&server, name, version).await;
        server
            .wait_for_git_commit("main", &format!("Publish {name} {version}"))
            .await;
    }
    let yank = server
        .authed(
            Method::DELETE,
            "registries/main/api/v1/crates/alpha/1.0.0/yank",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(yank.status(), 200);
    server.wait_for_git_commit("main", "Yank alpha 1.0.0").await;
    assert_eq!(
        server.git_subjects("main").await,
        [
            "Yank alpha 1.0.0",
            "Publish xyz 0.1.0",
            "Publish alpha 1.1.0",
            "Publish alpha 1.0.0",
            "Create the index of registry `main`",
        ]
    );

    let (_work, clone) = clone_of(&server).await;
    let read = |path: &str| std::fs::read_to_string(clone.join(path)).unwrap();
    let config = server.get("registries/main/index/config.json").await;
    assert_eq!(read("config.json").trim_end(), config.text().await.unwrap());
    for (name, path) in [("alpha", "al/ph/alpha"), ("xyz", "3/x/xyz")] {
        let (status, sparse) = server.index_file(name).await;
        assert_eq!(status, 200);
        assert_eq!(read(path), sparse, "{path}");
    }
    assert!(
        read("al/ph/alpha").contains("\"vers\":\"1.0.0\"")
            && read("al/ph/alpha").contains("\"yanked\":true")
    );

    // A fetch after the next change brings exactly that commit.
    publish(&server, "xyz", "0.2.0").await;
    server
        .wait_for_git_commit("main", "Publish xyz 0.2.0")
        .await;
    stdout(&git(&clone, &["pull", "-q"]).await);
    assert_eq!(read("3/x/xyz"), server.index_file("xyz").await.1);
}

#[tokio::test]
async fn the_git_index_is_read_only_and_only_where_configured() {
    let server = git_server(false).await;
    publish(&server, "alpha", "1.0.0").await;
    server
        .wait_for_git_commit("main", "Publish alpha 1.0.0")
        .await;
    let (work, clone) = clone_of(&server).await;
    std::fs::create_dir_all(clone.join("2")).unwrap();
    std::fs::write(clone.join("2/zz"), "{\"name\":\"zz\"}\n").unwrap();
    commit_all(&clone, "sneak").await;
    let push = git(&clone, &["push", "-q", "origin", "HEAD"]).await;
    assert!(!push.status.success());
    assert!(
        String::from_utf8_lossy(&push.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert_eq!(server.git_subjects("main").await[0], "Publish alpha 1.0.0");
    // A request body over the limit is refused before git runs.
    let huge = server
        .client
        .post(server.url("registries/main/git/git-upload-pack"))
        .header("content-type", "application/x-git-upload-pack-request")
        .body(vec![b'0'; 17 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert_eq!(server.git_subjects("main").await[0], "Publish alpha 1.0.0");
    let receive = server
        .get("registries/main/git/info/refs?service=git-receive-pack")
        .await;
    assert_eq!(receive.status(), 403);
    assert!(receive.text().await.unwrap().contains("read-only"));

    // A registry without a git index says where its index is; odd paths are 404s.
    let plain = server
        .get("registries/plain/git/info/refs?service=git-upload-pack")
        .await;
    assert_eq!(plain.status(), 404);
    assert!(
        plain
            .text()
            .await
            .unwrap()
            .contains("registries/plain/index/")
    );
    for path in [
        "registries/main/git/info%2F..%2Fconfig",
        "registries/main/git/objects//x",
    ] {
        assert_eq!(server.get(path).await.status(), 404, "{path}");
    }
    let ls = git(work.path(), &["ls-remote", &server.git_url_of("plain")]).await;
    assert!(!ls.status.success());

    // The setup page gives the git index's lines where there is one, and only there.
    let setup = server
        .get("registries/main/setup")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        setup.contains(&format!("index = &#34;{}&#34;", server.git_url_of("main"))),
        "{setup}"
    );
    let plain_setup = server
        .get("registries/plain/setup")
        .await
        .text()
        .await
        .unwrap();
    assert!(!plain_setup.contains("/git"), "{plain_setup}");
}

#[tokio::test]
async fn a_private_git_index_asks_for_basic_credentials_and_applies_the_token_rules() {
    let server = git_server(true).await;
    publish(&server, "secret-crate", "1.0.0").await;
    server
        .wait_for_git_commit("main", "Publish secret-crate 1.0.0")
        .await;
    add_user(&server, "reader").await;
    add_user(&server, "stranger").await;
    grant(&server, "main", Grantee::User("reader".into()), Role::Read).await;
    let reader = server.create_token("reader", TokenRequest::default()).await;
    let stranger = server
        .create_token("stranger", TokenRequest::default())
        .await;
    let elsewhere = server
        .create_token(
            "reader",
            TokenRequest {
                registries: vec!["plain".into()],
                ..TokenRequest::default()
            },
        )
        .await;
    let before = server.stored_state().await;
    let url = server.git_url_of("main");
    let refs = "registries/main/git/info/refs?service=git-upload-pack";

    // Anonymous: a basic challenge that names nothing inside.
    let anonymous = server.get(refs).await;
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    assert!(!anonymous.text().await.unwrap().contains("secret-crate"));
    let work = tempfile::tempdir().unwrap();
    let denied = git(work.path(), &["ls-remote", &url]).await;
    assert!(!denied.status.success());

    // Who may not read: unknown token, no grant, token for another registry.
    for (token, status) in [
        ("cargohold_not-a-token", 401),
        (stranger.as_str(), 403),
        (elsewhere.as_str(), 403),
    ] {
        let response = server
            .client
            .get(server.url(refs))
            .basic_auth("cargo", Some(token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{token}");
        let ls = git(work.path(), &["ls-remote", &with_credentials(&url, token)]).await;
        assert!(!ls.status.success(), "{token}");
    }

    // A reader's token works as the password, and as the user name alone.
    let clone = git(
        work.path(),
        &["clone", "-q", &with_credentials(&url, &reader), "index"],
    )
    .await;
    stdout(&clone);
    let file = std::fs::read_to_string(work.path().join("index/se/cr/secret-crate")).unwrap();
    assert!(file.contains("\"vers\":\"1.0.0\""));
    let as_user = server
        .client
        .get(server.url(refs))
        .basic_auth(&reader, None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(as_user.status(), 200);
    let config = std::fs::read_to_string(work.path().join("index/config.json")).unwrap();
    assert!(config.contains("\"auth-required\":true"), "{config}");

    let after = server.stored_state().await;
    assert_eq!(
        (after.crates, after.versions, after.tokens, after.grants),
        (before.crates, before.versions, before.tokens, before.grants)
    );
}

#[tokio::test]
async fn the_writer_restores_what_a_head_reset_lost_and_check_names_a_tampered_file() {
    let server = git_server(false).await;
    publish(&server, "alpha", "1.0.0").await;
    publish(&server, "beta", "1.0.0").await;
    server
        .wait_for_git_commit("main", "Publish beta 1.0.0")
        .await;
    let clean = check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(clean.problems, vec![]);

    // HEAD loses its last commit, as after a restore from an older backup. The
    // writer's next round writes what HEAD lacks again: nothing is lost. (With no
    // writer running, `check` reports such a HEAD: tests/binary/git_index.rs.)
    let dir = server.git_dir("main");
    stdout(&git(&dir, &["update-ref", "refs/heads/main", "HEAD~1"]).await);
    publish(&server, "gamma", "0.1.0").await;
    server
        .wait_for_git_commit("main", "Publish gamma 0.1.0")
        .await;
    assert_eq!(
        server.git_subjects("main").await[..3],
        [
            "Publish gamma 0.1.0",
            "Publish beta 1.0.0",
            "Publish alpha 1.0.0"
        ]
    );
    // Let the writer's last round (woken by the publish) finish before tampering.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let again = check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(again.problems, vec![]);

    // A file altered behind cargohold's back is named too.
    let (_work, clone) = clone_of(&server).await;
    std::fs::write(clone.join("al/ph/alpha"), "{}\n").unwrap();
    commit_all(&clone, "tamper").await;
    let tampered = stdout(&git(&clone, &["rev-parse", "HEAD"]).await);
    stdout(
        &git(
            &clone,
            &["push", "-q", dir.to_str().unwrap(), "HEAD:refs/heads/main"],
        )
        .await,
    );
    let report = check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    let found: Vec<String> = report.problems.iter().map(Problem::to_string).collect();
    assert_eq!(
        found,
        [
            format!(
                "main git index: HEAD ({}) is a commit cargohold did not write",
                tampered.trim()
            ),
            "main git index: al/ph/alpha in HEAD differs from the database".to_owned()
        ]
    );
    check::check(&server.app, None, true, &|_, _| {})
        .await
        .unwrap();
    let head = stdout(&git(&dir, &["rev-parse", "HEAD"]).await);
    assert_ne!(head, tampered);
    let repaired_file = stdout(&git(&dir, &["show", "HEAD:al/ph/alpha"]).await);
    assert_eq!(repaired_file, server.index_file("alpha").await.1);
    assert_eq!(
        server.git_subjects("main").await[0],
        "Rebuild the index of registry `main` from the database"
    );
    let clean = check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(clean.problems, vec![]);
}
