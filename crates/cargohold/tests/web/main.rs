//! The web pages in a real headless Chromium, with the real cargo beside it:
//! what a person sees and clicks. Screenshots of each page land in
//! `target/screenshots/` for a person to review.

use cargohold::config::RegistryConfig;
use cargohold::ops::{self, users::NewUser};
use cargohold_test_support::{Browser, CargoSandbox, TestServer};

/// Creates `login` with a web password.
async fn user_with_password(server: &TestServer, login: &str, password: &str, admin: bool) {
    let user = NewUser {
        login: login.into(),
        is_admin: admin,
        password: Some(password.into()),
    };
    ops::users::add(&server.app, user, None)
        .await
        .expect("the user is created");
}

async fn sign_in(browser: &Browser, server: &TestServer, login: &str, password: &str) {
    browser.goto(&server.url("login")).await.unwrap();
    browser.fill("#login", login).await.unwrap();
    browser.fill("#password", password).await.unwrap();
    browser.click("#sign-in").await.unwrap();
    // Signed in: the header names the user.
    assert_eq!(browser.text_of("#nav-user").await.unwrap(), login);
}

async fn sign_out(browser: &Browser) {
    browser.click("#nav-logout").await.unwrap();
    browser.wait_for("#nav-login").await.unwrap();
}

/// A README that would run script in the reader's browser if it were not sanitized.
const HOSTILE_README: &str = "# Web demo\n\nA crate **for** the browser test.\n\n\
<script>window.__pwned = 'script';</script>\n\n\
<img src=\"/nothing.png\" onerror=\"window.__pwned = 'onerror'\">\n\n\
[a trap](javascript:window.__pwned='link') and <a href=\"javascript:window.__pwned='raw'\">another</a>\n";

