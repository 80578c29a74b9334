//! Webhooks: every change a registry's webhooks want reaches a real receiver, signed,
//! in order, and again after the receiver failed; nothing else does. Finished deliveries
//! are kept, with their outcome, until pruned, and can be sent again.

use std::time::Duration;

use cargohold::config::{RegistryConfig, WebhookConfig};
use cargohold::error::AppError;
use cargohold::ops::webhooks::{DeliveryFilter, DeliveryItem, DeliveryState};
use cargohold_test_support::{CrateFixture, Received, TestServer, WebhookReceiver};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

/// Long enough for a few retries a second apart on a busy machine.
const WAIT: Duration = Duration::from_secs(20);

const PENDING: &str = "SELECT COUNT(*) FROM webhook_deliveries WHERE finished_at IS NULL";
const KEPT: &str = "SELECT COUNT(*) FROM webhook_deliveries";
const REDELIVERIES_AUDITED: &str =
    "SELECT COUNT(*) FROM audit_events WHERE action = 'webhook_redeliver'";

fn webhook(url: &str, secret: Option<&str>, events: Option<&[&str]>) -> WebhookConfig {
    WebhookConfig {
        url: url.to_owned(),
        secret: secret.map(str::to_owned),
        secret_env: None,
        events: events.map(|events| events.iter().map(|e| (*e).to_owned()).collect()),
    }
}

/// A server whose registry `main` has `webhooks`, retrying failed deliveries after a second.
async fn server_with(webhooks: Vec<WebhookConfig>) -> TestServer {
    TestServer::start_with(move |config| {
        config.webhook_retry_seconds = 1;
        config.registries = vec![RegistryConfig {
            webhooks,
            ..RegistryConfig::local("main")
        }];
    })
    .await
}

