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
        "Written by `cargo run --release -p cargohold-bench` (one command; it installs nginx and wrk from Debian's \
         packages when they are missing, and uses the network only to build, once, a snapshot of the crates.io files \
         this workspace's Cargo.lock needs, for the proxy benchmark; `--only NAME` runs some benchmarks and keeps the \
         other sections; a whole run keeps each section's copy of the registry until it ends, about 8 GB of disk). Absolute figures depend on the machine and on \
         what else runs on it, so every comparison is made side by side in one run and given as a ratio. What was found \
         while profiling, and why the hot paths look as they do, is in docs/performance.md.\n\n",
    );
    let _ = writeln!(out, "This run: `{invocation}`\n");
    let _ = writeln!(out, "## {MACHINE}\n");
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

/// The report `fresh`, of the benchmarks of `sections` only, folded into the `previous` one:
/// each of its sections replaces the one of the same title, or comes after the section it
/// follows in `fresh` (last, if none); every
/// other section, the machine and the command of the previous run stay as they were, and a
/// list under that command says which sections were run since, how, at which commit and, when
/// it changed, on what.
pub fn merge(previous: &str, fresh: &str, sections: &[Section], invocation: &str) -> String {
    const SINCE: &str = "Sections run separately since:";
    let (fresh_preamble, fresh_blocks) = split(fresh);
    let (old_preamble, old_blocks) = split(previous);
    let rerun: Vec<&str> = sections.iter().map(|s| s.title).collect();
    let machine = |blocks: &[(String, String)]| -> Vec<String> {
        blocks
            .iter()
            .find(|(title, _)| title == MACHINE)
            .map(|(_, block)| {
                block
                    .lines()
                    .filter(|l| l.starts_with("- "))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old_machine, fresh_machine) = (machine(&old_blocks), machine(&fresh_blocks));
    let describe = fresh_machine
        .iter()
        .find_map(|l| l.strip_prefix("- cargohold: "))
        .unwrap_or("unknown");
    let changed: Vec<&str> = fresh_machine
        .iter()
        .filter(|l| !l.starts_with("- cargohold: ") && !old_machine.contains(l))
        .map(|l| &l[2..])
        .collect();
    let on = if changed.is_empty() {
        "same machine and versions".to_owned()
    } else {
        changed.join("; ")
    };

    // The preamble: the current introduction, the previous run's command, what ran since.
    let intro: String = fresh_preamble
        .lines()
        .take_while(|l| !l.starts_with("This run:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut old_lines = old_preamble
        .lines()
        .skip_while(|l| !l.starts_with("This run:"));
    let run_line = old_lines
        .next()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("This run: `{invocation}`"));
    let mut since: Vec<String> = old_lines
        .skip_while(|l| !l.starts_with(SINCE))
        .filter(|l| l.starts_with("- "))
        .filter(|l| !rerun.iter().any(|t| l.starts_with(&format!("- {t}: "))))
        .map(str::to_owned)
        .collect();
    since.extend(
        rerun
            .iter()
            .map(|title| format!("- {title}: `{invocation}` at cargohold {describe} ({on})")),
    );
    let mut out = format!(
        "{}\n\n{run_line}\n\n{SINCE}\n\n{}",
        intro.trim_end(),
        since.join("\n")
    );

    let mut blocks: Vec<(&str, &str)> = old_blocks
        .iter()
        .map(|(title, block)| {
            let fresh = fresh_blocks
                .iter()
                .find(|(t, _)| t == title && t != MACHINE && rerun.contains(&t.as_str()))
                .map_or(block.as_str(), |(_, fresh)| fresh.as_str());
            (title.as_str(), fresh)
        })
        .collect();
    // A section new to the report goes after the one it follows in the fresh run.
    for (index, (title, block)) in fresh_blocks.iter().enumerate() {
        if title == MACHINE || old_blocks.iter().any(|(t, _)| t == title) {
            continue;
        }
        let at = fresh_blocks[..index]
            .iter()
            .rev()
            .find_map(|(before, _)| blocks.iter().position(|(t, _)| t == before))
            .map_or(blocks.len(), |position| position + 1);
        blocks.insert(at, (title.as_str(), block.as_str()));
    }
    for (_, block) in blocks {
        let _ = write!(out, "\n\n{}", block.trim_end());
    }
    out.push('\n');
    out
}

const MACHINE: &str = "Machine and versions";

/// A report's text before its first `## ` heading, and each `## ` block with its title.
fn split(report: &str) -> (String, Vec<(String, String)>) {
    let mut preamble = String::new();
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in report.split_inclusive('\n') {
        if let Some(title) = line.strip_prefix("## ") {
            blocks.push((title.trim().to_owned(), String::new()));
        }
        match blocks.last_mut() {
            Some((_, block)) => block.push_str(line),
            None => preamble.push_str(line),
        }
    }
    (preamble, blocks)
}
