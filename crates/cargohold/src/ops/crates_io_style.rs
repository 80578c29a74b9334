//! Dependencies that name a virtual registry used in place of crates.io.
//!
//! With the one-URL setup, developers replace crates.io with a virtual registry
//! (`[source.crates-io] replace-with = "all"`) and write internal crates as
//! crates.io dependencies: `acme-core = "0.9"`. `cargo add acme-core --registry
//! all` writes `registry = "all"` instead, a dependency on another source as far as
//! cargo is concerned: a project that gets `acme-core` both ways has it twice in
//! Cargo.lock (`registry+https://github.com/rust-lang/crates.io-index` and
//! `sparse+…/all/index/`), and the two copies' types do not match. A publish that
//! names such a registry is taken as it is, with a warning that says how to write it.

use cargohold_protocol::DependencyKind;
use cargohold_protocol::manifest::{Manifest, ManifestDependency};

use crate::app::{App, Registry};
use crate::ops::setup;

/// The warnings for a crate with `manifest` published to `registry`: one per
/// normal or build dependency (what projects using the crate resolve) that names
/// by its index URL a virtual registry used in place of crates.io which `registry`
/// is a member of, or one of that virtual registry's members.
pub fn warnings(app: &App, registry: &Registry, manifest: &Manifest) -> Vec<String> {
    let virtuals = setup::crates_io_stand_ins(app, registry);
    if virtuals.is_empty() {
        return Vec::new();
    }
    let mut warned: Vec<&str> = Vec::new();
    let mut warnings = Vec::new();
    for dep in manifest
        .dependencies
        .iter()
        .filter(|dep| dep.kind != DependencyKind::Dev)
    {
        let Some(named) = dep
            .registry_index
            .as_deref()
            .and_then(|url| super::publish::registry_served_at(app, url))
        else {
            continue;
        };
        let Some(stand_in) = virtuals.iter().find(|v| {
            v.id == named.id
                || v.members
                    .as_ref()
                    .is_some_and(|members| members.all().any(|m| m.id == named.id))
        }) else {
            continue;
        };
        if warned.contains(&dep.name_in_toml.as_str()) {
            continue;
        }
        warned.push(&dep.name_in_toml);
        warnings.push(warning(dep, named, stand_in));
    }
    warnings
}

/// What happens with `dep`, which names `named` (`stand_in` itself or one of its
/// members), and how to write it.
fn warning(dep: &ManifestDependency, named: &Registry, stand_in: &Registry) -> String {
    let name = &dep.name_in_toml;
    let crate_name = dep.package.as_deref().unwrap_or(name);
    let (req, stand_in_name) = (&dep.req, &stand_in.name);
    let registry = if named.id == stand_in.id {
        format!("`{stand_in_name}`")
    } else {
        format!("`{}` (a member of `{stand_in_name}`)", named.name)
    };
    let written = match &dep.package {
        Some(package) => format!("{name} = {{ version = \"{req}\", package = \"{package}\" }}"),
        None => format!("{name} = \"{req}\""),
    };
    format!(
        "the dependency `{name}` names the registry {registry} by its index URL, as \
         `registry = …` in Cargo.toml and `cargo add --registry` write it, but `{stand_in_name}` \
         stands in for crates.io (`[source.crates-io] replace-with = \"{stand_in_name}\"`), and \
         its crates are written as crates.io dependencies: a project that gets `{crate_name}` both \
         ways has it twice in Cargo.lock, from crates.io and from `{}`, and their types do not \
         match. Write `{written}` without `registry` (`cargo add {crate_name}` without \
         `--registry`) in the next version; this one is published as it is",
        named.name
    )
}
