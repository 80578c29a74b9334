//! Generated registries to benchmark against, built once through `cargohold import` and cached.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use cargohold_test_support::CrateFixture;
use cargohold_test_support::fixture::TarEntry;

/// The index URL generated crates name their own registry by: what `import` sees
/// with the default configuration.
const GENERATED_INDEX: &str = "sparse+http://127.0.0.1:8000/registries/main/index/";

/// Bump when generation changes, so old caches are not reused.
const FORMAT: u32 = 1;

/// A registry full of generated crates: a pristine data directory to copy from.
pub struct Registry {
    pub data_dir: PathBuf,
    /// Every crate with its versions, in publish order.
    pub crates: Vec<(String, Vec<String>)>,
    /// The `.crate` files, named `{name}-{version}.crate`.
    pub crate_files: PathBuf,
    /// An admin token for this registry.
    pub token: String,
}

/// The name of generated crate `i`.
pub fn crate_name(i: usize) -> String {
    format!("bench-crate-{i:05}")
}

/// How many versions crate `i` has: 1 to 20, about 10.5 on average, spread evenly.
fn version_count(i: usize) -> usize {
    1 + (i * 7919 % 97) / 5
}

/// The crates generated crate `i` depends on: `i/2` and `i/3`, a graph a few levels deep
/// whose closures stay small, as on crates.io.
pub fn dependencies(i: usize) -> Vec<usize> {
    let mut deps: Vec<usize> = [i / 2, i / 3].into_iter().filter(|&d| d != i).collect();
    deps.dedup();
    deps
}

/// One generated version of crate `name`, shaped like generated crate `i`: its
/// dependencies, features, and `source_lines` lines of source that do not
/// compress to nothing.
pub fn fixture(name: &str, i: usize, version: &str, source_lines: usize) -> CrateFixture {
    let mut fixture = CrateFixture::new(name, version).in_registry(GENERATED_INDEX);
    for dep in dependencies(i) {
        fixture = fixture.dep(&crate_name(dep), "1");
    }
    fixture = fixture.feature("default", &["std"]).feature("std", &[]);
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64) << 8;
    let source: String = (0..source_lines)
        .map(|line| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("pub const C{line}: u64 = {state:#018x};\n")
        })
        .collect();
    let path = format!("{}/src/more.rs", fixture.prefix());
    fixture.extra_entries.push(TarEntry::file(path, source));
    fixture
}

/// The registry of `count` crates, built on first use and kept under `cache`.
pub fn registry(cache: &Path, binary: &Path, count: usize) -> anyhow::Result<Registry> {
    let dir = cache.join(format!("registry-{count}-v{FORMAT}"));
    let crates: Vec<(String, Vec<String>)> = (0..count)
        .map(|i| {
            let versions = (0..version_count(i)).map(|v| format!("1.{v}.0")).collect();
            (crate_name(i), versions)
        })
        .collect();
    let registry = Registry {
        data_dir: dir.join("data"),
        crates,
        crate_files: dir.join("crates"),
        token: String::new(),
    };
    if dir.join("complete").exists() {
        let token = std::fs::read_to_string(dir.join("token.txt"))?
            .trim()
            .to_owned();
        return Ok(Registry { token, ..registry });
    }

    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&registry.crate_files)?;
    let versions: usize = registry.crates.iter().map(|(_, v)| v.len()).sum();
    eprintln!(
        "generating {count} crates, {versions} versions (cached in {})",
        dir.display()
    );
    for (i, (_, versions)) in registry.crates.iter().enumerate() {
        for version in versions {
            let fixture = fixture(&crate_name(i), i, version, 40);
            let file = registry
                .crate_files
                .join(format!("{}.crate", fixture.prefix()));
            std::fs::write(file, fixture.tarball())?;
        }
    }
    let cargohold = |args: &[&str]| -> anyhow::Result<String> {
        let output = Command::new(binary)
            .arg("--data-dir")
            .arg(&registry.data_dir)
            .args(args)
            .output()?;
        if !output.status.success() {
            bail!(
                "cargohold {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    cargohold(&["user", "add", "admin", "--admin"])?;
    eprintln!("importing them");
    let files = registry.crate_files.to_str().context("a UTF-8 path")?;
    eprintln!(
        "{}",
        cargohold(&["import", files])?
            .lines()
            .next()
            .unwrap_or_default()
    );
    let token = cargohold(&[
        "token",
        "create",
        "admin",
        "--scope",
        "publish-new,publish-update",
    ])?
    .trim()
    .to_owned();
    std::fs::write(dir.join("token.txt"), &token)?;
    std::fs::write(dir.join("complete"), "")?;
    Ok(Registry { token, ..registry })
}

impl Registry {
    /// A private copy of the data directory under `dest`, for benchmarks that write.
    pub fn copy_to(&self, dest: &Path) -> anyhow::Result<PathBuf> {
        let target = dest.join("data");
        let status = Command::new("cp")
            .arg("-a")
            .arg(&self.data_dir)
            .arg(&target)
            .status()?;
        if !status.success() {
            bail!("copying {} failed", self.data_dir.display());
        }
        // Write the copy out now: otherwise the first fsync a benchmark waits for
        // (a publish's checkpoint, say) flushes hundreds of megabytes of it.
        Command::new("sync").status()?;
        Ok(target)
    }

    /// How many versions the registry holds.
    pub fn version_count(&self) -> usize {
        self.crates.iter().map(|(_, v)| v.len()).sum()
    }
}
