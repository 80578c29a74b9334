//! Proxy registries: a read-through cache of an upstream sparse registry (crates.io by default).
//!
//! Index files come from the upstream on demand and are kept in the database
//! (`upstream_index_files`), served without asking again for `freshness-seconds`,
//! then revalidated with the upstream's ETag. What the upstream answers is served
//! at once and stored by a background task; until it is stored, requests for the
//! file wait for it (on this node the file's flight, on others its lease) rather
//! than ask the upstream again. When the upstream fails, the last copy is served.
//! A `.crate` is fetched once, checked against the upstream's checksum, then
//! stored through the publish pipeline as a version of the proxy registry; from
//! then on it is served like any local crate. Concurrent requests for one file
//! make one upstream request ([`flights`]).
//!
//! A name the upstream never answered for is served from what `cargohold import`
//! put in the registry, so a proxy can be filled and used with no network at all.

pub mod flights;
pub mod upstream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use cargohold_protocol::name::{index_path, validate_dependency_name};
use cargohold_protocol::upstream::UpstreamPolicy;
use serde::Serialize;

use crate::app::{App, Registry};
use crate::clock;
use crate::config::RegistryConfig;
use crate::db;
use crate::db::index_files::IndexFileRow;
use crate::db::upstream_index::UpstreamFileRow;
use crate::error::{AppError, AppResult};
use crate::index::cache::{Cached, CachedFile};
use crate::index::render::etag_for;
use crate::ops;
use flights::{Flight, Flights};
use upstream::{IndexFetch, Upstream, UpstreamError};

/// After an upstream failure, how long the stale copy is served before asking again.
const RETRY_AFTER_FAILURE_SECS: i64 = 30;
/// The longest an upstream's "no such crate" is believed without asking again.
const NOT_FOUND_FRESHNESS_SECS: i64 = 60;
/// Leases on upstream index revalidations are named this, the registry's id, `/` and the name.
pub const REVALIDATION_LEASE: &str = "upstream-index/";
/// How long one node may take to revalidate an index file before another may ask instead.
const REVALIDATION_LEASE_SECS: i64 = 10;
/// Marks a revalidation lease whose holder met an upstream failure.
const FAILED: &str = " (upstream failed)";
/// How often a node waiting on another's revalidation looks whether it is done.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// What a proxy registry adds to a [`Registry`].
#[derive(Debug)]
pub struct Proxy {
    pub upstream: Upstream,
    pub policy: UpstreamPolicy,
    /// Seconds an upstream index file is served without asking the upstream.
    pub freshness: i64,
    /// What RustSec advisories do to its crates (`advisories`).
    pub advisories: crate::config::AdvisoryMode,
    pub stats: ProxyStats,
    /// What the cache may keep (`cache-max-size`, `cache-max-age-days`).
    pub eviction: crate::ops::evict::Limits,
    flights: Arc<Flights>,
    /// What the upstream last answered wrong on this node, for the requests that
    /// follow it while every node waits before asking again.
    last_failure: std::sync::Mutex<Option<String>>,
}

/// What a proxy did since the process started.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Index files answered from the cache.
    pub index_hits: AtomicU64,
    /// Index files asked of the upstream (new, or due for revalidation).
    pub index_fetches: AtomicU64,
    /// `.crate` files served from the blob store.
    pub crate_hits: AtomicU64,
    /// `.crate` files fetched from the upstream.
    pub crate_fetches: AtomicU64,
    /// Upstream requests that failed (unreachable, error status, bad checksum).
    pub upstream_errors: AtomicU64,
    /// Answers given from a stale copy because the upstream failed.
    pub stale_served: AtomicU64,
}

/// A snapshot of [`ProxyStats`], as the API shows it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StatsSnapshot {
    pub index_hits: u64,
    pub index_fetches: u64,
    pub crate_hits: u64,
    pub crate_fetches: u64,
    pub upstream_errors: u64,
    pub stale_served: u64,
}

impl ProxyStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            index_hits: get(&self.index_hits),
            index_fetches: get(&self.index_fetches),
            crate_hits: get(&self.crate_hits),
            crate_fetches: get(&self.crate_fetches),
            upstream_errors: get(&self.upstream_errors),
            stale_served: get(&self.stale_served),
        }
    }
}

