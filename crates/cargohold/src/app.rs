//! `App`: the configuration, database, blob store and registries one process serves, shared by every request.

use crate::auth_cache::AuthCache;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::bail;
use cargohold_protocol::RegistryIdentity;
use cargohold_protocol::api::ConfigJson;

use crate::cache::{MemoryCache, Weigh};
use crate::clock;
use crate::config::{Config, RegistryConfig, RegistryKind};
use crate::counter::{Counter, PerThread};
use crate::db::versions::DownloadRow;
use crate::db::{self, Db};
use crate::error::{AppError, AppResult};
use crate::index::cache::IndexCache;
use crate::index::git::GitIndex;
use crate::ops::webhooks::{Subscriptions, Webhooks};
use crate::proxy::Proxy;
use crate::rate_limit::RateLimit;
use crate::storage::BlobStore;
use crate::virtual_registry::Members;
use bytes::Bytes;

/// Shared state handed to every handler.
pub type AppState = Arc<App>;

/// Everything a request, a CLI command or a background task works with.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub db: Db,
    pub storage: BlobStore,
    /// Looked up by every request; names come from the configuration, so a fast hash will do.
    registries: foldhash::HashMap<String, Arc<Registry>>,
    pub downloads: DownloadCounter,
    pub stats: Stats,
    /// Version lookups and small `.crate` files for downloads; both never change once published.
    pub download_cache: DownloadCache,
    pub rate_limits: RateLimits,
    /// Token checks and granted roles, kept briefly for the reads of private registries.
    pub auth_cache: AuthCache,
    /// This process among the nodes sharing the database (host, process id, a random
    /// part), as it signs its leases on background work (`db/leases.rs`).
    pub node_id: String,
    /// Set at the first SIGTERM or Ctrl-C: `/ready` answers 503 from then on, so
    /// load balancers stop sending requests during `shutdown-delay-secs`.
    pub shutting_down: AtomicBool,
    /// The webhook sender's wake-up call and counts (`ops/webhooks.rs`).
    pub webhooks: Webhooks,
}

/// The limits on how fast one client or user may act.
#[derive(Debug)]
pub struct RateLimits {
    /// Failed token checks per client address.
    pub auth_failures: RateLimit<IpAddr>,
    /// Failed web sign-ins per client address: kept apart from tokens, so a CI job
    /// with an expired token does not lock its office's browsers out.
    pub sign_in_failures: RateLimit<IpAddr>,
    /// Publishes and uploads per user id.
    pub publishes: RateLimit<i64>,
}

/// What downloads keep in memory. Published versions and content-addressed blobs
/// never change; only a deletion (`ops/delete.rs`, or another node's, learnt in
/// `forget_changed_index_files`) or a proxy's eviction removes entries.
#[derive(Debug)]
pub struct DownloadCache {
    /// `{registry id}/{canonical name}/{version}` → where the `.crate` is.
    pub versions: MemoryCache<Arc<DownloadRow>>,
    /// Blob key → the `.crate`'s bytes.
    pub blobs: MemoryCache<Bytes>,
}

impl DownloadCache {
    /// The key of `name@version` (any spelling of the name) in `versions`.
    pub fn version_key(registry_id: i64, name: &str, version: &str) -> String {
        // Built by hand: `format!` cost every download about 1,200 instructions.
        let mut key = String::with_capacity(24 + name.len() + version.len());
        key.push_str(itoa::Buffer::new().format(registry_id));
        key.push('/');
        key.extend(name.chars().map(|ch| match ch {
            '-' => '_',
            other => other.to_ascii_lowercase(),
        }));
        key.push('/');
        key.push_str(version);
        key
    }

    fn new(budget: usize) -> Self {
        Self {
            versions: MemoryCache::new(budget / 8),
            blobs: MemoryCache::new(budget),
        }
    }
}

impl Weigh for Arc<DownloadRow> {
    fn weight(&self) -> usize {
        self.blob_key.len() + self.checksum.len()
    }
}

/// Counters of what the server did, for tests and, later, metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Index files answered with 200.
    pub index_served: Counter,
    /// Index files answered with 304 Not Modified.
    pub index_not_modified: Counter,
    /// Index paths with no crate (404).
    pub index_not_found: Counter,
    /// Local index files found in memory, and those read from the database.
    pub index_cache_hits: Counter,
    pub index_cache_misses: Counter,
    /// `.crate` files served (each is also counted per version in the database).
    pub downloads: Counter,
    /// Versions published (and uploaded) through this process.
    pub publishes: Counter,
    /// HTTP/1.1 connections the fast lane passed to hyper (`fast_lane.rs`).
    pub fast_lane_hand_overs: Counter,
    /// Connections open, by the thread serving them; set when the server starts.
    pub open_connections: std::sync::OnceLock<Arc<crate::connections::OpenConnections>>,
}

