//! The one-URL setup of the README: a virtual `all` over `internal` (local, where
//! publishes go) and `crates-io-cache` (a proxy). Tokens limited to `all`, and what
//! refusals say to someone who only knows `all`.

use cargohold::access::Role;
use cargohold::config::RegistryConfig;
use cargohold::ops::permissions::Grantee;
use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CrateFixture, DepRegistry, TestServer, error_detail};
use reqwest::Method;
use url::Url;

use crate::access::{add_user, grant};

/// `internal`, a cache of an upstream nobody listens for (a new name is then
/// published unchecked, as on an air-gapped installation), and `all` over both,
/// private when `private`.
async fn one_url_server(private: bool) -> TestServer {
    TestServer::start_with(move |config| {
        let mut internal = RegistryConfig::local("internal");
        let mut cache = RegistryConfig::proxy(
            "crates-io-cache",
            Url::parse("http://127.0.0.1:9/index/").unwrap(),
        );
        let mut all =
            RegistryConfig::virtual_of("all", &["internal", "crates-io-cache"], Some("internal"));
        for registry in [&mut internal, &mut cache, &mut all] {
            registry.auth_required = private;
        }
        config.registries = vec![internal, cache, all, RegistryConfig::local("other")];
    })
    .await
}

/// A user `login` and a token of theirs limited to `registries`.
async fn user_limited_to(server: &TestServer, login: &str, registries: &[&str]) -> String {
    let request = TokenRequest {
        registries: registries.iter().map(|r| r.to_string()).collect(),
        ..TokenRequest::default()
    };
    server.create_user_with_token(login, request).await
}

