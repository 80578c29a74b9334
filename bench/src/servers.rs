//! The servers under test: cargohold (the release binary) and nginx as the static-file reference.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::placement::{Placement, on_cores};

/// `program` on `placement`'s server cores, or `program` under valgrind's callgrind
/// writing its counts to `counts` (for the instruction counts of `instructions.rs`).
fn launch(
    program: impl AsRef<std::ffi::OsStr>,
    counts: Option<&Path>,
    placement: Placement,
) -> Command {
    match counts {
        Some(counts) => {
            let mut command = Command::new("valgrind");
            command
                .args(["--tool=callgrind", "--quiet"])
                .arg(format!("--callgrind-out-file={}", counts.display()))
                .arg(program);
            command
        }
        None => on_cores(program, placement.server_cores()),
    }
}

/// A running `cargohold serve`.
pub struct Cargohold {
    child: Child,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    /// From spawning the process to its "listening" line.
    pub start_time: Duration,
}

impl Cargohold {
    /// Starts `binary` on `data_dir`, on a port of the system's choosing.
    pub fn start(binary: &Path, data_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with_config(binary, data_dir, None)
    }

    /// Starts `binary` on `data_dir` with the configuration file `config` (`--config`).
    pub fn start_with_config(
        binary: &Path,
        data_dir: &Path,
        config: Option<&Path>,
    ) -> anyhow::Result<Self> {
        Self::launch(binary, data_dir, config, None, Placement::Shared)
    }

    /// Starts `binary` on `data_dir` on `placement`'s server cores.
    pub fn start_on(binary: &Path, data_dir: &Path, placement: Placement) -> anyhow::Result<Self> {
        Self::launch(binary, data_dir, None, None, placement)
    }

    /// Starts `binary` under callgrind, which writes its counts to `counts`.
    pub fn start_counted(binary: &Path, data_dir: &Path, counts: &Path) -> anyhow::Result<Self> {
        Self::launch(binary, data_dir, None, Some(counts), Placement::Shared)
    }

    fn launch(
        binary: &Path,
        data_dir: &Path,
        config: Option<&Path>,
        counts: Option<&Path>,
        placement: Placement,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let mut command = launch(binary, counts, placement);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = command
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cargohold starts")?;
        let stdout = child.stdout.take().context("a stdout pipe")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                bail!("cargohold exited before listening");
            };
            if let Some(rest) = line?.strip_prefix("cargohold is listening on ") {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        Ok(Self {
            child,
            url,
            start_time: started.elapsed(),
        })
    }

    /// Resident memory now, in KiB.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_kib(&self) -> u64 {
        status_field(self.child.id(), "VmRSS:")
    }

    /// The most resident memory so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        status_field(self.child.id(), "VmHWM:")
    }
}

impl Drop for Cargohold {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// A floor server (`floor.rs`), run as `cargohold-bench --floor-server DIR --floor-stack STACK`.
pub struct Floor {
    child: Child,
    pub url: String,
}

impl Floor {
    /// Serves the files under `www` from memory, on `stack`.
    pub fn start(www: &Path, stack: crate::floor::Stack) -> anyhow::Result<Self> {
        Self::launch(www, stack, None, Placement::Shared)
    }

    /// [`Floor::start`] on `placement`'s server cores.
    pub fn start_on(
        www: &Path,
        stack: crate::floor::Stack,
        placement: Placement,
    ) -> anyhow::Result<Self> {
        Self::launch(www, stack, None, placement)
    }

    /// Serves the files under `www` under callgrind, which writes its counts to `counts`.
    pub fn start_counted(
        www: &Path,
        stack: crate::floor::Stack,
        counts: &Path,
    ) -> anyhow::Result<Self> {
        Self::launch(www, stack, Some(counts), Placement::Shared)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn launch(
        www: &Path,
        stack: crate::floor::Stack,
        counts: Option<&Path>,
        placement: Placement,
    ) -> anyhow::Result<Self> {
        let stack = match stack {
            crate::floor::Stack::Hyper => "hyper",
            crate::floor::Stack::Tokio => "tokio",
        };
        let mut child = launch(std::env::current_exe()?, counts, placement)
            .arg("--floor-server")
            .arg(www)
            .args(["--floor-stack", stack])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("the floor server starts")?;
        let stdout = child.stdout.take().context("a stdout pipe")?;
        let line = BufReader::new(stdout).lines().next();
        let port = match line {
            Some(Ok(line)) => line
                .strip_prefix("floor listening on ")
                .and_then(|port| port.trim().parse::<u16>().ok()),
            _ => None,
        };
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the floor server did not start listening");
        };
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        })
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx serving a directory: the practical limit for static files.
pub struct Nginx {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Serves `www` with sendfile, an open-file cache and ETags, as a tuned static server would.
    pub fn start(www: &Path) -> anyhow::Result<Self> {
        Self::launch(www, None, Placement::Shared)
    }

    /// [`Nginx::start`] on `placement`'s server cores, with a worker per core.
    pub fn start_on(www: &Path, placement: Placement) -> anyhow::Result<Self> {
        Self::launch(www, None, placement)
    }

    /// One nginx process (no master, one worker) under callgrind, which writes its
    /// counts to `counts`.
    pub fn start_counted(www: &Path, counts: &Path) -> anyhow::Result<Self> {
        Self::launch(www, Some(counts), Placement::Shared)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn launch(www: &Path, counts: Option<&Path>, placement: Placement) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        // Pinned, one worker for the one core: `auto` counts the machine's cores,
        // not those nginx may run on.
        let processes = if counts.is_some() {
            "worker_processes 1;\nmaster_process off;"
        } else if placement.server_cores().is_some() {
            "worker_processes 1;"
        } else {
            "worker_processes auto;"
        };
        let port = free_port()?;
        let d = dir.path().display();
        let config = format!(
            "user root;\n{processes}\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
               open_file_cache max=200000 inactive=600s;\n  open_file_cache_valid 600s;\n  etag on;\n\
               default_type text/plain;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{ listen 127.0.0.1:{port}; root {www}; }}\n}}\n",
            www = www.display()
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config)?;
        let child = launch("nginx", counts, placement)
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("nginx starts (apt-get install nginx-light)")?;
        let url = format!("http://127.0.0.1:{port}/");
        // Under callgrind, nginx takes seconds to start.
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Self {
                    child,
                    url,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("nginx did not start listening on port {port}")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers, which would otherwise
        // outlive it, still listening.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Makes sure nginx and wrk are installed, from Debian's packages if not.
pub fn ensure_tools() -> anyhow::Result<()> {
    let missing: Vec<&str> = [
        ("nginx", "nginx-light"),
        ("wrk", "wrk"),
        ("valgrind", "valgrind"),
    ]
    .into_iter()
    .filter(|(program, _)| which(program).is_none())
    .map(|(_, package)| package)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing {}", missing.join(" "));
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    if !status.success() {
        bail!(
            "could not install {}: run `apt-get install {}`",
            missing.join(" "),
            missing.join(" ")
        );
    }
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}
