//! What `cargo publish` and `cargo yank` do reaches a webhook, as a CI system listening for
//! new versions sees it.

use std::time::Duration;

use cargohold::config::{RegistryConfig, WebhookConfig};
use cargohold_test_support::{CargoSandbox, TestServer, WebhookReceiver};

#[tokio::test]
async fn cargo_publish_and_cargo_yank_reach_the_webhook_in_order() {
    let receiver = WebhookReceiver::start().await;
    let url = receiver.url.clone();
    let server = TestServer::start_with(move |config| {
        config.registries = vec![RegistryConfig {
            webhooks: vec![WebhookConfig {
                url,
                secret: Some("ci-secret".into()),
                secret_env: None,
                events: Some(vec!["publish".into(), "yank".into()]),
            }],
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    let cargo = CargoSandbox::new(&server);
    let package = cargo.package("announced", "0.4.0", "", "");
    cargo.publish(&package).await;
    cargo
        .cargo(&package, &["yank", "announced@0.4.0", "--registry", "test"])
        .await
        .assert_success();

    let delivered = receiver
        .wait_for_deliveries(2, Duration::from_secs(20))
        .await;
    let bodies: Vec<serde_json::Value> = delivered.iter().map(|d| d.json()).collect();
    assert_eq!(
        bodies
            .iter()
            .map(|b| (
                b["event"].as_str().unwrap(),
                b["crate"].as_str().unwrap(),
                b["version"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [
            ("publish", "announced", "0.4.0"),
            ("yank", "announced", "0.4.0")
        ]
    );
    assert_eq!(bodies[0]["actor"], "admin");
    for delivery in &delivered {
        let signature = delivery.header("x-cargohold-signature").unwrap();
        assert_eq!(
            signature,
            cargohold::ops::webhooks::signature("ci-secret", &delivery.body)
        );
    }
}
