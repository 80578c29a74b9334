//! Cache eviction for proxy registries: by age and by total size, never what a local crate needs.
//!
//! A cached version counts as used when it was stored or last downloaded. Versions that
//! a local crate depends on (directly, or through other cached versions) stay whatever
//! their age; the rest go oldest-use first until the cache is under its size cap. Each
//! version is removed in its own transaction, then its blob; a crash in between leaves at
//! worst a blob nothing refers to.

use std::collections::{HashMap, HashSet};

use cargohold_protocol::name::canonical_name;
use semver::{Version, VersionReq};

use crate::app::{App, DownloadCache, Registry};
use crate::clock;
use crate::db::{self, versions::EvictionCandidateRow};
use crate::error::{AppError, AppResult};

/// What eviction may keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Total bytes of cached `.crate` files (0: no cap).
    pub max_size: u64,
    /// Seconds since last use after which a version goes (0: never).
    pub max_age_secs: i64,
}

/// What an eviction removed (or, in a dry run, would remove).
#[derive(Debug, Default)]
pub struct Evicted {
    /// `name@version`, oldest use first.
    pub versions: Vec<String>,
    pub bytes: i64,
    /// Versions kept because a local crate needs them.
    pub protected: usize,
    /// What stays cached.
    pub remaining_versions: usize,
    pub remaining_bytes: i64,
}

/// Evicts from proxy `registry` what `limits` say must go.
pub async fn evict(
    app: &App,
    registry: &Registry,
    limits: Limits,
    dry_run: bool,
) -> AppResult<Evicted> {
    if registry.proxy.is_none() {
        return Err(AppError::BadRequest(format!(
            "`{}` is not a proxy registry; only caches are evicted",
            registry.name
        )));
    }
    let pool = app.db.read();
    let mut candidates = db::versions::eviction_candidates(pool, registry.id).await?;
    let protected = protected_versions(app, registry, &candidates).await?;
    let last_used = |c: &EvictionCandidateRow| {
        c.last_download_day
            .map_or(c.stored_at, |day| c.stored_at.max(day * 86_400))
    };
    candidates.sort_by_key(|c| (last_used(c), c.version_id));
    let now = clock::now();
    let mut total: i64 = candidates.iter().map(|c| c.size).sum();
    let mut evicted = Evicted {
        protected: protected.len(),
        ..Evicted::default()
    };
    let mut chosen = Vec::new();
    for candidate in &candidates {
        if protected.contains(&candidate.version_id) {
            continue;
        }
        let too_old = limits.max_age_secs > 0 && now - last_used(candidate) > limits.max_age_secs;
        let too_big = limits.max_size > 0 && total > limits.max_size as i64;
        if too_old || too_big {
            total -= candidate.size;
            evicted.bytes += candidate.size;
            evicted
                .versions
                .push(format!("{}@{}", candidate.name, candidate.num));
            chosen.push(candidate);
        }
    }
    evicted.remaining_versions = candidates.len() - chosen.len();
    evicted.remaining_bytes = total;
    if dry_run {
        return Ok(evicted);
    }
    for candidate in chosen {
        remove(app, registry, candidate).await?;
    }
    Ok(evicted)
}

/// Cached versions a local crate needs: those matching a local dependency, then,
/// transitively, those matching a dependency of a needed cached version.
async fn protected_versions(
    app: &App,
    registry: &Registry,
    candidates: &[EvictionCandidateRow],
) -> AppResult<HashSet<i64>> {
    let pool = app.db.read();
    let mut by_name: HashMap<&str, Vec<(i64, Version)>> = HashMap::new();
    for c in candidates {
        if let Ok(version) = Version::parse(&c.num) {
            by_name
                .entry(&c.canonical_name)
                .or_default()
                .push((c.version_id, version));
        }
    }
    let mut cached_deps: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for (version_id, name, req) in
        db::versions::dependency_requirements(pool, "proxy", Some(registry.id)).await?
    {
        cached_deps.entry(version_id).or_default().push((name, req));
    }
    let mut wanted: Vec<(String, String)> =
        db::versions::dependency_requirements(pool, "local", None)
            .await?
            .into_iter()
            .map(|(_, name, req)| (name, req))
            .collect();
    let mut protected = HashSet::new();
    while let Some((name, req)) = wanted.pop() {
        let Ok(req) = VersionReq::parse(&req) else {
            continue;
        };
        let Some(versions) = by_name.get(canonical_name(&name).as_str()) else {
            continue;
        };
        for (version_id, version) in versions {
            if req.matches(version) && protected.insert(*version_id) {
                wanted.extend(cached_deps.get(version_id).into_iter().flatten().cloned());
            }
        }
    }
    Ok(protected)
}

/// Removes one cached version (and its crate when it was the last), then its blob.
async fn remove(app: &App, registry: &Registry, candidate: &EvictionCandidateRow) -> AppResult<()> {
    let name_lower = candidate.name.to_ascii_lowercase();
    let mut tx = app.db.begin().await?;
    db::crates::lock(&mut tx, candidate.crate_id).await?;
    db::versions::delete(&mut tx, candidate.version_id).await?;
    let left = db::versions::list_states(&mut tx, candidate.crate_id).await?;
    if left.is_empty() {
        db::crates::delete_empty(&mut tx, candidate.crate_id).await?;
    } else {
        super::refresh_crate_state(
            &mut tx,
            registry.id,
            candidate.crate_id,
            &name_lower,
            clock::now(),
        )
        .await?;
    }
    tx.commit().await?;
    registry.index_cache.invalidate(&name_lower);
    app.download_cache
        .versions
        .invalidate(&DownloadCache::version_key(
            registry.id,
            &candidate.canonical_name,
            &candidate.num,
        ));
    app.download_cache.blobs.invalidate(&candidate.blob_key);
    if let Err(err) = app.storage.delete(&candidate.blob_key).await {
        tracing::warn!(blob = %candidate.blob_key, error = %err, "an evicted .crate could not be deleted; `cargohold gc` will find it");
    }
    Ok(())
}