/// `PUT registries/{registry}/api/v1/crates/new` of `fixture` as `token`: status and body.
async fn publish(
    server: &TestServer,
    registry: &str,
    fixture: &CrateFixture,
    token: &str,
) -> (u16, String) {
    let response = server
        .authed(
            Method::PUT,
            &format!("registries/{registry}/api/v1/crates/new"),
            token,
        )
        .body(fixture.publish_body())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `cargo yank` (or `--undo`) of `name@version` in `registry` as `token`: status and body.
async fn yank(
    server: &TestServer,
    registry: &str,
    name: &str,
    version: &str,
    token: &str,
    undo: bool,
) -> (u16, String) {
    let (method, action) = if undo {
        (Method::PUT, "unyank")
    } else {
        (Method::DELETE, "yank")
    };
    let response = server
        .authed(
            method,
            &format!("registries/{registry}/api/v1/crates/{name}/{version}/{action}"),
            token,
        )
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `cargo owner --add` of `logins` to `name` in `registry` as `token`: status and body.
async fn add_owners(
    server: &TestServer,
    registry: &str,
    name: &str,
    logins: &[&str],
    token: &str,
) -> (u16, String) {
    let response = server
        .authed(
            Method::PUT,
            &format!("registries/{registry}/api/v1/crates/{name}/owners"),
            token,
        )
        .json(&serde_json::json!({ "users": logins }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The message of a refusal, after checking its status.
#[track_caller]
fn refusal(answer: (u16, String), status: u16) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    error_detail(&answer.1).unwrap_or_else(|| panic!("not cargo's error envelope: {}", answer.1))
}

#[tokio::test]
async fn a_token_limited_to_the_virtual_registry_publishes_yanks_and_changes_owners_through_it() {
    let server = one_url_server(false).await;
    let alice = user_limited_to(&server, "alice", &["all"]).await;
    add_user(&server, "bob").await;
    let fixture = CrateFixture::new("acme-core", "0.9.0");

    let (status, body) = publish(&server, "all", &fixture, &alice).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.index_file_in("internal", "acme-core").await.0, 200);
    let (status, body) = yank(&server, "all", "acme-core", "0.9.0", &alice, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.stored_state().await.yanked_versions, 1);
    let (status, body) = yank(&server, "all", "acme-core", "0.9.0", &alice, true).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = add_owners(&server, "all", "acme-core", &["bob"], &alice).await;
    assert_eq!(status, 200, "{body}");
    let owners: serde_json::Value = server
        .get("registries/internal/api/v1/crates/acme-core/owners")
        .await
        .json()
        .await
        .unwrap();
    let logins: Vec<&str> = owners["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["alice", "bob"]);

    // A token limited to the member keeps working through the virtual registry.
    let carol = user_limited_to(&server, "carol", &["internal"]).await;
    let (status, body) = publish(
        &server,
        "all",
        &CrateFixture::new("carol-lib", "1.0.0"),
        &carol,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_token_limited_to_the_virtual_registry_reads_its_private_members_through_it() {
    let server = one_url_server(true).await;
    assert_eq!(
        server
            .publish_to("internal", &CrateFixture::new("acme-core", "0.9.0"))
            .await
            .status(),
        200
    );
    let alice = user_limited_to(&server, "alice", &["all"]).await;
    for path in [
        "registries/all/index/ac/me/acme-core",
        "registries/all/crates/acme-core/acme-core-0.9.0.crate",
        "registries/all/api/v1/crates/acme-core/owners",
    ] {
        let response = server
            .authed(Method::GET, path, &alice)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{path}: {}",
            response.text().await.unwrap()
        );
    }
    // The URL the token names, not the member behind it.
    let response = server
        .authed(
            Method::GET,
            "registries/internal/index/ac/me/acme-core",
            &alice,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_token_limited_to_the_virtual_registry_is_refused_on_its_member_directly_and_nothing_changes()
 {
    let server = one_url_server(false).await;
    let alice = user_limited_to(&server, "alice", &["all"]).await;
    let (status, body) = publish(
        &server,
        "all",
        &CrateFixture::new("acme-core", "0.9.0"),
        &alice,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let before = server.stored_state().await;

    let detail = refusal(
        publish(
            &server,
            "internal",
            &CrateFixture::new("acme-core", "0.9.1"),
            &alice,
        )
        .await,
        403,
    );
    assert!(
        detail.contains("limited to the registries all and cannot be used on `internal`"),
        "{detail}"
    );
    let detail = refusal(
        publish(
            &server,
            "internal",
            &CrateFixture::new("acme-new", "1.0.0"),
            &alice,
        )
        .await,
        403,
    );
    assert!(detail.contains("cannot be used on `internal`"), "{detail}");
    for undo in [false, true] {
        let detail = refusal(
            yank(&server, "internal", "acme-core", "0.9.0", &alice, undo).await,
            403,
        );
        assert!(detail.contains("cannot be used on `internal`"), "{detail}");
    }
    let detail = refusal(
        add_owners(&server, "internal", "acme-core", &["alice"], &alice).await,
        403,
    );
    assert!(detail.contains("cannot be used on `internal`"), "{detail}");
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

#[tokio::test]
async fn a_token_limited_to_another_registry_is_refused_through_the_virtual_registry_naming_it() {
    let server = one_url_server(false).await;
    let dave = user_limited_to(&server, "dave", &["other"]).await;
    let before = server.stored_state().await;
    let detail = refusal(
        publish(
            &server,
            "all",
            &CrateFixture::new("dave-lib", "1.0.0"),
            &dave,
        )
        .await,
        403,
    );
    assert!(
        detail.contains("limited to the registries other and cannot be used on `all`"),
        "{detail}"
    );
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

/// `one_url_server(false)` holding `acme-core 0.9.0` of `admin`, where `internal`
/// has a grant (for `reader`), so users without one hold no role there.
async fn acme_core_with_grants() -> TestServer {
    let server = one_url_server(false).await;
    let (status, body) = publish(
        &server,
        "all",
        &CrateFixture::new("acme-core", "0.9.0"),
        &server.admin_token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    add_user(&server, "reader").await;
    grant(
        &server,
        "internal",
        Grantee::User("reader".into()),
        Role::Read,
    )
    .await;
    server
}

#[tokio::test]
async fn yanking_through_the_virtual_registry_a_crate_you_do_not_own_says_you_are_not_an_owner_and_names_it()
 {
    let server = acme_core_with_grants().await;
    let eve = server.create_user("eve").await;
    let before = server.stored_state().await;
    for undo in [false, true] {
        let detail = refusal(
            yank(&server, "all", "acme-core", "0.9.0", &eve, undo).await,
            403,
        );
        assert!(
            detail.contains("crate `acme-core` exists and `eve` is not one of its owners")
                && detail.contains("`cargo owner --add eve acme-core --registry all`"),
            "{detail}"
        );
        assert!(
            !detail.contains("has no role") && !detail.contains("--registry internal"),
            "{detail}"
        );
    }
    let detail = refusal(
        add_owners(&server, "all", "acme-core", &["eve"], &eve).await,
        403,
    );
    assert!(
        detail.contains("`cargo owner --list acme-core --registry all`"),
        "{detail}"
    );
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

#[tokio::test]
async fn publishing_another_spelling_of_a_crate_you_do_not_own_says_so_and_names_the_registry_you_used()
 {
    let server = acme_core_with_grants().await;
    let bob = server.create_user("bob").await;
    grant(
        &server,
        "internal",
        Grantee::User("bob".into()),
        Role::Publish,
    )
    .await;
    let before = server.stored_state().await;
    let detail = refusal(
        publish(
            &server,
            "all",
            &CrateFixture::new("acme_core", "1.0.0"),
            &bob,
        )
        .await,
        403,
    );
    assert!(
        detail.contains("`acme_core` is another spelling of `acme-core`")
            && detail.contains("`cargo owner --add bob acme-core --registry all`"),
        "{detail}"
    );
    assert!(!detail.contains("--registry internal"), "{detail}");
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

#[tokio::test]
async fn an_owner_without_a_role_is_told_the_role_is_missing_with_cargo_commands_for_the_registry_used()
 {
    let server = acme_core_with_grants().await;
    let owner = server.create_user("olga").await;
    let (status, body) =
        add_owners(&server, "all", "acme-core", &["olga"], &server.admin_token).await;
    assert_eq!(status, 200, "{body}");
    let before = server.stored_state().await;
    let detail = refusal(
        yank(&server, "all", "acme-core", "0.9.0", &owner, false).await,
        403,
    );
    assert!(
        detail.contains("`olga` has no role in registry `internal` (which keeps the crates published through `all`)")
            && detail.contains("acting on its crates needs `read` at least")
            && detail.contains("`cargohold permission grant --registry internal --user olga --role read`")
            && detail.contains("`cargo logout --registry all`")
            && detail.contains(&format!(
                "`cargo login --registry all` with a token of your own from {}registries/all/me",
                server.url
            )),
        "{detail}"
    );
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

#[tokio::test]
async fn a_private_member_tells_a_user_without_a_role_only_that_with_cargo_commands_for_the_registry_used()
 {
    let server = one_url_server(true).await;
    let (status, body) = publish(
        &server,
        "all",
        &CrateFixture::new("acme-core", "0.9.0"),
        &server.admin_token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    add_user(&server, "reader").await;
    grant(
        &server,
        "internal",
        Grantee::User("reader".into()),
        Role::Read,
    )
    .await;
    grant(&server, "all", Grantee::User("reader".into()), Role::Read).await;
    let eve = server.create_user("eve").await;
    grant(&server, "all", Grantee::User("eve".into()), Role::Read).await;
    let before = server.stored_state().await;
    let detail = refusal(
        yank(&server, "all", "acme-core", "0.9.0", &eve, false).await,
        403,
    );
    assert!(
        detail.contains("`eve` has no role in registry `internal` (which keeps the crates published through `all`), and reading it needs `read`")
            && detail.contains("`cargo logout --registry all`"),
        "{detail}"
    );
    assert!(
        !detail.contains("owner"),
        "a non-reader learns nothing of the crate: {detail}"
    );
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

#[tokio::test]
async fn yanking_through_the_virtual_registry_a_crate_it_does_not_keep_says_where_its_crates_are() {
    let server = one_url_server(false).await;
    let before = server.stored_state().await;
    let detail = refusal(
        yank(&server, "all", "serde", "1.0.0", &server.admin_token, false).await,
        404,
    );
    assert!(
        detail.contains(
            "`serde` is not one of the crates published through `all` (they are kept in `internal`)"
        ),
        "{detail}"
    );
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

#[tokio::test]
async fn a_crates_io_crate_written_against_the_virtual_registry_is_refused_saying_to_write_it_without_registry()
 {
    let server = one_url_server(false).await;
    // `cargo add serde --registry all`, then `cargo publish --registry all`.
    let fixture = CrateFixture::new("acme-json", "1.0.0")
        .in_registry(&server.index_url_of("all"))
        .dep("serde", "1");
    let before = server.stored_state().await;
    let detail = refusal(
        publish(&server, "all", &fixture, &server.admin_token).await,
        400,
    );
    assert!(
        detail.contains("no known crate named `serde` in registry `internal`")
            && detail.contains("if `serde` is one, write it without `registry`")
            && detail.contains("`cargo add serde` without `--registry`"),
        "{detail}"
    );
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
}

#[tokio::test]
async fn a_dependency_naming_a_member_of_the_virtual_registry_is_published_with_a_warning() {
    let server = one_url_server(false).await;
    // Published to `internal` directly, naming the cache by its own URL.
    let cache = server.index_url_of("crates-io-cache");
    let fixture = CrateFixture::new("acme-cached", "1.0.0")
        .dep_from("serde", "1", DepRegistry::Other(cache.clone()))
        .dep_from("log", "0.4", DepRegistry::CratesIo);
    let (status, body) = publish(&server, "internal", &fixture, &server.admin_token).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let warnings = answer["warnings"]["other"].as_array().unwrap();
    assert_eq!(
        warnings.len(),
        1,
        "only the dependency naming the cache: {body}"
    );
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.contains(
            "the dependency `serde` names the registry `crates-io-cache` (a member of `all`) by its index URL"
        ) && warning.contains("has it twice in Cargo.lock, from crates.io and from `crates-io-cache`")
            && warning.contains("Write `serde = \"1\"` without `registry`"),
        "{warning}"
    );
    // Taken as it is: the index names the cache, as the manifest does.
    let (_, line) = server.index_file_in("internal", "acme-cached").await;
    assert!(
        line.contains(&format!("\"registry\":\"{cache}\"")),
        "{line}"
    );
}

#[tokio::test]
async fn a_write_through_the_virtual_registry_to_a_crate_it_serves_from_an_earlier_member_is_refused_and_changes_nothing()
 {
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("team-a"),
            RegistryConfig::local("internal"),
            RegistryConfig::virtual_of("all", &["team-a", "internal"], Some("internal")),
        ];
    })
    .await;
    // `x` in both: `all` serves team-a's.
    for registry in ["team-a", "internal"] {
        let (status, body) = publish(
            &server,
            registry,
            &CrateFixture::new("x-lib", "1.0.0"),
            &server.admin_token,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let alice = user_limited_to(&server, "alice", &["all"]).await;
    let before = server.stored_state().await;
    for answer in [
        yank(&server, "all", "x-lib", "1.0.0", &alice, false).await,
        add_owners(&server, "all", "x-lib", &["alice"], &alice).await,
        publish(&server, "all", &CrateFixture::new("x_lib", "2.0.0"), &alice).await,
    ] {
        let detail = refusal(answer, 409);
        assert!(
            detail.contains("`all` serves `x-lib` from `team-a`, its member before `internal`")
                && detail.contains("use `--registry team-a`"),
            "{detail}"
        );
    }
    assert_eq!(
        server.stored_state().await,
        before,
        "a refusal changed what is stored"
    );
    // A new name only `team-a` holds cannot be published into `internal` through `all` either.
    let (status, body) = publish(
        &server,
        "team-a",
        &CrateFixture::new("only-a", "1.0.0"),
        &server.admin_token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let before_new = server.stored_state().await;
    let detail = refusal(
        publish(
            &server,
            "all",
            &CrateFixture::new("only-a", "1.1.0"),
            &alice,
        )
        .await,
        409,
    );
    assert!(
        detail.contains("`all` serves `only-a` from `team-a`"),
        "{detail}"
    );
    assert_eq!(
        server.stored_state().await,
        before_new,
        "a refusal changed what is stored"
    );
}
