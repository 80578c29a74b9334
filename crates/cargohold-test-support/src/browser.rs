//! `Browser`: a real headless Chromium, driven through its own `chromedriver` with `fantoccini`,
//! for end-to-end tests of the web UI.
//!
//! Each `Browser` runs its own `chromedriver` on a free loopback port and its own Chromium with a
//! fresh profile directory, so tests may run in parallel. Both processes end when the `Browser` is
//! dropped. Chromium and ChromeDriver must be installed (Debian: `apt-get install chromium
//! chromium-driver`); without them [`Browser::start`] panics rather than letting a test pass
//! without a browser.
//!
//! ```no_run
//! # async fn demo(base: &str) -> anyhow::Result<()> {
//! use cargohold_test_support::Browser;
//!
//! let browser = Browser::start().await?;
//! browser.goto(&format!("{base}/login")).await?;
//! browser.fill("input[name=user]", "alice").await?;
//! browser.click("button[type=submit]").await?;
//! assert!(browser.page_text().await?.contains("Signed in"));
//! browser.screenshot("login-done").await?;
//! browser.close().await?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
pub use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use tempfile::TempDir;

/// How long [`Browser::wait_for`] (and the helpers that use it) waits for an element to appear.
pub const ELEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Browser::start`] waits for `chromedriver` to answer on its port.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Chromium's command line. Headless, fit for a root user in a container, a fixed window size so
/// screenshots compare, and quiet on a machine without outside network (no background
/// connections, component updates, sync or first-run pages).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1280,900",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

const INSTALL_HINT: &str = "browser tests need Chromium and ChromeDriver; on Debian install them with \
     `apt-get install -y chromium chromium-driver` (.ci/run does this when chromedriver is missing)";

/// A headless Chromium under its own `chromedriver`, with a WebDriver session open.
pub struct Browser {
    client: Client,
    webdriver_url: String,
    // Fields drop in this order: chromedriver and Chromium end before their directory goes.
    _driver: Driver,
    /// Holds Chromium's profile (`profile/`) and chromedriver's log.
    _dir: TempDir,
}

/// The running chromedriver. Dropping it ends chromedriver and everything under it: Chromium is
/// asked to quit (SIGTERM) and given a moment, then whatever is left is killed. Killing
/// chromedriver alone would leave Chromium running.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let driver = self.0.id();
        // After `Browser::close` Chromium is already gone and this finds nothing to wait for.
        let browsers = children_of(driver);
        if !browsers.is_empty() {
            signal("-TERM", &browsers);
            let deadline = Instant::now() + Duration::from_secs(2);
            while browsers.iter().any(|&pid| is_running(pid)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        signal("-KILL", &descendants_of(driver));
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and opens a session in a new headless
    /// Chromium with an empty profile.
    ///
    /// # Panics
    ///
    /// If `chromedriver` or Chromium is not installed: a test that needs a browser must not pass
    /// without one.
    pub async fn start() -> anyhow::Result<Browser> {
        let chromedriver = find_chromedriver().unwrap_or_else(|| {
            panic!("chromedriver not found on PATH nor at /usr/bin/chromedriver: {INSTALL_HINT}")
        });
        let chromium = find_chromium().unwrap_or_else(|| {
            panic!(
                "Chromium not found at /usr/bin/chromium nor as chromium, chromium-browser or \
                 google-chrome on PATH: {INSTALL_HINT}"
            )
        });

        let dir = tempfile::Builder::new()
            .prefix("cargohold-browser-")
            .tempdir()
            .context("creating the browser's temporary directory")?;
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).context("creating Chromium's profile directory")?;
        let log = dir.path().join("chromedriver.log");

        // The port is free when asked for but could be taken before chromedriver binds it; a
        // chromedriver that exits early is started again on another port.
        let mut attempt = 0;
        let (driver, webdriver_url) = loop {
            attempt += 1;
            let port = free_loopback_port()?;
            let mut driver = Driver(
                Command::new(&chromedriver)
                    .arg(format!("--port={port}"))
                    .arg(format!("--log-path={}", log.display()))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting {}", chromedriver.display()))?,
            );
            let url = format!("http://127.0.0.1:{port}");
            match wait_until_ready(&mut driver, &url).await {
                Ok(()) => break (driver, url),
                Err(e) if attempt >= 3 => {
                    return Err(e.context(format!(
                        "chromedriver did not come up (3 attempts); its log:\n{}",
                        log_tail(&log)
                    )));
                }
                Err(_) => drop(driver),
            }
        };

        let args: Vec<String> = CHROMIUM_ARGS
            .iter()
            .map(|arg| arg.to_string())
            .chain([format!("--user-data-dir={}", profile.display())])
            .collect();
        let serde_json::Value::Object(capabilities) = serde_json::json!({
            "goog:chromeOptions": { "binary": chromium, "args": args }
        }) else {
            unreachable!("a JSON object literal")
        };
        // An early return (or a dropped future) from here on drops `driver`, which ends
        // chromedriver and any Chromium it started.
        let client = ClientBuilder::rustls()
            .context("setting up the WebDriver HTTP client")?
            .capabilities(capabilities)
            .connect(&webdriver_url)
            .await
            .with_context(|| {
                format!(
                    "opening a Chromium session ({}) through chromedriver; its log:\n{}",
                    chromium.display(),
                    log_tail(&log)
                )
            })?;
        Ok(Browser {
            client,
            webdriver_url,
            _driver: driver,
            _dir: dir,
        })
    }

    /// The WebDriver client, for anything the helpers below don't cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where this browser's `chromedriver` listens, e.g. `http://127.0.0.1:41234`.
    pub fn webdriver_url(&self) -> &str {
        &self.webdriver_url
    }

    /// Ends the WebDriver session (Chromium quits), then chromedriver. Dropping a `Browser`
    /// without calling this still ends both processes, only less gently.
    pub async fn close(self) -> anyhow::Result<()> {
        // The rest of `self` drops after this: chromedriver, then the profile directory.
        self.client
            .close()
            .await
            .context("closing the WebDriver session")
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("navigating to {url}"))
    }

    /// The URL the browser is at now (after redirects and form submissions).
    pub async fn current_url(&self) -> anyhow::Result<url::Url> {
        self.client
            .current_url()
            .await
            .context("reading the current URL")
    }

    /// The first element matching the CSS selector `css`, waiting up to [`ELEMENT_TIMEOUT`] for
    /// it to appear.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        match self
            .client
            .wait()
            .at_most(ELEMENT_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => Ok(element),
            Err(e) => {
                let at = self
                    .client
                    .current_url()
                    .await
                    .map_or_else(|_| "an unknown URL".to_owned(), |u| u.to_string());
                Err(anyhow::Error::new(e).context(format!(
                    "no element matches `{css}` on {at} after {} s",
                    ELEMENT_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// The rendered text of the first element matching `css` (waits for it).
    pub async fn text_of(&self, css: &str) -> anyhow::Result<String> {
        self.wait_for(css)
            .await?
            .text()
            .await
            .with_context(|| format!("reading the text of `{css}`"))
    }

    /// Clears the input or textarea matching `css` (waits for it) and types `value` into it.
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css).await?;
        element
            .clear()
            .await
            .with_context(|| format!("clearing `{css}`"))?;
        element
            .send_keys(value)
            .await
            .with_context(|| format!("typing into `{css}`"))
    }

    /// Clicks the first element matching `css` (waits for it).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.wait_for(css)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking `{css}`"))
    }

    /// The rendered text of the whole page (`<body>`).
    pub async fn page_text(&self) -> anyhow::Result<String> {
        self.text_of("body").await
    }

    /// Saves a PNG of the viewport to `<target dir>/screenshots/<name>.png` and returns its path.
    /// The target dir is `CARGO_TARGET_DIR` if set, else `target/` in the workspace root.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            bail!("screenshot name {name:?} must be a plain file name without extension");
        }
        let png = self
            .client
            .screenshot()
            .await
            .context("taking a screenshot")?;
        let dir = screenshot_dir()?;
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// Sends `signal` (`-TERM`, `-KILL`) to `pids` with kill(1); std has no safe way to signal a
/// process that is not our own child.
fn signal(signal: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether `pid` is alive and not a zombie waiting to be reaped.
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// The live processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    process_tree().remove(&parent).unwrap_or_default()
}

/// Every live process below `root`, from `/proc` (empty where there is no `/proc`).
fn descendants_of(root: u32) -> Vec<u32> {
    let children = process_tree();
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            queue.push(child);
        }
    }
    found
}

