//! The normalized `Cargo.toml` inside a `.crate`, and the index line derived from it alone.
//!
//! `cargo package` writes a manifest with nothing left to resolve: concrete values
//! instead of `workspace = true`, dependencies as tables with `version` and, for
//! other registries, `registry-index`. This module reads that shape (and the older
//! spellings real crates still carry) and refuses anything a registry could not
//! turn into an index line cargo accepts.

use std::collections::BTreeMap;

use toml::{Table, Value};

use crate::index::{CRATES_IO_INDEX, DependencyKind, FeatureMap, IndexDependency, IndexEntry};

/// Why a manifest cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("Cargo.toml is not valid TOML: {0}")]
    Syntax(String),
    #[error("Cargo.toml has no [package] table")]
    NoPackage,
    #[error("`{0}` is missing from Cargo.toml")]
    Missing(String),
    #[error("`{key}` in Cargo.toml must be {expected}")]
    WrongType { key: String, expected: &'static str },
    #[error(
        "`{0}` in Cargo.toml still says `workspace = true`; publish with cargo, which resolves workspace inheritance"
    )]
    Unresolved(String),
    #[error(
        "Cargo.toml has a [{0}] section, which a published crate must not carry; cargo removes it when packaging"
    )]
    Forbidden(&'static str),
    #[error(
        "dependency `{0}` has no version requirement; every dependency of a published crate needs `version`"
    )]
    NoVersion(String),
    #[error(
        "dependency `{dep}` names registry `{registry}`; a packaged manifest gives the registry's index URL as `registry-index`"
    )]
    NamedRegistry { dep: String, registry: String },
    #[error("dependency `{dep}` has an invalid version requirement `{req}`: {reason}")]
    BadRequirement {
        dep: String,
        req: String,
        reason: String,
    },
    #[error("dependency `{dep}` has an invalid target `{target}`: {reason}")]
    BadTarget {
        dep: String,
        target: String,
        reason: String,
    },
    #[error("dependency `{0}` is an artifact dependency, which cargo only supports on nightly")]
    Artifact(String),
    #[error("`{0}` in Cargo.toml contains a NUL character")]
    Nul(String),
}

/// The `[package]` fields a registry keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestPackage {
    pub name: String,
    pub version: String,
    pub links: Option<String>,
    pub rust_version: Option<String>,
    pub edition: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub license_file: Option<String>,
    pub homepage: Option<String>,
    pub documentation: Option<String>,
    pub repository: Option<String>,
    /// The README path; `None` when absent or `readme = false`.
    pub readme: Option<String>,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    pub authors: Vec<String>,
}

/// A dependency as the manifest declares it, before any normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestDependency {
    /// The key in the dependency table: the alias when `package` renames it.
    pub name_in_toml: String,
    pub package: Option<String>,
    pub req: String,
    pub features: Vec<String>,
    pub optional: bool,
    pub default_features: bool,
    /// The `target.<spec>` table it came from, as written.
    pub target: Option<String>,
    pub kind: DependencyKind,
    /// `registry-index`; absent means crates.io.
    pub registry_index: Option<String>,
}

/// What a `.crate`'s `Cargo.toml` says about the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub package: ManifestPackage,
    pub dependencies: Vec<ManifestDependency>,
    pub features: FeatureMap,
}

/// How a registry names itself and crates.io in the index's dependency `registry` field.
///
/// The index writes `None` for "this registry" while a manifest writes every
/// registry's URL, so translating needs to know which URLs are this registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryIdentity {
    own_index_urls: Vec<String>,
    stands_in_for_crates_io: bool,
}

impl RegistryIdentity {
    /// A registry reachable at the given index URLs (e.g. `sparse+http://host/registries/main/index/`).
    pub fn new(own_index_urls: impl IntoIterator<Item = String>) -> Self {
        Self {
            own_index_urls: own_index_urls
                .into_iter()
                .map(|url| url.trim_end_matches('/').to_owned())
                .collect(),
            stands_in_for_crates_io: false,
        }
    }

