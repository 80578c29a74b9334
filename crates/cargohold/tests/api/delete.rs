//! Deleting crates and versions from the crate page: who may, what goes (index,
//! downloads, pages, search, caches, the git index, other nodes), and that every
//! refusal changes nothing.

use cargohold::access::Role;
use cargohold::config::RegistryConfig;
use cargohold::ops;
use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CrateFixture, DepRegistry, TestServer};
use reqwest::StatusCode;

use crate::web::{WebClient, add_user, error_page};

/// The crate page a refused form answers with `status`, showing the refusal.
async fn refused(response: reqwest::Response, status: StatusCode, what: &str) -> String {
    assert_eq!(response.status(), status, "{what}");
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"form-error\""), "{what}: {page}");
    page
}

/// Three days and a bit: past the owners' 72 hours.
const OLDER_THAN_72_HOURS: &str = "UPDATE crates SET created_at = created_at - 260000";

/// Publishes `fixture` with `token`, which must succeed.
async fn publish_as(server: &TestServer, fixture: &CrateFixture, token: &str) {
    let response = server.publish_body(fixture.publish_body(), token).await;
    let status = response.status();
    assert_eq!(status, 200, "{}", response.text().await.unwrap());
}

/// A user with a password (for the pages) and a token (for cargo).
async fn user(server: &TestServer, login: &str) -> String {
    add_user(server, login, "a long password", false).await;
    server.create_token(login, TokenRequest::default()).await
}

async fn delete_form<'s>(
    web: &WebClient<'s>,
    name: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    web.post(&format!("registries/main/crates/{name}/delete"), fields)
        .await
}

async fn search_names(server: &TestServer, query: &str) -> Vec<String> {
    let body: serde_json::Value = server
        .get(&format!("registries/main/api/v1/crates?q={query}"))
        .await
        .json()
        .await
        .unwrap();
    body["crates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn check_is_clean(server: &TestServer) {
    let report = ops::check::check(&server.app, None, false, &|_, _| {})
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn an_administrator_deletes_a_crate_and_nothing_serves_it_any_more() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("doomed", "1.0.0")).await;
    server.publish(&CrateFixture::new("doomed", "1.1.0")).await;
    // Memory holds it all: the index file, the version lookup and the bytes.
    for _ in 0..2 {
        assert_eq!(server.index_file("doomed").await.0, 200);
        assert_eq!(server.download("doomed", "1.1.0").await.0, 200);
    }
    assert_eq!(search_names(&server, "doomed").await, ["doomed"]);
    add_user(&server, "root", "a long password", true).await;
    let web = WebClient::signed_in(&server, "root", "a long password").await;
    let page = web
        .get("registries/main/crates/doomed")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"delete-crate-form\""), "{page}");
    assert!(
        page.contains("As an administrator of the registry you may delete any crate"),
        "{page}"
    );
    assert!(page.contains("id=\"delete-version-form\""), "{page}");

    let response = delete_form(
        &web,
        "doomed",
        &[("confirm", "doomed"), ("reason", "published by mistake")],
    )
    .await;
    let me = web.follow(response, "/me").await.text().await.unwrap();
    assert!(
        me.contains("Deleted crate `doomed` from registry `main` (2 versions: 1.0.0, 1.1.0)"),
        "{me}"
    );

    assert_eq!(server.index_file("doomed").await.0, 404);
    assert_eq!(server.download("doomed", "1.1.0").await.0, 404);
    assert_eq!(server.download("doomed", "1.0.0").await.0, 404);
    error_page(
        web.get("registries/main/crates/doomed").await,
        StatusCode::NOT_FOUND,
        "the crate page",
    )
    .await;
    assert!(search_names(&server, "doomed").await.is_empty());
    let details = server
        .column("SELECT detail FROM audit_events WHERE action = 'delete_crate'")
        .await;
    assert_eq!(details.len(), 1);
    assert!(details[0].contains("published by mistake"), "{details:?}");
    check_is_clean(&server).await;
    // The blobs stay for gc.
    assert_eq!(server.stored_state().await.blobs, 2);
}

