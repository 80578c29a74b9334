//! One line of a sparse index file: the schema cargo reads (`IndexPackage`), written the way crates.io writes it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The index URL cargo records for dependencies on crates.io, whatever protocol reaches it.
pub const CRATES_IO_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// A crate's features: feature name → the values it enables.
pub type FeatureMap = BTreeMap<String, Vec<String>>;

/// One published version, as a line of its crate's index file.
///
/// Field order follows crates.io's index so lines compare easily by eye; cargo
/// itself does not care about order. `features`, `optional` and
/// `default_features` are always written because cargo before 1.84 requires them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub name: String,
    pub vers: String,
    pub deps: Vec<IndexDependency>,
    pub cksum: String,
    pub features: FeatureMap,
    /// Features using `dep:` or `name?/feature` syntax, kept apart so that cargo
    /// older than 1.60 skips them instead of rejecting the whole version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features2: Option<FeatureMap>,
    #[serde(default)]
    pub yanked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
    /// The first publish time, `YYYY-MM-DDTHH:MM:SSZ`; cargo rejects the whole line
    /// for any other shape, so it is only ever written through [`format_pubtime`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubtime: Option<String>,
    /// Schema version; 2 when `features2` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
}

/// A dependency as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDependency {
    /// The name the depending crate uses: the alias when renamed.
    pub name: String,
    pub req: String,
    pub features: Vec<String>,
    pub optional: bool,
    pub default_features: bool,
    pub target: Option<String>,
    pub kind: DependencyKind,
    /// The dependency's index URL; `None` means this same registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The real crate name when `name` is an alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

impl IndexDependency {
    /// The name of the crate this dependency resolves to.
    pub fn crate_name(&self) -> &str {
        self.package.as_deref().unwrap_or(&self.name)
    }
}

/// Which dependency table a dependency came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyKind {
    Normal,
    Build,
    Dev,
}

impl DependencyKind {
    /// The name cargo and the index use for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Build => "build",
            Self::Dev => "dev",
        }
    }
}

impl IndexEntry {
    /// The line as it is stored in an index file, without the trailing newline.
    pub fn to_line(&self) -> String {
        // Serializing plain strings, bools and maps cannot fail.
        serde_json::to_string(self).expect("an index entry always serializes")
    }

    /// Puts dependencies in crates.io's order: by name, then kind (normal, build,
    /// dev), then the remaining fields, so equal inputs give byte-equal lines.
    pub fn sort_dependencies(&mut self) {
        self.deps.sort_by(|a, b| {
            (
                &a.name,
                a.kind,
                &a.req,
                a.optional,
                a.default_features,
                &a.target,
                &a.package,
                &a.features,
            )
                .cmp(&(
                    &b.name,
                    b.kind,
                    &b.req,
                    b.optional,
                    b.default_features,
                    &b.target,
                    &b.package,
                    &b.features,
                ))
        });
    }

    /// The features of this version with `features2` merged in, as cargo sees them.
    pub fn all_features(&self) -> FeatureMap {
        let mut all = self.features.clone();
        for (name, values) in self.features2.iter().flatten() {
            all.entry(name.clone())
                .or_default()
                .extend(values.iter().cloned());
        }
        all
    }

    /// Moves the features cargo before 1.60 cannot read into `features2` and sets `v`.
    ///
    /// A feature goes there when a value uses `dep:` or `?/`, or when it enables a
    /// feature that went there (old cargo would find that feature missing). This
    /// is the split crates.io makes, so lines stay comparable with its index.
    pub fn split_features(&mut self, features: FeatureMap) {
        let mut moved: BTreeSet<&String> = features
            .iter()
            .filter(|(_, values)| {
                values
                    .iter()
                    .any(|v| v.starts_with("dep:") || v.contains("?/"))
            })
            .map(|(name, _)| name)
            .collect();
        loop {
            let more: Vec<&String> = features
                .iter()
                .filter(|(name, values)| {
                    !moved.contains(name) && values.iter().any(|v| moved.contains(v))
                })
                .map(|(name, _)| name)
                .collect();
            if more.is_empty() {
                break;
            }
            moved.extend(more);
        }
        let moved: BTreeSet<String> = moved.into_iter().cloned().collect();
        let (features2, features): (FeatureMap, FeatureMap) = features
            .into_iter()
            .partition(|(name, _)| moved.contains(name));
        self.features = features;
        if features2.is_empty() {
            self.features2 = None;
            self.v = None;
        } else {
            self.features2 = Some(features2);
            self.v = Some(2);
        }
    }
}

/// Formats a Unix time as cargo's `pubtime`: `YYYY-MM-DDTHH:MM:SSZ`, UTC, whole seconds.
pub fn format_pubtime(unix_seconds: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&format)
        .expect("a UTC date always formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> IndexEntry {
        IndexEntry {
            name: "Demo".into(),
            vers: "1.0.0+build.5".into(),
            deps: vec![IndexDependency {
                name: "alias".into(),
                req: "^1.0".into(),
                features: vec![],
                optional: true,
                default_features: false,
                target: None,
                kind: DependencyKind::Normal,
                registry: None,
                package: Some("real".into()),
            }],
            cksum: "ab".repeat(32),
            features: FeatureMap::new(),
            features2: None,
            yanked: false,
            links: None,
            rust_version: None,
            pubtime: Some(format_pubtime(0)),
            v: None,
        }
    }

    #[test]
    fn pubtime_has_cargos_exact_shape() {
        assert_eq!(format_pubtime(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_pubtime(1_760_196_772), "2025-10-11T15:32:52Z");
        assert_eq!(format_pubtime(1_760_196_772).len(), 20);
    }

    #[test]
    fn lines_keep_crates_io_field_order_and_always_write_dependency_defaults() {
        let line = entry().to_line();
        assert_eq!(
            line,
            r#"{"name":"Demo","vers":"1.0.0+build.5","deps":[{"name":"alias","req":"^1.0","features":[],"optional":true,"default_features":false,"target":null,"kind":"normal","package":"real"}],"cksum":"abababababababababababababababababababababababababababababababab","features":{},"yanked":false,"pubtime":"1970-01-01T00:00:00Z"}"#
        );
        let back: IndexEntry = serde_json::from_str(&line).unwrap();
        assert_eq!(back, entry());
    }

    #[test]
    fn features_with_new_syntax_and_those_enabling_them_move_to_features2() {
        let mut e = entry();
        let features: FeatureMap = [
            ("default", vec!["std"]),
            ("std", vec![]),
            ("serde", vec!["dep:serde", "std"]),
            ("weak", vec!["alias?/x"]),
            ("all", vec!["serde", "weak"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        e.split_features(features.clone());
        assert_eq!(e.features.keys().collect::<Vec<_>>(), ["default", "std"]);
        let f2 = e.features2.as_ref().unwrap();
        assert_eq!(f2.keys().collect::<Vec<_>>(), ["all", "serde", "weak"]);
        assert_eq!(e.v, Some(2));
        assert_eq!(e.all_features(), features);
    }

    #[test]
    fn plain_features_stay_in_features_with_no_schema_version() {
        let mut e = entry();
        e.split_features([("std".to_owned(), vec!["alias".to_owned()])].into());
        assert_eq!(e.features2, None);
        assert_eq!(e.v, None);
    }
}