impl Proxy {
    fn remember_failure(&self, err: &UpstreamError) {
        if let Ok(mut last) = self.last_failure.lock() {
            *last = Some(err.to_string());
        }
    }

    fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().ok().and_then(|last| last.clone())
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Proxy {
    /// The proxy a `[[registries]]` table of kind `proxy` describes.
    pub fn from_config(config: &RegistryConfig) -> anyhow::Result<Self> {
        let parse = |rules: &[String]| {
            rules
                .iter()
                .map(|rule| cargohold_protocol::upstream::VersionRule::parse(rule))
                .collect::<Result<Vec<_>, _>>()
        };
        let policy = UpstreamPolicy {
            allow: parse(&config.allow)?,
            deny: parse(&config.deny)?,
            min_age_secs: (config.min_age_days * 86_400) as i64,
        };
        Ok(Self {
            upstream: Upstream::new(config.upstream_url(), config.upstream_token()?)?,
            policy,
            freshness: config.freshness_seconds as i64,
            advisories: config.advisory_mode(),
            stats: ProxyStats::default(),
            eviction: crate::ops::evict::Limits {
                max_size: config.cache_max_size,
                max_age_secs: (config.cache_max_age_days * 86_400) as i64,
            },
            flights: Arc::default(),
            last_failure: std::sync::Mutex::default(),
        })
    }
}

/// The index file a proxy serves for `name` (lowercase): the upstream's, filtered by
/// the policy, or what was imported when the upstream never answered for it.
pub async fn index_file(
    app: &App,
    registry: &Registry,
    proxy: &Proxy,
    name: &str,
) -> AppResult<Cached> {
    let now = clock::now();
    if let Some(cached) = registry.index_cache.get(name)
        && cached.is_fresh(now)
    {
        bump(&proxy.stats.index_hits);
        return Ok(cached);
    }
    if validate_dependency_name(name, false).is_err() {
        return Ok(Cached::MISSING);
    }
    // A name the policy refuses whatever its versions is not even asked about upstream,
    // so internal names kept out this way never leave the building.
    if let Some(rule) = proxy.policy.refuses_name(name) {
        return Ok(Cached::Refused {
            until: i64::MAX,
            reason: format!(
                "`{name}` is not taken from {}: the policy of `{}` refuses it ({rule})",
                proxy.upstream.shown_url(),
                registry.name
            )
            .into(),
        });
    }
    let flight = proxy.flights.enter(&format!("index/{name}")).await;
    if let Some(cached) = registry.index_cache.get(name)
        && cached.is_fresh(now)
    {
        bump(&proxy.stats.index_hits);
        return Ok(cached);
    }
    let epoch = registry.index_cache.epoch();
    let stored = db::upstream_index::find(app.db.read(), registry.id, name).await?;
    let (row, unstored, expires_at) = match stored {
        Some(row) if now - row.fetched_at < freshness_of(proxy, &row) => {
            bump(&proxy.stats.index_hits);
            let expires_at = row.fetched_at + freshness_of(proxy, &row);
            (Some(row), None, expires_at)
        }
        stored => match revalidate(app, registry, proxy, name, stored, now).await {
            Ok((row, unstored)) => {
                let expires_at = row.fetched_at + proxy.freshness;
                (Some(row), unstored, expires_at)
            }
            Err(RefreshError::Database(err)) => return Err(err.into()),
            Err(RefreshError::Upstream { err, stored }) => {
                let retry_at = match &err {
                    Failure::Here(err) => {
                        bump(&proxy.stats.upstream_errors);
                        proxy.remember_failure(err);
                        tracing::warn!(registry = %registry.name, krate.name = %name, error = %err, "upstream index request failed");
                        now + retry_after_failure(proxy)
                    }
                    Failure::Recent { until, .. } => *until,
                };
                if stored.is_some() {
                    bump(&proxy.stats.stale_served);
                }
                let cached =
                    served_file(app, registry, proxy, name, stored.as_ref(), retry_at).await?;
                return match (stored, cached) {
                    (None, Cached::Missing { .. }) => Err(AppError::BadGateway(format!(
                        "`{name}` is not in the cache of `{}` and {err}",
                        registry.name
                    ))),
                    (_, cached) => Ok(cached),
                };
            }
        },
    };
    // "No such crate" is asked again sooner: a new upstream crate should not wait long.
    let expires_at = match &row {
        Some(row) if !row.found => expires_at.min(now + NOT_FOUND_FRESHNESS_SECS),
        _ => expires_at,
    };
    let row = row.map(Arc::new);
    // What the upstream sent is answered at once; a task stores it, holding the flight.
    let _flight = match (&row, unstored) {
        (Some(row), Some(write)) => {
            store_in_background(app, registry, name, Arc::clone(row), write, flight);
            None
        }
        _ => Some(flight),
    };
    let cached = served_file(app, registry, proxy, name, row.as_deref(), expires_at).await?;
    registry.index_cache.insert(name, cached.clone(), epoch);
    Ok(cached)
}

/// How long a stored upstream answer is served without asking again.
fn freshness_of(proxy: &Proxy, row: &UpstreamFileRow) -> i64 {
    if row.found {
        proxy.freshness
    } else {
        proxy.freshness.min(NOT_FOUND_FRESHNESS_SECS)
    }
}

/// After an upstream failure, how long every node serves its stored copy.
fn retry_after_failure(proxy: &Proxy) -> i64 {
    RETRY_AFTER_FAILURE_SECS.min(proxy.freshness.max(1))
}

/// Asks the upstream for `name`'s index file once across every node sharing the
/// database. The node that claims the file's lease asks; the others wait for it
/// and take what it stored, or, when it failed, serve their stored copy as it
/// does. A node that takes longer than the lease loses it to the next one asking.
///
/// With the row comes what is left to write when this node asked the upstream: the
/// lease is held until [`store_in_background`] has written it.
async fn revalidate(
    app: &App,
    registry: &Registry,
    proxy: &Proxy,
    name: &str,
    mut stored: Option<UpstreamFileRow>,
    mut now: i64,
) -> Result<(UpstreamFileRow, Option<Write>), RefreshError> {
    let lease = lease_name(registry.id, name);
    let failed = format!("{}{FAILED}", app.node_id);
    loop {
        let until = now + REVALIDATION_LEASE_SECS;
        // A lease lost in a power cut only lets the next node ask the upstream too.
        let mut tx = app.db.begin_relaxed().await?;
        let claimed = db::leases::claim(&mut tx, &lease, &app.node_id, now, until).await?;
        tx.commit().await?;
        if claimed {
            // Another node may have stored a newer copy since it was read.
            stored = db::upstream_index::find(app.db.read(), registry.id, name).await?;
            if let Some(row) = stored.as_ref()
                && now - row.fetched_at < freshness_of(proxy, row)
            {
                db::leases::release(app.db.write(), &lease, &app.node_id).await?;
                return Ok((row.clone(), None));
            }
            return match refresh(proxy, name, stored.as_ref(), now).await {
                Ok((row, write)) => Ok((row, Some(write))),
                Err(err) => {
                    // The others serve their copies too, rather than ask a failing upstream at once.
                    let retry_at = now + retry_after_failure(proxy);
                    db::leases::hand_over(app.db.write(), &lease, &app.node_id, &failed, retry_at)
                        .await?;
                    Err(failed_here(err, stored.as_ref()))
                }
            };
        }
        // Someone else is asking the upstream; bounded by the lease, it ends soon.
        loop {
            tokio::time::sleep(LEASE_POLL).await;
            now = clock::now();
            match db::leases::find(app.db.read(), &lease).await? {
                None => match db::upstream_index::find(app.db.read(), registry.id, name).await? {
                    Some(row) => return Ok((row, None)),
                    None => break,
                },
                Some(held) if held.expires_at <= now => break,
                Some(held) if held.holder.ends_with(FAILED) => {
                    let reason = (held.holder == failed)
                        .then(|| proxy.last_failure())
                        .flatten();
                    let err = Failure::Recent {
                        until: held.expires_at,
                        retry_in: held.expires_at - now,
                        reason,
                    };
                    return Err(RefreshError::Upstream { err, stored });
                }
                Some(_) => {}
            }
        }
    }
}

/// The name of the lease on revalidating `name`'s index file in the registry `registry_id`.
fn lease_name(registry_id: i64, name: &str) -> String {
    format!("{REVALIDATION_LEASE}{registry_id}/{name}")
}

/// What storing an upstream answer writes.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// The upstream confirmed the stored copy (a 304): only the time it was asked moves.
    Touch,
    /// The upstream's file (or its "no such crate") replaces the stored copy.
    Upsert,
}