async fn set_yanked(server: &TestServer, name: &str, version: &str, yanked: bool) {
    let path = format!(
        "registries/main/api/v1/crates/{name}/{version}/{}",
        if yanked { "yank" } else { "unyank" }
    );
    let method = if yanked {
        reqwest::Method::DELETE
    } else {
        reqwest::Method::PUT
    };
    let response = server
        .authed(method, &path, &server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn change_owners(server: &TestServer, name: &str, method: reqwest::Method, users: &[&str]) {
    let path = format!("registries/main/api/v1/crates/{name}/owners");
    let response = server
        .authed(method, &path, &server.admin_token)
        .json(&json!({ "users": users }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

fn events(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn publish_posts_a_signed_webhook_the_receiver_can_verify() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, Some("s3cret"), None)]).await;
    let fixture = CrateFixture::new("hooked", "1.2.0");
    assert_eq!(server.publish(&fixture).await.status(), 200);

    let delivered = receiver.wait_for_deliveries(1, WAIT).await;
    let delivery = &delivered[0];
    assert_eq!(
        (delivery.method.as_str(), delivery.path.as_str()),
        ("POST", "/hooks")
    );
    assert_eq!(delivery.header("content-type"), Some("application/json"));
    assert_eq!(
        delivery.header("user-agent"),
        Some(concat!("cargohold/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(delivery.header("x-cargohold-event"), Some("publish"));

    // The receiver's own HMAC of the bytes it got, with the shared secret.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(delivery.body.as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        delivery.header("x-cargohold-signature"),
        Some(expected.as_str())
    );

    let body = delivery.json();
    assert_eq!(
        delivery.header("x-cargohold-delivery"),
        body["id"].as_str(),
        "{body}"
    );
    assert_eq!(body["event"], "publish");
    assert_eq!(body["registry"], "main");
    assert_eq!(body["crate"], "hooked");
    assert_eq!(body["version"], "1.2.0");
    assert_eq!(body["actor"], "admin");
    assert_eq!(body["checksum"], fixture.checksum());
    assert_eq!(body["size"], fixture.tarball().len());
    let at = body["at"].as_str().unwrap();
    assert!(at.len() == 20 && at.ends_with('Z'), "{at}");

    // Delivered, so nothing is left to send.
    server.wait_for_count(PENDING, 0).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_webhook_without_a_secret_sends_no_signature() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, None, None)]).await;
    server
        .publish(&CrateFixture::new("unsigned", "0.1.0"))
        .await;
    let delivered = receiver.wait_for_deliveries(1, WAIT).await;
    assert_eq!(delivered[0].header("x-cargohold-signature"), None);
}

#[tokio::test]
async fn yank_and_unyank_are_delivered_in_order() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, None, None)]).await;
    server
        .publish(&CrateFixture::new("flipflop", "1.0.0"))
        .await;
    receiver.wait_for_deliveries(1, WAIT).await;

    // The yank's first attempt fails: the unyank waits for it rather than overtaking it.
    receiver.answer_next_with(&[500]);
    set_yanked(&server, "flipflop", "1.0.0", true).await;
    set_yanked(&server, "flipflop", "1.0.0", false).await;
    let delivered = receiver.wait_for_deliveries(3, WAIT).await;
    assert_eq!(events(&delivered), ["publish", "yank", "unyank"]);
    assert_eq!(
        events(&receiver.received()),
        ["publish", "yank", "yank", "unyank"],
        "the unyank went out only after the yank was delivered"
    );
    for delivery in &delivered[1..] {
        let body = delivery.json();
        assert_eq!(
            (&body["crate"], &body["version"]),
            (&json!("flipflop"), &json!("1.0.0"))
        );
    }
    let ids: std::collections::HashSet<_> = delivered
        .iter()
        .map(|d| d.header("x-cargohold-delivery").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "each change has its own delivery id");
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_event_once_it_is_back() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer_next_with(&[500, 503]);
    let server = server_with(vec![webhook(&receiver.url, Some("k"), None)]).await;
    server.publish(&CrateFixture::new("patient", "0.3.0")).await;

    let delivered = receiver.wait_for_deliveries(1, WAIT).await;
    assert_eq!(delivered[0].json()["crate"], "patient");
    let attempts = receiver.received();
    assert_eq!(
        attempts.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    // Every attempt is the same delivery, byte for byte, so a receiver can drop repeats.
    for attempt in &attempts[1..] {
        assert_eq!(attempt.body, attempts[0].body);
        assert_eq!(
            attempt.header("x-cargohold-delivery"),
            attempts[0].header("x-cargohold-delivery")
        );
        assert_eq!(
            attempt.header("x-cargohold-signature"),
            attempts[0].header("x-cargohold-signature")
        );
    }
    server.wait_for_count(PENDING, 0).await;

    let metrics = server.get("metrics").await.text().await.unwrap();
    for line in [
        "cargohold_webhook_deliveries_total{outcome=\"delivered\"} 1",
        "cargohold_webhook_deliveries_total{outcome=\"failed\"} 2",
        "cargohold_webhook_deliveries_total{outcome=\"given_up\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
}

#[tokio::test]
async fn events_not_subscribed_are_not_sent() {
    let yanks = WebhookReceiver::start().await;
    let publishes = WebhookReceiver::start().await;
    let server = server_with(vec![
        webhook(&yanks.url, None, Some(&["yank"])),
        webhook(&publishes.url, None, Some(&["publish"])),
    ])
    .await;
    server.publish(&CrateFixture::new("picky", "1.0.0")).await;
    set_yanked(&server, "picky", "1.0.0", true).await;
    set_yanked(&server, "picky", "1.0.0", false).await;

    yanks.wait_for_deliveries(1, WAIT).await;
    publishes.wait_for_deliveries(1, WAIT).await;
    // Nothing else was recorded to be sent: once these are out, nothing is pending.
    server.wait_for_count(PENDING, 0).await;
    assert_eq!(events(&yanks.received()), ["yank"]);
    assert_eq!(events(&publishes.received()), ["publish"]);
}

#[tokio::test]
async fn a_refused_publish_sends_nothing() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, None, None)]).await;
    let fixture = CrateFixture::new("guarded", "1.0.0");
    server.publish(&fixture).await;
    receiver.wait_for_deliveries(1, WAIT).await;
    server.wait_for_count(PENDING, 0).await;

    // Refused before, while and after checking the `.crate`, and in the transaction
    // (the version is taken): no delivery is recorded (`stored_state` counts them).
    server
        .assert_publish_rejected(
            CrateFixture::new("guarded", "1.0").publish_body(),
            &server.admin_token,
            400,
            "semantic version",
        )
        .await;
    server
        .assert_publish_rejected(
            CrateFixture::new("guarded", "1.1.0")
                .feature("broken", &["dep:ghost"])
                .publish_body(),
            &server.admin_token,
            400,
            "not listed as a dependency",
        )
        .await;
    server
        .assert_publish_rejected(
            fixture.publish_body(),
            &server.admin_token,
            400,
            "already uploaded",
        )
        .await;
    // A yank of a version that does not exist is refused too.
    let response = server
        .authed(
            reqwest::Method::DELETE,
            "registries/main/api/v1/crates/guarded/9.9.9/yank",
            &server.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(server.count(PENDING).await, 0);

    // The next change is delivered, and it is the only one after the first.
    server.publish(&CrateFixture::new("guarded", "1.2.0")).await;
    let delivered = receiver.wait_for_deliveries(2, WAIT).await;
    assert_eq!(delivered[1].json()["version"], "1.2.0");
    server.wait_for_count(PENDING, 0).await;
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn owner_changes_and_deletions_are_delivered_with_what_changed() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(
        &receiver.url,
        None,
        Some(&[
            "owner_add",
            "owner_remove",
            "delete_version",
            "delete_crate",
        ]),
    )])
    .await;
    server.create_user("bob").await;
    server.publish(&CrateFixture::new("shared", "1.0.0")).await;
    server.publish(&CrateFixture::new("shared", "1.1.0")).await;
    change_owners(&server, "shared", reqwest::Method::PUT, &["bob"]).await;
    change_owners(&server, "shared", reqwest::Method::DELETE, &["bob"]).await;
    let main = server.app.registry("main").unwrap();
    // As the operator on the command line does (`cargohold delete`).
    cargohold::ops::delete::delete(
        &server.app,
        main,
        None,
        "shared",
        Some("1.1.0"),
        Some("broken build"),
    )
    .await
    .unwrap();
    cargohold::ops::delete::delete(&server.app, main, None, "shared", None, None)
        .await
        .unwrap();

    let delivered = receiver.wait_for_deliveries(4, WAIT).await;
    let bodies: Vec<_> = delivered.iter().map(Received::json).collect();
    assert_eq!(
        events(&delivered),
        [
            "owner_add",
            "owner_remove",
            "delete_version",
            "delete_crate"
        ]
    );
    assert_eq!(
        (&bodies[0]["owner"], &bodies[0]["actor"]),
        (&json!("bob"), &json!("admin"))
    );
    assert_eq!(bodies[0]["version"], serde_json::Value::Null);
    assert_eq!(bodies[1]["owner"], "bob");
    assert_eq!(
        (
            &bodies[2]["version"],
            &bodies[2]["reason"],
            &bodies[2]["actor"]
        ),
        (
            &json!("1.1.0"),
            &json!("broken build"),
            &serde_json::Value::Null
        ),
        "the operator on the command line is nobody's login"
    );
    assert_eq!(bodies[3]["versions"], json!(["1.0.0"]));
    assert_eq!(bodies[3]["crate"], "shared");
}

