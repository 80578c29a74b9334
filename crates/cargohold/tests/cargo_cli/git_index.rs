//! The real cargo through a registry's git index (`index = "http://…/git"`): with
//! its built-in libgit2 and with `net.git-fetch-with-cli`, public and private.

use cargohold::access::Role;
use cargohold::config::RegistryConfig;
use cargohold::ops;
use cargohold::ops::permissions::Grantee;
use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CargoSandbox, CrateFixture, TestServer};

async fn git_server(private: bool) -> TestServer {
    let server = TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig {
            git_index: true,
            auth_required: private,
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    server
        .wait_for_git_commit("main", "Create the index of registry `main`")
        .await;
    server
}

/// The `version` and `source` cargo locked for `name`.
fn locked(lockfile: &str, name: &str) -> (String, String) {
    let lock: toml::Value = toml::from_str(lockfile).unwrap();
    let package = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{name} is not in\n{lockfile}"));
    (
        package["version"].as_str().unwrap().to_owned(),
        package["source"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn cargo_publishes_yanks_and_builds_through_the_git_index_with_libgit2_and_the_git_cli() {
    let server = git_server(false).await;
    let mut cargo = CargoSandbox::new(&server);
    cargo.use_git_index(&server, "main", None);
    let source = format!("registry+{}", server.git_url_of("main"));

    // cargo publish waits until the new version shows in the git index.
    for (version, answer) in [("0.1.0", 41), ("0.2.0", 42)] {
        let lib = cargo.package("gitlib", version, "", "");
        cargo.write(
            &lib,
            "src/lib.rs",
            &format!("pub fn answer() -> u32 {{ {answer} }}\n"),
        );
        cargo.publish(&lib).await;
    }
    assert_eq!(
        server.git_subjects("main").await[..2],
        ["Publish gitlib 0.2.0", "Publish gitlib 0.1.0"]
    );
    let app = cargo.binary(
        "git-app",
        "0.1.0",
        "[dependencies]\ngitlib = { version = \"0.2\", registry = \"test\" }\n",
        "fn main() { println!(\"answer {}\", gitlib::answer()); }\n",
    );
    let run = cargo.cargo(&app, &["run", "--quiet"]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), "answer 42");
    let lockfile = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert_eq!(
        locked(&lockfile, "gitlib"),
        ("0.2.0".into(), source.clone())
    );

    // A yank reaches the git index, and the resolver skips the version.
    cargo
        .cargo(
            &app,
            &["yank", "gitlib", "--version", "0.2.0", "--registry", "test"],
        )
        .await
        .assert_success();
    server
        .wait_for_git_commit("main", "Yank gitlib 0.2.0")
        .await;

    // The git program instead of libgit2, in a fresh CARGO_HOME.
    let mut cli = CargoSandbox::new(&server);
    cli.use_git_index(&server, "main", None);
    cli.set_env("CARGO_NET_GIT_FETCH_WITH_CLI", "true");
    let cli_app = cli.binary(
        "git-cli-app",
        "0.1.0",
        "[dependencies]\ngitlib = { version = \"0\", registry = \"test\" }\n",
        "fn main() { println!(\"answer {}\", gitlib::answer()); }\n",
    );
    let run = cli.cargo(&cli_app, &["run", "--quiet"]).await;
    run.assert_success();
    assert_eq!(
        run.stdout.trim(),
        "answer 41",
        "the yanked 0.2.0 is skipped"
    );
    let lockfile = std::fs::read_to_string(cli_app.join("Cargo.lock")).unwrap();
    assert_eq!(locked(&lockfile, "gitlib"), ("0.1.0".into(), source));
}

#[tokio::test]
async fn cargo_reads_a_private_git_index_with_a_token_from_a_git_credential_helper() {
    let server = git_server(true).await;
    let response = server
        .publish(&CrateFixture::new("secret-lib", "1.0.0"))
        .await;
    assert_eq!(response.status(), 200);
    server
        .wait_for_git_commit("main", "Publish secret-lib 1.0.0")
        .await;
    let reader = server
        .create_user_with_token("reader", TokenRequest::default())
        .await;
    let registry = server.app.registry("main").unwrap().clone();
    ops::permissions::change(
        &server.app,
        &registry,
        &Grantee::User("reader".into()),
        Some(Role::Read),
        None,
    )
    .await
    .unwrap();
    let manifest = "[dependencies]\nsecret-lib = { version = \"1\", registry = \"test\" }\n";

    // The git credential lines the registry's setup page shows, as a user runs them.
    let setup = ops::setup::cargo_config(&registry).git_index.unwrap();
    let git_lines: Vec<&str> = setup
        .lines()
        .filter_map(|line| line.strip_prefix("# git config --global credential."))
        .collect();
    assert_eq!(git_lines.len(), 2, "{setup}");

    for with_cli in [false, true] {
        // The same token: git's credential helper for the index, cargo's for downloads.
        let mut cargo = CargoSandbox::with_token(&server, Some(reader.clone()));
        cargo.use_git_index(&server, "main", None);
        let home = cargo.git_home().unwrap().to_owned();
        for line in &git_lines {
            let ran = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("git config --global credential.{line}"))
                .env("HOME", &home)
                .status()
                .unwrap();
            assert!(ran.success(), "{line}");
        }
        cargo.set_env("CARGOHOLD_TOKEN", &reader);
        if with_cli {
            cargo.set_env("CARGO_NET_GIT_FETCH_WITH_CLI", "true");
        }
        let app = cargo.binary("private-git-app", "0.1.0", manifest, "fn main() {}\n");
        cargo.cargo(&app, &["fetch"]).await.assert_success();
        let lockfile = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
        assert_eq!(
            locked(&lockfile, "secret-lib").0,
            "1.0.0",
            "cli: {with_cli}"
        );

        // Without git credentials the index stays shut, whatever cargo's own token.
        let mut outsider = CargoSandbox::with_token(&server, Some(reader.clone()));
        outsider.use_git_index(&server, "main", None);
        if with_cli {
            outsider.set_env("CARGO_NET_GIT_FETCH_WITH_CLI", "true");
        }
        let app = outsider.binary("outsider-git-app", "0.1.0", manifest, "fn main() {}\n");
        let denied = outsider.cargo(&app, &["generate-lockfile"]).await;
        assert!(!denied.success, "cli: {with_cli}");
        assert!(
            !app.join("Cargo.lock").exists(),
            "cli: {with_cli}: {}",
            denied.stderr
        );
        let said = if with_cli {
            "could not read Username"
        } else {
            "failed to authenticate when downloading repository"
        };
        assert!(denied.stderr.contains(said), "{}", denied.stderr);
    }
}
