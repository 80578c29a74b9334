//! Crate pages in the one-URL setup of the README: a virtual `all` standing in for
//! crates.io over `internal` (local, where publishes go) and `crates-io-cache` (a
//! proxy). The lines they give to add a crate, the pages at `all`'s URLs, and the
//! publish dates of cached crates.

use cargohold::access::Role;
use cargohold::config::RegistryConfig;
use cargohold::ops::permissions::Grantee;
use cargohold_test_support::{CrateFixture, TestServer};
use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::access::grant;
use crate::fake_upstream::{FakeUpstream, Reply, left_pad, left_pad_upstream};
use crate::web::{WebClient, add_user};

/// The publish time the upstream's index line gives `left-pad 1.0.0`.
const UPSTREAM_PUBTIME: &str = "2026-07-18T09:30:00Z";

/// An upstream serving `left-pad 1.0.0` published at [`UPSTREAM_PUBTIME`].
async fn upstream() -> FakeUpstream {
    upstream_with_pubtime(Some(UPSTREAM_PUBTIME)).await
}

/// An upstream serving `left-pad 1.0.0` with `pubtime` in its index line, or none.
async fn upstream_with_pubtime(pubtime: Option<&str>) -> FakeUpstream {
    let (index, tarball) = left_pad().await;
    let index = String::from_utf8(index).unwrap();
    let key = ",\"pubtime\":\"";
    let at = index.find(key).expect("a pubtime");
    let rest = &index[at + key.len() + 21..];
    let index = match pubtime {
        Some(pubtime) => format!("{}{key}{pubtime}\"{rest}", &index[..at]),
        None => format!("{}{rest}", &index[..at]),
    };
    FakeUpstream::start(|addr| left_pad_upstream(addr, index.as_bytes(), Reply::Body(tarball)))
        .await
}

/// `internal` (private when `private_internal`), `crates-io-cache` of `upstream`,
/// `all` over both, and `other`, a local registry of no virtual registry.
async fn one_url_server(upstream: &FakeUpstream, private_internal: bool) -> TestServer {
    let index_url = upstream.index_url();
    TestServer::start_with(move |config| {
        let internal = RegistryConfig {
            auth_required: private_internal,
            ..RegistryConfig::local("internal")
        };
        config.registries = vec![
            internal,
            RegistryConfig::proxy("crates-io-cache", index_url),
            RegistryConfig::virtual_of("all", &["internal", "crates-io-cache"], Some("internal")),
            RegistryConfig::local("other"),
        ];
    })
    .await
}

