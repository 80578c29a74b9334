//! Checks an index line the way cargo will read it, so that no accepted version is one cargo ignores.
//!
//! Cargo does not reject a bad line loudly: it marks the version invalid and the
//! resolver later says "index entry is invalid". The checks here mirror cargo's
//! summary checks (feature values must name real dependencies and features,
//! `dep:` only on optional dependencies, and so on) plus crates.io's limits.

use std::collections::BTreeSet;

use crate::index::{DependencyKind, IndexEntry};
use crate::manifest::optional_by_name;
use crate::name::validate_dependency_name;

/// Size limits on what one version may declare. The defaults admit every crate
/// on crates.io (`web-sys` declares some 1,700 features), so a registry holding
/// copies of them never refuses one.
#[derive(Debug, Clone, Copy)]
pub struct EntryLimits {
    pub max_dependencies: usize,
    pub max_features: usize,
    pub max_feature_values: usize,
}

impl Default for EntryLimits {
    fn default() -> Self {
        Self {
            max_dependencies: 1000,
            max_features: 5000,
            max_feature_values: 1000,
        }
    }
}

/// Why an index line would not be usable by cargo, in words for the publisher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEntry(pub String);

fn invalid(message: String) -> Result<(), InvalidEntry> {
    Err(InvalidEntry(message))
}

/// Checks dependencies, features, `links` and `rust_version` of `entry`.
pub fn validate_entry(entry: &IndexEntry, limits: &EntryLimits) -> Result<(), InvalidEntry> {
    validate_dependencies(entry, limits)?;
    validate_features(entry, limits)?;
    if let Some(links) = &entry.links
        && links.is_empty()
    {
        return invalid("`links` must not be empty".into());
    }
    if let Some(rust_version) = &entry.rust_version
        && !is_rust_version(rust_version)
    {
        return invalid(format!(
            "`rust-version` `{rust_version}` must be a bare version like `1.70` or `1.70.1`"
        ));
    }
    Ok(())
}

fn is_rust_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    // Cargo reads it as a partial semantic version: no leading zeros.
    (1..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 9
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

fn validate_dependencies(entry: &IndexEntry, limits: &EntryLimits) -> Result<(), InvalidEntry> {
    if entry.deps.len() > limits.max_dependencies {
        return invalid(format!(
            "this version has {} dependencies; at most {} are allowed",
            entry.deps.len(),
            limits.max_dependencies
        ));
    }
    for dep in &entry.deps {
        let renamed = dep.package.is_some();
        validate_dependency_name(dep.crate_name(), false)
            .map_err(|e| InvalidEntry(format!("dependency `{}`: {e}", dep.crate_name())))?;
        if renamed {
            validate_dependency_name(&dep.name, true)
                .map_err(|e| InvalidEntry(format!("dependency alias `{}`: {e}", dep.name)))?;
        }
        if dep.req.trim().is_empty() {
            return invalid(format!(
                "dependency `{}` has an empty version requirement",
                dep.name
            ));
        }
        if let Some(registry) = &dep.registry {
            let url = registry
                .strip_prefix("sparse+")
                .or_else(|| registry.strip_prefix("registry+"))
                .unwrap_or(registry);
            if url::Url::parse(url).is_err() {
                return invalid(format!(
                    "dependency `{}` comes from `{registry}`, which is not a registry index URL",
                    dep.name
                ));
            }
        }
        if dep.kind == DependencyKind::Dev && dep.optional {
            return invalid(format!(
                "dev-dependencies are not allowed to be optional: `{}`",
                dep.name
            ));
        }
        if let Some(feature) = dep.features.iter().find(|f| !is_dependency_feature(f)) {
            return invalid(format!(
                "dependency `{}` enables `{feature}`, which is not a valid feature name",
                dep.name
            ));
        }
    }
    Ok(())
}

/// A feature enabled on a dependency: `feature` or `its-dependency/feature`.
fn is_dependency_feature(value: &str) -> bool {
    let mut parts = value.split('/');
    let first = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (None, _) => validate_feature_name(first).is_ok(),
        (Some(second), None) => {
            validate_dependency_name(first.trim_end_matches('?'), true).is_ok()
                && validate_feature_name(second).is_ok()
        }
        _ => false,
    }
}

