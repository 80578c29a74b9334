//! Load generation with wrk: many connections over a list of paths, each with an optional validator.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::placement::{Placement, on_cores};

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub requests_per_second: f64,
    /// Responses received in the whole run.
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses other than 2xx and 3xx.
    pub errors: u64,
    /// How long wrk's threads waited for a core each time they became ready to
    /// run, on average, in microseconds (the kernel's run-queue wait over its time
    /// slices, read near the run's end); NaN where the kernel keeps no `schedstat`.
    /// While wrk waits, the answers it has not read yet age, and its latencies with them.
    pub client_wait: f64,
}

/// Requests `targets` (path, optional `If-None-Match`) round-robin against `base_url`.
pub fn run(
    base_url: &str,
    targets: &[(String, Option<String>)],
    seconds: u64,
    connections: u32,
    scratch: &Path,
) -> anyhow::Result<Load> {
    run_with_token(
        base_url,
        targets,
        None,
        Placement::Shared,
        seconds,
        connections,
        scratch,
    )
}

/// [`run`], every request carrying `token` as its `Authorization`, as cargo sends
/// it, with wrk on `placement`'s load cores.
pub fn run_with_token(
    base_url: &str,
    targets: &[(String, Option<String>)],
    token: Option<&str>,
    placement: Placement,
    seconds: u64,
    connections: u32,
    scratch: &Path,
) -> anyhow::Result<Load> {
    let pace = Pace::FullLoad;
    run_wrk(
        base_url,
        targets,
        token,
        placement,
        pace,
        seconds,
        connections,
        scratch,
    )
}

/// [`run`], each connection pausing `think_ms` between an answer and its next
/// request (wrk's `delay()`), so the client sleeps between answers instead of
/// queueing for a core behind the server: the latency of a server that is busy
/// but not saturated.
pub fn run_paced(
    base_url: &str,
    targets: &[(String, Option<String>)],
    think_ms: u32,
    seconds: u64,
    connections: u32,
    scratch: &Path,
) -> anyhow::Result<Load> {
    let pace = Pace::Think(think_ms);
    run_wrk(
        base_url,
        targets,
        None,
        Placement::Shared,
        pace,
        seconds,
        connections,
        scratch,
    )
}

/// How fast wrk's connections ask.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// The next request as soon as the answer is read.
    FullLoad,
    /// A pause of this many milliseconds before each request.
    Think(u32),
}

