//! One test per cargo command a registry user runs: install, info, search, owner, login, publish errors.

use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CargoSandbox, TestServer};

/// The Install part of a crate page: its `cargo install` and `cargo add` lines.
async fn install_lines(server: &TestServer, name: &str) -> (Option<String>, Option<String>) {
    let page = server
        .get(&format!("registries/main/crates/{name}"))
        .await
        .text()
        .await
        .unwrap();
    let line = |id: &str| {
        let start = page.find(&format!("<code id=\"{id}\">"))? + id.len() + 12;
        let end = start + page[start..].find("</code>")?;
        Some(
            page[start..end]
                .replace("<span class=\"flag\">", "")
                .replace("</span>", ""),
        )
    };
    (line("cargo-install"), line("cargo-add"))
}

#[tokio::test]
async fn the_crate_page_of_a_binary_offers_the_cargo_install_that_installs_it() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let bin = cargo.binary(
        "hello-bin",
        "0.3.0",
        "",
        "fn main() { println!(\"hello from cargohold\"); }\n",
    );
    cargo.publish(&bin).await;
    // A tool without a library: installing it is the only use, as on crates.io.
    assert_eq!(
        install_lines(&server, "hello-bin").await,
        (
            Some("cargo install hello-bin@0.3.0 --registry main".to_owned()),
            None
        )
    );
    // A library with binaries beside it gets both; a plain library only `cargo add`.
    let both = cargo.package("both-ways", "1.0.0", "", "");
    cargo.write(&both, "src/main.rs", "fn main() {}\n");
    cargo.write(&both, "src/bin/both-helper.rs", "fn main() {}\n");
    cargo.publish(&both).await;
    let page = server
        .get("registries/main/crates/both-ways")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("its binaries (<code>both-ways</code>, <code>both-helper</code>)"),
        "{page}"
    );
    assert_eq!(
        install_lines(&server, "both-ways").await,
        (
            Some("cargo install both-ways@1.0.0 --registry main".to_owned()),
            Some("cargo add both-ways@1.0.0 --registry main".to_owned())
        )
    );
    let lib = cargo.package("only-lib", "1.0.0", "", "");
    cargo.publish(&lib).await;
    assert_eq!(
        install_lines(&server, "only-lib").await,
        (
            None,
            Some("cargo add only-lib@1.0.0 --registry main".to_owned())
        )
    );

    // The command the page gives, with this sandbox's name for the registry.
    let root = cargo.path("install-root");
    let root_arg = root.to_str().unwrap();
    cargo
        .cargo(
            &cargo.path(""),
            &[
                "install",
                "hello-bin@0.3.0",
                "--registry",
                "test",
                "--root",
                root_arg,
            ],
        )
        .await
        .assert_success();
    let output = std::process::Command::new(root.join("bin/hello-bin"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "hello from cargohold"
    );
}

#[tokio::test]
async fn cargo_info_describes_a_published_crate() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let lib = cargo.package(
        "described",
        "2.1.0",
        "rust-version = \"1.75\"",
        "[features]\nturbo = []\n",
    );
    cargo.publish(&lib).await;
    let info = cargo
        .cargo(
            &cargo.path(""),
            &["info", "described", "--registry", "test"],
        )
        .await;
    info.assert_success();
    assert!(info.stdout.contains("2.1.0"), "{}", info.stdout);
    assert!(
        info.stdout.contains("The described test package"),
        "{}",
        info.stdout
    );
    assert!(info.stdout.contains("turbo"), "{}", info.stdout);
    assert!(info.stdout.contains("1.75"), "{}", info.stdout);
}