/// Asks the upstream for `name`'s index file: the row to serve and store, and what
/// storing it writes. Nothing is written here.
async fn refresh(
    proxy: &Proxy,
    name: &str,
    stored: Option<&UpstreamFileRow>,
    now: i64,
) -> Result<(UpstreamFileRow, Write), UpstreamError> {
    bump(&proxy.stats.index_fetches);
    let (etag, last_modified) = match stored {
        Some(row) if row.found => (
            row.upstream_etag.as_deref(),
            row.upstream_last_modified.as_deref(),
        ),
        _ => (None, None),
    };
    let fetched = proxy
        .upstream
        .index_file(&index_path(name), etag, last_modified)
        .await?;
    Ok(match (fetched, stored) {
        (IndexFetch::NotModified, Some(stored)) => (
            UpstreamFileRow {
                fetched_at: now,
                ..stored.clone()
            },
            Write::Touch,
        ),
        (IndexFetch::NotModified, None) => {
            return Err(UpstreamError::Invalid {
                url: format!("{}{}", proxy.upstream.shown_url(), index_path(name)),
                reason: "304 Not Modified to a request without validators".into(),
            });
        }
        (
            IndexFetch::Found {
                body,
                etag,
                last_modified,
            },
            stored,
        ) => {
            let unchanged = stored.is_some_and(|s| s.found && s.content == body);
            let row = UpstreamFileRow {
                found: true,
                changed_at: match stored {
                    Some(s) if unchanged => s.changed_at,
                    _ => now,
                },
                content: body,
                upstream_etag: etag,
                upstream_last_modified: last_modified,
                fetched_at: now,
            };
            (row, Write::Upsert)
        }
        (IndexFetch::NotFound, stored) => {
            let row = UpstreamFileRow {
                found: false,
                content: String::new(),
                upstream_etag: None,
                upstream_last_modified: None,
                fetched_at: now,
                changed_at: match stored {
                    Some(s) if !s.found => s.changed_at,
                    _ => now,
                },
            };
            (row, Write::Upsert)
        }
    })
}