/// One hosted registry and the URLs clients know it by.
#[derive(Debug)]
pub struct Registry {
    pub id: i64,
    pub name: String,
    pub kind: RegistryKind,
    /// Whether this registry stands in for crates.io (see `RegistryConfig::replaces_crates_io`).
    pub replaces_crates_io: bool,
    /// A private registry: reads need a token (see `access::require_read`).
    pub auth_required: bool,
    /// Where a user learns how to get a token (`{api}/me`), sent in 401 challenges.
    pub login_url: String,
    /// `sparse+{public}/registries/{name}/index/`, as users put it in `.cargo/config.toml`.
    pub index_url: String,
    /// Index URLs of virtual registries that publish here: dependencies naming them are on this registry.
    pub also_known_as: Vec<String>,
    /// The body of `config.json`, rendered once.
    pub config_json: Bytes,
    /// Index files served from memory.
    pub index_cache: IndexCache,
    /// Set for proxy registries: the upstream and what may come from it.
    pub proxy: Option<Proxy>,
    /// Set for virtual registries: the members, in order.
    pub members: Option<Members>,
    /// Set when the registry also keeps a git index (`git-index = true`).
    pub git: Option<GitIndex>,
    /// The webhooks told of changes to its crates (local registries only).
    pub webhooks: Subscriptions,
}

impl Registry {
    fn new(
        id: i64,
        config: &RegistryConfig,
        public_url: &url::Url,
        git_root: &Path,
        cache_size: usize,
        also_known_as: Vec<String>,
    ) -> Self {
        let name = config.name.as_str();
        let base = format!("{public_url}registries/{name}");
        let config_json = ConfigJson {
            dl: format!("{base}/crates/{{crate}}/{{crate}}-{{version}}.crate"),
            api: base.clone(),
            auth_required: config.auth_required,
        };
        let config_json =
            serde_json::to_string(&config_json).expect("config.json always serializes");
        Self {
            id,
            name: name.to_owned(),
            kind: config.kind,
            replaces_crates_io: config.replaces_crates_io,
            auth_required: config.auth_required,
            login_url: format!("{base}/me"),
            index_url: format!("sparse+{base}/index/"),
            also_known_as,
            git: config
                .git_index
                .then(|| GitIndex::new(git_root, name, format!("{base}/git"), &config_json)),
            config_json: Bytes::from(config_json),
            index_cache: IndexCache::new(cache_size),
            proxy: None,
            members: None,
            webhooks: Subscriptions::default(),
        }
    }

    /// Called once a change to the index file of `name_lower` has committed: the
    /// cached file goes, and the git index writer of this process wakes up.
    pub fn index_changed(&self, name_lower: &str) {
        self.index_cache.invalidate(name_lower);
        if let Some(git) = &self.git {
            git.wake();
        }
    }

    /// How this registry refers to itself and to crates.io in index lines.
    pub fn identity(&self) -> RegistryIdentity {
        let identity = RegistryIdentity::new(
            std::iter::once(&self.index_url)
                .chain(&self.also_known_as)
                .cloned(),
        );
        if self.replaces_crates_io {
            identity.standing_in_for_crates_io()
        } else {
            identity
        }
    }
}

