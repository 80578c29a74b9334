//! A private registry used by the real cargo: the 401 handshake, tokens on every
//! index request and download, and what a user without a token sees.

use cargohold::config::RegistryConfig;
use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CargoSandbox, TestServer};

async fn private_server() -> TestServer {
    TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig {
            auth_required: true,
            ..RegistryConfig::local("main")
        }];
    })
    .await
}

#[tokio::test]
async fn cargo_publishes_resolves_builds_and_searches_a_private_registry_with_a_token() {
    let server = private_server().await;
    let token = server
        .create_user_with_token("dev", TokenRequest::default())
        .await;
    let cargo = CargoSandbox::with_token(&server, Some(token));
    let lib = cargo.package("secret-lib", "0.1.0", "", "");
    cargo.write(&lib, "src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
    cargo.publish(&lib).await;

    let app = cargo.binary(
        "secret-app",
        "0.1.0",
        "[dependencies]\nsecret-lib = { version = \"0.1\", registry = \"test\" }\n",
        "fn main() { println!(\"answer {}\", secret_lib::answer()); }\n",
    );
    let run = cargo.cargo(&app, &["run", "--quiet"]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), "answer 42");

    let search = cargo
        .cargo(&app, &["search", "secret", "--registry", "test"])
        .await;
    search.assert_success();
    assert!(
        search.stdout.contains("secret-lib = \"0.1.0\""),
        "{}",
        search.stdout
    );
    // Every index request and the download carried the token: nothing was served anonymously.
    let served = server.app.stats.index_served.get();
    assert!(served > 0);

    // Someone without a token learns how to get one, and nothing about the crates.
    let outsider = CargoSandbox::with_token(&server, None);
    let other_app = outsider.binary(
        "outsider-app",
        "0.1.0",
        "[dependencies]\nsecret-lib = { version = \"0.1\", registry = \"test\" }\n",
        "fn main() {}\n",
    );
    let denied = outsider.cargo(&other_app, &["generate-lockfile"]).await;
    denied.assert_failure_containing("cargo login --registry test");

    // A revoked token is rejected, with the server's reason.
    let stale = CargoSandbox::with_token(&server, Some(cargo_token_revoked(&server).await));
    let stale_app = stale.binary(
        "stale-app",
        "0.1.0",
        "[dependencies]\nsecret-lib = { version = \"0.1\", registry = \"test\" }\n",
        "fn main() {}\n",
    );
    let rejected = stale.cargo(&stale_app, &["generate-lockfile"]).await;
    rejected.assert_failure_containing("not valid");
}

async fn cargo_token_revoked(server: &TestServer) -> String {
    let token = server.create_token("dev", TokenRequest::default()).await;
    let id = server.count("SELECT MAX(id) FROM api_tokens").await;
    cargohold::ops::tokens::revoke(&server.app, id, None)
        .await
        .unwrap();
    token
}
