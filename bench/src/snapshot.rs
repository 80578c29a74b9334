//! A static copy of the crates.io files a real project needs: the sparse index files and the
//! `.crate` files of this workspace's Cargo.lock, laid out as a sparse registry that nginx can
//! serve (`index/` and `crates/{name}/{name}-{version}.crate`).
//!
//! Building it is the only step of the benchmarks that uses the network, and it is done once:
//! the snapshot is kept under the cache directory and only completed when the lockfile
//! names something it lacks. `.crate` files come from cargo's own download cache when they
//! are there, from static.crates.io otherwise, and each is checked against both the
//! lockfile's and the index's checksum before it is kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use cargohold_protocol::name::index_path;
use cargohold_protocol::upstream::{LockedPackage, registry_packages};

const INDEX: &str = "https://index.crates.io/";
const DOWNLOADS: &str = "https://static.crates.io/crates/";
/// Requests to crates.io in flight at once while the snapshot is built.
const PARALLEL: usize = 16;

/// The snapshot, complete for one lockfile.
pub struct Snapshot {
    /// What to serve: `index/…` and `crates/…`. `index/config.json` is written by whoever
    /// serves it, since its `dl` names the server's port.
    pub root: PathBuf,
    /// The crates.io packages of the lockfile, one per locked version.
    pub packages: Vec<LockedPackage>,
    /// Distinct crate names, hence index files.
    pub names: usize,
    /// Total size of the `.crate` files.
    pub crate_bytes: u64,
}

fn crate_file(root: &Path, package: &LockedPackage) -> PathBuf {
    root.join("crates")
        .join(&package.name)
        .join(format!("{}-{}.crate", package.name, package.version))
}

fn index_file(root: &Path, name: &str) -> PathBuf {
    root.join("index").join(index_path(name))
}