/// A client that does not follow redirects, without a session.
fn visitor() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get_page(server: &TestServer, path: &str) -> String {
    let response = visitor().get(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

/// Publishes `acme-core 0.9.1` to `internal` and caches `left-pad 1.0.0`.
async fn fill(server: &TestServer) {
    let fixture = CrateFixture::new("acme-core", "0.9.1");
    assert_eq!(server.publish_to("internal", &fixture).await.status(), 200);
    // The first download stores the version in the background; the second waits for it.
    for _ in 0..2 {
        let (status, _) = server
            .download_from("crates-io-cache", "left-pad", "1.0.0")
            .await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn crates_served_through_a_stand_in_for_crates_io_are_added_as_crates_io_crates() {
    let upstream = upstream().await;
    let server = one_url_server(&upstream, false).await;
    fill(&server).await;
    let fixture = CrateFixture::new("lone", "1.0.0");
    assert_eq!(server.publish_to("other", &fixture).await.status(), 200);

    for (path, name, version) in [
        ("registries/internal/crates/acme-core", "acme-core", "0.9.1"),
        (
            "registries/crates-io-cache/crates/left-pad",
            "left-pad",
            "1.0.0",
        ),
    ] {
        let page = get_page(&server, path).await;
        for expected in [
            format!("id=\"cargo-add\">cargo add {name}@{version}</code>"),
            format!("id=\"toml-line\">{name} = &#34;{version}&#34;</code>"),
            "Through <code>all</code>, which stands in for crates.io \
             (<a href=\"/registries/all/setup\">see setup</a>)"
                .to_owned(),
        ] {
            assert!(
                page.contains(&expected),
                "{path}: expected {expected:?} in {page}"
            );
        }
        assert!(!page.contains("--registry"), "{path}: {page}");
        assert!(!page.contains("registry = "), "{path}: {page}");
    }
    // A registry no stand-in serves keeps its lines.
    let page = get_page(&server, "registries/other/crates/lone").await;
    assert!(
        page.contains(
            "id=\"toml-line\">lone = { version = &#34;1.0.0&#34;, registry = &#34;other&#34; }"
        ),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"flag\">--registry</span> other"),
        "{page}"
    );
    assert!(!page.contains("Through <code>"), "{page}");

    // `internal`'s set-up page sends those who use `all` to `all`'s.
    let setup = get_page(&server, "registries/internal/setup").await;
    assert!(setup.contains("id=\"through-virtual\""), "{setup}");
    assert!(
        setup.contains("<a href=\"/registries/all/setup\">the setup of <code>all</code></a>"),
        "{setup}"
    );
    let setup = get_page(&server, "registries/other/setup").await;
    assert!(!setup.contains("through-virtual"), "{setup}");
}

#[tokio::test]
async fn a_crate_page_at_the_virtual_registrys_url_redirects_to_the_member_serving_it() {
    let upstream = upstream().await;
    let server = one_url_server(&upstream, false).await;
    fill(&server).await;
    let client = visitor();
    for (path, target) in [
        (
            "registries/all/crates/acme-core",
            "/registries/internal/crates/acme-core",
        ),
        (
            "registries/all/crates/acme-core?version=0.9.1",
            "/registries/internal/crates/acme-core?version=0.9.1",
        ),
        (
            "registries/all/crates/Left-Pad",
            "/registries/crates-io-cache/crates/left-pad",
        ),
    ] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[LOCATION], target, "{path}");
        // The target is a page.
        let response = client.get(server.url(target)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{target}");
    }
    for path in [
        "registries/all/crates/not-anywhere",
        "registries/all/crates/acme_core",
        "registries/all/crates/no%20such",
        "registries/nowhere/crates/acme-core",
    ] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_redirect_reveals_no_crate_of_a_member_the_reader_may_not_read() {
    let upstream = upstream().await;
    let server = one_url_server(&upstream, true).await;
    fill(&server).await;
    add_user(&server, "alice", "alice password", false).await;
    add_user(&server, "bob", "bob password", false).await;
    grant(&server, "internal", Grantee::User("bob".into()), Role::Read).await;

    // Visitors and readers without a role in `internal`: as if it had no such crate.
    let response = visitor()
        .get(server.url("registries/all/crates/acme-core"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = response.text().await.unwrap();
    assert!(!body.contains("internal"), "{body}");
    let alice = WebClient::signed_in(&server, "alice", "alice password").await;
    let response = alice.get("registries/all/crates/acme-core").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = response.text().await.unwrap();
    assert!(!body.contains("internal"), "{body}");
    // The public cache is there for them.
    let response = alice.get("registries/all/crates/left-pad").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/registries/crates-io-cache/crates/left-pad"
    );

    let bob = WebClient::signed_in(&server, "bob", "bob password").await;
    let response = bob.get("registries/all/crates/acme-core").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/registries/internal/crates/acme-core"
    );
    let page = bob
        .get("registries/internal/crates/acme-core")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"toml-line\">acme-core = &#34;0.9.1&#34;</code>"),
        "{page}"
    );
}

#[tokio::test]
async fn a_cached_crate_shows_when_the_upstream_published_it() {
    let upstream = upstream().await;
    let server = one_url_server(&upstream, false).await;
    fill(&server).await;
    let page = get_page(&server, "registries/crates-io-cache/crates/left-pad").await;
    assert!(
        page.contains("<dt>Published</dt><dd>2026-07-18</dd>"),
        "{page}"
    );
    assert!(!page.contains("(cached)"), "{page}");
    // A local crate's date is when it was published here.
    let page = get_page(&server, "registries/internal/crates/acme-core").await;
    assert!(!page.contains("(cached)"), "{page}");
}

#[tokio::test]
async fn a_cached_crate_without_an_upstream_pubtime_shows_when_it_was_cached() {
    let upstream = upstream_with_pubtime(None).await;
    let server = one_url_server(&upstream, false).await;
    fill(&server).await;
    let page = get_page(&server, "registries/crates-io-cache/crates/left-pad").await;
    let today = cargohold_protocol::index::format_pubtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let expected = format!("<dt>Published</dt><dd>{} (cached)</dd>", &today[..10]);
    assert!(page.contains(&expected), "expected {expected:?} in {page}");
}

#[tokio::test]
async fn a_crate_imported_into_a_proxy_shows_when_it_was_imported_as_cached() {
    use cargohold::auth::Actor;
    use cargohold::ops::import::{self, UpstreamNames};

    let upstream = upstream().await;
    let server = one_url_server(&upstream, false).await;
    let fixture = CrateFixture::new("imported", "2.0.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("imported-2.0.0.crate");
    std::fs::write(&file, fixture.tarball()).unwrap();
    let registry = server.app.registry("crates-io-cache").unwrap().clone();
    let operator = Actor::operator(1, "admin", true);
    let report = import::import_with(
        &server.app,
        &registry,
        &operator,
        vec![file],
        UpstreamNames::Skip,
        |_, _| {},
    )
    .await;
    assert_eq!(report.imported, ["imported@2.0.0"], "{report:?}");
    // Its index line's pubtime is the time of the import, not the upstream's.
    let page = get_page(&server, "registries/crates-io-cache/crates/imported").await;
    assert!(page.contains(" (cached)</dd>"), "{page}");
}

#[tokio::test]
async fn a_crates_io_dependency_links_to_its_page_through_the_stand_in() {
    use cargohold_test_support::DepRegistry;

    let upstream = upstream().await;
    let server = one_url_server(&upstream, false).await;
    fill(&server).await;
    // Written as in the one-URL setup: both are crates.io dependencies.
    let app = CrateFixture::new("acme-app", "1.0.0")
        .dep_from("acme-core", "^0.9", DepRegistry::CratesIo)
        .dep_from("left-pad", "^1", DepRegistry::CratesIo);
    assert_eq!(server.publish_to("internal", &app).await.status(), 200);
    let page = get_page(&server, "registries/internal/crates/acme-app").await;
    for name in ["acme-core", "left-pad"] {
        let link = format!("<a href=\"/registries/all/crates/{name}\">{name}</a>");
        assert!(page.contains(&link), "expected {link:?} in {page}");
    }
    assert!(page.contains("through all"), "{page}");
    assert!(
        !page.contains("from https://github.com/rust-lang/crates.io-index"),
        "{page}"
    );
    // Where those links lead.
    for (name, member) in [("acme-core", "internal"), ("left-pad", "crates-io-cache")] {
        let response = visitor()
            .get(server.url(&format!("registries/all/crates/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()[LOCATION],
            format!("/registries/{member}/crates/{name}").as_str()
        );
    }
}

#[tokio::test]
async fn a_search_finding_nothing_says_upstream_crates_are_listed_once_cached() {
    let upstream = upstream().await;
    let server = one_url_server(&upstream, false).await;
    let page = get_page(&server, "search?q=tokio").await;
    assert!(
        page.contains(
            "Crates of an upstream such as crates.io are listed here once fetched through its \
             cache; cargo finds them already (`cargo add NAME`)."
        ),
        "{page}"
    );
}