#[tokio::test]
async fn a_user_signs_in_makes_a_token_publishes_with_cargo_reads_the_page_and_revoking_locks_cargo_out()
 {
    let server = TestServer::start().await;
    user_with_password(&server, "alice", "correct horse battery", false).await;
    let browser = Browser::start().await.unwrap();

    // A wrong password is refused and says so.
    browser.goto(&server.url("login")).await.unwrap();
    browser.fill("#login", "alice").await.unwrap();
    browser.fill("#password", "wrong password").await.unwrap();
    browser.click("#sign-in").await.unwrap();
    assert_eq!(
        browser.text_of("#login-error").await.unwrap(),
        "wrong login or password"
    );
    browser.screenshot("web-login-refused").await.unwrap();

    sign_in(&browser, &server, "alice", "correct horse battery").await;
    browser.goto(&server.url("me")).await.unwrap();
    browser.fill("#token-name", "laptop").await.unwrap();
    browser.click("#registry-main").await.unwrap();
    browser.click("#create-token").await.unwrap();
    let token = browser
        .wait_for("#new-token")
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("the new token is shown");
    assert!(token.starts_with("cargohold_"), "{token}");
    browser.screenshot("web-me-new-token").await.unwrap();

    // The token works with the real cargo.
    let cargo = CargoSandbox::with_token(&server, Some(token.clone()));
    let package = cargo.package(
        "web-demo",
        "0.1.0",
        "readme = \"README.md\"\nkeywords = [\"browser\"]\nrepository = \"https://example.com/web-demo\"",
        "[features]\ndefault = [\"fast\"]\nfast = []\n",
    );
    cargo.write(&package, "README.md", HOSTILE_README);
    cargo.publish(&package).await;

    // Found through the search box, and its page shows the README, inert.
    browser.goto(&server.url("")).await.unwrap();
    browser.fill("#q", "web-demo").await.unwrap();
    browser.click(".search button").await.unwrap();
    assert_eq!(browser.text_of("#summary").await.unwrap(), "1 crate found");
    browser.screenshot("web-search").await.unwrap();
    browser
        .click("a.crate-name[href$=\"/crates/web-demo\"]")
        .await
        .unwrap();
    assert_eq!(browser.text_of("#crate-name").await.unwrap(), "web-demo");
    assert_eq!(browser.text_of("#crate-version").await.unwrap(), "0.1.0");
    assert_eq!(
        browser.text_of("#readme-body h1").await.unwrap(),
        "Web demo"
    );
    assert_eq!(browser.text_of("#owners").await.unwrap(), "alice");
    let page = browser.page_text().await.unwrap();
    assert!(page.contains("A crate for the browser test."), "{page}");
    assert_eq!(
        browser.text_of("#cargo-add").await.unwrap(),
        "cargo add web-demo@0.1.0 --registry main"
    );
    // Let the broken image fail to load, then try the links: nothing ran.
    let clicked = browser
        .client()
        .execute(
            "const links = document.querySelectorAll('#readme-body p a'); \
             links.forEach(a => a.click()); return links.length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        clicked,
        serde_json::json!(2),
        "both links stay, as inert text"
    );
    let dangerous = browser
        .client()
        .execute(
            "return [typeof window.__pwned, \
             document.querySelectorAll('#readme-body script, #readme-body [onerror], #readme-body a[href^=\"javascript:\"]').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(dangerous, serde_json::json!(["undefined", 0]));
    browser.screenshot("web-crate-page").await.unwrap();

    // On a phone-sized window the page reflows: nothing sticks out sideways.
    browser.client().set_window_size(390, 844).await.unwrap();
    let fits = browser
        .client()
        .execute(
            "const root = document.documentElement; \
             return root.scrollWidth <= root.clientWidth || [...document.querySelectorAll('body *')] \
               .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5) \
               .map(e => e.tagName + '.' + e.className).slice(0, 8)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        fits,
        serde_json::json!(true),
        "these make a phone scroll sideways"
    );
    browser.screenshot("web-crate-page-phone").await.unwrap();
    browser.client().set_window_size(1280, 900).await.unwrap();

    // An error page keeps the signed-in header.
    browser
        .goto(&server.url("registries/main/crates/no-such-crate"))
        .await
        .unwrap();
    assert_eq!(browser.text_of("h1").await.unwrap(), "404 · Not Found");
    assert_eq!(browser.text_of("#nav-user").await.unwrap(), "alice");
    browser.screenshot("web-error-signed-in").await.unwrap();

    // Revoked on the page: cargo is refused at once.
    browser.goto(&server.url("me")).await.unwrap();
    browser
        .click("tr[data-token-name=\"laptop\"] button.danger")
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#notice").await.unwrap(),
        "The token “laptop” is revoked."
    );
    browser.screenshot("web-me-revoke-notice").await.unwrap();
    // The form went back to /me: reloading it shows the page, and sends nothing.
    assert_eq!(browser.current_url().await.unwrap().path(), "/me");
    let events = "SELECT COUNT(*) FROM audit_events";
    let before_reload = server.count(events).await;
    browser.client().refresh().await.unwrap();
    browser.wait_for("#tokens").await.unwrap();
    let notices = browser
        .client()
        .execute("return document.querySelectorAll('#notice').length", vec![])
        .await
        .unwrap();
    assert_eq!(notices, serde_json::json!(0), "the notice is shown once");
    assert_eq!(server.count(events).await, before_reload);
    assert_eq!(
        browser
            .text_of("tr[data-token-name=\"laptop\"] .state")
            .await
            .unwrap(),
        "revoked"
    );
    browser.screenshot("web-me-revoked").await.unwrap();
    let package = cargo.package("web-demo", "0.2.0", "", "");
    cargo
        .cargo(
            &package,
            &[
                "publish",
                "--registry",
                "test",
                "--no-verify",
                "--allow-dirty",
            ],
        )
        .await
        .assert_failure_containing("not valid");
    assert_eq!(server.count("SELECT COUNT(*) FROM versions").await, 1);
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_private_registry_shows_nothing_to_visitors_until_an_administrator_grants_read() {
    let server = TestServer::start_with(|config| {
        let mut secret = RegistryConfig::local("secret");
        secret.auth_required = true;
        config.registries.push(secret);
    })
    .await;
    user_with_password(&server, "root", "administrator pass", true).await;
    user_with_password(&server, "bob", "bob's password", false).await;
    let publish = server
        .publish_to(
            "secret",
            &cargohold_test_support::CrateFixture::new("hidden-gem", "1.0.0"),
        )
        .await;
    assert_eq!(publish.status(), 200);
    // Someone holds `read`, so the registry is closed to everyone else.
    server.create_user("carol").await;
    let secret = server.app.registry("secret").unwrap().clone();
    ops::permissions::change(
        &server.app,
        &secret,
        &ops::permissions::Grantee::User("carol".into()),
        Some(cargohold::access::Role::Read),
        None,
    )
    .await
    .unwrap();

    let browser = Browser::start().await.unwrap();
    let hidden = |text: &str| !text.contains("hidden-gem") && !text.contains("secret");
    // Anonymous: not on the start page, not in search, no crate page.
    browser.goto(&server.url("")).await.unwrap();
    let home = browser.page_text().await.unwrap();
    assert!(hidden(&home), "{home}");
    browser
        .screenshot("web-private-home-anonymous")
        .await
        .unwrap();
    browser.goto(&server.url("search?q=hidden")).await.unwrap();
    assert_eq!(browser.text_of("#summary").await.unwrap(), "0 crates found");
    browser
        .goto(&server.url("registries/secret/crates/hidden-gem"))
        .await
        .unwrap();
    let message = browser.text_of("#error-message").await.unwrap();
    assert!(
        message.contains("no registry `secret` that you may read"),
        "{message}"
    );
    assert!(!message.contains("hidden-gem"), "{message}");
    browser
        .screenshot("web-private-crate-anonymous")
        .await
        .unwrap();

    // Bob, signed in but without a grant, sees no more.
    sign_in(&browser, &server, "bob", "bob's password").await;
    browser.goto(&server.url("search?q=hidden")).await.unwrap();
    assert_eq!(browser.text_of("#summary").await.unwrap(), "0 crates found");
    sign_out(&browser).await;

    // An administrator grants bob `read` on the registry's page.
    sign_in(&browser, &server, "root", "administrator pass").await;
    browser
        .goto(&server.url("admin/registries/secret"))
        .await
        .unwrap();
    browser.fill("#grant-holder", "bob").await.unwrap();
    browser.click("#grant").await.unwrap();
    let notice = browser.text_of("#notice").await.unwrap();
    assert_eq!(notice, "user `bob` now holds `read` in secret.");
    browser
        .screenshot("web-admin-registry-grant")
        .await
        .unwrap();
    browser
        .goto(&server.url("admin/audit?action=permission_grant"))
        .await
        .unwrap();
    let audit = browser.text_of("#audit").await.unwrap();
    assert!(
        audit.contains("root") && audit.contains("user `bob`"),
        "{audit}"
    );
    browser.screenshot("web-admin-audit").await.unwrap();
    sign_out(&browser).await;

    // Now bob finds it.
    sign_in(&browser, &server, "bob", "bob's password").await;
    browser.goto(&server.url("search?q=hidden")).await.unwrap();
    assert_eq!(browser.text_of("#summary").await.unwrap(), "1 crate found");
    browser.click("a.crate-name").await.unwrap();
    assert_eq!(browser.text_of("#crate-name").await.unwrap(), "hidden-gem");
    browser
        .screenshot("web-private-crate-granted")
        .await
        .unwrap();
    browser.close().await.unwrap();
}

/// Whether the element `id` shows all its text: nothing cut off or scrolled away.
const SHOWN_WHOLE: &str = "const box = document.getElementById(arguments[0]).parentElement; \
     const side = box.closest('.copy-line').getBoundingClientRect(); \
     return box.scrollWidth <= box.clientWidth && box.getBoundingClientRect().right <= side.right + 0.5 \
       && side.right <= document.documentElement.clientWidth + 0.5";

/// The text the page has selected.
const SELECTION: &str = "return getSelection().toString()";

/// The copy button of the element `id`, once the page's script has shown it.
async fn copy_button(browser: &Browser, id: &str) -> cargohold_test_support::browser::Element {
    let button = browser
        .wait_for(&format!("button.copy-button[data-copies=\"{id}\"]"))
        .await
        .unwrap();
    for _ in 0..50 {
        if button.is_displayed().await.unwrap() {
            return button;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the page's script did not show the copy button of #{id}");
}

#[tokio::test]
async fn a_crate_pages_install_lines_are_shown_whole_and_copied_with_one_click() {
    let server = TestServer::start_with(|config| {
        config.registries = vec![
            RegistryConfig::local("main"),
            RegistryConfig::local("platform-team-internal"),
        ];
    })
    .await;
    let name = "acme-observability-tracing-subscriber-extensions";
    let fixture = cargohold_test_support::CrateFixture::new(name, "12.34.56");
    let published = server.publish_to("platform-team-internal", &fixture).await;
    assert_eq!(published.status(), 200);
    let cargo_add = format!("cargo add {name}@12.34.56 --registry platform-team-internal");
    let toml_line =
        format!("{name} = {{ version = \"12.34.56\", registry = \"platform-team-internal\" }}");

    let browser = Browser::start().await.unwrap();
    browser
        .goto(&server.url(&format!("registries/platform-team-internal/crates/{name}")))
        .await
        .unwrap();
    for (width, height, screenshot) in [
        (1280, 900, "web-crate-install-lines"),
        (390, 844, "web-crate-install-lines-phone"),
    ] {
        browser
            .client()
            .set_window_size(width, height)
            .await
            .unwrap();
        // The whole line is on the page, wrapped where the column is narrow.
        assert_eq!(browser.text_of("#cargo-add").await.unwrap(), cargo_add);
        assert_eq!(browser.text_of("#toml-line").await.unwrap(), toml_line);
        for id in ["cargo-add", "toml-line"] {
            let whole = browser
                .client()
                .execute(SHOWN_WHOLE, vec![serde_json::json!(id)])
                .await
                .unwrap();
            assert_eq!(whole, serde_json::json!(true), "{id} at {width} px");
        }
        // Without script, one click selects the whole line, ready for Ctrl+C.
        browser
            .client()
            .execute("getSelection().removeAllRanges()", vec![])
            .await
            .unwrap();
        browser.click("#toml-line").await.unwrap();
        let selected = browser.client().execute(SELECTION, vec![]).await.unwrap();
        assert_eq!(selected, serde_json::json!(toml_line), "at {width} px");
        browser.screenshot(screenshot).await.unwrap();
    }
    browser.client().set_window_size(1280, 900).await.unwrap();

    // The copy buttons come with the page's script (`web::script_path`), which
    // the page's policy lets load from this origin; without it they stay hidden.
    let button = copy_button(&browser, "cargo-add").await;
    assert_eq!(button.text().await.unwrap(), "Copy");
    button.click().await.unwrap();
    let mut label = button.text().await.unwrap();
    for _ in 0..50 {
        if label != "Copy" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        label = button.text().await.unwrap();
    }
    assert!(
        ["Copied", "Press Ctrl+C"].contains(&label.as_str()),
        "{label}"
    );
    // Whatever the clipboard allowed, the command is selected, whole.
    let selected = browser.client().execute(SELECTION, vec![]).await.unwrap();
    assert_eq!(selected, serde_json::json!(cargo_add));
    browser.screenshot("web-crate-copy-button").await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_setup_pages_snippets_each_have_a_copy_button_that_copies_the_whole_snippet() {
    let server = TestServer::start().await;
    let browser = Browser::start().await.unwrap();
    browser
        .goto(&server.url("registries/main/setup"))
        .await
        .unwrap();
    let index = format!(
        "index = \"sparse+{}registries/main/index/\"",
        server.url("")
    );
    for (id, wanted) in [
        ("config-snippet", index.as_str()),
        ("login-command", "cargo login --registry main"),
        ("add-command", "cargo add SOME_CRATE --registry main"),
        ("publish-command", "cargo publish --registry main"),
    ] {
        let button = copy_button(&browser, id).await;
        button.click().await.unwrap();
        let whole = browser.text_of(&format!("#{id}")).await.unwrap();
        let selected = browser.client().execute(SELECTION, vec![]).await.unwrap();
        assert_eq!(
            selected,
            serde_json::json!(whole),
            "{id}: the whole snippet"
        );
        assert!(whole.contains(wanted), "{id}: {whole}");
    }
    browser.screenshot("web-setup-copy-buttons").await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn an_administrator_revokes_a_users_token_from_the_users_page() {
    let server = TestServer::start().await;
    user_with_password(&server, "root", "administrator pass", true).await;
    server
        .create_user_with_token(
            "dana",
            ops::tokens::TokenRequest {
                name: "laptop".into(),
                ..Default::default()
            },
        )
        .await;

    let browser = Browser::start().await.unwrap();
    sign_in(&browser, &server, "root", "administrator pass").await;
    browser.goto(&server.url("admin/users")).await.unwrap();
    browser
        .click("a[aria-label=\"Tokens of dana\"]")
        .await
        .unwrap();
    assert_eq!(browser.text_of("h1").await.unwrap(), "Tokens of dana");
    assert_eq!(
        browser
            .text_of("tr[data-token-name=\"laptop\"] .state")
            .await
            .unwrap(),
        "active"
    );
    browser.screenshot("web-admin-user-tokens").await.unwrap();
    browser
        .click("button[aria-label=\"Revoke laptop\"]")
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#notice").await.unwrap(),
        "The token “laptop” of dana is revoked."
    );
    assert_eq!(
        browser
            .text_of("tr[data-token-name=\"laptop\"] .state")
            .await
            .unwrap(),
        "revoked"
    );
    browser
        .screenshot("web-admin-user-tokens-revoked")
        .await
        .unwrap();
    browser.close().await.unwrap();
}

/// What sticks out past the right edge of the window (tag, class and text of
/// the first few), or `true` when nothing does.
const NOTHING_STICKS_OUT: &str = "const root = document.documentElement; \
     return root.scrollWidth <= root.clientWidth || [...document.querySelectorAll('body *')] \
       .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5) \
       .map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40)).slice(0, 8)";

/// The buttons of `arguments[0]` (a CSS selector) that are not wholly inside the
/// window's width, as their labels.
const BUTTONS_OFF_SCREEN: &str = "const width = document.documentElement.clientWidth; \
     return [...document.querySelectorAll(arguments[0] + ' button')] \
       .filter(b => { const r = b.getBoundingClientRect(); return r.left < -0.5 || r.right > width + 0.5; }) \
       .map(b => b.textContent.trim())";

#[tokio::test]
async fn tables_of_users_tokens_and_the_audit_log_fit_a_phone_and_long_values_wrap_on_a_desktop() {
    let server = TestServer::start().await;
    user_with_password(&server, "root", "administrator pass", true).await;
    for login in ["alice", "bob-with-a-rather-long-login-name"] {
        user_with_password(&server, login, "a user's password", false).await;
    }
    // Publish events: their details carry 64-character checksums.
    for version in ["1.0.0", "1.0.1"] {
        let fixture = cargohold_test_support::CrateFixture::new("wide-details", version);
        assert_eq!(server.publish_to("main", &fixture).await.status(), 200);
    }
    let browser = Browser::start().await.unwrap();
    sign_in(&browser, &server, "root", "administrator pass").await;
    for name in ["laptop", "ci-release-pipeline-of-the-platform-team"] {
        browser.goto(&server.url("me")).await.unwrap();
        browser.fill("#token-name", name).await.unwrap();
        browser
            .fill("#token-crates", "acme-*, platform-*")
            .await
            .unwrap();
        browser.click("#create-token").await.unwrap();
        browser.wait_for("#new-token").await.unwrap();
    }

    for (width, height, device) in [(390, 844, "phone"), (1280, 900, "desktop")] {
        browser
            .client()
            .set_window_size(width, height)
            .await
            .unwrap();
        for (path, table) in [
            ("admin/users", "#users"),
            ("me", "#tokens"),
            ("admin/users/root/tokens", "#tokens"),
            ("admin/audit", "#audit"),
            ("admin", "#registries"),
        ] {
            browser.goto(&server.url(path)).await.unwrap();
            browser.wait_for(table).await.unwrap();
            let fits = browser
                .client()
                .execute(NOTHING_STICKS_OUT, vec![])
                .await
                .unwrap();
            assert_eq!(
                fits,
                serde_json::json!(true),
                "these make /{path} scroll sideways on a {device}"
            );
            let off = browser
                .client()
                .execute(BUTTONS_OFF_SCREEN, vec![serde_json::json!(table)])
                .await
                .unwrap();
            assert_eq!(
                off,
                serde_json::json!([]),
                "buttons of /{path} off screen on a {device}"
            );
            let shot = format!("web-fit-{}-{device}", path.replace('/', "-"));
            browser.screenshot(&shot).await.unwrap();
        }
    }
    // On a phone the rows are stacked, each value beside its column's name.
    browser.client().set_window_size(390, 844).await.unwrap();
    browser.goto(&server.url("admin/users")).await.unwrap();
    let label = browser
        .client()
        .execute(
            "const cell = document.querySelector('#users tr[data-login=\"alice\"] td[data-label=\"Role\"]'); \
             return [getComputedStyle(cell).display, getComputedStyle(cell, '::before').content]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(label, serde_json::json!(["flex", "\"Role\""]));
    // The buttons still work there.
    browser
        .click("tr[data-login=\"alice\"] button[value=\"make-admin\"]")
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#notice").await.unwrap(),
        "alice: done (make-admin)."
    );
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_new_crates_download_chart_is_bars_on_a_baseline_not_an_empty_grey_box() {
    let server = TestServer::start().await;
    let fixture = cargohold_test_support::CrateFixture::new("brand-new", "0.1.0");
    assert_eq!(server.publish(&fixture).await.status(), 200);
    assert_eq!(server.download("brand-new", "0.1.0").await.0, 200);
    server.app.flush_downloads().await.unwrap();

    let browser = Browser::start().await.unwrap();
    browser
        .goto(&server.url("registries/main/crates/brand-new"))
        .await
        .unwrap();
    for (width, height, device) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        browser
            .client()
            .set_window_size(width, height)
            .await
            .unwrap();
        let chart = browser
            .client()
            .execute(
                "const svg = document.querySelector('svg.chart'); const style = getComputedStyle(svg); \
                 const box = svg.getBoundingClientRect(); \
                 const bars = [...svg.querySelectorAll('rect')].map(r => r.getBoundingClientRect()); \
                 return { background: style.backgroundColor, baseline: parseFloat(style.borderBottomWidth), \
                   bars: bars.length, \
                   standing: bars.every(b => Math.abs(b.bottom - (box.bottom - parseFloat(style.borderBottomWidth))) < 1), \
                   tall: bars.every(b => b.height > box.height / 2) }",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            chart,
            serde_json::json!({
                "background": "rgba(0, 0, 0, 0)",
                "baseline": 2,
                "bars": 1,
                "standing": true,
                "tall": true,
            }),
            "the chart on a {device}"
        );
        browser
            .screenshot(&format!("web-chart-new-crate-{device}"))
            .await
            .unwrap();
    }
    browser.close().await.unwrap();
}

/// Creates `login` with a web password and a token, and publishes `versions` of
/// crate `name` with that token, so `login` owns it.
async fn owner_with_versions(server: &TestServer, login: &str, name: &str, versions: &[&str]) {
    user_with_password(server, login, "an owner's password", false).await;
    let token = server
        .create_token(login, ops::tokens::TokenRequest::default())
        .await;
    for version in versions {
        let fixture = cargohold_test_support::CrateFixture::new(name, version);
        let response = server.publish_body(fixture.publish_body(), &token).await;
        assert_eq!(response.status(), 200, "{name}@{version}");
    }
}

/// The backgrounds of a quiet button: the page's, or the panel colour while the
/// pointer rests on it (it stays where the last click was).
const QUIET: [&str; 2] = ["rgb(255, 255, 255)", "rgb(245, 246, 248)"];

/// The computed background colour and font size in pixels of the first element
/// matching `css`.
async fn look_of(browser: &Browser, css: &str) -> (String, f64) {
    browser.wait_for(css).await.unwrap();
    let look = browser
        .client()
        .execute(
            "const style = getComputedStyle(document.querySelector(arguments[0])); \
             return [style.backgroundColor, parseFloat(style.fontSize)]",
            vec![serde_json::json!(css)],
        )
        .await
        .unwrap();
    (
        look[0].as_str().unwrap().to_owned(),
        look[1].as_f64().unwrap(),
    )
}

#[tokio::test]
async fn an_owners_yank_buttons_are_quiet_and_fit_a_phone() {
    let server = TestServer::start().await;
    owner_with_versions(
        &server,
        "alice",
        "quiet-buttons",
        &["1.0.0", "1.1.0", "2.0.0-release-candidate.1"],
    )
    .await;
    let browser = Browser::start().await.unwrap();
    sign_in(&browser, &server, "alice", "an owner's password").await;
    browser
        .goto(&server.url("registries/main/crates/quiet-buttons"))
        .await
        .unwrap();

    // Outlined on the page's background and smaller than the filled buttons
    // (the search button in the header), with the Delete section's red ones apart.
    let (primary_background, primary_size) = look_of(&browser, ".search button").await;
    let (background, size) = look_of(&browser, "button[aria-label=\"Yank 1.0.0\"]").await;
    assert!(QUIET.contains(&background.as_str()), "{background}");
    assert_ne!(background, primary_background);
    assert!(size < primary_size, "{size} px vs {primary_size} px");
    browser
        .screenshot("web-crate-yank-buttons-desktop")
        .await
        .unwrap();

    // On a phone the rows stack, nothing scrolls sideways, and the buttons are
    // on screen and work.
    browser.client().set_window_size(390, 844).await.unwrap();
    let fits = browser
        .client()
        .execute(NOTHING_STICKS_OUT, vec![])
        .await
        .unwrap();
    assert_eq!(
        fits,
        serde_json::json!(true),
        "these make the crate page scroll sideways on a phone"
    );
    let off = browser
        .client()
        .execute(BUTTONS_OFF_SCREEN, vec![serde_json::json!("#versions")])
        .await
        .unwrap();
    assert_eq!(off, serde_json::json!([]), "yank buttons off screen");
    let label = browser
        .client()
        .execute(
            "const cell = document.querySelector('#versions td[data-label=\"Published\"]'); \
             return [getComputedStyle(cell).display, getComputedStyle(cell, '::before').content]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(label, serde_json::json!(["flex", "\"Published\""]));
    scroll_to(&browser, "versions").await;
    browser
        .screenshot("web-crate-yank-buttons-phone")
        .await
        .unwrap();
    browser
        .click("button[aria-label=\"Yank 1.0.0\"]")
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#notice").await.unwrap(),
        "Yanked 1.0.0: new lockfiles skip it; existing ones keep it."
    );
    let (background, _) = look_of(&browser, "button[aria-label=\"Unyank 1.0.0\"]").await;
    assert!(QUIET.contains(&background.as_str()), "{background}");
    let fits = browser
        .client()
        .execute(NOTHING_STICKS_OUT, vec![])
        .await
        .unwrap();
    assert_eq!(fits, serde_json::json!(true), "after the yank");
    scroll_to(&browser, "versions").await;
    browser.screenshot("web-crate-yanked-phone").await.unwrap();
    browser.close().await.unwrap();
}