/// Parent pid to child pids, for every process in `/proc`.
fn process_tree() -> HashMap<u32, Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may itself hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    children
}

/// Polls chromedriver's `/status` until it reports ready, failing early if it exits.
async fn wait_until_ready(driver: &mut Driver, url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building an HTTP client")?;
    let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
    loop {
        if let Some(status) = driver.0.try_wait().context("checking on chromedriver")? {
            bail!("chromedriver exited early ({status})");
        }
        if let Ok(response) = http.get(format!("{url}/status")).send().await
            && let Ok(body) = response.json::<serde_json::Value>().await
            && body["value"]["ready"] == serde_json::Value::Bool(true)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "chromedriver at {url} not ready after {} s",
                DRIVER_READY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A loopback port nothing listens on right now.
pub(crate) fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn log_tail(log: &Path) -> String {
    match std::fs::read_to_string(log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        }
        Err(e) => format!("(no log at {}: {e})", log.display()),
    }
}

fn find_chromedriver() -> Option<PathBuf> {
    on_path("chromedriver").or_else(|| executable(Path::new("/usr/bin/chromedriver")))
}

fn find_chromium() -> Option<PathBuf> {
    executable(Path::new("/usr/bin/chromium")).or_else(|| {
        ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find_map(on_path)
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| executable(&dir.join(name)))
}

fn executable(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then(|| path.to_path_buf())
}

/// `<target dir>/screenshots`: `CARGO_TARGET_DIR` if set (relative to the workspace root if
/// relative), else `<workspace root>/target`, the workspace root being the nearest directory
/// holding `Cargo.lock` above the crate under test.
fn screenshot_dir() -> anyhow::Result<PathBuf> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .with_context(|| format!("no Cargo.lock above {}", manifest_dir.display()))?
        .to_path_buf();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    };
    Ok(target.join("screenshots"))
}