impl App {
    /// Connects to the database (applying migrations), opens the blob store and
    /// records the configured registries.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url()).await?;
        let storage = BlobStore::open(&config)?;
        let public_url = config.public_url();
        let mut registries: foldhash::HashMap<String, Arc<Registry>> = Default::default();
        let webhooks = Webhooks::default();
        let wanted_all = config.registries();
        // Virtual registries refer to their members, so they come last.
        let (virtuals, concrete): (Vec<_>, Vec<_>) = wanted_all
            .iter()
            .partition(|r| r.kind == RegistryKind::Virtual);
        for wanted in concrete.into_iter().chain(virtuals) {
            let row = db::registries::ensure(
                db.write(),
                &wanted.name,
                wanted.kind.as_str(),
                clock::now(),
            )
            .await?;
            if row.kind != wanted.kind.as_str() {
                bail!(
                    "the registry `{}` was created as `{}` and cannot become `{}`",
                    row.name,
                    row.kind,
                    wanted.kind.as_str()
                );
            }
            let publishing_virtuals = wanted_all
                .iter()
                .filter(|v| v.publish_to.as_ref() == Some(&wanted.name))
                .map(|v| format!("sparse+{public_url}registries/{}/index/", v.name))
                .collect();
            let mut registry = Registry::new(
                row.id,
                wanted,
                &public_url,
                &config.git_dir(),
                config.index_cache_size,
                publishing_virtuals,
            );
            if let Some(git) = &registry.git {
                crate::index::git::http::check_git_installed(&git.dir)?;
            }
            registry.webhooks = webhooks.subscriptions(&wanted.name, wanted.webhooks.clone())?;
            match wanted.kind {
                RegistryKind::Local => {}
                RegistryKind::Proxy => registry.proxy = Some(Proxy::from_config(wanted)?),
                RegistryKind::Virtual => {
                    let member = |name: &String| registries[name].clone();
                    let (locals, proxies) = wanted
                        .members
                        .iter()
                        .map(member)
                        .partition(|m| m.kind == RegistryKind::Local);
                    registry.members = Some(Members {
                        locals,
                        proxies,
                        publish_to: wanted.publish_to.as_ref().map(member),
                    });
                }
            }
            registries.insert(row.name, Arc::new(registry));
        }
        // A restore without its configuration, or a renamed table, leaves crates
        // nothing serves; say so rather than let them vanish quietly.
        for (name, crates) in db::registries::crate_counts(db.read()).await? {
            if crates > 0 && !registries.contains_key(&name) {
                tracing::warn!(
                    registry = %name,
                    crates,
                    "the database holds the registry `{name}` ({crates} crate{}), which the configuration \
                     does not name, so none of it is served; add a [[registries]] table with name = \"{name}\" \
                     (and its kind) to the configuration",
                    if crates == 1 { "" } else { "s" }
                );
            }
        }
        let download_cache = DownloadCache::new(config.download_cache_size);
        let rate_limits = RateLimits {
            auth_failures: RateLimit::per_minute(config.limits.auth_failures_per_minute),
            sign_in_failures: RateLimit::per_minute(config.limits.auth_failures_per_minute),
            publishes: RateLimit::per_minute(config.limits.publishes_per_minute),
        };
        Ok(Self {
            config,
            db,
            storage,
            registries,
            downloads: DownloadCounter::default(),
            stats: Stats::default(),
            download_cache,
            rate_limits,
            auth_cache: AuthCache::default(),
            node_id: node_id(),
            shutting_down: AtomicBool::new(false),
            webhooks,
        })
    }

    /// The registry called `name`, if there is one.
    pub fn find_registry(&self, name: &str) -> Option<&Arc<Registry>> {
        self.registries.get(name)
    }

    /// The registry called `name`, or a 404 that lists the public ones.
    pub fn registry(&self, name: &str) -> AppResult<&Arc<Registry>> {
        self.registries
            .get(name)
            .ok_or_else(|| self.no_such_registry(name, false))
    }

    /// The registry called `name` for the operator (the command line), who may
    /// know every registry: the 404 lists private ones too.
    pub fn registry_for_operator(&self, name: &str) -> AppResult<&Arc<Registry>> {
        self.registries
            .get(name)
            .ok_or_else(|| self.no_such_registry(name, true))
    }

    /// The 404 for a registry name that is not configured, listing the
    /// registries (private ones only with `with_private`: an HTTP answer never names them).
    fn no_such_registry(&self, name: &str, with_private: bool) -> AppError {
        let mut known: Vec<&str> = self
            .registries
            .values()
            .filter(|r| with_private || !r.auth_required)
            .map(|r| r.name.as_str())
            .collect();
        known.sort_unstable();
        AppError::NotFound(format!(
            "there is no registry named `{name}` here; registries: {}",
            known.join(", ")
        ))
    }

    /// The registry that receives writes (publish, yank, owners) sent to `name`:
    /// a local registry itself, a virtual registry's `publish-to` member, never a proxy.
    pub fn write_registry(&self, name: &str) -> AppResult<&Arc<Registry>> {
        let registry = self.registry(name)?;
        if let Some(members) = &registry.members {
            return members.publish_to.as_ref().ok_or_else(|| {
                let locals: Vec<&str> = members.locals.iter().map(|r| r.name.as_str()).collect();
                AppError::BadRequest(format!(
                    "`{name}` is a virtual registry that does not take publishes; publish to one of its local members ({}) with `--registry`, or ask an administrator to set `publish-to`",
                    if locals.is_empty() { "it has none".to_owned() } else { locals.join(", ") }
                ))
            });
        }
        if let Some(proxy) = &registry.proxy {
            let mut locals: Vec<&str> = self
                .registries
                .values()
                .filter(|r| r.kind == RegistryKind::Local && !r.auth_required)
                .map(|r| r.name.as_str())
                .collect();
            locals.sort_unstable();
            return Err(AppError::BadRequest(format!(
                "`{name}` is a read-only cache of {}; publish to a local registry instead{}",
                proxy.upstream.index_url,
                if locals.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", locals.join(", "))
                }
            )));
        }
        Ok(registry)
    }

    /// Every registry, by name.
    pub fn registries(&self) -> impl Iterator<Item = &Arc<Registry>> {
        self.registries.values()
    }

    /// Forgets cached index files that changed in the database after change
    /// `seen` (made by any process), and what downloads kept of versions deleted
    /// since, and returns the latest change seen.
    pub async fn forget_changed_index_files(&self, seen: i64) -> anyhow::Result<i64> {
        let current = db::index_files::current_generation(self.db.read()).await?;
        if current <= seen {
            return Ok(seen);
        }
        let mut latest = current;
        // An advisory import changes what proxies that yank by advisory serve.
        if self
            .registries()
            .any(|r| crate::ops::advisories::mode_of(r) == crate::config::AdvisoryMode::Yank)
            && db::advisories::imported_since(self.db.read(), seen).await?
        {
            crate::ops::advisories::forget_yanking_index_files(self);
        }
        let registry_of = |id: i64| self.registries.values().find(|r| r.id == id);
        for (registry_id, name, generation) in
            db::index_files::changed_since(self.db.read(), seen).await?
        {
            if let Some(registry) = registry_of(registry_id) {
                registry.index_changed(&name);
            }
            latest = latest.max(generation);
        }
        // A deleted crate has no index file row left to be seen changing, and the
        // download cache takes versions for immutable: deletions say what went.
        for deletion in db::crates::deletions_since(self.db.read(), seen).await? {
            if let Some(registry) = registry_of(deletion.registry_id) {
                self.forget_deleted(registry, &deletion.name, deletion.versions());
            }
            latest = latest.max(deletion.generation);
        }
        Ok(latest)
    }

    /// Forgets what memory holds of deleted `versions` of crate `name`: its index
    /// file (the fast lane answers from the same cache) and the download lookups,
    /// and wakes the git index writer.
    pub fn forget_deleted<'v>(
        &self,
        registry: &Registry,
        name: &str,
        versions: impl IntoIterator<Item = &'v str>,
    ) {
        registry.index_changed(&name.to_ascii_lowercase());
        for version in versions {
            self.download_cache
                .versions
                .invalidate(&DownloadCache::version_key(registry.id, name, version));
        }
    }

    /// Writes counted downloads to the database; on failure they stay counted for the next try.
    pub async fn flush_downloads(&self) -> anyhow::Result<()> {
        let pending = self.downloads.take();
        if pending.is_empty() {
            return Ok(());
        }
        let result = self.write_downloads(&pending).await;
        if result.is_err() {
            self.downloads.restore(pending);
        }
        result
    }

    async fn write_downloads(&self, pending: &HashMap<(i64, i64), i64>) -> anyhow::Result<()> {
        // Sorted, crates before versions, the order every change locks rows in, so a
        // flush does not deadlock with a publish or a yank. Should two nodes' flushes
        // still meet in a deadlock, PostgreSQL ends one, whose counts wait for its next try.
        let mut counts: Vec<(i64, i64, i64)> = pending
            .iter()
            .map(|(&(version_id, crate_id), &count)| (crate_id, version_id, count))
            .collect();
        counts.sort_unstable();
        let day = clock::now().div_euclid(86_400);
        let mut tx = self.db.begin().await?;
        db::downloads::add(&mut tx, day, &counts).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Downloads counted in memory and written in batches, so serving a `.crate` never waits on a write.
/// Each thread counts into its own map, so downloads on different cores share no lock.
#[derive(Debug, Default)]
pub struct DownloadCounter {
    pending: PerThread<Mutex<HashMap<(i64, i64), i64>>>,
}

impl DownloadCounter {
    /// Counts one download of `version_id` (of `crate_id`).
    pub fn record(&self, version_id: i64, crate_id: i64) {
        *lock(self.pending.mine())
            .entry((version_id, crate_id))
            .or_default() += 1;
    }

    fn take(&self) -> HashMap<(i64, i64), i64> {
        let mut all = HashMap::new();
        for pending in self.pending.all() {
            add_counts(&mut all, std::mem::take(&mut *lock(pending)));
        }
        all
    }

    fn restore(&self, counts: HashMap<(i64, i64), i64>) {
        add_counts(&mut lock(self.pending.mine()), counts);
    }
}

fn add_counts(into: &mut HashMap<(i64, i64), i64>, counts: HashMap<(i64, i64), i64>) {
    for (key, count) in counts {
        *into.entry(key).or_default() += count;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A name for this process that no other node shares.
fn node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_counted_on_several_threads_are_taken_together_and_can_be_put_back() {
        let counter = DownloadCounter::default();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        counter.record(7, 1);
                    }
                    counter.record(8, 1);
                });
            }
        });
        let taken = counter.take();
        assert_eq!(taken, HashMap::from([((7, 1), 40), ((8, 1), 4)]));
        assert!(
            counter.take().is_empty(),
            "taking empties every thread's map"
        );

        // A failed write puts them back, to be added to what comes in meanwhile.
        counter.restore(taken);
        counter.record(7, 1);
        assert_eq!(counter.take(), HashMap::from([((7, 1), 41), ((8, 1), 4)]));
    }
}
