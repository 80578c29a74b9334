//! What operators and load balancers read: `/metrics`, `/health`, `/ready`.

use cargohold_test_support::{CrateFixture, TestServer};

pub(crate) async fn metrics(server: &TestServer) -> String {
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    response.text().await.unwrap()
}

/// The value of the sample `series` (name with its labels, as written), if present.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_publishes_downloads_index_answers_and_requests_by_route() {
    let server = TestServer::start().await;
    let fixture = CrateFixture::new("metered", "1.0.0");
    assert_eq!(server.publish(&fixture).await.status(), 200);
    assert_eq!(server.download("metered", "1.0.0").await.0, 200);
    assert_eq!(server.download("metered", "1.0.0").await.0, 200);
    assert_eq!(server.index_file("metered").await.0, 200);
    assert_eq!(server.index_file("nothing-here").await.0, 404);

    let text = metrics(&server).await;
    assert_eq!(
        sample(&text, "cargohold_publishes_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "cargohold_downloads_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "cargohold_index_responses_total{result=\"served\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "cargohold_index_responses_total{result=\"not_found\"}"
        ),
        Some(1.0)
    );
    assert!(
        sample(&text, "cargohold_index_cache_bytes{registry=\"main\"}").unwrap() > 0.0,
        "{text}"
    );
    assert!(text.contains("cargohold_db_pool_connections{pool=\"read\",state=\"idle\"}"));
    // The publish (a PUT) took its connection out of the HTTP/1.1 fast lane.
    assert!(
        sample(&text, "cargohold_fast_lane_hand_overs_total").unwrap() >= 1.0,
        "{text}"
    );
    // Requests through the router, by route template, method and status, with latencies.
    // (These come from the process-wide recorder, which other tests in this process feed too.)
    let publish_route = "route=\"/registries/{registry}/api/v1/crates/new\"";
    let publishes = text
        .lines()
        .find(|l| {
            l.starts_with("cargohold_http_requests_total")
                && l.contains(publish_route)
                && l.contains("method=\"PUT\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no publish request counted:\n{text}"));
    let counted: f64 = publishes.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(counted >= 1.0, "{publishes}");
    assert!(
        text.lines().any(
            |l| l.starts_with("cargohold_http_request_duration_seconds_bucket")
                && l.contains(publish_route)
        ),
        "{text}"
    );
    // Crate names never become labels.
    assert!(!text.contains("metered"), "{text}");
}

#[tokio::test]
async fn metrics_describe_every_family_and_carry_the_version_and_the_process_figures() {
    let server = TestServer::start().await;
    assert_eq!(server.index_file("nothing-here").await.0, 404);
    let search = server.get("/registries/main/api/v1/crates?q=x").await;
    assert_eq!(search.status(), 200);
    let text = metrics(&server).await;
    assert!(
        text.contains("# HELP cargohold_http_requests_total ")
            && text.contains("# HELP cargohold_http_request_duration_seconds "),
        "{text}"
    );
    // Every family a scraper sees has its help line.
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let family = line.split(' ').nth(2).unwrap();
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no help for {family}:\n{text}"
        );
    }
    let version = format!(
        "cargohold_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &version), Some(1.0), "{text}");
    assert!(
        sample(&text, "process_resident_memory_bytes").unwrap() > 1e6,
        "{text}"
    );
    assert!(
        sample(&text, "process_start_time_seconds").unwrap() > 1.7e9,
        "{text}"
    );
    assert!(sample(&text, "process_open_fds").unwrap() >= 3.0, "{text}");
}

#[tokio::test]
async fn health_and_ready_answer_when_database_and_storage_do() {
    let server = TestServer::start().await;
    let health = server.get("/health").await;
    assert_eq!(health.status(), 200);
    let ready = server.get("/ready").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready\n");
}

#[tokio::test]
async fn ready_is_503_naming_the_blob_store_when_it_is_gone() {
    let server = TestServer::start().await;
    // The blob directory replaced by a file: the store cannot answer.
    let blobs = server.data_dir().join("blobs");
    std::fs::remove_dir_all(&blobs).unwrap();
    std::fs::write(&blobs, b"not a directory").unwrap();
    let ready = server.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    assert!(text.contains("blob store"), "{text}");
    assert_eq!(server.get("/health").await.status(), 200);
}