#[tokio::test]
async fn a_registry_without_webhooks_records_no_deliveries() {
    let receiver = WebhookReceiver::start().await;
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig {
                webhooks: vec![webhook(&receiver.url, None, None)],
                ..RegistryConfig::local("other")
            },
        ];
    })
    .await;
    server.publish(&CrateFixture::new("quiet", "1.0.0")).await;
    set_yanked(&server, "quiet", "1.0.0", true).await;
    assert_eq!(server.count(PENDING).await, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn of_two_nodes_sharing_the_database_one_delivers_each_change() {
    let receiver = WebhookReceiver::start().await;
    let hooks = vec![webhook(&receiver.url, None, None)];
    let first = server_with(hooks.clone()).await;
    let second = first
        .start_node(move |config| {
            config.webhook_retry_seconds = 1;
            config.registries = vec![RegistryConfig {
                webhooks: hooks,
                ..RegistryConfig::local("main")
            }];
        })
        .await;
    for (i, node) in [&first, &second, &first, &second, &first, &second]
        .into_iter()
        .enumerate()
    {
        let fixture = CrateFixture::new(&format!("spread{i}"), "1.0.0");
        assert_eq!(node.publish(&fixture).await.status(), 200);
    }
    receiver.wait_for_deliveries(6, WAIT).await;
    first.wait_for_count(PENDING, 0).await;
    // Both nodes look for deliveries all along: no change is announced twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut crates: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["crate"].as_str().unwrap().to_owned())
        .collect();
    crates.sort();
    assert_eq!(
        crates,
        [
            "spread0", "spread1", "spread2", "spread3", "spread4", "spread5"
        ]
    );
}

#[tokio::test]
async fn a_publish_through_a_virtual_registry_is_announced_by_the_member_that_took_it() {
    let receiver = WebhookReceiver::start().await;
    let hooks = vec![webhook(&receiver.url, None, None)];
    let server = TestServer::start_with(move |config| {
        config.registries = vec![
            RegistryConfig {
                webhooks: hooks,
                ..RegistryConfig::local("internal")
            },
            RegistryConfig::virtual_of("all", &["internal"], Some("internal")),
        ];
    })
    .await;
    let response = server
        .publish_to("all", &CrateFixture::new("through", "1.0.0"))
        .await;
    assert_eq!(response.status(), 200);
    let delivered = receiver.wait_for_deliveries(1, WAIT).await;
    let body = delivered[0].json();
    assert_eq!(
        (&body["registry"], &body["crate"]),
        (&json!("internal"), &json!("through"))
    );
}

/// Every delivery the history lists (newest first), or only the failed ones.
async fn listed(server: &TestServer, failed: bool) -> Vec<DeliveryItem> {
    let filter = DeliveryFilter {
        registry: None,
        failed,
        limit: 100,
    };
    cargohold::ops::webhooks::list(&server.app, &filter, None)
        .await
        .unwrap()
}

/// Waits until the history lists a delivery `matching`, and returns it.
async fn wait_for_listed(
    server: &TestServer,
    what: &str,
    matching: impl Fn(&DeliveryItem) -> bool,
) -> DeliveryItem {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let all = listed(server, false).await;
        if let Some(found) = all.iter().find(|d| matching(d)) {
            return found.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery {what} within {WAIT:?}: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_delivered_delivery_is_kept_with_its_outcome_status_and_times() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, None, None)]).await;
    let before = cargohold::clock::now();
    server.publish(&CrateFixture::new("kept", "1.0.0")).await;
    let delivered = receiver.wait_for_deliveries(1, WAIT).await;

    let item = wait_for_listed(&server, "delivered", |d| {
        d.state == DeliveryState::Delivered
    })
    .await;
    assert_eq!(
        delivered[0].header("x-cargohold-delivery"),
        Some(item.delivery_id.as_str())
    );
    assert_eq!(
        (
            item.registry.as_str(),
            item.event.as_str(),
            item.url.as_str()
        ),
        ("main", "publish", receiver.url.as_str())
    );
    assert_eq!(
        (item.attempts, item.last_status, item.last_error.as_deref()),
        (1, Some(200), None)
    );
    let finished = item.finished_at.expect("a finish time");
    assert!(before <= item.created_at && item.created_at <= finished);
    assert_eq!(item.next_attempt_at, None);
    assert_eq!(item.redelivery_of, None);
    assert!(listed(&server, true).await.is_empty(), "nothing failed");
    assert_eq!(server.count(PENDING).await, 0);
    assert_eq!(server.count(KEPT).await, 1);
}