    /// Marks a registry that replaces crates.io for its users, so crates.io dependencies are its own.
    pub fn standing_in_for_crates_io(mut self) -> Self {
        self.stands_in_for_crates_io = true;
        self
    }

    /// Also treats `url` as this registry (a client may reach it under another host name).
    pub fn also_known_as(&mut self, url: &str) {
        let url = url.trim_end_matches('/');
        if !self.own_index_urls.iter().any(|own| own == url) {
            self.own_index_urls.push(url.to_owned());
        }
    }

    /// Whether `url` is one of this registry's index URLs.
    pub fn is_own(&self, url: &str) -> bool {
        let url = url.trim_end_matches('/');
        self.own_index_urls.iter().any(|own| own == url)
    }

    /// The index `registry` value for a manifest's `registry-index` (absent = crates.io).
    pub fn index_registry(&self, registry_index: Option<&str>) -> Option<String> {
        match registry_index {
            None if self.stands_in_for_crates_io => None,
            None => Some(CRATES_IO_INDEX.to_owned()),
            Some(url) if self.is_own(url) => None,
            Some(url) if self.stands_in_for_crates_io && is_crates_io(url) => None,
            Some(url) => Some(url.to_owned()),
        }
    }
}

/// Whether `url` is one of the URLs cargo uses for crates.io's index.
pub fn is_crates_io(url: &str) -> bool {
    matches!(
        url.trim_end_matches('/'),
        CRATES_IO_INDEX | "sparse+https://index.crates.io"
    )
}

/// A `Cargo.toml`'s text as a TOML table.
pub fn parse_toml(text: &str) -> Result<Table, ManifestError> {
    text.parse()
        .map_err(|e: toml::de::Error| ManifestError::Syntax(e.message().to_owned()))
}

impl Manifest {
    /// Reads a `Cargo.toml` as found in a `.crate`.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        Self::from_table(&parse_toml(text)?)
    }

    /// Reads a `Cargo.toml` already parsed with [`parse_toml`], for callers that
    /// read more of it (its targets, say) than a `Manifest` keeps.
    pub fn from_table(table: &Table) -> Result<Self, ManifestError> {
        reject_nul(table, "")?;
        for forbidden in ["patch", "replace"] {
            if table.contains_key(forbidden) {
                return Err(ManifestError::Forbidden(if forbidden == "patch" {
                    "patch"
                } else {
                    "replace"
                }));
            }
        }
        let package = match table.get("package").or_else(|| table.get("project")) {
            Some(Value::Table(package)) => read_package(package)?,
            Some(_) => {
                return Err(ManifestError::WrongType {
                    key: "package".into(),
                    expected: "a table",
                });
            }
            None => return Err(ManifestError::NoPackage),
        };

        let mut dependencies = Vec::new();
        read_dependency_tables(table, "", None, &mut dependencies)?;
        match table.get("target") {
            None => {}
            Some(Value::Table(targets)) => {
                for (spec, platform) in targets {
                    let Value::Table(platform) = platform else {
                        return Err(ManifestError::WrongType {
                            key: format!("target.{spec}"),
                            expected: "a table",
                        });
                    };
                    let prefix = format!("target.{spec}.");
                    read_dependency_tables(platform, &prefix, Some(spec), &mut dependencies)?;
                }
            }
            Some(_) => {
                return Err(ManifestError::WrongType {
                    key: "target".into(),
                    expected: "a table",
                });
            }
        }

        let features = match table.get("features") {
            None => FeatureMap::new(),
            Some(Value::Table(features)) => features
                .iter()
                .map(|(name, values)| {
                    let key = format!("features.{name}");
                    Ok((name.clone(), string_array(values, &key)?))
                })
                .collect::<Result<_, ManifestError>>()?,
            Some(_) => {
                return Err(ManifestError::WrongType {
                    key: "features".into(),
                    expected: "a table",
                });
            }
        };

        Ok(Self {
            package,
            dependencies,
            features,
        })
    }

    /// The index line this manifest describes, for a `.crate` with checksum `cksum`.
    ///
    /// Requirements are written the way cargo prints them (`1.0` becomes `^1.0`),
    /// as crates.io's index shows them; targets stay as the manifest spells them.
    pub fn to_index_entry(
        &self,
        cksum: &str,
        pubtime: Option<String>,
        registry: &RegistryIdentity,
    ) -> Result<IndexEntry, ManifestError> {
        let deps = self
            .dependencies
            .iter()
            .map(|dep| {
                Ok(IndexDependency {
                    name: dep.name_in_toml.clone(),
                    req: normalize_requirement(&dep.name_in_toml, &dep.req)?,
                    features: dep.features.clone(),
                    optional: dep.optional,
                    default_features: dep.default_features,
                    // Checked like cargo will, but kept as written, as crates.io does.
                    target: match &dep.target {
                        Some(target) => {
                            normalize_target(&dep.name_in_toml, target)?;
                            Some(target.clone())
                        }
                        None => None,
                    },
                    kind: dep.kind,
                    registry: registry.index_registry(dep.registry_index.as_deref()),
                    package: dep.package.clone(),
                })
            })
            .collect::<Result<Vec<_>, ManifestError>>()?;
        let mut entry = IndexEntry {
            name: self.package.name.clone(),
            vers: self.package.version.clone(),
            deps,
            cksum: cksum.to_owned(),
            features: FeatureMap::new(),
            features2: None,
            yanked: false,
            links: self.package.links.clone(),
            rust_version: self.package.rust_version.clone(),
            pubtime,
            v: None,
        };
        entry.sort_dependencies();
        entry.split_features(self.features.clone());
        Ok(entry)
    }
}

