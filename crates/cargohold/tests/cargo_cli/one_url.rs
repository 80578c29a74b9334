//! The README's one-URL setup with the real cargo: crates.io replaced by a virtual `all`
//! over `internal` (where publishes go) and `crates-io-cache`, a proxy of another
//! cargohold. Tokens limited to `all`, and the one way of writing internal dependencies.

use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CargoSandbox, TestServer};

async fn company_server(upstream: &TestServer) -> TestServer {
    TestServer::company(upstream, |_| {}).await
}

/// A developer whose crates.io is `all` (their registry `test`), with `token`.
fn developer(server: &TestServer, token: &str) -> CargoSandbox {
    let cargo = CargoSandbox::at_registry(server, "all", Some(token.to_owned()));
    cargo.append_config("[source.crates-io]\nreplace-with = \"test\"\n");
    cargo
}

/// A user `login` with a token limited to `registries`.
async fn user_limited_to(server: &TestServer, login: &str, registries: &[&str]) -> String {
    let request = TokenRequest {
        registries: registries.iter().map(|r| r.to_string()).collect(),
        ..TokenRequest::default()
    };
    server.create_user_with_token(login, request).await
}

const PUBLISH: &[&str] = &[
    "publish",
    "--registry",
    "test",
    "--no-verify",
    "--allow-dirty",
];

#[tokio::test]
async fn cargo_publishes_and_yanks_through_the_virtual_registry_with_a_token_limited_to_it_but_not_on_its_member()
 {
    let upstream = TestServer::start().await;
    let server = company_server(&upstream).await;
    let alice = user_limited_to(&server, "alice", &["all"]).await;
    let cargo = developer(&server, &alice);
    let package = cargo.package("acme-core", "0.9.0", "", "");
    cargo.publish(&package).await;
    for args in [
        &["yank", "acme-core@0.9.0", "--registry", "test"][..],
        &["yank", "--undo", "acme-core@0.9.0", "--registry", "test"],
        &["owner", "--add", "admin", "acme-core", "--registry", "test"],
    ] {
        cargo.cargo(&package, args).await.assert_success();
    }

    // The same token where cargo talks to `internal` directly.
    let direct = CargoSandbox::at_registry(&server, "internal", Some(alice));
    let before = server.stored_state().await;
    direct
        .cargo(&package, &["yank", "acme-core@0.9.0", "--registry", "test"])
        .await
        .assert_failure_containing(
            "this token is limited to the registries all and cannot be used on `internal`",
        );
    let package = direct.package("acme-core", "0.9.1", "", "");
    direct
        .cargo(&package, PUBLISH)
        .await
        .assert_failure_containing("cannot be used on `internal`");
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

#[tokio::test]
async fn a_dependency_naming_the_registry_that_stands_in_for_crates_io_is_published_with_a_warning_saying_how_to_write_it()
 {
    let upstream = TestServer::start().await;
    let server = company_server(&upstream).await;
    let cargo = developer(&server, &server.admin_token.clone());
    cargo
        .publish(&cargo.package("acme-core", "0.9.0", "", ""))
        .await;

    // The one style: a crates.io dependency, which `all` serves.
    let plain = cargo.package(
        "acme-plain",
        "1.0.0",
        "",
        "[dependencies]\nacme-core = \"0.9\"\n",
    );
    let published = cargo.cargo(&plain, PUBLISH).await;
    published.assert_success();
    assert!(
        !published.stderr.contains("warning: the dependency"),
        "{}",
        published.stderr
    );

    // What `cargo add acme-core --registry test` writes.
    let named = cargo.package(
        "acme-app",
        "1.0.0",
        "",
        "[dependencies]\nacme-core = { version = \"0.9\", registry = \"test\" }\n",
    );
    let published = cargo.cargo(&named, PUBLISH).await;
    published.assert_success();
    for said in [
        "warning: the dependency `acme-core` names the registry `all`",
        "`all` stands in for crates.io (`[source.crates-io] replace-with = \"all\"`)",
        "a project that gets `acme-core` both ways has it twice in Cargo.lock, from crates.io and from `all`",
        "Write `acme-core = \"0.9\"` without `registry`",
        "this one is published as it is",
    ] {
        // cargo wraps long warnings; compare with its line breaks taken out.
        let flat = published
            .stderr
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(&said),
            "{said:?} missing from {}",
            published.stderr
        );
    }
    // Published, and not rewritten: the dependency is the one the index gives any
    // dependency on this same registry.
    let (status, line) = server.index_file_in("internal", "acme-app").await;
    assert_eq!(status, 200, "{line}");
    let entry: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(entry["deps"][0]["name"], "acme-core", "{line}");
    assert!(entry["deps"][0].get("registry").is_none(), "{line}");
}
