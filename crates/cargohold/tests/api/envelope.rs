//! Every error under the API reaches cargo as `{"errors":[{"detail":…}]}`, whoever produced it.

use cargohold_test_support::TestServer;
use cargohold_test_support::server::error_detail;

async fn assert_envelope(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body = response.text().await.unwrap();
    error_detail(&body).unwrap_or_else(|| panic!("not cargo's envelope: {body}"))
}

#[tokio::test]
async fn a_wrong_method_on_an_api_route_is_a_405_in_cargos_envelope() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.url("registries/main/api/v1/crates/new"))
        .send()
        .await
        .unwrap();
    assert_envelope(response, 405).await;
}

#[tokio::test]
async fn an_unknown_api_path_is_a_404_naming_the_request_and_the_endpoints_there_are() {
    let server = TestServer::start().await;
    let detail =
        assert_envelope(server.get("registries/main/api/v1/nothing/here").await, 404).await;
    assert!(
        detail.contains("`GET /registries/main/api/v1/nothing/here` is none of cargo's")
            && detail.contains("PUT crates/new")
            && detail.contains("crates/NAME/owners"),
        "{detail}"
    );

    let detail = assert_envelope(server.get("api/v1/nothing").await, 404).await;
    assert!(
        detail.contains("`GET /api/v1/nothing` is none of this instance's endpoints")
            && detail.contains("cargo's API is under /registries/NAME/api/v1/"),
        "{detail}"
    );
}

#[tokio::test]
async fn an_unknown_registry_is_named_in_a_404() {
    let server = TestServer::start().await;
    let detail = assert_envelope(server.get("registries/nope/api/v1/crates?q=x").await, 404).await;
    assert!(
        detail.contains("no registry named `nope`") && detail.contains("main"),
        "{detail}"
    );
}

#[tokio::test]
async fn head_requests_on_index_files_get_the_validators_without_a_body() {
    let server = TestServer::start().await;
    server
        .publish(&cargohold_test_support::CrateFixture::new(
            "headed", "1.0.0",
        ))
        .await;
    let response = server
        .client
        .head(server.url("registries/main/index/he/ad/headed"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("etag"));
    assert!(response.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn nul_bytes_anywhere_in_a_request_are_client_errors() {
    use cargohold_test_support::CrateFixture;
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("present", "1.0.0")).await;
    let token = server.admin_token.clone();
    let send = |method: reqwest::Method, path: &str, body: &'static str| {
        server
            .client
            .request(method, server.url(path))
            .header("authorization", &token)
            .body(body)
            .send()
    };
    let cases = [
        (
            send(
                reqwest::Method::GET,
                "registries/main/crates/a%00b/a%00b-1.0.0.crate",
                "",
            )
            .await,
            404,
        ),
        (
            send(
                reqwest::Method::GET,
                "registries/main/crates/present/present-1.0.0%00.crate",
                "",
            )
            .await,
            404,
        ),
        (
            send(
                reqwest::Method::DELETE,
                "registries/main/api/v1/crates/present/1.0.0%00/yank",
                "",
            )
            .await,
            400,
        ),
        (
            send(
                reqwest::Method::DELETE,
                "registries/main/api/v1/crates/pre%00sent/1.0.0/yank",
                "",
            )
            .await,
            404,
        ),
        (
            send(
                reqwest::Method::PUT,
                "registries/main/api/v1/crates/present/owners",
                "{\"users\":[\"a\\u0000b\"]}",
            )
            .await,
            404,
        ),
        (
            send(
                reqwest::Method::GET,
                "registries/main/api/v1/crates/a%00b/owners",
                "",
            )
            .await,
            404,
        ),
    ];
    for (response, status) in cases {
        let response = response.unwrap();
        let url = response.url().to_string();
        assert_eq!(response.status().as_u16(), status, "{url}");
    }
    let mut sneaky = CrateFixture::new("sneaky", "1.0.0");
    sneaky.manifest = Some(
        sneaky
            .manifest_text()
            .replace("description = \"", "description = \"nul \\u0000 "),
    );
    server
        .assert_publish_rejected(sneaky.publish_body(), &server.admin_token, 400, "NUL")
        .await;
}