#[tokio::test]
async fn cargo_search_handles_spaces_and_plus_signs_in_the_query() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let bridge = cargo.package("cpp-bridge", "0.4.0", "", "");
    std::fs::write(
        bridge.join("Cargo.toml"),
        std::fs::read_to_string(bridge.join("Cargo.toml"))
            .unwrap()
            .replace("The cpp-bridge test package", "Bridges Rust and C++ code"),
    )
    .unwrap();
    cargo.publish(&bridge).await;
    let other = cargo.package("c-bridge", "0.1.0", "", "");
    cargo.publish(&other).await;

    let plus = cargo
        .cargo(&cargo.path(""), &["search", "c++", "--registry", "test"])
        .await;
    plus.assert_success();
    assert!(
        plus.stdout.contains("cpp-bridge = \"0.4.0\""),
        "{}",
        plus.stdout
    );
    assert!(
        plus.stdout.contains("# Bridges Rust and C++ code"),
        "{}",
        plus.stdout
    );
    assert!(!plus.stdout.contains("c-bridge"), "{}", plus.stdout);

    let spaced = cargo
        .cargo(
            &cargo.path(""),
            &["search", "rust code", "--registry", "test"],
        )
        .await;
    spaced.assert_success();
    assert!(spaced.stdout.contains("cpp-bridge"), "{}", spaced.stdout);

    let limited = cargo
        .cargo(
            &cargo.path(""),
            &["search", "bridge", "--limit", "1", "--registry", "test"],
        )
        .await;
    limited.assert_success();
    assert!(
        limited.stdout.contains("1 crates more"),
        "meta.total reaches cargo: {}",
        limited.stdout
    );
}

#[tokio::test]
async fn cargo_owner_adds_lists_and_removes_owners() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let lib = cargo.package("co-owned", "1.0.0", "", "");
    cargo.publish(&lib).await;
    server.create_user("bob").await;

    let add = cargo
        .cargo(
            &lib,
            &["owner", "--add", "bob", "co-owned", "--registry", "test"],
        )
        .await;
    add.assert_success();
    assert!(add.stderr.contains("added bob"), "{}", add.stderr);

    let list = cargo
        .cargo(&lib, &["owner", "--list", "co-owned", "--registry", "test"])
        .await;
    list.assert_success();
    assert!(
        list.stdout.contains("admin") && list.stdout.contains("bob"),
        "{}",
        list.stdout
    );

    let remove = cargo
        .cargo(
            &lib,
            &["owner", "--remove", "bob", "co-owned", "--registry", "test"],
        )
        .await;
    remove.assert_success();
    let list = cargo
        .cargo(&lib, &["owner", "--list", "co-owned", "--registry", "test"])
        .await;
    assert!(!list.stdout.contains("bob"), "{}", list.stdout);

    let unknown = cargo
        .cargo(
            &lib,
            &["owner", "--add", "nobody", "co-owned", "--registry", "test"],
        )
        .await;
    unknown.assert_failure_containing("there is no user `nobody`");
}

#[tokio::test]
async fn cargo_login_reads_the_token_from_stdin() {
    let server = TestServer::start().await;
    let token = server.create_user("stdin-user").await;
    let cargo = CargoSandbox::with_token(&server, None);
    let lib = cargo.package("logged-in", "1.0.0", "", "");
    cargo
        .cargo(&lib, &["publish", "--registry", "test", "--no-verify"])
        .await
        .assert_failure_containing("cargo login");
    cargo
        .cargo_with_stdin(
            &lib,
            &["login", "--registry", "test"],
            Some(&format!("{token}\n")),
        )
        .await
        .assert_success();
    let credentials = std::fs::read_to_string(cargo.cargo_home().join("credentials.toml")).unwrap();
    assert!(credentials.contains(&token));
    cargo.publish(&lib).await;
}

#[tokio::test]
async fn cargo_shows_the_registrys_reasons_when_a_publish_is_refused() {
    let server = TestServer::start().await;
    let owner = CargoSandbox::new(&server);
    let lib = owner.package("contested-name", "1.0.0", "", "");
    owner.publish(&lib).await;

    // cargo itself notices the version exists before uploading.
    owner
        .cargo(&lib, &["publish", "--registry", "test", "--no-verify"])
        .await
        .assert_failure_containing("already exists");

    // Someone else's token: the server's 403 reaches the user.
    let token = server
        .create_user_with_token("intruder", TokenRequest::default())
        .await;
    let intruder = CargoSandbox::with_token(&server, Some(token));
    let theirs = intruder.package("contested-name", "1.0.1", "", "");
    intruder
        .cargo(&theirs, &["publish", "--registry", "test", "--no-verify"])
        .await
        .assert_failure_containing("not one of its owners");
}

