//! One `cargohold serve` process the harnesses start, kill and start again on the
//! same address, with its configuration and the operator commands beside it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// Where a harness's registry lives and how its server is started.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `cargohold` binary.
    pub binary: PathBuf,
    /// The data directory (configuration, SQLite database, blobs, server log).
    pub data_dir: PathBuf,
    /// `postgres://…` of an empty database, or `None` for the embedded SQLite.
    pub database_url: Option<String>,
    /// `127.0.0.1:PORT`, kept across restarts so URLs stay the same.
    pub listen: String,
}

impl Setup {
    /// Writes `cargohold.toml`: the public URL, the database, a git index as well as the sparse one,
    /// and no publish rate limit (the harnesses publish as fast as they can).
    pub fn write_config(&self) -> anyhow::Result<()> {
        // The public URL is the listen address, for `cargohold check` as for the server.
        let mut config = format!("public-url = \"http://{}/\"\n", self.listen);
        if let Some(url) = &self.database_url {
            config.push_str(&format!("database-url = \"{url}\"\n"));
        }
        config.push_str(
            "\n[limits]\npublishes-per-minute = 0\n\n[[registries]]\nname = \"main\"\ngit-index = true\n",
        );
        std::fs::write(self.data_dir.join("cargohold.toml"), config)
            .context("writing cargohold.toml")
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.listen)
    }

    /// Runs `cargohold check`: whether the derived index agrees with the database
    /// and every version's blob is there, and what it printed.
    pub fn check(&self) -> anyhow::Result<(bool, String)> {
        let output = Command::new(&self.binary)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("check")
            .current_dir(&self.data_dir)
            .output()
            .context("running cargohold check")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }
}

impl Setup {
    /// The last `lines` warnings and errors of the server's log, for a report.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
        let notable: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("WARN") || line.contains("ERROR"))
            .collect();
        notable[notable.len().saturating_sub(lines)..].join("\n")
    }
}

/// A running server. Dropping it kills the process.
pub struct Node {
    child: Child,
    /// What the server printed before it listened (the first start prints a token).
    pub banner: String,
}

impl Node {
    /// Starts the server and waits until it listens. Its log goes to `server.log`
    /// in the data directory.
    pub fn start(setup: &Setup) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(setup.data_dir.join("server.log"))?;
        let mut child = Command::new(&setup.binary)
            .arg("--data-dir")
            .arg(&setup.data_dir)
            .args(["serve", "--listen", &setup.listen])
            .current_dir(&setup.data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", setup.binary.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut banner = String::new();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line)? == 0 {
                let _ = child.wait();
                bail!(
                    "cargohold exited before it listened; see {}:\n{banner}",
                    setup.data_dir.join("server.log").display()
                );
            }
            banner.push_str(&line);
            if line.starts_with("cargohold is listening on ") {
                break;
            }
        }
        // Keep reading what it prints, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Ok(Self { child, banner })
    }

    /// The admin token printed on the first start.
    pub fn token(&self) -> Option<String> {
        self.banner
            .split_whitespace()
            .find(|word| word.starts_with("cargohold_"))
            .map(str::to_owned)
    }

    /// SIGKILL: no shutdown, nothing flushed; as a power cut is to the process.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits up to 20 s for a clean exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("could not signal cargohold");
        }
        for _ in 0..400 {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("cargohold exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("cargohold did not stop within 20 s of SIGTERM")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free port on loopback.
pub fn free_listen_address() -> anyhow::Result<String> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(socket.local_addr()?.to_string())
}

/// Builds the release binary of cargohold from the workspace at `root`.
pub fn build_release(root: &Path) -> anyhow::Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "-p", "cargohold"])
        .current_dir(root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p cargohold failed");
    }
    Ok(root.join("target/release/cargohold"))
}