#[tokio::test]
async fn an_administrator_deletes_one_version_and_the_index_keeps_the_others() {
    let server = TestServer::start().await;
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        server.publish(&CrateFixture::new("trimmed", version)).await;
    }
    assert_eq!(server.download("trimmed", "1.2.0").await.0, 200);
    add_user(&server, "root", "a long password", true).await;
    let web = WebClient::signed_in(&server, "root", "a long password").await;

    let response = delete_form(
        &web,
        "trimmed",
        &[("confirm", "trimmed"), ("version", "1.2.0")],
    )
    .await;
    let page = web
        .follow(response, "/registries/main/crates/trimmed")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Deleted version 1.2.0 of crate `trimmed` from registry `main`."),
        "{page}"
    );
    let (status, index) = server.index_file("trimmed").await;
    assert_eq!(status, 200);
    let versions: Vec<String> = index
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["vers"].to_string())
        .collect();
    assert_eq!(versions, ["\"1.0.0\"", "\"1.1.0\""], "{index}");
    assert_eq!(server.download("trimmed", "1.2.0").await.0, 404);
    assert_eq!(server.download("trimmed", "1.1.0").await.0, 200);
    assert!(
        page.contains("id=\"crate-version\">1.1.0<"),
        "the newest left is shown"
    );
    assert_eq!(
        server
            .column("SELECT version FROM audit_events WHERE action = 'delete_version'")
            .await,
        ["1.2.0"]
    );
    check_is_clean(&server).await;
}

#[tokio::test]
async fn an_owner_deletes_a_new_crate_but_not_one_of_its_versions() {
    let server = TestServer::start().await;
    let token = user(&server, "alice").await;
    publish_as(&server, &CrateFixture::new("fresh", "0.1.0"), &token).await;
    publish_as(&server, &CrateFixture::new("fresh", "0.2.0"), &token).await;
    let web = WebClient::signed_in(&server, "alice", "a long password").await;
    let page = web
        .get("registries/main/crates/fresh")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("72 hours after its first publish"), "{page}");
    assert!(!page.contains("id=\"delete-version-form\""), "{page}");

    let before = server.stored_state().await;
    let response = delete_form(&web, "fresh", &[("confirm", "fresh"), ("version", "0.2.0")]).await;
    let page = refused(response, StatusCode::FORBIDDEN, "a version").await;
    assert!(
        page.contains("only an administrator of registry `main` deletes single versions"),
        "{page}"
    );
    assert!(page.contains("cargo yank"), "{page}");
    assert_eq!(server.stored_state().await, before);

    let response = delete_form(&web, "fresh", &[("confirm", "fresh")]).await;
    web.follow(response, "/me").await;
    assert_eq!(server.index_file("fresh").await.0, 404);
    let actors = server
        .column(
            "SELECT u.login FROM audit_events e JOIN users u ON u.id = e.actor_user_id \
             WHERE e.action = 'delete_crate'",
        )
        .await;
    assert_eq!(actors, ["alice"]);
}

#[tokio::test]
async fn after_72_hours_an_owner_is_told_which_rule_stops_the_deletion_and_nothing_changes() {
    let server = TestServer::start().await;
    let token = user(&server, "alice").await;
    publish_as(&server, &CrateFixture::new("settled", "1.0.0"), &token).await;
    publish_as(
        &server,
        &CrateFixture::new("user-of-settled", "1.0.0").dep_from("settled", "^1", DepRegistry::Same),
        &token,
    )
    .await;
    server.execute(OLDER_THAN_72_HOURS).await;
    let web = WebClient::signed_in(&server, "alice", "a long password").await;
    let page = web
        .get("registries/main/crates/settled")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("can no longer be deleted by its owners"),
        "{page}"
    );
    assert!(
        !page.contains("id=\"delete-crate-form\""),
        "no form: {page}"
    );

    let before = server.stored_state().await;
    let response = delete_form(&web, "settled", &[("confirm", "settled")]).await;
    let page = refused(response, StatusCode::FORBIDDEN, "dependents").await;
    assert!(
        page.contains("other crates of the registry depend on it (`user-of-settled`)"),
        "{page}"
    );
    assert!(
        page.contains("Ask an administrator of registry `main`"),
        "{page}"
    );
    assert!(
        page.contains("cargo yank --registry main settled@VERSION"),
        "{page}"
    );
    assert_eq!(server.stored_state().await, before);
    assert_eq!(server.index_file("settled").await.0, 200);

    // Without dependents and with one owner, it may go.
    let response = delete_form(&web, "user-of-settled", &[("confirm", "user-of-settled")]).await;
    web.follow(response, "/me").await;
    let page = web
        .get("registries/main/crates/settled")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("As its only owner you may delete this crate"),
        "{page}"
    );
}