/// A version requirement as cargo prints it (`1.0` → `^1.0`), or why it does not parse.
pub fn normalize_requirement(dep: &str, req: &str) -> Result<String, ManifestError> {
    semver::VersionReq::parse(req)
        .map(|parsed| parsed.to_string())
        .map_err(|e| ManifestError::BadRequirement {
            dep: dep.to_owned(),
            req: req.to_owned(),
            reason: e.to_string(),
        })
}

/// A target spec as cargo prints it (`cfg(unix)`, `x86_64-pc-windows-msvc`), or why it does not parse.
pub fn normalize_target(dep: &str, target: &str) -> Result<String, ManifestError> {
    target
        .parse::<cargo_platform::Platform>()
        .map(|platform| platform.to_string())
        .map_err(|e| ManifestError::BadTarget {
            dep: dep.to_owned(),
            target: target.to_owned(),
            reason: e.to_string(),
        })
}

fn read_package(package: &Table) -> Result<ManifestPackage, ManifestError> {
    let text = |key: &str| optional_string(package, key, "package.");
    let name = text("name")?.ok_or_else(|| ManifestError::Missing("package.name".into()))?;
    let version =
        text("version")?.ok_or_else(|| ManifestError::Missing("package.version".into()))?;
    let readme = match package.get("readme") {
        Some(Value::Boolean(_)) => None,
        _ => text("readme")?,
    };
    let list = |key: &str| -> Result<Vec<String>, ManifestError> {
        match package.get(key) {
            None => Ok(Vec::new()),
            Some(value) => {
                let full = format!("package.{key}");
                reject_inherited(value, &full)?;
                string_array(value, &full)
            }
        }
    };
    Ok(ManifestPackage {
        name,
        version,
        links: text("links")?,
        rust_version: text("rust-version")?,
        edition: text("edition")?,
        description: text("description")?,
        license: text("license")?,
        license_file: text("license-file")?,
        homepage: text("homepage")?,
        documentation: text("documentation")?,
        repository: text("repository")?,
        readme,
        keywords: list("keywords")?,
        categories: list("categories")?,
        authors: list("authors")?,
    })
}

