//! Yanking and unyanking from the crate page's versions table: who sees the
//! buttons, what a button changes (the index line, the audit log), and that
//! every refusal changes nothing.

use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CrateFixture, DepRegistry, TestServer};
use reqwest::StatusCode;

use crate::web::{WebClient, add_user, error_page};

/// A user with a password (for the pages) and a token (for cargo).
async fn user(server: &TestServer, login: &str) -> String {
    add_user(server, login, "a long password", false).await;
    server.create_token(login, TokenRequest::default()).await
}

/// Publishes `name@version` with `token`, which must succeed.
async fn publish_as(server: &TestServer, name: &str, version: &str, token: &str) {
    let fixture = CrateFixture::new(name, version);
    let response = server.publish_body(fixture.publish_body(), token).await;
    let status = response.status();
    assert_eq!(status, 200, "{}", response.text().await.unwrap());
}

async fn yank_form<'s>(
    web: &WebClient<'s>,
    name: &str,
    version: &str,
    yanked: &str,
) -> reqwest::Response {
    web.post(
        &format!("registries/main/crates/{name}/yank"),
        &[("version", version), ("yanked", yanked)],
    )
    .await
}

/// The `yanked` flag of each line of the index file of `name`, by version.
async fn yanked_in_index(server: &TestServer, name: &str) -> Vec<(String, bool)> {
    let (status, body) = server.index_file(name).await;
    assert_eq!(status, 200, "{body}");
    body.lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                entry["vers"].as_str().unwrap().to_owned(),
                entry["yanked"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn page_text(web: &WebClient<'_>, name: &str) -> String {
    web.get(&format!("registries/main/crates/{name}"))
        .await
        .text()
        .await
        .unwrap()
}

/// The crate page a refused form answers with `status`, showing the refusal.
async fn refused(response: reqwest::Response, status: StatusCode, what: &str) -> String {
    assert_eq!(response.status(), status, "{what}");
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"form-error\""), "{what}: {page}");
    page
}

#[tokio::test]
async fn an_owner_yanks_and_unyanks_from_the_crate_page() {
    let server = TestServer::start().await;
    let token = user(&server, "alice").await;
    publish_as(&server, "shelved", "0.1.0", &token).await;
    publish_as(&server, "shelved", "0.2.0", &token).await;
    let alice = WebClient::signed_in(&server, "alice", "a long password").await;

    let page = page_text(&alice, "shelved").await;
    assert!(
        page.contains("action=\"/registries/main/crates/shelved/yank\""),
        "{page}"
    );
    assert!(page.contains("aria-label=\"Yank 0.2.0\""), "{page}");
    assert!(page.contains("aria-label=\"Yank 0.1.0\""), "{page}");
    assert!(!page.contains("Unyank"), "{page}");

    let response = yank_form(&alice, "shelved", "0.2.0", "true").await;
    let page = alice
        .follow(response, "/registries/main/crates/shelved")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Yanked 0.2.0: new lockfiles skip it; existing ones keep it"),
        "{page}"
    );
    // The table still marks it, and now offers to undo it.
    assert!(
        page.contains("<span class=\"tag yanked\">yanked</span>"),
        "{page}"
    );
    assert!(page.contains("aria-label=\"Unyank 0.2.0\""), "{page}");
    assert!(page.contains("aria-label=\"Yank 0.1.0\""), "{page}");
    assert_eq!(
        yanked_in_index(&server, "shelved").await,
        [("0.1.0".to_owned(), false), ("0.2.0".to_owned(), true)]
    );

    let response = yank_form(&alice, "shelved", "0.2.0", "false").await;
    let page = alice
        .follow(response, "/registries/main/crates/shelved")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Unyanked 0.2.0"), "{page}");
    assert!(page.contains("aria-label=\"Yank 0.2.0\""), "{page}");
    assert_eq!(
        yanked_in_index(&server, "shelved").await,
        [("0.1.0".to_owned(), false), ("0.2.0".to_owned(), false)]
    );
    assert_eq!(
        server
            .column(
                "SELECT action || ' ' || version FROM audit_events \
                 WHERE action IN ('yank', 'unyank') ORDER BY id"
            )
            .await,
        ["yank 0.2.0", "unyank 0.2.0"]
    );
}

#[tokio::test]
async fn an_administrator_yanks_too_and_a_visitor_sees_no_buttons() {
    let server = TestServer::start().await;
    let token = user(&server, "alice").await;
    publish_as(&server, "watched", "1.0.0", &token).await;
    add_user(&server, "root", "a long password", true).await;
    let root = WebClient::signed_in(&server, "root", "a long password").await;
    let page = page_text(&root, "watched").await;
    assert!(page.contains("aria-label=\"Yank 1.0.0\""), "{page}");
    let response = yank_form(&root, "watched", "1.0.0", "true").await;
    root.follow(response, "/registries/main/crates/watched")
        .await;
    assert_eq!(
        yanked_in_index(&server, "watched").await,
        [("1.0.0".to_owned(), true)]
    );

    let page = server
        .get("registries/main/crates/watched")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<span class=\"tag yanked\">yanked</span>"),
        "{page}"
    );
    assert!(!page.contains("yank-form"), "{page}");
}