#[tokio::test]
async fn a_crate_over_one_mebibyte_publishes_through_expect_100_continue() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let big = cargo.package("big-crate", "1.0.0", "", "");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let noise: String = (0..1_500_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect();
    cargo.write(&big, "data/noise.txt", &noise);
    cargo.publish(&big).await;
    let (status, index) = server.index_file("big-crate").await;
    assert_eq!(status, 200);
    assert!(index.contains("\"vers\":\"1.0.0\""));
}

#[tokio::test]
async fn a_team_added_with_cargo_owner_lets_its_members_publish_but_not_change_owners() {
    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let lib = cargo.package("team-owned", "1.0.0", "", "");
    cargo.publish(&lib).await;
    let member = server.create_user("tess").await;
    cargohold::ops::teams::create(&server.app, "platform", None)
        .await
        .unwrap();
    cargohold::ops::teams::change_members(&server.app, "platform", &["tess".into()], true, None)
        .await
        .unwrap();

    let add = cargo
        .cargo(
            &lib,
            &[
                "owner",
                "--add",
                "team:platform",
                "team-owned",
                "--registry",
                "test",
            ],
        )
        .await;
    add.assert_success();
    let list = cargo
        .cargo(
            &lib,
            &["owner", "--list", "team-owned", "--registry", "test"],
        )
        .await;
    assert!(list.stdout.contains("team:platform"), "{}", list.stdout);

    let as_member = CargoSandbox::with_token(&server, Some(member));
    let lib = as_member.package("team-owned", "1.1.0", "", "");
    as_member.publish(&lib).await;
    as_member
        .cargo(
            &lib,
            &["owner", "--add", "tess", "team-owned", "--registry", "test"],
        )
        .await
        .assert_failure_containing("only user owners change owners");
}

#[tokio::test]
async fn cargo_owner_says_when_a_team_made_owner_has_no_role_in_the_registry() {
    use cargohold::access::Role;
    use cargohold::ops::permissions::{self, Grantee};

    let server = TestServer::start().await;
    let cargo = CargoSandbox::new(&server);
    let lib = cargo.package("guarded-lib", "1.0.0", "", "");
    cargo.publish(&lib).await;
    server.create_user("rhea").await;
    for team in ["outsiders", "insiders"] {
        cargohold::ops::teams::create(&server.app, team, None)
            .await
            .unwrap();
        cargohold::ops::teams::change_members(&server.app, team, &["rhea".into()], true, None)
            .await
            .unwrap();
    }
    // The first grant closes `main` to users and teams without one.
    let main = server.app.registry("main").unwrap();
    permissions::change(
        &server.app,
        main,
        &Grantee::Team("insiders".into()),
        Some(Role::Read),
        None,
    )
    .await
    .unwrap();

    let outsiders = cargo
        .cargo(
            &lib,
            &[
                "owner",
                "--add",
                "team:outsiders",
                "guarded-lib",
                "--registry",
                "test",
            ],
        )
        .await;
    outsiders.assert_success();
    assert!(
        outsiders.stderr.contains(
            "note: team `outsiders` has no role in registry `main`, so its members without a role \
             of their own cannot publish or yank `guarded-lib`"
        ) && outsiders
            .stderr
            .contains("cargohold permission grant --registry main --team outsiders --role read"),
        "{}",
        outsiders.stderr
    );
    // A team holding a role gets no note; the owner was added either way.
    let insiders = cargo
        .cargo(
            &lib,
            &[
                "owner",
                "--add",
                "team:insiders",
                "guarded-lib",
                "--registry",
                "test",
            ],
        )
        .await;
    insiders.assert_success();
    assert!(
        insiders.stderr.contains("added team:insiders") && !insiders.stderr.contains("note:"),
        "{}",
        insiders.stderr
    );
    let list = cargo
        .cargo(
            &lib,
            &["owner", "--list", "guarded-lib", "--registry", "test"],
        )
        .await;
    assert!(
        list.stdout.contains("team:outsiders") && list.stdout.contains("team:insiders"),
        "{}",
        list.stdout
    );
}