/// Reads `dependencies`, `dev-dependencies` and `build-dependencies` (and their
/// pre-2018 underscore spellings) from `table`, which is the manifest root or a
/// `target.<spec>` table.
fn read_dependency_tables(
    table: &Table,
    prefix: &str,
    target: Option<&str>,
    out: &mut Vec<ManifestDependency>,
) -> Result<(), ManifestError> {
    let tables = [
        ("dependencies", DependencyKind::Normal),
        ("dev-dependencies", DependencyKind::Dev),
        ("dev_dependencies", DependencyKind::Dev),
        ("build-dependencies", DependencyKind::Build),
        ("build_dependencies", DependencyKind::Build),
    ];
    for (key, kind) in tables {
        let Some(deps) = table.get(key) else {
            continue;
        };
        let full = format!("{prefix}{key}");
        let Value::Table(deps) = deps else {
            return Err(ManifestError::WrongType {
                key: full,
                expected: "a table",
            });
        };
        for (name, spec) in deps {
            let key = format!("{full}.{name}");
            if let Some(dep) = read_dependency(name, spec, &key, kind, target)? {
                out.push(dep);
            }
        }
    }
    Ok(())
}

fn read_dependency(
    name: &str,
    spec: &Value,
    key: &str,
    kind: DependencyKind,
    target: Option<&str>,
) -> Result<Option<ManifestDependency>, ManifestError> {
    let mut dep = ManifestDependency {
        name_in_toml: name.to_owned(),
        package: None,
        req: String::new(),
        features: Vec::new(),
        optional: false,
        default_features: true,
        target: target.map(str::to_owned),
        kind,
        registry_index: None,
    };
    let detail = match spec {
        Value::String(req) => {
            dep.req = req.clone();
            return Ok(Some(dep));
        }
        Value::Table(detail) => detail,
        _ => {
            return Err(ManifestError::WrongType {
                key: key.to_owned(),
                expected: "a version string or a table",
            });
        }
    };
    if detail.get("workspace").is_some() {
        return Err(ManifestError::Unresolved(key.to_owned()));
    }
    if detail.contains_key("artifact") {
        return Err(ManifestError::Artifact(name.to_owned()));
    }
    let prefix = format!("{key}.");
    let Some(req) = optional_string(detail, "version", &prefix)? else {
        // A path- or git-only dev-dependency cannot come from a registry; cargo drops
        // it when packaging, and manifests from old cargos that kept it still build.
        if kind == DependencyKind::Dev {
            return Ok(None);
        }
        return Err(ManifestError::NoVersion(name.to_owned()));
    };
    dep.req = req;
    dep.package = optional_string(detail, "package", &prefix)?;
    dep.registry_index = optional_string(detail, "registry-index", &prefix)?;
    if dep.registry_index.is_none()
        && let Some(registry) = optional_string(detail, "registry", &prefix)?
    {
        return Err(ManifestError::NamedRegistry {
            dep: name.to_owned(),
            registry,
        });
    }
    if let Some(features) = detail.get("features") {
        dep.features = string_array(features, &format!("{prefix}features"))?
            .into_iter()
            .filter(|feature| !feature.is_empty())
            .collect();
    }
    dep.optional = optional_bool(detail, "optional", &prefix)?.unwrap_or(false);
    dep.default_features = match optional_bool(detail, "default-features", &prefix)? {
        Some(value) => value,
        None => optional_bool(detail, "default_features", &prefix)?.unwrap_or(true),
    };
    Ok(Some(dep))
}

/// Refuses NUL characters anywhere (keys included): no field of a crate needs one,
/// and databases store text without them.
fn reject_nul(table: &Table, prefix: &str) -> Result<(), ManifestError> {
    fn check(value: &Value, key: &str) -> Result<(), ManifestError> {
        match value {
            Value::String(text) if text.contains('\0') => Err(ManifestError::Nul(key.to_owned())),
            Value::Array(items) => items.iter().try_for_each(|item| check(item, key)),
            Value::Table(table) => reject_nul(table, &format!("{key}.")),
            _ => Ok(()),
        }
    }
    for (key, value) in table {
        let full = format!("{prefix}{key}");
        if key.contains('\0') {
            return Err(ManifestError::Nul(full.replace('\0', "\\0")));
        }
        check(value, &full)?;
    }
    Ok(())
}

