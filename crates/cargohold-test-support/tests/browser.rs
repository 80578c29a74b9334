//! `Browser` against a one-page HTTP server on loopback: a real headless Chromium loads the page,
//! reads it, fills and submits its form, and saves a screenshot.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use cargohold_test_support::Browser;

const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>Browser self-test</title></head>
<body>
  <h1 id="heading">Publish a crate</h1>
  <form method="get" action="/submitted">
    <label>Name <input name="name" id="name" value="placeholder"></label>
    <button type="submit" id="go">Go</button>
  </form>
</body>
</html>
"#;

/// Reads one request head (a GET has no body) and answers it with `PAGE`.
fn answer(mut stream: TcpStream) {
    let mut head = String::new();
    let mut reader = BufReader::new(&stream);
    while reader.read_line(&mut head).is_ok_and(|n| n > 0) && !head.ends_with("\r\n\r\n") {}
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
        PAGE.len()
    );
}

/// Serves `PAGE` for every request on a loopback port, from a thread that lives as long as the
/// test binary. Returns `http://127.0.0.1:<port>`.
fn serve_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // A thread per connection: Chromium opens spare connections it may never send a
            // request on, and those must not hold up the ones it does use.
            std::thread::spawn(move || answer(stream));
        }
    });
    base
}

#[tokio::test]
async fn browser_reads_a_page_fills_its_form_submits_it_and_saves_a_screenshot()
-> anyhow::Result<()> {
    let base = serve_page();
    let started = Instant::now();
    let browser = Browser::start().await?;
    eprintln!("Browser::start took {:?}", started.elapsed());

    browser.goto(&format!("{base}/")).await?;
    assert_eq!(browser.text_of("#heading").await?, "Publish a crate");
    assert!(browser.page_text().await?.contains("Publish a crate"));

    browser.fill("#name", "serde-lite").await?;
    let typed = browser.wait_for("#name").await?.prop("value").await?;
    assert_eq!(typed.as_deref(), Some("serde-lite"));

    let path = browser.screenshot("test-support-browser-self-test").await?;
    let png = std::fs::read(&path)?;
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        png.len() > 1000,
        "{} is only {} bytes",
        path.display(),
        png.len()
    );
    assert!(path.ends_with("screenshots/test-support-browser-self-test.png"));

    browser.click("#go").await?;
    // The click only starts the navigation: wait for the browser to get there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut url = browser.current_url().await?;
    while url.path() != "/submitted" && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        url = browser.current_url().await?;
    }
    assert_eq!(url.path(), "/submitted");
    assert_eq!(url.query(), Some("name=serde-lite"));

    browser.close().await
}

#[tokio::test]
async fn browsers_started_side_by_side_each_get_their_own_chromedriver() -> anyhow::Result<()> {
    let base = serve_page();
    let (a, b) = tokio::join!(Browser::start(), Browser::start());
    let (a, b) = (a?, b?);
    assert_ne!(a.webdriver_url(), b.webdriver_url());
    a.goto(&format!("{base}/")).await?;
    b.goto(&format!("{base}/")).await?;
    assert_eq!(a.text_of("h1").await?, b.text_of("h1").await?);
    // One closed politely, one only dropped: both must end their processes.
    a.close().await?;
    drop(b);
    Ok(())
}
