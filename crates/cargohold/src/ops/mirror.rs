//! `cargohold mirror`: fetches every crate a `Cargo.lock` names into a proxy (or a virtual
//! registry's proxies) ahead of time, so builds later work with the upstream out of reach.

use futures::StreamExt;

use cargohold_protocol::manifest::is_crates_io;
use cargohold_protocol::upstream::LockedPackage;

use crate::app::{App, Registry};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::virtual_registry::{Reader, Resolved};
use crate::{proxy, virtual_registry};

/// How many crates are fetched at once.
const CONCURRENCY: usize = 8;

/// What happened to one locked package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched from the upstream now.
    Fetched,
    /// Already in the cache.
    AlreadyCached,
    /// Served by a local member of the virtual registry: nothing to fetch.
    Local,
    /// From a registry this one does not stand for (a git or another registry's package).
    Skipped,
    /// Could not be mirrored, with the reason.
    Failed(String),
}

/// The result of a mirror run, package by package (`name@version`).
#[derive(Debug, Default)]
pub struct Report {
    pub fetched: Vec<String>,
    pub already_cached: Vec<String>,
    pub local: Vec<String>,
    pub skipped: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// Mirrors `packages` into `registry` (a proxy, or a virtual registry with proxies),
/// calling `progress` after each.
pub async fn mirror(
    app: &App,
    registry: &Registry,
    packages: Vec<LockedPackage>,
    mut progress: impl FnMut(&LockedPackage, &Outcome),
) -> AppResult<Report> {
    if registry.proxy.is_none() && registry.members.is_none() {
        return Err(AppError::BadRequest(format!(
            "`{}` is a local registry; mirror into a proxy or virtual registry",
            registry.name
        )));
    }
    let mut report = Report::default();
    let mut outcomes = futures::stream::iter(packages)
        .map(|package| async move {
            let outcome = mirror_one(app, registry, &package)
                .await
                .unwrap_or_else(|e| Outcome::Failed(e.to_string()));
            (package, outcome)
        })
        .buffer_unordered(CONCURRENCY);
    while let Some((package, outcome)) = outcomes.next().await {
        progress(&package, &outcome);
        let id = format!("{}@{}", package.name, package.version);
        match outcome {
            Outcome::Fetched => report.fetched.push(id),
            Outcome::AlreadyCached => report.already_cached.push(id),
            Outcome::Local => report.local.push(id),
            Outcome::Skipped => report.skipped.push(id),
            Outcome::Failed(reason) => report.failed.push((id, reason)),
        }
    }
    for list in [
        &mut report.fetched,
        &mut report.already_cached,
        &mut report.local,
        &mut report.skipped,
    ] {
        list.sort();
    }
    report.failed.sort();
    Ok(report)
}

async fn mirror_one(app: &App, registry: &Registry, package: &LockedPackage) -> AppResult<Outcome> {
    // Lockfiles name crates.io even when it is replaced; other registries are not ours to fill.
    let source = package
        .source
        .strip_prefix("registry+")
        .unwrap_or(&package.source);
    if !is_crates_io(source) && package.source != registry.index_url {
        return Ok(Outcome::Skipped);
    }
    let lower = package.name.to_ascii_lowercase();
    let member = match &registry.members {
        Some(members) => {
            match virtual_registry::resolve(app, members, &lower, Reader::Operator).await? {
                Resolved::Found(member, _) => member.as_ref(),
                Resolved::Refused(reason) => return Ok(Outcome::Failed(reason.to_string())),
                Resolved::Missing => {
                    return Ok(Outcome::Failed(format!(
                        "no member of `{}` has a crate named `{}`",
                        registry.name, package.name
                    )));
                }
            }
        }
        None => registry,
    };
    let Some(proxy) = &member.proxy else {
        return Ok(Outcome::Local);
    };
    let fetched = proxy::ensure_crate(app, member, proxy, &package.name, &package.version).await?;
    if let Some(expected) = &package.checksum {
        let canonical = cargohold_protocol::name::canonical_name(&package.name);
        let stored =
            db::versions::find_for_download(app.db.read(), member.id, &canonical, &package.version)
                .await?;
        if let Some(row) = stored
            && !row.checksum.eq_ignore_ascii_case(expected)
        {
            return Ok(Outcome::Failed(format!(
                "the cached .crate has checksum {}, but Cargo.lock expects {expected}",
                row.checksum
            )));
        }
    }
    Ok(if fetched {
        Outcome::Fetched
    } else {
        Outcome::AlreadyCached
    })
}