/// Stores an upstream answer already served, in a task of its own: `row` is written
/// and the revalidation lease released in one transaction, then `flight` is dropped.
/// Until then, requests for the file on this node wait for the flight and those on
/// other nodes for the lease, and both then read the stored row. A failed store
/// gives the lease up, so the next request asks the upstream again.
fn store_in_background(
    app: &App,
    registry: &Registry,
    name: &str,
    row: Arc<UpstreamFileRow>,
    write: Write,
    flight: Flight,
) {
    let (db, node_id) = (app.db.clone(), app.node_id.clone());
    let (registry_id, registry_name) = (registry.id, registry.name.clone());
    let name = name.to_owned();
    tokio::spawn(async move {
        let lease = lease_name(registry_id, &name);
        if let Err(err) =
            store_index_file(&db, registry_id, &name, &row, write, &lease, &node_id).await
        {
            tracing::warn!(registry = %registry_name, krate.name = %name, error = %err, "could not store an index file fetched from the upstream; it will be fetched again");
            if let Err(err) = db::leases::release(db.write(), &lease, &node_id).await {
                tracing::warn!(registry = %registry_name, krate.name = %name, error = %err, "could not give up the revalidation lease of an index file that was not stored; it runs out within {REVALIDATION_LEASE_SECS} s");
            }
        }
        drop(flight);
    });
}

/// Writes an upstream answer and releases the file's lease in the same transaction.
async fn store_index_file(
    db: &db::Db,
    registry_id: i64,
    name: &str,
    row: &UpstreamFileRow,
    write: Write,
    lease: &str,
    node_id: &str,
) -> sqlx::Result<()> {
    // A copy of the upstream's: if a power cut undoes this, it is asked for again.
    let mut tx = db.begin_relaxed().await?;
    match write {
        Write::Touch => {
            db::upstream_index::touch(&mut tx, registry_id, name, row.fetched_at).await?;
        }
        Write::Upsert => db::upstream_index::upsert(&mut tx, registry_id, name, row).await?,
    }
    db::leases::release(&mut tx, lease, node_id).await?;
    tx.commit().await
}

fn failed_here(err: UpstreamError, stored: Option<&UpstreamFileRow>) -> RefreshError {
    RefreshError::Upstream {
        err: Failure::Here(err),
        stored: stored.cloned(),
    }
}

