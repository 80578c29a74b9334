//! Resolution: `cargo generate-lockfile` of a project with a few hundred dependencies, with
//! crates-io replaced by cargohold, against the same index files served by nginx.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::Bench;
use crate::dataset::{self, Registry};
use crate::report::{Section, ratio};
use crate::servers::{Cargohold, Nginx};

/// About how many crates the lockfile should hold, as in a large real project.
const CLOSURE: usize = 230;

/// Direct dependencies whose transitive closure holds about [`CLOSURE`] crates.
fn direct_dependencies(count: usize) -> (Vec<usize>, usize) {
    let mut closure = BTreeSet::new();
    let mut direct = Vec::new();
    let mut candidate = count - 1;
    while closure.len() < CLOSURE && candidate > 0 {
        if !closure.contains(&candidate) {
            direct.push(candidate);
            let mut stack = vec![candidate];
            while let Some(i) = stack.pop() {
                if closure.insert(i) {
                    stack.extend(dataset::dependencies(i));
                }
            }
        }
        candidate = candidate.saturating_sub(97);
    }
    (direct, closure.len())
}

/// Makes `home` an empty CARGO_HOME whose crates.io is the registry at `registry`
/// (`sparse+…`), without retries.
pub fn fresh_cargo_home(home: &Path, registry: &str) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home)?;
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"bench\"\n\n[source.bench]\nregistry = \"{registry}\"\n\n[net]\nretry = 0\n"
        ),
    )?;
    Ok(())
}

fn generate_lockfile(project: &Path, home: &Path, index_url: &str) -> anyhow::Result<f64> {
    fresh_cargo_home(home, index_url)?;
    let _ = std::fs::remove_file(project.join("Cargo.lock"));
    timed_cargo(project, home, &["generate-lockfile"])
}

/// Runs the cargo under benchmark with `args` in `project` and CARGO_HOME `home`;
/// the seconds it took, or an error with what cargo printed.
pub fn timed_cargo(project: &Path, home: &Path, args: &[&str]) -> anyhow::Result<f64> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let output = Command::new(cargo)
        .args(args)
        .current_dir(project)
        .env("CARGO_HOME", home)
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "cargo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(seconds)
}

pub fn run(bench: &Bench, registry: &Registry) -> anyhow::Result<Section> {
    let scratch = bench.scratch()?;
    let data = registry.copy_to(&scratch)?;
    let server = Cargohold::start(&bench.binary, &data)?;

    // nginx serves the same index files, with a config.json of its own.
    let www = scratch.join("www");
    let runtime = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::new();
    for (name, _) in &registry.crates {
        let path = format!(
            "registries/main/index/{}",
            cargohold_protocol::name::index_path(name)
        );
        let body = runtime.block_on(async {
            client
                .get(format!("{}{path}", server.url))
                .send()
                .await?
                .bytes()
                .await
        })?;
        let file = www.join(&path);
        std::fs::create_dir_all(file.parent().context("a parent")?)?;
        std::fs::write(file, body)?;
    }
    let nginx = Nginx::start(&www)?;
    std::fs::write(
        www.join("registries/main/index/config.json"),
        format!(
            "{{\"dl\":\"{0}registries/main/crates/{{crate}}/{{crate}}-{{version}}.crate\",\"api\":\"{0}registries/main\"}}",
            nginx.url
        ),
    )?;

    let (direct, closure) = direct_dependencies(registry.crates.len());
    let project = scratch.join("project");
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::write(project.join("src/lib.rs"), "")?;
    let deps: String = direct
        .iter()
        .map(|&i| format!("{} = \"1\"\n", dataset::crate_name(i)))
        .collect();
    std::fs::write(
        project.join("Cargo.toml"),
        format!(
            "[package]\nname = \"resolving\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}"
        ),
    )?;

    let home = scratch.join("cargo-home");
    let ours_url = format!("sparse+{}registries/main/index/", server.url);
    let nginx_url = format!("sparse+{}registries/main/index/", nginx.url);
    // Warm both, then alternate, so neither profits from running second.
    generate_lockfile(&project, &home, &ours_url)?;
    generate_lockfile(&project, &home, &nginx_url)?;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..bench.resolutions {
        theirs.push(generate_lockfile(&project, &home, &nginx_url)?);
        ours.push(generate_lockfile(&project, &home, &ours_url)?);
    }
    let lock = std::fs::read_to_string(project.join("Cargo.lock"))?;
    let locked = lock.matches("[[package]]").count() - 1;
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v[v.len() / 2];
    Ok(Section {
        title: "Resolution",
        command: format!(
            "cargo generate-lockfile, empty CARGO_HOME, crates-io replaced; {} direct dependencies, {locked} crates locked; median of {}",
            direct.len(),
            bench.resolutions
        ),
        header: vec!["index served by", "median seconds", "vs nginx"],
        rows: vec![
            vec![
                "nginx".into(),
                format!("{:.3}", median(&theirs)),
                "1.00×".into(),
            ],
            vec![
                "cargohold".into(),
                format!("{:.3}", median(&ours)),
                ratio(median(&ours), median(&theirs)),
            ],
        ],
        notes: vec![format!(
            "The closure was chosen to hold about {CLOSURE} crates ({closure} generated). Target: within 1.05× of nginx (lower is better here)."
        )],
    })
}
