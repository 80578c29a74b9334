//! `/admin`, the page an administrator opens first: what each registry holds, what
//! needs their attention, and the latest changes; and `/me`'s warning of a user's
//! tokens about to expire.

use cargohold::config::{RegistryConfig, WebhookConfig};
use cargohold::ops::tokens::TokenRequest;
use cargohold_test_support::{CrateFixture, TestServer};

use super::web::{WebClient, add_user};

/// The text of the element with `id` on `page` (its tags dropped), up to its closing `</tr>` or `</li>`.
fn element<'p>(page: &'p str, id: &str) -> &'p str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let rest = &page[start..];
    let end = rest.find("</tr>").or_else(|| rest.find("</li>")).unwrap();
    &rest[..end]
}

#[tokio::test]
async fn the_overview_counts_what_each_registry_holds_and_shows_the_latest_changes() {
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig::local("empty"),
        ];
    })
    .await;
    add_user(&server, "root", "root password", true).await;
    let mut sizes = 0;
    for (name, version) in [("alpha", "1.0.0"), ("alpha", "1.1.0"), ("beta", "0.1.0")] {
        let fixture = CrateFixture::new(name, version);
        sizes += fixture.tarball().len();
        assert_eq!(server.publish(&fixture).await.status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(server.download("alpha", "1.1.0").await.0, 200);
    }
    server.app.flush_downloads().await.unwrap();

    let web = WebClient::signed_in(&server, "root", "root password").await;
    let response = web.get("admin").await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let main = element(&page, "registry-main");
    for cell in [
        "data-label=\"Crates\">2<",
        "data-label=\"Versions\">3<",
        "data-label=\"Downloads\">3<",
    ] {
        assert!(main.contains(cell), "{cell} in {main}");
    }
    let kib = format!("{:.1} KiB", sizes as f64 / 1024.0);
    let size = if sizes < 1024 {
        format!("{sizes} B")
    } else {
        kib
    };
    assert!(
        main.contains(&format!("data-label=\"Size\">{size}<")),
        "{size} in {main}"
    );
    let empty = element(&page, "registry-empty");
    assert!(empty.contains("data-label=\"Crates\">0<"), "{empty}");

    assert!(page.contains("id=\"attention-none\""), "{page}");
    let recent = &page[page.find("id=\"recent\"").expect(&page)..];
    assert!(
        recent.contains("<code>publish</code>") && recent.contains("main beta 0.1.0"),
        "the newest change first: {recent}"
    );
    assert!(page.contains("href=\"/admin/audit\""));
}

#[tokio::test]
async fn the_overview_lists_failed_webhook_deliveries_and_tokens_about_to_expire() {
    let server = TestServer::start_with(|config| {
        config.webhook_retry_seconds = 3600;
        config.registries = vec![RegistryConfig {
            // Nothing listens on port 9 of this machine: every delivery fails.
            webhooks: vec![WebhookConfig {
                url: "http://127.0.0.1:9/hook".into(),
                secret: None,
                secret_env: None,
                events: None,
            }],
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    add_user(&server, "root", "root password", true).await;
    server
        .create_token(
            "root",
            TokenRequest {
                name: "ci-deploy".into(),
                scopes: Vec::new(),
                crate_patterns: Vec::new(),
                registries: Vec::new(),
                expires_in_days: Some(3),
            },
        )
        .await;
    server
        .create_token(
            "root",
            TokenRequest {
                name: "long-lived".into(),
                scopes: Vec::new(),
                crate_patterns: Vec::new(),
                registries: Vec::new(),
                expires_in_days: Some(90),
            },
        )
        .await;
    server.publish(&CrateFixture::new("hooked", "1.0.0")).await;
    server
        .wait_for_count(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE attempts > 0",
            1,
        )
        .await;

    let web = WebClient::signed_in(&server, "root", "root password").await;
    let page = web.get("admin").await.text().await.unwrap();
    let failed = element(&page, "failed-deliveries");
    assert!(
        failed.contains("1 webhook delivery failed.")
            && failed.contains("href=\"/admin/webhooks?failed=1\""),
        "{failed}"
    );
    let expiring = element(&page, "expiring-tokens");
    assert!(
        expiring.contains("1 token expires within 7 days, the first `ci-deploy` of root")
            && expiring.contains("href=\"/admin/users/root/tokens\""),
        "{expiring}"
    );
    assert!(!page.contains("long-lived"), "{page}");
    assert!(!page.contains("id=\"attention-none\""));
}

#[tokio::test]
async fn a_users_page_warns_of_their_tokens_that_expire_within_a_week() {
    let server = TestServer::start().await;
    add_user(&server, "alice", "alice password", false).await;
    let web = WebClient::signed_in(&server, "alice", "alice password").await;
    let page = web.get("me").await.text().await.unwrap();
    assert!(
        !page.contains("id=\"tokens-expiring\""),
        "no token yet: {page}"
    );

    for (name, days) in [("laptop", Some(5)), ("ci", Some(30)), ("forever", None)] {
        server
            .create_token(
                "alice",
                TokenRequest {
                    name: name.into(),
                    scopes: Vec::new(),
                    crate_patterns: Vec::new(),
                    registries: Vec::new(),
                    expires_in_days: days,
                },
            )
            .await;
    }
    let page = web.get("me").await.text().await.unwrap();
    let warning = element_text(&page, "tokens-expiring");
    assert!(
        warning.contains("Your token “laptop” expires within 7 days: create a replacement"),
        "{warning}"
    );
    let soon: Vec<&str> = page
        .split("<tr data-token-id=")
        .skip(1)
        .filter(|row| row.contains("class=\"expires-soon\""))
        .map(|row| {
            row.split("data-token-name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(soon, ["laptop"], "only that row is marked");
}

/// The text of the paragraph with `id` on `page`.
fn element_text<'p>(page: &'p str, id: &str) -> &'p str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</p>").unwrap()]
}