/// Why a refresh failed: the upstream (the stored copy is served), or our own database.
#[derive(Debug, thiserror::Error)]
enum RefreshError {
    #[error("{err}")]
    Upstream {
        err: Failure,
        /// The copy to serve instead.
        stored: Option<UpstreamFileRow>,
    },
    #[error("the upstream's answer could not be stored: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where the upstream failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Here(UpstreamError),
    /// A request moments ago failed; no node asks again until `until`.
    #[error(
        "the upstream failed moments ago {}; it is asked again in {} s",
        reason.as_deref().map_or_else(
            || "for another cargohold node sharing this database".to_owned(),
            |reason| format!("({reason})")
        ),
        retry_in.max(&1)
    )]
    Recent {
        until: i64,
        retry_in: i64,
        /// This node's own failure, when it was this node's.
        reason: Option<String>,
    },
}

/// What is served for a stored upstream copy: its lines the policy admits, or,
/// when the upstream has no such crate (or never answered), the imported versions.
async fn served_file(
    app: &App,
    registry: &Registry,
    proxy: &Proxy,
    name: &str,
    row: Option<&UpstreamFileRow>,
    expires_at: i64,
) -> AppResult<Cached> {
    if let Some(row) = row.filter(|row| row.found) {
        let filtered = cargohold_protocol::upstream::filter_index_file(
            &row.content,
            &proxy.policy,
            clock::now(),
        );
        if filtered.content.is_empty() {
            if filtered.dropped == 0 {
                return Ok(Cached::Missing { until: expires_at });
            }
            return Ok(Cached::Refused {
                until: expires_at,
                reason: format!(
                    "`{name}` is on {}, but the policy of `{}` admits none of its {} versions ({})",
                    proxy.upstream.shown_url(),
                    registry.name,
                    filtered.dropped,
                    proxy.policy.summary()
                )
                .into(),
            });
        }
        let file = IndexFileRow {
            etag: etag_for(filtered.content.as_bytes()),
            content: filtered.content,
            last_modified: row.changed_at,
        };
        let file = with_advisories_yanked(app, registry, name, file).await?;
        return Ok(Cached::File(Arc::new(CachedFile::expiring(
            file, expires_at,
        ))));
    }
    // Imported versions stand in for an upstream that has never answered.
    Ok(
        match db::index_files::find(app.db.read(), registry.id, name).await? {
            Some(file) => {
                let file = with_advisories_yanked(app, registry, name, file).await?;
                Cached::File(Arc::new(CachedFile::expiring(file, expires_at)))
            }
            None => Cached::Missing { until: expires_at },
        },
    )
}

/// `file` with the versions an advisory affects marked yanked (and a new ETag), under
/// `advisories = "yank"`. Index files are derived: an advisory import forgets them on
/// every node.
async fn with_advisories_yanked(
    app: &App,
    registry: &Registry,
    name: &str,
    file: IndexFileRow,
) -> AppResult<IndexFileRow> {
    let versions = file.content.lines().filter_map(line_version);
    let yank = ops::advisories::versions_to_yank(app, registry, name, versions).await?;
    if yank.is_empty() {
        return Ok(file);
    }
    let content = mark_yanked(&file.content, &yank);
    Ok(IndexFileRow {
        etag: etag_for(content.as_bytes()),
        content,
        last_modified: file.last_modified,
    })
}

/// The `vers` of an index line.
fn line_version(line: &str) -> Option<&str> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        vers: &'a str,
    }
    serde_json::from_str::<Line<'_>>(line).ok().map(|l| l.vers)
}

/// `content` with the lines of `versions` marked `"yanked":true`: cargo keeps a
/// locked yanked version but picks no new one, so existing lockfiles keep building.
fn mark_yanked(content: &str, versions: &[String]) -> String {
    const NOT_YANKED: &str = "\"yanked\":false";
    let mut out = String::with_capacity(content.len() + versions.len());
    for line in content.lines() {
        let listed = line_version(line).is_some_and(|v| versions.iter().any(|y| y == v));
        let marked = match listed {
            // Upstream lines are compact JSON with one top-level `yanked`.
            true if line.matches(NOT_YANKED).count() == 1 => {
                line.replacen(NOT_YANKED, "\"yanked\":true", 1)
            }
            true => match serde_json::from_str::<serde_json::Value>(line) {
                Ok(mut value) => {
                    value["yanked"] = serde_json::Value::Bool(true);
                    value.to_string()
                }
                Err(_) => line.to_owned(),
            },
            false => line.to_owned(),
        };
        out.push_str(&marked);
        out.push('\n');
    }
    out
}