/// Scrolls the element `id` to the top of the window, for a screenshot of it.
async fn scroll_to(browser: &Browser, id: &str) {
    browser
        .client()
        .execute(
            "document.getElementById(arguments[0]).scrollIntoView()",
            vec![serde_json::json!(id)],
        )
        .await
        .unwrap();
}

/// The version numbers the crate page's versions table lists, newest first.
async fn listed_versions(browser: &Browser) -> serde_json::Value {
    browser.wait_for("#versions table").await.unwrap();
    browser
        .client()
        .execute(
            "return [...document.querySelectorAll('#versions td.name a')].map(a => a.textContent.trim())",
            vec![],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn an_owner_deletes_one_version_on_the_crate_page_and_a_mistyped_name_deletes_nothing() {
    let server = TestServer::start().await;
    owner_with_versions(&server, "alice", "pruned", &["1.0.0", "1.1.0", "1.2.0"]).await;
    // Single versions are deleted by the registry's administrators: alice is
    // one, as well as the crate's owner.
    let main = server.app.registry("main").unwrap().clone();
    ops::permissions::change(
        &server.app,
        &main,
        &ops::permissions::Grantee::User("alice".into()),
        Some(cargohold::access::Role::Admin),
        None,
    )
    .await
    .unwrap();
    let page = "registries/main/crates/pruned";

    let browser = Browser::start().await.unwrap();
    sign_in(&browser, &server, "alice", "an owner's password").await;
    browser.goto(&server.url(page)).await.unwrap();
    assert_eq!(
        listed_versions(&browser).await,
        serde_json::json!(["1.2.0", "1.1.0", "1.0.0"])
    );
    let rule = browser.text_of("#delete-rule").await.unwrap();
    assert!(
        rule.contains("administrator of the registry you may delete any crate or single version"),
        "{rule}"
    );

    // A mistyped name: the page says so, and every version is still there.
    browser
        .wait_for("#delete-version")
        .await
        .unwrap()
        .select_by_value("1.1.0")
        .await
        .unwrap();
    browser
        .fill("#delete-version-confirm", "prunned")
        .await
        .unwrap();
    scroll_to(&browser, "delete").await;
    browser.screenshot("web-delete-section").await.unwrap();
    browser
        .click("#delete-version-form button[type=submit]")
        .await
        .unwrap();
    let error = browser.text_of("#form-error").await.unwrap();
    assert_eq!(
        error,
        "nothing was deleted: type the crate name `pruned` to confirm (you typed `prunned`)"
    );
    browser
        .screenshot("web-delete-version-mistyped")
        .await
        .unwrap();
    assert_eq!(
        listed_versions(&browser).await,
        serde_json::json!(["1.2.0", "1.1.0", "1.0.0"])
    );
    assert_eq!(server.download("pruned", "1.1.0").await.0, 200);
    let (status, index) = server.index_file("pruned").await;
    assert_eq!(status, 200);
    assert_eq!(index.lines().count(), 3, "{index}");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action LIKE 'delete_%'")
            .await,
        0
    );

    // Typed right: 1.1.0 goes, from the page, the index and downloads.
    browser.goto(&server.url(page)).await.unwrap();
    browser
        .wait_for("#delete-version")
        .await
        .unwrap()
        .select_by_value("1.1.0")
        .await
        .unwrap();
    browser
        .fill("#delete-version-confirm", "pruned")
        .await
        .unwrap();
    browser
        .fill("#delete-version-reason", "published from the wrong branch")
        .await
        .unwrap();
    browser
        .click("#delete-version-form button[type=submit]")
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#notice").await.unwrap(),
        "Deleted version 1.1.0 of crate `pruned` from registry `main`."
    );
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/registries/main/crates/pruned"
    );
    assert_eq!(
        listed_versions(&browser).await,
        serde_json::json!(["1.2.0", "1.0.0"])
    );
    let choices = browser
        .client()
        .execute(
            "return [...document.querySelectorAll('#delete-version option')].map(o => o.value)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(choices, serde_json::json!(["1.2.0", "1.0.0"]));
    scroll_to(&browser, "versions").await;
    browser.screenshot("web-delete-version-done").await.unwrap();
    assert_eq!(server.download("pruned", "1.1.0").await.0, 404);
    assert_eq!(server.download("pruned", "1.2.0").await.0, 200);
    let (status, index) = server.index_file("pruned").await;
    assert_eq!(status, 200);
    assert!(!index.contains("\"1.1.0\""), "{index}");
    assert_eq!(
        server
            .column(
                "SELECT e.version || ' ' || u.login FROM audit_events e \
                 JOIN users u ON u.id = e.actor_user_id WHERE e.action = 'delete_version'"
            )
            .await,
        ["1.1.0 alice"]
    );
    browser.close().await.unwrap();
}