#[tokio::test]
async fn refusals_of_the_buttons_change_nothing() {
    let server = TestServer::start().await;
    let token = user(&server, "alice").await;
    publish_as(&server, "steady", "1.0.0", &token).await;
    user(&server, "mallory").await;
    let mallory = WebClient::signed_in(&server, "mallory", "a long password").await;
    let alice = WebClient::signed_in(&server, "alice", "a long password").await;
    let before = server.stored_state().await;
    let index_before = server.index_file("steady").await;

    let page = page_text(&mallory, "steady").await;
    assert!(page.contains("id=\"crate-name\""), "{page}");
    assert!(!page.contains("yank-form"), "no buttons for others: {page}");
    assert!(!page.contains("/yank\""), "no buttons for others: {page}");
    let page = refused(
        yank_form(&mallory, "steady", "1.0.0", "true").await,
        StatusCode::FORBIDDEN,
        "not an owner",
    )
    .await;
    assert!(
        page.contains("`mallory` is not one of its owners"),
        "{page}"
    );
    assert!(!page.contains("yank-form"), "{page}");

    let page = refused(
        yank_form(&alice, "steady", "9.9.9", "true").await,
        StatusCode::NOT_FOUND,
        "an unknown version",
    )
    .await;
    assert!(page.contains("has no version `9.9.9`"), "{page}");
    let response = yank_form(&alice, "steady", "not-a-version", "true").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    error_page(
        yank_form(&alice, "nothere", "1.0.0", "true").await,
        StatusCode::NOT_FOUND,
        "an unknown crate",
    )
    .await;

    // Without the CSRF token, with a wrong one, and without a session.
    let path = "registries/main/crates/steady/yank";
    let response = alice
        .post_raw(path, &[("version", "1.0.0"), ("yanked", "true")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = alice
        .post_raw(
            path,
            &[("csrf", "forged"), ("version", "1.0.0"), ("yanked", "true")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = server
        .client
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("version=1.0.0&yanked=true")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());

    assert_eq!(server.stored_state().await, before);
    assert_eq!(server.index_file("steady").await, index_before);
    assert!(
        server
            .column("SELECT action FROM audit_events WHERE action IN ('yank', 'unyank')")
            .await
            .is_empty()
    );
}

/// The Delete section of a crate page (from its heading to the end of the section).
fn delete_section(page: &str) -> &str {
    let start = page
        .find("<section id=\"delete\"")
        .unwrap_or_else(|| panic!("a Delete section: {page}"));
    let end = start + page[start..].find("</section>").unwrap();
    &page[start..end]
}

#[tokio::test]
async fn the_delete_section_points_owners_at_the_yank_buttons() {
    let server = TestServer::start().await;
    let token = user(&server, "alice").await;
    publish_as(&server, "young", "1.0.0", &token).await;
    let alice = WebClient::signed_in(&server, "alice", "a long password").await;

    // Allowed to delete: yanking is offered instead, by the buttons first.
    let page = page_text(&alice, "young").await;
    assert!(page.contains("aria-label=\"Yank 1.0.0\""), "{page}");
    let section = delete_section(&page);
    assert!(section.contains("id=\"delete-crate-form\""), "{section}");
    assert!(
        section.contains("<strong>Yank</strong> button on its row of the <a href=\"#versions\">"),
        "{section}"
    );
    assert!(
        section.contains("cargo yank --registry main young@VERSION"),
        "the command line still has its line: {section}"
    );

    // Refused (older than 72 hours, with a dependent): the buttons are named too.
    let fixture =
        CrateFixture::new("user-of-young", "1.0.0").dep_from("young", "^1", DepRegistry::Same);
    let response = server.publish_body(fixture.publish_body(), &token).await;
    assert_eq!(response.status(), 200);
    server
        .execute("UPDATE crates SET created_at = created_at - 260000")
        .await;
    let page = page_text(&alice, "young").await;
    let section = delete_section(&page);
    assert!(
        section.contains("can no longer be deleted by its owners"),
        "{section}"
    );
    assert!(!section.contains("id=\"delete-crate-form\""), "{section}");
    assert!(
        section.contains(
            "<a href=\"#versions\">versions table</a> has a <strong>Yank</strong> button"
        ),
        "{section}"
    );
    assert!(page.contains("aria-label=\"Yank 1.0.0\""), "{page}");
}