#[tokio::test]
async fn a_delivered_delivery_no_longer_holds_back_the_next() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, None, None)]).await;
    for (i, version) in ["1.0.0", "1.1.0", "1.2.0"].into_iter().enumerate() {
        server.publish(&CrateFixture::new("steady", version)).await;
        // Each is delivered while the ones before it stay as history.
        let delivered = receiver.wait_for_deliveries(i + 1, WAIT).await;
        assert_eq!(delivered[i].json()["version"], version);
    }
    server.wait_for_count(PENDING, 0).await;
    assert_eq!(server.count(KEPT).await, 3);
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_delivery_the_receiver_refused_is_listed_as_failed_with_its_status() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, None, None)]).await;
    receiver.answer_next_with(&[500; 6]);
    server.publish(&CrateFixture::new("refused", "1.0.0")).await;

    // Failing, and to be tried again.
    let retrying =
        wait_for_listed(&server, "retrying", |d| d.state == DeliveryState::Retrying).await;
    assert_eq!(retrying.last_status, Some(500));
    assert_eq!(
        retrying.last_answer(),
        "the receiver answered 500 Internal Server Error"
    );
    assert!(retrying.next_attempt_at.is_some() && retrying.finished_at.is_none());
    let failed = listed(&server, true).await;
    assert_eq!(
        failed.iter().map(|d| d.id).collect::<Vec<_>>(),
        [retrying.id]
    );

    // A day after the change, the next failure gives it up; it stays listed as failed.
    server
        .execute("UPDATE webhook_deliveries SET created_at = created_at - 90000")
        .await;
    let given_up =
        wait_for_listed(&server, "given up", |d| d.state == DeliveryState::GivenUp).await;
    assert_eq!(given_up.id, retrying.id);
    assert_eq!(given_up.last_status, Some(500));
    assert!(given_up.attempts >= 2, "{given_up:?}");
    assert!(given_up.finished_at.is_some() && given_up.next_attempt_at.is_none());
    assert_eq!(
        listed(&server, true)
            .await
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [given_up.id]
    );
    server.wait_for_count(PENDING, 0).await;
    let metrics = server.get("metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "cargohold_webhook_deliveries_total{outcome=\"given_up\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn redelivering_sends_the_same_payload_again() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, Some("s3cret"), None)]).await;
    server.publish(&CrateFixture::new("again", "1.0.0")).await;
    let first = receiver.wait_for_deliveries(1, WAIT).await.remove(0);
    let original = wait_for_listed(&server, "delivered", |d| {
        d.state == DeliveryState::Delivered
    })
    .await;

    let redelivery = cargohold::ops::webhooks::redeliver(&server.app, original.id, None)
        .await
        .unwrap();
    assert_ne!(redelivery.id, original.id, "a delivery of its own");
    assert_eq!(redelivery.of.id, original.id);
    let second = receiver.wait_for_deliveries(2, WAIT).await.remove(1);
    assert_eq!(second.body, first.body, "the same payload, byte for byte");
    for header in [
        "x-cargohold-delivery",
        "x-cargohold-signature",
        "x-cargohold-event",
    ] {
        assert_eq!(second.header(header), first.header(header), "{header}");
    }

    // Both are listed: the first as it was, the redelivery pointing at it.
    let again = wait_for_listed(&server, "redelivered", |d| {
        d.id == redelivery.id && d.state == DeliveryState::Delivered
    })
    .await;
    assert_eq!(again.redelivery_of, Some(original.id));
    assert_eq!(again.delivery_id, original.delivery_id);
    let all = listed(&server, false).await;
    assert_eq!(
        all.iter().map(|d| d.id).collect::<Vec<_>>(),
        [redelivery.id, original.id]
    );
    assert_eq!(all[1].state, DeliveryState::Delivered);
    assert_eq!(server.count(REDELIVERIES_AUDITED).await, 1);
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn redeliver_of_an_unknown_delivery_is_refused_and_changes_nothing() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, None, None)]).await;
    server.publish(&CrateFixture::new("known", "1.0.0")).await;
    receiver.wait_for_deliveries(1, WAIT).await;
    server.wait_for_count(PENDING, 0).await;
    let before = server.stored_state().await;

    let err = cargohold::ops::webhooks::redeliver(&server.app, 999_999, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppError::NotFound(message)
            if message.contains("there is no webhook delivery with id 999999")),
        "{err:?}"
    );
    assert_eq!(server.stored_state().await, before);
    assert_eq!(server.count(REDELIVERIES_AUDITED).await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn redeliver_of_a_delivery_not_yet_finished_is_refused_and_changes_nothing() {
    let receiver = WebhookReceiver::start().await;
    let server = TestServer::start_with({
        let url = receiver.url.clone();
        move |config| {
            // Long enough that the delivery is still waiting for its next attempt.
            config.webhook_retry_seconds = 600;
            config.registries = vec![RegistryConfig {
                webhooks: vec![webhook(&url, None, None)],
                ..RegistryConfig::local("main")
            }];
        }
    })
    .await;
    receiver.answer_next_with(&[503]);
    server.publish(&CrateFixture::new("waiting", "1.0.0")).await;
    let retrying =
        wait_for_listed(&server, "retrying", |d| d.state == DeliveryState::Retrying).await;
    let before = server.stored_state().await;

    let err = cargohold::ops::webhooks::redeliver(&server.app, retrying.id, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppError::Conflict(message) if message.contains("is not finished yet")),
        "{err:?}"
    );
    assert_eq!(server.stored_state().await, before);
    assert_eq!(server.count(REDELIVERIES_AUDITED).await, 0);
    assert_eq!(listed(&server, false).await.len(), 1);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn finished_deliveries_are_pruned_after_the_history_days() {
    let receiver = WebhookReceiver::start().await;
    let hooks = vec![webhook(&receiver.url, None, None)];
    let server = server_with(hooks.clone()).await;
    server.publish(&CrateFixture::new("old", "1.0.0")).await;
    server.publish(&CrateFixture::new("new", "1.0.0")).await;
    receiver.wait_for_deliveries(2, WAIT).await;
    server.wait_for_count(PENDING, 0).await;
    // The first finished eight days ago: past the seven days kept by default.
    server
        .execute(
            "UPDATE webhook_deliveries SET finished_at = finished_at - 8 * 86400
             WHERE id = (SELECT MIN(id) FROM webhook_deliveries)",
        )
        .await;

    // A sender prunes when it starts (and every few minutes after).
    let _second = server
        .start_node(move |config| {
            config.registries = vec![RegistryConfig {
                webhooks: hooks,
                ..RegistryConfig::local("main")
            }];
        })
        .await;
    server.wait_for_count(KEPT, 1).await;
    let left = listed(&server, false).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].state, DeliveryState::Delivered);
    assert_eq!(receiver.received().len(), 2, "pruning sends nothing");
}

#[tokio::test]
async fn a_node_without_webhooks_prunes_the_history_of_removed_ones() {
    let receiver = WebhookReceiver::start().await;
    let server = server_with(vec![webhook(&receiver.url, None, None)]).await;
    server.publish(&CrateFixture::new("gone", "1.0.0")).await;
    receiver.wait_for_deliveries(1, WAIT).await;
    server.wait_for_count(PENDING, 0).await;
    server
        .execute("UPDATE webhook_deliveries SET finished_at = finished_at - 8 * 86400")
        .await;

    // The webhook was taken out of the configuration: the next node has none.
    let _second = server
        .start_node(|config| config.registries = vec![RegistryConfig::local("main")])
        .await;
    server.wait_for_count(KEPT, 0).await;
    assert_eq!(receiver.received().len(), 1, "pruning sends nothing");
}