#[tokio::test]
async fn an_administrator_sees_a_given_up_webhook_delivery_marked_and_redelivers_it() {
    let receiver = cargohold_test_support::WebhookReceiver::start().await;
    let url = receiver.url.clone();
    let server = TestServer::start_with(move |config| {
        config.webhook_retry_seconds = 600;
        config.registries = vec![RegistryConfig {
            webhooks: vec![cargohold::config::WebhookConfig {
                url,
                secret: None,
                secret_env: None,
                events: None,
            }],
            ..RegistryConfig::local("main")
        }];
    })
    .await;
    user_with_password(&server, "root", "administrator pass", true).await;
    receiver.answer_next_with(&[500, 500]);
    let fixture = cargohold_test_support::CrateFixture::new("hooked-page", "1.0.0");
    assert_eq!(server.publish(&fixture).await.status(), 200);
    server
        .wait_for_count(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE attempts = 1",
            1,
        )
        .await;
    // A day later, the next attempt fails too and the delivery is given up.
    server
        .execute(
            "UPDATE webhook_deliveries SET created_at = created_at - 90000, next_attempt_at = 0",
        )
        .await;
    server
        .wait_for_count(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE outcome = 'given_up'",
            1,
        )
        .await;

    let browser = Browser::start().await.unwrap();
    sign_in(&browser, &server, "root", "administrator pass").await;
    browser.goto(&server.url("admin")).await.unwrap();
    browser.click("a[href=\"/admin/webhooks\"]").await.unwrap();
    assert_eq!(browser.text_of("h1").await.unwrap(), "Webhook deliveries");
    let row = "#deliveries tr[data-state=\"given up\"]";
    assert_eq!(
        browser
            .text_of(&format!("{row} .tag.failed"))
            .await
            .unwrap(),
        "given up"
    );
    assert_eq!(
        browser
            .text_of(&format!("{row} .last-answer"))
            .await
            .unwrap(),
        "the receiver answered 500 Internal Server Error"
    );
    assert!(
        browser
            .text_of("#failed-summary")
            .await
            .unwrap()
            .starts_with("1 of these failed."),
    );
    browser
        .screenshot("web-admin-webhooks-failed")
        .await
        .unwrap();

    browser.click(&format!("{row} button")).await.unwrap();
    let notice = browser.text_of("#notice").await.unwrap();
    assert!(
        notice.starts_with("Queued delivery 1 (publish to ")
            && notice.ends_with("again as delivery 2."),
        "{notice}"
    );
    let delivered = receiver
        .wait_for_deliveries(1, std::time::Duration::from_secs(20))
        .await;
    assert_eq!(delivered[0].json()["crate"], "hooked-page");
    server
        .wait_for_count(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE outcome = 'delivered'",
            1,
        )
        .await;
    browser.goto(&server.url("admin/webhooks")).await.unwrap();
    assert_eq!(
        browser
            .text_of("#deliveries tr[data-delivery-id=\"2\"] .state")
            .await
            .unwrap(),
        "delivered (again of 1)"
    );
    browser
        .screenshot("web-admin-webhooks-redelivered")
        .await
        .unwrap();
    browser.close().await.unwrap();
}