/// Counts a download served from the cache, unless the policy now refuses the version.
pub fn count_crate_hit(proxy: &Proxy, name: &str, version: &str) -> AppResult<()> {
    let admitted = semver::Version::parse(version)
        .is_ok_and(|v| proxy.policy.admits(name, &v, None, clock::now()));
    if !admitted {
        return Err(refused_by_policy(name, version));
    }
    bump(&proxy.stats.crate_hits);
    Ok(())
}

fn refused_by_policy(name: &str, version: &str) -> AppError {
    AppError::NotFound(format!(
        "`{name}@{version}` is not offered by this proxy: its policy (allow, deny, min-age-days) refuses it"
    ))
}

/// A version fetched from the upstream and checked against the upstream's
/// checksum, not yet stored; the flight for it is still held.
pub struct Fetched {
    pub bytes: Bytes,
    pub checksum: String,
    name: String,
    version: String,
    line: String,
    flight: Flight,
}

/// Makes sure `name@version` is in the proxy's cache, fetching and storing it
/// if needed; `true` if it was fetched now. For `cargohold mirror`, which must
/// leave the cache filled when it returns.
pub async fn ensure_crate(
    app: &App,
    registry: &Registry,
    proxy: &Proxy,
    name: &str,
    version: &str,
) -> AppResult<bool> {
    let result = match fetch_crate(app, registry, proxy, name, version).await {
        Ok(Some(fetched)) => store(app, registry, fetched).await.map(|()| true),
        Ok(None) => Ok(false),
        Err(err) => Err(err),
    };
    // The index file fetched on the way is stored in the background, holding its
    // flight: taking the flight waits until it is stored.
    let index = format!("index/{}", name.to_ascii_lowercase());
    drop(proxy.flights.enter(&index).await);
    result
}

/// For a download of a version the proxy lacks: fetches it, and returns the
/// checked bytes at once while a background task stores them (the publish
/// pipeline's checks, blob, row). Requests for the same version meanwhile wait
/// for the store instead of asking the upstream again. `None`: it is stored already.
pub async fn fetch_for_download(
    app: &Arc<App>,
    registry: &Arc<Registry>,
    name: &str,
    version: &str,
) -> AppResult<Option<(Bytes, String)>> {
    let Some(proxy) = &registry.proxy else {
        return Ok(None);
    };
    let Some(fetched) = fetch_crate(app, registry, proxy, name, version).await? else {
        return Ok(None);
    };
    let answer = (fetched.bytes.clone(), fetched.checksum.clone());
    let (app, registry) = (Arc::clone(app), Arc::clone(registry));
    tokio::spawn(async move {
        let (name, version) = (fetched.name.clone(), fetched.version.clone());
        match store(&app, &registry, fetched).await {
            Ok(()) => {
                // The download that fetched it counts like any other.
                let canonical = cargohold_protocol::name::canonical_name(&name);
                if let Ok(Some(row)) = db::versions::find_for_download(
                    app.db.read(),
                    registry.id,
                    &canonical,
                    &version,
                )
                .await
                {
                    app.downloads.record(row.version_id, row.crate_id);
                }
            }
            // Nothing is lost: the next request fetches it again.
            Err(err) => {
                tracing::warn!(registry = %registry.name, krate.name = %name, version.num = %version, error = %err, "could not store a version fetched from the upstream")
            }
        }
    });
    Ok(Some(answer))
}