/// Cargo's rule for feature names: a letter, digit or `_` first, then XID characters, `-`, `+` or `.`.
pub fn validate_feature_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("feature names must not be empty".into());
    };
    if name.starts_with("dep:") {
        return Err(format!(
            "feature named `{name}` is not allowed to start with `dep:`"
        ));
    }
    if !(unicode_ident::is_xid_start(first) || first == '_' || first.is_ascii_digit()) {
        return Err(format!(
            "feature `{name}` must start with a letter, a digit or `_`"
        ));
    }
    if let Some(ch) =
        chars.find(|&ch| !(unicode_ident::is_xid_continue(ch) || matches!(ch, '-' | '+' | '.')))
    {
        return Err(format!(
            "feature `{name}` contains `{ch}`, which is not allowed"
        ));
    }
    Ok(())
}

/// A value in a feature's list, as cargo reads it.
enum FeatureValue<'a> {
    /// `name`: another feature, or the implicit feature of an optional dependency.
    Feature(&'a str),
    /// `dep:name`: the optional dependency itself.
    Dep(&'a str),
    /// `name/feature` or, weak, `name?/feature`.
    DepFeature {
        dep: &'a str,
        feature: &'a str,
        weak: bool,
    },
}

impl<'a> FeatureValue<'a> {
    fn parse(value: &'a str) -> Self {
        if let Some((dep, feature)) = value.split_once('/') {
            match dep.strip_suffix('?') {
                Some(dep) => Self::DepFeature {
                    dep,
                    feature,
                    weak: true,
                },
                None => Self::DepFeature {
                    dep,
                    feature,
                    weak: false,
                },
            }
        } else if let Some(dep) = value.strip_prefix("dep:") {
            Self::Dep(dep)
        } else {
            Self::Feature(value)
        }
    }
}

fn validate_features(entry: &IndexEntry, limits: &EntryLimits) -> Result<(), InvalidEntry> {
    let features = entry.all_features();
    if features.len() > limits.max_features {
        return invalid(format!(
            "this version declares {} features; at most {} are allowed",
            features.len(),
            limits.max_features
        ));
    }
    let deps = optional_by_name(&entry.deps);
    // Optional dependencies named with `dep:` somewhere get no implicit feature.
    let explicit_deps: BTreeSet<&str> = features
        .values()
        .flatten()
        .filter_map(|v| v.strip_prefix("dep:"))
        .filter(|v| !v.contains('/'))
        .collect();
    let has_implicit_feature = |dep: &str| {
        deps.get(dep) == Some(&true) && !explicit_deps.contains(dep) && !features.contains_key(dep)
    };

    for (feature, values) in &features {
        validate_feature_name(feature).map_err(InvalidEntry)?;
        if values.len() > limits.max_feature_values {
            return invalid(format!(
                "feature `{feature}` lists {} values; at most {} are allowed",
                values.len(),
                limits.max_feature_values
            ));
        }
        for value in values {
            match FeatureValue::parse(value) {
                FeatureValue::Feature(name) => {
                    if features.contains_key(name) {
                        continue;
                    }
                    match deps.get(name) {
                        None => {
                            return invalid(format!(
                                "feature `{feature}` includes `{value}`, which is neither a dependency nor another feature"
                            ));
                        }
                        Some(false) => {
                            return invalid(format!(
                                "feature `{feature}` includes `{value}`, but `{name}` is not an optional dependency; add `optional = true` to it"
                            ));
                        }
                        Some(true) if !has_implicit_feature(name) => {
                            return invalid(format!(
                                "feature `{feature}` includes `{value}`, but `{name}` is an optional dependency without an implicit feature; use `dep:{name}`"
                            ));
                        }
                        Some(true) => {}
                    }
                }
                FeatureValue::Dep(name) => match deps.get(name) {
                    None => {
                        return invalid(format!(
                            "feature `{feature}` includes `{value}`, but `{name}` is not listed as a dependency"
                        ));
                    }
                    Some(false) => {
                        return invalid(format!(
                            "feature `{feature}` includes `{value}`, but `{name}` is not an optional dependency; add `optional = true` to it"
                        ));
                    }
                    Some(true) => {}
                },
                FeatureValue::DepFeature {
                    dep,
                    feature: dep_feature,
                    weak,
                } => {
                    if dep_feature.contains('/') {
                        return invalid(format!(
                            "feature `{feature}` includes `{value}`, which has more than one `/`"
                        ));
                    }
                    if dep.starts_with("dep:") {
                        return invalid(format!(
                            "feature `{feature}` includes `{value}`, which combines `dep:` and `/`; remove the `dep:` prefix"
                        ));
                    }
                    match deps.get(dep) {
                        None => {
                            return invalid(format!(
                                "feature `{feature}` includes `{value}`, but `{dep}` is not a dependency"
                            ));
                        }
                        Some(false) if weak => {
                            return invalid(format!(
                                "feature `{feature}` includes `{value}` with a `?`, but `{dep}` is not an optional dependency"
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }

    // Cargo also insists that every optional dependency can be switched on somehow.
    let used: BTreeSet<&str> = features
        .values()
        .flatten()
        .filter_map(|v| match FeatureValue::parse(v) {
            FeatureValue::Dep(dep) | FeatureValue::DepFeature { dep, .. } => Some(dep),
            FeatureValue::Feature(_) => None,
        })
        .collect();
    if let Some((dep, _)) = deps
        .iter()
        .find(|&(dep, &optional)| optional && !used.contains(dep) && !has_implicit_feature(dep))
    {
        return invalid(format!(
            "optional dependency `{dep}` is not included in any feature; add `dep:{dep}` to a feature"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{FeatureMap, IndexDependency};

    fn dep(name: &str, optional: bool, kind: DependencyKind) -> IndexDependency {
        IndexDependency {
            name: name.into(),
            req: "^1".into(),
            features: vec![],
            optional,
            default_features: true,
            target: None,
            kind,
            registry: None,
            package: None,
        }
    }

    fn entry(deps: Vec<IndexDependency>, features: &[(&str, &[&str])]) -> IndexEntry {
        let features: FeatureMap = features
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        let mut e = IndexEntry {
            name: "x".into(),
            vers: "1.0.0".into(),
            deps,
            cksum: String::new(),
            features: FeatureMap::new(),
            features2: None,
            yanked: false,
            links: None,
            rust_version: None,
            pubtime: None,
            v: None,
        };
        e.split_features(features);
        e
    }

    fn check(e: &IndexEntry) -> Result<(), String> {
        validate_entry(e, &EntryLimits::default()).map_err(|e| e.0)
    }

    #[test]
    fn usual_feature_shapes_are_accepted() {
        let deps = vec![
            dep("opt", true, DependencyKind::Normal),
            dep("hidden", true, DependencyKind::Normal),
            dep("always", false, DependencyKind::Normal),
        ];
        let e = entry(
            deps,
            &[
                ("default", &["std"]),
                ("std", &["opt", "always/std", "opt?/std"]),
                ("h", &["dep:hidden", "hidden/x"]),
                ("c++17", &[]),
            ],
        );
        assert_eq!(check(&e), Ok(()));
    }

    #[test]
    fn an_optional_dependency_is_usable_through_its_implicit_feature() {
        let e = entry(vec![dep("opt", true, DependencyKind::Normal)], &[]);
        assert_eq!(check(&e), Ok(()));
    }

    #[test]
    fn features_naming_unknown_things_are_rejected() {
        let deps = || {
            vec![
                dep("always", false, DependencyKind::Normal),
                dep("opt", true, DependencyKind::Normal),
                dep("hidden", true, DependencyKind::Normal),
            ]
        };
        let cases: &[(&[&str], &str)] = &[
            (&["nothing"], "neither a dependency nor another feature"),
            (&["always"], "not an optional dependency"),
            (&["dep:always"], "not an optional dependency"),
            (&["dep:nothing"], "not listed as a dependency"),
            (&["nothing/x"], "is not a dependency"),
            (&["always?/x"], "with a `?`"),
            (&["dep:opt/x"], "combines `dep:` and `/`"),
            (&["opt/x/y"], "more than one `/`"),
            (&["dep:hidden", "hidden"], "without an implicit feature"),
        ];
        for (values, expected) in cases {
            let e = entry(deps(), &[("f", values)]);
            let err = check(&e).unwrap_err();
            assert!(err.contains(expected), "{values:?}: {err}");
        }
    }

    #[test]
    fn invalid_feature_names_are_rejected() {
        for name in ["", "-x", ".x", "a b", "a/b", "dep:x"] {
            let e = entry(vec![], &[(name, &[])]);
            assert!(check(&e).is_err(), "{name:?}");
        }
    }

    #[test]
    fn a_dependency_registry_must_be_an_index_url() {
        let mut bad = dep("x", false, DependencyKind::Normal);
        bad.registry = Some("not a url".into());
        assert!(
            check(&entry(vec![bad.clone()], &[]))
                .unwrap_err()
                .contains("not a registry index URL")
        );
        bad.registry = Some("sparse+https://example.com/index/".into());
        assert_eq!(check(&entry(vec![bad], &[])), Ok(()));
    }

    #[test]
    fn optional_dev_dependencies_are_rejected() {
        let e = entry(
            vec![dep("t", true, DependencyKind::Dev)],
            &[("x", &["dep:t"])],
        );
        assert!(
            check(&e)
                .unwrap_err()
                .contains("dev-dependencies are not allowed to be optional")
        );
    }

    #[test]
    fn an_optional_dependency_hidden_by_dep_syntax_must_be_reachable() {
        let deps = vec![
            dep("a", true, DependencyKind::Normal),
            dep("b", true, DependencyKind::Normal),
        ];
        // `b` loses its implicit feature because `dep:b` is used, yet `dep:b` is there: fine.
        let e = entry(deps, &[("f", &["dep:b"])]);
        assert_eq!(check(&e), Ok(()));
    }

    #[test]
    fn limits_are_enforced() {
        let limits = EntryLimits {
            max_dependencies: 1,
            max_features: 1,
            max_feature_values: 1,
        };
        let two_deps = entry(
            vec![
                dep("a", false, DependencyKind::Normal),
                dep("b", false, DependencyKind::Normal),
            ],
            &[],
        );
        assert!(validate_entry(&two_deps, &limits).is_err());
        let two_features = entry(vec![], &[("a", &[]), ("b", &[])]);
        assert!(validate_entry(&two_features, &limits).is_err());
        let two_values = entry(vec![], &[("a", &["b", "b"]), ("b", &[])]);
        assert!(
            validate_entry(
                &two_values,
                &EntryLimits {
                    max_features: 5,
                    ..limits
                }
            )
            .is_err()
        );
    }

    #[test]
    fn rust_version_must_be_bare() {
        let mut e = entry(vec![], &[]);
        for good in ["1", "1.70", "1.70.1"] {
            e.rust_version = Some(good.into());
            assert_eq!(check(&e), Ok(()), "{good}");
        }
        for bad in ["", "^1.70", "1.70.0-beta", "1..2", "1.2.3.4", "1.070", "01"] {
            e.rust_version = Some(bad.into());
            assert!(check(&e).is_err(), "{bad}");
        }
    }
}
