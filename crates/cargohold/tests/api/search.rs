//! `GET …/api/v1/crates?q=`: what matches, in which order, and the total.

use cargohold_test_support::{CrateFixture, TestServer};

async fn search(server: &TestServer, query: &[(&str, &str)]) -> serde_json::Value {
    let response = server
        .client
        .get(server.url("registries/main/api/v1/crates"))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn names(result: &serde_json::Value) -> Vec<&str> {
    result["crates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_ranks_the_exact_name_first_and_counts_all_matches() {
    let server = TestServer::start().await;
    for (name, description) in [
        ("serde-extra", "More for serde"),
        ("my-serde", "Another"),
        ("serde", "The original"),
        ("unrelated", "Nothing to see; talks about serde though"),
        ("other", "Nothing"),
    ] {
        let mut fixture = CrateFixture::new(name, "1.0.0");
        fixture.description = description.into();
        let status = server.publish(&fixture).await.status();
        assert_eq!(status, 200);
    }
    let result = search(&server, &[("q", "serde"), ("per_page", "3")]).await;
    let found = names(&result);
    assert_eq!(found.len(), 3);
    assert_eq!(found[0], "serde");
    assert_eq!(
        found[1], "serde-extra",
        "a name starting with the query comes next"
    );
    assert_eq!(result["meta"]["total"], 4);
    assert_eq!(result["crates"][0]["max_version"], "1.0.0");
    assert_eq!(result["crates"][0]["description"], "The original");
}

#[tokio::test]
async fn every_word_of_the_query_must_match_and_plus_signs_are_literal() {
    let server = TestServer::start().await;
    let mut cpp = CrateFixture::new("cxx-glue", "0.3.0");
    cpp.description = "Bindings between Rust and C++ code".into();
    let mut c = CrateFixture::new("c-glue", "0.1.0");
    cpp.description.push_str(" (fast)");
    c.description = "Bindings between Rust and C code".into();
    for fixture in [cpp, c] {
        server.publish(&fixture).await;
    }
    assert_eq!(names(&search(&server, &[("q", "c++")]).await), ["cxx-glue"]);
    assert_eq!(
        names(&search(&server, &[("q", "rust bindings fast")]).await),
        ["cxx-glue"]
    );
    assert_eq!(search(&server, &[("q", "glue")]).await["meta"]["total"], 2);
    assert_eq!(
        search(&server, &[("q", "100%")]).await["meta"]["total"],
        0,
        "% is not a wildcard"
    );
}

#[tokio::test]
async fn a_bad_page_or_page_size_is_a_400_that_says_what_is_allowed() {
    let server = TestServer::start().await;
    server.publish(&CrateFixture::new("paged", "1.0.0")).await;
    for (query, says) in [
        (
            "per_page=lots",
            "`per_page` must be a whole number from 1 to 100; got `lots`",
        ),
        (
            "per_page=0",
            "`per_page` must be a whole number from 1 to 100",
        ),
        (
            "per_page=101",
            "`per_page` must be a whole number from 1 to 100",
        ),
        ("page=0", "`page` must be a whole number from 1"),
        ("page=-1", "`page` must be a whole number from 1"),
    ] {
        let response = server
            .get(&format!("registries/main/api/v1/crates?q=paged&{query}"))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().await.unwrap();
        let detail = body["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{query}: {detail}");
    }
    let last = search(
        &server,
        &[("q", "paged"), ("per_page", "100"), ("page", "1")],
    )
    .await;
    assert_eq!(names(&last), ["paged"], "the limits themselves are allowed");
}

#[tokio::test]
async fn search_ignores_case_beyond_ascii_and_control_characters_are_refused() {
    let server = TestServer::start().await;
    let mut fixture = CrateFixture::new("umlaut", "1.0.0");
    fixture.description = "ÜBER schnelle Parser".into();
    server.publish(&fixture).await;
    assert_eq!(names(&search(&server, &[("q", "über")]).await), ["umlaut"]);
    let response = server.get("registries/main/api/v1/crates?q=a%00b").await;
    assert_eq!(response.status(), 400);
}