/// The snapshot for `lockfile`, under `cache`, fetching whatever it still lacks.
pub fn build(cache: &Path, lockfile: &str) -> anyhow::Result<Snapshot> {
    let root = cache.join("crates-io-snapshot");
    let packages: Vec<LockedPackage> = registry_packages(lockfile)?
        .into_iter()
        .filter(|p| {
            let source = p.source.strip_prefix("registry+").unwrap_or(&p.source);
            cargohold_protocol::manifest::is_crates_io(source)
        })
        .collect();
    if packages.is_empty() {
        bail!("Cargo.lock names no crates.io package");
    }
    if let Some(p) = packages.iter().find(|p| p.checksum.is_none()) {
        bail!(
            "{}@{} has no checksum in Cargo.lock; the snapshot checks every .crate against it",
            p.name,
            p.version
        );
    }
    let mut by_name: BTreeMap<String, Vec<&LockedPackage>> = BTreeMap::new();
    for package in &packages {
        by_name
            .entry(package.name.to_ascii_lowercase())
            .or_default()
            .push(package);
    }

    // An index file is (re)fetched when it lacks a locked version with the locked checksum.
    let stale_index: Vec<String> = by_name
        .iter()
        .filter(|(name, locked)| {
            let text = std::fs::read_to_string(index_file(&root, name)).unwrap_or_default();
            locked
                .iter()
                .any(|p| index_checksum(&text, &p.version).as_deref() != p.checksum.as_deref())
        })
        .map(|(name, _)| name.clone())
        .collect();
    let missing: Vec<&LockedPackage> = packages
        .iter()
        .filter(|p| !crate_file(&root, p).is_file())
        .collect();
    let snapshot = |root: PathBuf| -> anyhow::Result<Snapshot> {
        let crate_bytes = packages
            .iter()
            .map(|p| std::fs::metadata(crate_file(&root, p)).map(|m| m.len()))
            .sum::<Result<u64, _>>()?;
        Ok(Snapshot {
            root,
            names: by_name.len(),
            packages: packages.clone(),
            crate_bytes,
        })
    };
    if stale_index.is_empty() && missing.is_empty() {
        eprintln!(
            "reusing the crates.io snapshot in {} ({} index files, {} .crate files)",
            root.display(),
            by_name.len(),
            packages.len()
        );
        return snapshot(root);
    }

    let cargo_caches = cargo_download_caches();
    let (local, remote): (Vec<&LockedPackage>, Vec<&LockedPackage>) = missing
        .iter()
        .partition(|p| find_in(&cargo_caches, p).is_some());
    eprintln!(
        "building the crates.io snapshot in {} (the one step that uses the network): \
         {} of {} index files from {INDEX}, {} of {} .crate files ({} copied from cargo's download cache, {} from {DOWNLOADS})",
        root.display(),
        stale_index.len(),
        by_name.len(),
        missing.len(),
        packages.len(),
        local.len(),
        remote.len()
    );

    let runtime = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::builder()
        .user_agent(concat!(
            "cargohold-bench/",
            env!("CARGO_PKG_VERSION"),
            " (benchmark snapshot)"
        ))
        .build()?;
    let urls: Vec<(String, PathBuf)> = stale_index
        .iter()
        .map(|name| {
            (
                format!("{INDEX}{}", index_path(name)),
                index_file(&root, name),
            )
        })
        .collect();
    runtime.block_on(download_all(&client, "index files", urls))?;
    for (name, locked) in &by_name {
        let text = std::fs::read_to_string(index_file(&root, name))?;
        for p in locked {
            if index_checksum(&text, &p.version).as_deref() != p.checksum.as_deref() {
                bail!(
                    "index.crates.io lists no {}@{} with Cargo.lock's checksum",
                    p.name,
                    p.version
                );
            }
        }
    }

    // `.crate` files land under a temporary name and are renamed once their checksum is right.
    let part = |p: &LockedPackage| crate_file(&root, p).with_extension("crate.part");
    for p in &local {
        let from = find_in(&cargo_caches, p).context("a cached .crate")?;
        let to = part(p);
        std::fs::create_dir_all(to.parent().context("a parent")?)?;
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    let urls: Vec<(String, PathBuf)> = remote
        .iter()
        .map(|p| {
            (
                format!("{DOWNLOADS}{0}/{0}-{1}.crate", p.name, p.version),
                part(p),
            )
        })
        .collect();
    runtime.block_on(download_all(&client, ".crate files", urls))?;
    let parts: Vec<PathBuf> = missing.iter().map(|p| part(p)).collect();
    let sums = sha256_all(&parts)?;
    for (p, (path, sum)) in missing.iter().zip(parts.iter().zip(sums)) {
        if Some(sum.as_str()) != p.checksum.as_deref() {
            let _ = std::fs::remove_file(path);
            bail!(
                "{}@{}: the .crate has SHA-256 {sum}, Cargo.lock and the index say {}",
                p.name,
                p.version,
                p.checksum.as_deref().unwrap_or_default()
            );
        }
        std::fs::rename(path, crate_file(&root, p))?;
    }
    snapshot(root)
}

/// The checksum the index file `text` gives `version`, if it lists it.
fn index_checksum(text: &str, version: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Line {
        vers: String,
        cksum: String,
    }
    text.lines()
        .filter_map(|line| serde_json::from_str::<Line>(line).ok())
        .find(|line| line.vers == version)
        .map(|line| line.cksum)
}

/// Fetches each `(url, file)`, `PARALLEL` at a time, with a progress line.
async fn download_all(
    client: &reqwest::Client,
    what: &str,
    urls: Vec<(String, PathBuf)>,
) -> anyhow::Result<()> {
    if urls.is_empty() {
        return Ok(());
    }
    let progress = indicatif::ProgressBar::new(urls.len() as u64).with_message(what.to_owned());
    progress.set_style(
        indicatif::ProgressStyle::with_template("  [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid progress template"),
    );
    let permits = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for (url, file) in urls {
        let client = client.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let response = client.get(&url).send().await?;
            if !response.status().is_success() {
                bail!("{url} answered {}", response.status());
            }
            let body = response.bytes().await?;
            std::fs::create_dir_all(file.parent().context("a parent")?)?;
            let temporary = file.with_extension("download");
            std::fs::write(&temporary, &body)?;
            std::fs::rename(&temporary, &file)?;
            anyhow::Ok(body.len() as u64)
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
        progress.inc(1);
    }
    progress.finish();
    Ok(())
}

/// Where cargo keeps the `.crate` files it downloaded from crates.io on this machine.
fn cargo_download_caches() -> Vec<PathBuf> {
    let homes: BTreeSet<PathBuf> = [
        std::env::var_os("CARGO_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")),
    ]
    .into_iter()
    .flatten()
    .collect();
    homes
        .iter()
        .filter_map(|home| std::fs::read_dir(home.join("registry/cache")).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("index.crates.io-")
        })
        .map(|entry| entry.path())
        .collect()
}

fn find_in(caches: &[PathBuf], package: &LockedPackage) -> Option<PathBuf> {
    caches
        .iter()
        .map(|dir| dir.join(format!("{}-{}.crate", package.name, package.version)))
        .find(|path| path.is_file())
}

/// The SHA-256 of each file, in order, in hex.
fn sha256_all(files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    use sha2::{Digest, Sha256};
    files
        .iter()
        .map(|file| {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            Ok(hex::encode(Sha256::digest(&bytes)))
        })
        .collect()
}
