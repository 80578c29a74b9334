//! `AdvisoryDb`: a directory laid out like a checkout of RustSec's advisory-db, with
//! advisories written in its real format, for `cargohold advisory import`.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// An advisory-db checkout in a temporary directory.
pub struct AdvisoryDb {
    dir: TempDir,
}

/// One advisory to write (`[advisory]` and `[versions]` of the front matter).
#[derive(Debug, Clone)]
pub struct AdvisoryFile<'a> {
    pub id: &'a str,
    pub package: &'a str,
    pub title: &'a str,
    pub patched: &'a [&'a str],
    pub unaffected: &'a [&'a str],
    /// `unmaintained`, `unsound`, …; `None` for a vulnerability.
    pub informational: Option<&'a str>,
    pub withdrawn: bool,
}

impl<'a> AdvisoryFile<'a> {
    /// A vulnerability of `package` fixed in the `patched` versions.
    pub fn new(id: &'a str, package: &'a str, patched: &'a [&'a str]) -> Self {
        Self {
            id,
            package,
            title: "Out-of-bounds write in parse()",
            patched,
            unaffected: &[],
            informational: None,
            withdrawn: false,
        }
    }
}

impl AdvisoryDb {
    /// An empty checkout (no `crates/` folder yet).
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The checkout's root, as `advisory import` takes it.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `crates/<package>/<id>.md` and returns its path.
    pub fn add(&self, advisory: &AdvisoryFile<'_>) -> PathBuf {
        let folder = self.dir.path().join("crates").join(advisory.package);
        std::fs::create_dir_all(&folder).unwrap();
        let list = |reqs: &[&str]| {
            let quoted: Vec<String> = reqs.iter().map(|r| format!("\"{r}\"")).collect();
            format!("[{}]", quoted.join(", "))
        };
        let mut front = format!(
            "[advisory]\nid = \"{}\"\npackage = \"{}\"\ndate = \"2026-11-02\"\n\
             url = \"https://example.com/{}\"\naliases = [\"CVE-2026-99999\"]\n",
            advisory.id, advisory.package, advisory.id
        );
        if let Some(kind) = advisory.informational {
            front.push_str(&format!("informational = \"{kind}\"\n"));
        } else {
            front.push_str("categories = [\"memory-corruption\"]\n");
        }
        if advisory.withdrawn {
            front.push_str("withdrawn = \"2026-11-20\"\n");
        }
        front.push_str(&format!(
            "\n[versions]\npatched = {}\nunaffected = {}\n",
            list(advisory.patched),
            list(advisory.unaffected)
        ));
        let text = format!(
            "```toml\n{front}```\n\n# {}\n\nAffected versions of this crate write past the end of a buffer.\n",
            advisory.title
        );
        let path = folder.join(format!("{}.md", advisory.id));
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Default for AdvisoryDb {
    fn default() -> Self {
        Self::new()
    }
}