/// Fetches `name@version` from the upstream unless it is cached (`None`),
/// holding the version's flight so only one request asks the upstream.
async fn fetch_crate(
    app: &App,
    registry: &Registry,
    proxy: &Proxy,
    name: &str,
    version: &str,
) -> AppResult<Option<Fetched>> {
    let lower = name.to_ascii_lowercase();
    let canonical = cargohold_protocol::name::canonical_name(name);
    let pool = app.db.read();
    if db::versions::find_for_download(pool, registry.id, &canonical, version)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let flight = proxy
        .flights
        .enter(&format!("crate/{lower}/{version}"))
        .await;
    // Whoever held the flight before may have stored it.
    if db::versions::find_for_download(pool, registry.id, &canonical, version)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let Cached::File(file) = index_file(app, registry, proxy, &lower).await? else {
        return Err(AppError::NotFound(format!(
            "no crate named `{name}` in `{}` or its upstream",
            registry.name
        )));
    };
    // The served file holds only what the policy admits.
    let body = std::str::from_utf8(&file.body).unwrap_or_default();
    let Some(offered) = offered_version(body, version) else {
        let all = db::upstream_index::find(app.db.read(), registry.id, &lower).await?;
        let listed = all.is_some_and(|row| offered_version(&row.content, version).is_some());
        return Err(if listed {
            refused_by_policy(name, version)
        } else {
            AppError::NotFound(format!("crate `{name}` has no version `{version}`"))
        });
    };
    // The line's name and checksum go into the download URL: they must be the crate
    // asked for and a SHA-256, whatever the upstream's index file says.
    let named_as_asked = offered.name.to_ascii_lowercase() == lower
        && validate_dependency_name(&offered.name, false).is_ok();
    let plain_checksum =
        offered.cksum.len() == 64 && offered.cksum.bytes().all(|b| b.is_ascii_hexdigit());
    if !named_as_asked || !plain_checksum || semver::Version::parse(version).is_err() {
        bump(&proxy.stats.upstream_errors);
        return Err(AppError::BadGateway(format!(
            "the upstream's index line for `{name}@{version}` of `{}` names `{}` with checksum `{}`; nothing was fetched",
            registry.name,
            offered.name.escape_debug(),
            offered.cksum.escape_debug()
        )));
    }
    let max_size = app.config.limits.max_upstream_crate_size;
    let bytes: Bytes = proxy
        .upstream
        .crate_file(&offered.name, version, &offered.cksum, max_size)
        .await
        .map_err(|err| {
            bump(&proxy.stats.upstream_errors);
            tracing::warn!(registry = %registry.name, krate.name = %name, version.num = %version, error = %err, "upstream download failed");
            AppError::BadGateway(format!(
                "`{name}@{version}` is not in the cache of `{}` and {err}",
                registry.name
            ))
        })?;
    bump(&proxy.stats.crate_fetches);
    Ok(Some(Fetched {
        bytes,
        checksum: offered.cksum,
        name: offered.name,
        version: version.to_owned(),
        line: offered.line.to_owned(),
        flight,
    }))
}

/// Stores a fetched version through the publish pipeline, then lets waiters in.
async fn store(app: &App, registry: &Registry, fetched: Fetched) -> AppResult<()> {
    let Fetched {
        bytes,
        name,
        version,
        line,
        flight,
        ..
    } = fetched;
    ops::publish::store_upstream_crate(app, registry, &name, &version, &line, bytes).await?;
    tracing::info!(registry = %registry.name, krate.name = %name, version.num = %version, "cached `{name}@{version}` from the upstream");
    drop(flight);
    Ok(())
}

/// A version as the upstream's index line describes it.
struct Offered<'a> {
    line: &'a str,
    name: String,
    cksum: String,
}

/// The line of `version` in an index file, if it has one.
fn offered_version<'a>(content: &'a str, version: &str) -> Option<Offered<'a>> {
    #[derive(serde::Deserialize)]
    struct Line {
        name: String,
        vers: String,
        cksum: String,
    }
    content.lines().find_map(|line| {
        let parsed: Line = serde_json::from_str(line).ok()?;
        (parsed.vers == version).then_some(Offered {
            line,
            name: parsed.name,
            cksum: parsed.cksum,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_an_advisory_affects_are_served_yanked() {
        let content = concat!(
            r#"{"name":"foo","vers":"1.0.0","deps":[],"cksum":"aa","features":{},"yanked":false}"#,
            "\n",
            r#"{"name":"foo","vers":"1.0.1","deps":[],"cksum":"bb","features":{},"yanked":false}"#,
            "\n",
            r#"{"name":"foo","vers":"1.0.2","deps":[],"cksum":"cc","features":{},"yanked":true}"#,
            "\n",
        );
        let marked = mark_yanked(content, &["1.0.0".into(), "1.0.2".into()]);
        let yanked: Vec<bool> = marked
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["yanked"] == true)
            .collect();
        assert_eq!(yanked, [true, false, true]);
        assert_eq!(marked.lines().nth(1), content.lines().nth(1));
    }
}