#[tokio::test]
async fn refusals_of_the_form_change_nothing() {
    let server = TestServer::start().await;
    let token = user(&server, "alice").await;
    publish_as(&server, &CrateFixture::new("kept", "1.0.0"), &token).await;
    user(&server, "mallory").await;
    let mallory = WebClient::signed_in(&server, "mallory", "a long password").await;
    let alice = WebClient::signed_in(&server, "alice", "a long password").await;
    let before = server.stored_state().await;

    let page = mallory
        .get("registries/main/crates/kept")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("id=\"delete\""),
        "no section for others: {page}"
    );
    let page = refused(
        delete_form(&mallory, "kept", &[("confirm", "kept")]).await,
        StatusCode::FORBIDDEN,
        "not an owner",
    )
    .await;
    assert!(
        page.contains("`mallory` is not an owner of crate `kept`"),
        "{page}"
    );

    let page = refused(
        delete_form(&alice, "kept", &[("confirm", "kep")]).await,
        StatusCode::BAD_REQUEST,
        "a mistyped name",
    )
    .await;
    assert!(
        page.contains("type the crate name `kept` to confirm"),
        "{page}"
    );
    for (fields, status) in [
        (
            vec![("confirm", "kept"), ("version", "9.9.9")],
            StatusCode::FORBIDDEN,
        ),
        (vec![("confirm", "nothere")], StatusCode::BAD_REQUEST),
    ] {
        let response = delete_form(&alice, "kept", &fields).await;
        assert_eq!(response.status(), status, "{fields:?}");
    }
    let response = delete_form(&alice, "nothere", &[("confirm", "nothere")]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let long = "x".repeat(501);
    let response = delete_form(&alice, "kept", &[("confirm", "kept"), ("reason", &long)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Without the CSRF token.
    let response = server
        .client
        .post(server.url("registries/main/crates/kept/delete"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("confirm=kept")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(server.stored_state().await, before);
    assert_eq!(server.index_file("kept").await.0, 200);
}

#[tokio::test]
async fn a_deleted_name_stays_its_former_owners_for_a_day() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    publish_as(&server, &CrateFixture::new("reused", "1.0.0"), &alice).await;
    let registry = server.app.registry("main").unwrap().clone();
    ops::delete::delete(&server.app, &registry, None, "reused", None, None)
        .await
        .unwrap();

    let before = server.stored_state().await;
    let response = server
        .publish_body(CrateFixture::new("Reused", "2.0.0").publish_body(), &bob)
        .await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("the name `reused` belonged to a crate deleted at"),
        "{body}"
    );
    assert!(body.contains("stays its former owners' until"), "{body}");
    assert_eq!(server.stored_state().await, before);

    // Its former owner may, and may even publish the deleted version again.
    publish_as(&server, &CrateFixture::new("reused", "1.0.0"), &alice).await;
    assert_eq!(server.download("reused", "1.0.0").await.0, 200);
}

#[tokio::test]
async fn proxies_and_virtual_registries_say_where_crates_are_deleted() {
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig::proxy("cache", "http://127.0.0.1:9/".parse().unwrap()),
            RegistryConfig::virtual_of("all", &["main", "cache"], Some("main")),
        ];
    })
    .await;
    server.publish(&CrateFixture::new("inside", "1.0.0")).await;
    let before = server.stored_state().await;
    let app = &server.app;
    let err = ops::delete::delete(
        app,
        app.registry("cache").unwrap(),
        None,
        "inside",
        None,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(
        err.to_string().contains("cargohold evict --registry cache")
            && err.to_string().contains(r#"deny = ["inside"]"#),
        "{err}"
    );
    let err = ops::delete::delete(
        app,
        app.registry("all").unwrap(),
        None,
        "inside",
        None,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("its member `main`"), "{err}");
    assert_eq!(server.stored_state().await, before);

    // Deleted in the member, it is gone from the virtual registry too, memory and all.
    for _ in 0..2 {
        assert_eq!(server.index_file_in("all", "inside").await.0, 200);
        assert_eq!(server.download_from("all", "inside", "1.0.0").await.0, 200);
    }
    ops::delete::delete(
        app,
        app.registry("main").unwrap(),
        None,
        "inside",
        None,
        None,
    )
    .await
    .unwrap();
    // No longer local, the name is asked of the proxy, whose upstream is down here.
    assert_eq!(server.index_file_in("all", "inside").await.0, 502);
    assert_ne!(server.download_from("all", "inside", "1.0.0").await.0, 200);
    assert_eq!(server.index_file_in("main", "inside").await.0, 404);
}

#[tokio::test]
async fn the_git_index_commits_the_deletion_and_check_stays_clean() {
    let server = TestServer::start_with(|config| {
        config.registries = vec![RegistryConfig {
            git_index: true,
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    server.publish(&CrateFixture::new("gitgone", "1.0.0")).await;
    server.publish(&CrateFixture::new("gitkept", "1.0.0")).await;
    server.publish(&CrateFixture::new("gitkept", "1.1.0")).await;
    let registry = server.app.registry("main").unwrap().clone();
    // Publishes the writer has not committed yet would be committed with what follows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = cargohold::index::git::status(&server.app, &registry)
            .await
            .unwrap();
        if status.head.is_some() && status.head_generation == status.database_generation {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    ops::delete::delete(&server.app, &registry, None, "gitgone", None, None)
        .await
        .unwrap();
    server
        .wait_for_git_commit("main", "Remove gitgone 1.0.0")
        .await;
    // The git index holds every change, the deletion the last of them.
    let status = cargohold::index::git::status(&server.app, &registry)
        .await
        .unwrap();
    assert_eq!(status.head_generation, status.database_generation);
    ops::delete::delete(&server.app, &registry, None, "gitkept", Some("1.1.0"), None)
        .await
        .unwrap();
    server
        .wait_for_git_commit("main", "Remove gitkept 1.1.0")
        .await;
    check_is_clean(&server).await;
}

#[tokio::test]
async fn another_node_stops_serving_what_one_node_deleted() {
    let first = TestServer::start().await;
    let blobs = first.app.config.storage_url();
    let second = first
        .start_node(|config| config.storage_url = Some(blobs))
        .await;
    first.publish(&CrateFixture::new("shared", "1.0.0")).await;
    first.publish(&CrateFixture::new("shared", "1.1.0")).await;
    first.publish(&CrateFixture::new("halved", "1.0.0")).await;
    first.publish(&CrateFixture::new("halved", "2.0.0")).await;
    // The second node serves them, from memory after the first time.
    for _ in 0..2 {
        for (name, version) in [("shared", "1.1.0"), ("halved", "2.0.0")] {
            assert_eq!(second.index_file(name).await.0, 200);
            assert_eq!(
                second.download(name, version).await,
                first.download(name, version).await
            );
        }
    }
    let registry = first.app.registry("main").unwrap().clone();
    ops::delete::delete(&first.app, &registry, None, "shared", None, None)
        .await
        .unwrap();
    ops::delete::delete(&first.app, &registry, None, "halved", Some("2.0.0"), None)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let gone = second.index_file("shared").await.0 == 404
            && second.download("shared", "1.1.0").await.0 == 404
            && second.download("halved", "2.0.0").await.0 == 404
            && !second.index_file("halved").await.1.contains("2.0.0");
        if gone {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second node still serves what was deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(second.download("halved", "1.0.0").await.0, 200);
    // A version published again with other bytes is served with those.
    let again = CrateFixture::new("halved", "2.0.0").feature("new", &[]);
    first.publish(&again).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, bytes) = second.download("halved", "2.0.0").await;
        if status == 200 {
            assert_eq!(bytes, again.tarball());
            break;
        }
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn downloads_counted_before_a_deletion_do_not_stop_the_counts_being_written() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("counted", "1.0.0")).await;
    server.publish(&CrateFixture::new("counted", "1.1.0")).await;
    server.publish(&CrateFixture::new("other", "1.0.0")).await;
    for (name, version) in [
        ("counted", "1.0.0"),
        ("counted", "1.1.0"),
        ("other", "1.0.0"),
    ] {
        assert_eq!(server.download(name, version).await.0, 200);
    }
    let registry = server.app.registry("main").unwrap().clone();
    ops::delete::delete(&server.app, &registry, None, "counted", Some("1.1.0"), None)
        .await
        .unwrap();
    server.app.flush_downloads().await.unwrap();
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM version_downloads WHERE downloads = 1")
            .await,
        2,
        "the counts of the versions left are written"
    );
    assert_eq!(
        server
            .count("SELECT downloads FROM crates WHERE name = 'counted'")
            .await,
        2
    );
}

#[tokio::test]
async fn after_72_hours_a_second_owner_or_many_downloads_stop_an_owner() {
    let server = TestServer::start().await;
    let token = user(&server, "alice").await;
    user(&server, "bob").await;
    publish_as(&server, &CrateFixture::new("shared-work", "1.0.0"), &token).await;
    publish_as(&server, &CrateFixture::new("popular", "1.0.0"), &token).await;
    let added = server
        .client
        .put(server.url("registries/main/api/v1/crates/shared-work/owners"))
        .header("authorization", &token)
        .json(&serde_json::json!({ "users": ["bob"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    server.execute(OLDER_THAN_72_HOURS).await;
    // Three days old: one month's allowance.
    server
        .execute("UPDATE crates SET downloads = 1000 WHERE name = 'popular'")
        .await;
    let web = WebClient::signed_in(&server, "alice", "a long password").await;
    let before = server.stored_state().await;
    let page = refused(
        delete_form(&web, "shared-work", &[("confirm", "shared-work")]).await,
        StatusCode::FORBIDDEN,
        "two owners",
    )
    .await;
    assert!(
        page.contains("it has 2 owners (users and teams together)"),
        "{page}"
    );
    let page = refused(
        delete_form(&web, "popular", &[("confirm", "popular")]).await,
        StatusCode::FORBIDDEN,
        "downloads",
    )
    .await;
    assert!(
        page.contains("it was downloaded 1000 times in 1 month (the limit is 1000 a month)"),
        "{page}"
    );
    assert_eq!(server.stored_state().await, before);

    // An administrator of the registry, or of the whole instance, is not bound by the rules.
    user(&server, "carol").await;
    let registry = server.app.registry("main").unwrap().clone();
    let carol = ops::permissions::Grantee::User("carol".into());
    ops::permissions::change(&server.app, &registry, &carol, Some(Role::Admin), None)
        .await
        .unwrap();
    add_user(&server, "root", "a long password", true).await;
    for (login, name) in [("carol", "shared-work"), ("root", "popular")] {
        let web = WebClient::signed_in(&server, login, "a long password").await;
        let response = delete_form(&web, name, &[("confirm", name)]).await;
        web.follow(response, "/me").await;
        assert_eq!(
            server.index_file(name).await.0,
            404,
            "{login} deletes {name}"
        );
    }
}

#[tokio::test]
async fn behind_a_stand_in_for_crates_io_dependents_written_as_crates_io_crates_count() {
    // The one-URL setup: `main` is the member of `all` that publishes go to, and
    // `all` replaces crates.io, so its crates depend on each other as on crates.io
    // crates. The upstream is never asked (nothing listens there).
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig::proxy("crates-io-cache", "http://127.0.0.1:9/".parse().unwrap()),
            RegistryConfig::virtual_of("all", &["main", "crates-io-cache"], Some("main")),
        ];
    })
    .await;
    let token = user(&server, "alice").await;
    publish_as(&server, &CrateFixture::new("settled", "1.0.0"), &token).await;
    let written_as_on_crates_io = CrateFixture::new("user-of-settled", "1.0.0").dep_from(
        "settled",
        "^1",
        DepRegistry::CratesIo,
    );
    publish_as(&server, &written_as_on_crates_io, &token).await;
    server.execute(OLDER_THAN_72_HOURS).await;

    let web = WebClient::signed_in(&server, "alice", "a long password").await;
    let page = web
        .get("registries/main/crates/settled")
        .await
        .text()
        .await
        .unwrap();
    let dependents = &page[page.find("id=\"dependents\"").unwrap()..];
    assert!(
        dependents[..dependents.find("</section>").unwrap()].contains(">user-of-settled</a>"),
        "{page}"
    );
    assert!(
        page.contains("can no longer be deleted by its owners"),
        "{page}"
    );

    let before = server.stored_state().await;
    let response = delete_form(&web, "settled", &[("confirm", "settled")]).await;
    let page = refused(response, StatusCode::FORBIDDEN, "dependents").await;
    assert!(
        page.contains("other crates of the registry depend on it (`user-of-settled`)"),
        "{page}"
    );
    assert_eq!(server.stored_state().await, before);
    assert_eq!(server.index_file("settled").await.0, 200);

    // A crate nothing needs may go; yanking it instead goes through `all`, the
    // registry its users configured (a token limited to `all` is refused at `main`).
    let page = web
        .get("registries/main/crates/user-of-settled")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("As its only owner you may delete this crate"),
        "{page}"
    );
    assert!(
        page.contains("<code>cargo yank --registry all user-of-settled@VERSION</code>"),
        "{page}"
    );
}