#[allow(clippy::too_many_arguments)]
fn run_wrk(
    base_url: &str,
    targets: &[(String, Option<String>)],
    token: Option<&str>,
    placement: Placement,
    pace: Pace,
    seconds: u64,
    connections: u32,
    scratch: &Path,
) -> anyhow::Result<Load> {
    let list = scratch.join("targets.txt");
    let mut text = String::new();
    for (path, etag) in targets {
        text.push_str(path);
        text.push('\t');
        text.push_str(etag.as_deref().unwrap_or(""));
        text.push('\n');
    }
    std::fs::write(&list, text)?;
    let script = scratch.join("targets.lua");
    let mut lua = String::from(
        r#"
local targets = {}
for line in io.lines(os.getenv("TARGETS")) do
  local path, etag = line:match("^([^\t]*)\t(.*)$")
  targets[#targets + 1] = { path, etag }
end
local token = os.getenv("AUTHORIZATION")
-- What cargo 1.95 (through curl) sends over http://, its offer of HTTP/2 included.
local cargo = {
  ["User-Agent"] = "cargo/1.95.0 (f2d3ce0bd 2026-03-21)",
  ["Accept-Encoding"] = "deflate, gzip",
  ["Connection"] = "Upgrade, HTTP2-Settings",
  ["Upgrade"] = "h2c",
  ["HTTP2-Settings"] = "AAMAAABkAAQAAQAAAAIAAAAA",
  ["cargo-protocol"] = "version=1",
  ["accept"] = "text/plain",
}
local next_index = 0
function setup(thread)
  thread:set("offset", next_index)
  next_index = next_index + 7919
end
-- Every request is formatted once, so the client's work per request is a lookup.
local requests = {}
function init(args)
  for n, target in ipairs(targets) do
    local headers = {}
    for name, value in pairs(cargo) do headers[name] = value end
    if target[2] ~= "" then headers["If-None-Match"] = target[2] end
    if token then headers["Authorization"] = token end
    requests[n] = wrk.format("GET", target[1], headers)
  end
end
local i = 0
function request()
  i = i + 1
  return requests[((offset or 0) + i) % #requests + 1]
end
"#,
    );
    if let Pace::Think(ms) = pace {
        lua.push_str(&format!("function delay()\n  return {ms}\nend\n"));
    }
    std::fs::write(&script, lua)?;
    let wrk = on_cores("wrk", placement.load_cores())
        .args([
            "-t",
            &placement.load_threads().to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
        ])
        .arg("-s")
        .arg(&script)
        .arg(base_url.trim_end_matches('/'))
        .env("TARGETS", &list)
        .envs(token.map(|token| ("AUTHORIZATION", token)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("wrk runs (apt-get install wrk)")?;
    // `taskset` execs wrk, so the child's id is wrk's either way.
    std::thread::sleep(Duration::from_secs(seconds).saturating_sub(Duration::from_millis(300)));
    let client_wait = wait_per_turn_us(wrk.id()).unwrap_or(f64::NAN);
    let output = wrk.wait_with_output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(Load {
        client_wait,
        ..parse(&text)?
    })
}

/// How long the threads of process `pid` waited for a core per time slice on one,
/// on average, in microseconds (`/proc/PID/task/*/schedstat`: nanoseconds on a core,
/// nanoseconds waiting in a run queue, time slices).
fn wait_per_turn_us(pid: u32) -> Option<f64> {
    let (mut waiting, mut slices) = (0u64, 0u64);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        let mut fields = stat
            .split_ascii_whitespace()
            .map(|field| field.parse::<u64>().ok());
        let _running = fields.next()??;
        waiting += fields.next()??;
        slices += fields.next()??;
    }
    (slices > 0).then(|| waiting as f64 / slices as f64 / 1000.0)
}

fn parse(text: &str) -> anyhow::Result<Load> {
    let value_after = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
    };
    let requests_per_second = value_after("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .context("wrk printed no Requests/sec")?;
    // "  123456 requests in 10.00s, 12.34MB read"
    let requests = text
        .lines()
        .find_map(|line| line.trim().split_once(" requests in "))
        .and_then(|(count, _)| count.parse().ok())
        .context("wrk printed no request count")?;
    let errors = value_after("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let p50_ms = value_after("50%").map(duration_ms).context("no p50")?;
    let p99_ms = value_after("99%").map(duration_ms).context("no p99")?;
    Ok(Load {
        requests_per_second,
        requests,
        p50_ms,
        p99_ms,
        errors,
        client_wait: f64::NAN,
    })
}

/// `1.23ms`, `456.00us`, `1.20s` → milliseconds.
fn duration_ms(text: &str) -> f64 {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.trim().parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// Measures `first` and `second` alternately, `rounds` times each, and returns the
/// median run of each (by requests per second): the machine's noise hits both alike.
pub fn alternate(
    rounds: usize,
    mut first: impl FnMut() -> anyhow::Result<Load>,
    mut second: impl FnMut() -> anyhow::Result<Load>,
) -> anyhow::Result<(Load, Load)> {
    let mut a = Vec::with_capacity(rounds);
    let mut b = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        a.push(first()?);
        b.push(second()?);
    }
    Ok((median(a), median(b)))
}

/// Measures each of `servers` in turn, `rounds` times over, and returns each one's median run.
pub fn rotate(
    rounds: usize,
    servers: &mut [&mut dyn FnMut() -> anyhow::Result<Load>],
) -> anyhow::Result<Vec<Load>> {
    let mut runs: Vec<Vec<Load>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds.max(1) {
        for (server, runs) in servers.iter_mut().zip(&mut runs) {
            runs.push(server()?);
        }
    }
    Ok(runs.into_iter().map(median).collect())
}

/// The run of median throughput, with each latency (and wrk's wait for a core) the
/// median over all runs. On two shared cores one run's p99 moves by milliseconds from
/// run to run for every server (nginx's between 1.0 and 6.5 ms in one sitting), so the
/// median says more.
fn median(mut runs: Vec<Load>) -> Load {
    let middle = runs.len() / 2;
    let mut of = |field: fn(&Load) -> f64| {
        runs.sort_by(|x, y| field(x).total_cmp(&field(y)));
        field(&runs[middle])
    };
    let (p50_ms, p99_ms) = (of(|l| l.p50_ms), of(|l| l.p99_ms));
    let client_wait = of(|l| l.client_wait);
    runs.sort_by(|x, y| x.requests_per_second.total_cmp(&y.requests_per_second));
    Load {
        p50_ms,
        p99_ms,
        client_wait,
        ..runs[middle]
    }
}
