//! The report: one section per benchmark, the machine and versions, rendered as Markdown.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// One benchmark's results, ready to print.
pub struct Section {
    pub title: &'static str,
    pub command: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

/// The whole report.
pub fn render(root: &Path, sections: &[Section], invocation: &str) -> String {
    let mut out = String::from("# cargohold benchmarks\n\n");
    out.push_str(
        "Written by `cargo run --release -p cargohold-bench` (one command, no network; it installs nginx and \
         wrk from Debian's packages when they are missing). Absolute figures depend on the machine and on \
         what else runs on it, so every comparison is made side by side in one run and given as a ratio. What was found \
         while profiling, and why the hot paths look as they do, is in docs/performance.md.\n\n",
    );
    let _ = writeln!(out, "This run: `{invocation}`\n");
    let _ = writeln!(out, "## Machine and versions\n");
    for (what, value) in machine(root) {
        let _ = writeln!(out, "- {what}: {value}");
    }
    for section in sections {
        let _ = writeln!(out, "\n## {}\n\n`{}`\n", section.title, section.command);
        let _ = writeln!(out, "| {} |", section.header.join(" | "));
        let _ = writeln!(out, "|{}", " --- |".repeat(section.header.len()));
        for row in &section.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        for note in &section.notes {
            let _ = writeln!(out, "\n{note}");
        }
    }
    out
}

fn machine(root: &Path) -> Vec<(&'static str, String)> {
    let command = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    vec![
        ("CPU", format!("{cpu}, {cores} cores")),
        ("memory", memory),
        ("kernel", command("uname", &["-sr"])),
        (
            "cargohold",
            command("git", &["describe", "--always", "--dirty"]),
        ),
        ("rustc", command("rustc", &["--version"])),
        ("cargo", command("cargo", &["--version"])),
        ("nginx", {
            let out = Command::new("nginx").arg("-v").output().ok();
            out.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
                .unwrap_or_else(|| "unknown".into())
        }),
        (
            "wrk",
            command("sh", &["-c", "wrk --version 2>&1 | head -n1"]),
        ),
    ]
}

/// A ratio `ours / theirs` for display.
pub fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 {
        format!("{:.2}×", ours / theirs)
    } else {
        "–".into()
    }
}