fn reject_inherited(value: &Value, key: &str) -> Result<(), ManifestError> {
    match value {
        Value::Table(table) if table.contains_key("workspace") => {
            Err(ManifestError::Unresolved(key.to_owned()))
        }
        _ => Ok(()),
    }
}

fn optional_string(
    table: &Table,
    key: &str,
    prefix: &str,
) -> Result<Option<String>, ManifestError> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(other) => {
            let full = format!("{prefix}{key}");
            reject_inherited(other, &full)?;
            Err(ManifestError::WrongType {
                key: full,
                expected: "a string",
            })
        }
    }
}

fn optional_bool(table: &Table, key: &str, prefix: &str) -> Result<Option<bool>, ManifestError> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::Boolean(value)) => Ok(Some(*value)),
        Some(_) => Err(ManifestError::WrongType {
            key: format!("{prefix}{key}"),
            expected: "true or false",
        }),
    }
}

fn string_array(value: &Value, key: &str) -> Result<Vec<String>, ManifestError> {
    let wrong = || ManifestError::WrongType {
        key: key.to_owned(),
        expected: "an array of strings",
    };
    let Value::Array(items) = value else {
        return Err(wrong());
    };
    items
        .iter()
        .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
        .collect()
}

/// Groups dependencies by the name they are used under, for feature checks.
pub(crate) fn optional_by_name(deps: &[IndexDependency]) -> BTreeMap<&str, bool> {
    let mut map: BTreeMap<&str, bool> = BTreeMap::new();
    for dep in deps {
        *map.entry(dep.name.as_str()).or_insert(false) |= dep.optional;
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from what `cargo package` 1.95 writes for a crate using most features.
    const NORMALIZED: &str = include_str!("testdata/normalized-manifest.toml");

    fn identity() -> RegistryIdentity {
        RegistryIdentity::new(["sparse+http://reg.example/registries/main/index/".to_owned()])
    }

    #[test]
    fn a_normalized_manifest_becomes_the_index_line_cargo_expects() {
        let manifest = Manifest::parse(NORMALIZED).unwrap();
        assert_eq!(manifest.package.name, "Demo_Crate");
        assert_eq!(manifest.package.readme.as_deref(), Some("README.md"));
        let entry = manifest
            .to_index_entry(
                &"0".repeat(64),
                Some("2026-01-01T00:00:00Z".into()),
                &identity(),
            )
            .unwrap();
        assert_eq!(entry.vers, "1.2.3+build.5");
        assert_eq!(entry.links.as_deref(), Some("demo"));
        assert_eq!(entry.rust_version.as_deref(), Some("1.70"));
        assert_eq!(
            entry.features.keys().collect::<Vec<_>>(),
            ["default", "std"]
        );
        assert_eq!(entry.v, Some(2));

        let dep = |name: &str| entry.deps.iter().find(|d| d.name == name).unwrap();
        let serde = dep("serde_alias");
        assert_eq!(serde.package.as_deref(), Some("serde"));
        assert_eq!(serde.req, "^1.0");
        assert_eq!(serde.features, ["derive"]);
        assert!(serde.optional && !serde.default_features);
        assert_eq!(serde.registry, None, "same registry is written as null");
        assert_eq!(dep("log").registry.as_deref(), Some(CRATES_IO_INDEX));
        assert_eq!(
            dep("pretty").registry.as_deref(),
            Some("sparse+https://other.example/index/")
        );
        assert_eq!(dep("pretty").kind, DependencyKind::Dev);
        assert_eq!(dep("pretty").req, "=1.2.3");
        assert_eq!(dep("cc").kind, DependencyKind::Build);
        assert_eq!(dep("winapi").target.as_deref(), Some("cfg(windows)"));
        let linuxy = dep("linuxy");
        assert_eq!(linuxy.target.as_deref(), Some("cfg(target_os=\"linux\")"));
        assert_eq!(linuxy.req, ">=1, <2");
        assert_eq!(linuxy.kind, DependencyKind::Build);
    }

    #[test]
    fn a_registry_standing_in_for_crates_io_owns_crates_io_dependencies() {
        let manifest = Manifest::parse(NORMALIZED).unwrap();
        let entry = manifest
            .to_index_entry("x", None, &identity().standing_in_for_crates_io())
            .unwrap();
        assert_eq!(
            entry
                .deps
                .iter()
                .find(|d| d.name == "log")
                .unwrap()
                .registry,
            None
        );
    }

    #[test]
    fn version_less_dev_dependencies_are_dropped_as_cargo_does() {
        let manifest = Manifest::parse(
            "[package]\nname='x'\nversion='1.0.0'\n[dev-dependencies]\nlocal={path='../local'}\nreal='1'\n",
        )
        .unwrap();
        let names: Vec<&str> = manifest
            .dependencies
            .iter()
            .map(|d| d.name_in_toml.as_str())
            .collect();
        assert_eq!(names, ["real"]);
    }

    #[test]
    fn legacy_spellings_are_read() {
        let manifest = Manifest::parse(
            "[project]\nname = \"old\"\nversion = \"0.1.0\"\n[dev_dependencies]\na = { version = \"1\", default_features = false }\n",
        )
        .unwrap();
        assert_eq!(manifest.dependencies[0].kind, DependencyKind::Dev);
        assert!(!manifest.dependencies[0].default_features);
    }

    #[test]
    fn manifests_that_are_not_publishable_are_rejected_with_the_reason() {
        let cases = [
            ("not toml", "not valid TOML"),
            ("[lib]\nname='x'", "no [package]"),
            ("[package]\nname='x'", "`package.version` is missing"),
            (
                "[package]\nname='x'\nversion.workspace=true",
                "workspace = true",
            ),
            (
                "[package]\nname='x'\nversion='1.0.0'\n[dependencies]\na={workspace=true}",
                "workspace = true",
            ),
            (
                "[package]\nname='x'\nversion='1.0.0'\n[dependencies]\na={path='../a'}",
                "no version requirement",
            ),
            (
                "[package]\nname='x'\nversion='1.0.0'\n[dependencies]\na={version='1',registry='corp'}",
                "`registry-index`",
            ),
            (
                "[package]\nname='x'\nversion='1.0.0'\n[patch.crates-io]\na={path='a'}",
                "[patch]",
            ),
            (
                "[package]\nname='x'\nversion=1",
                "`package.version` in Cargo.toml must be a string",
            ),
            (
                "[package]\nname='x'\nversion='1.0.0'\nkeywords=[\"a\\u0000b\"]",
                "`package.keywords` in Cargo.toml contains a NUL",
            ),
        ];
        for (text, expected) in cases {
            let err = Manifest::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn unparsable_requirements_and_targets_are_rejected() {
        let manifest =
            Manifest::parse("[package]\nname='x'\nversion='1.0.0'\n[dependencies]\na='not a req'")
                .unwrap();
        let err = manifest.to_index_entry("x", None, &identity()).unwrap_err();
        assert!(matches!(err, ManifestError::BadRequirement { .. }), "{err}");

        let manifest = Manifest::parse(
            "[package]\nname='x'\nversion='1.0.0'\n[target.'cfg(unix'.dependencies]\na='1'",
        )
        .unwrap();
        let err = manifest.to_index_entry("x", None, &identity()).unwrap_err();
        assert!(matches!(err, ManifestError::BadTarget { .. }), "{err}");
    }

    #[test]
    fn own_urls_match_with_or_without_the_trailing_slash() {
        let mut id = identity();
        assert!(id.is_own("sparse+http://reg.example/registries/main/index"));
        assert!(!id.is_own("sparse+http://localhost/registries/main/index/"));
        id.also_known_as("sparse+http://localhost/registries/main/index/");
        assert!(id.is_own("sparse+http://localhost/registries/main/index"));
    }
}
