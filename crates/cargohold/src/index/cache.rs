//! An in-memory cache of a registry's index files, so the hottest path needs no query.
//!
//! Index requests come by the hundred per `cargo update`. Each registry keeps its
//! rendered files (and "no such crate" answers, for cargo's name probes) here,
//! with headers ready to send. Entries go away when a change commits: at once for
//! changes made by this process, within a poll interval for changes made by
//! another (`server.rs` follows `index_state.generation`).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use axum::http::HeaderValue;
use bytes::Bytes;

use crate::clock;
use crate::db::index_files::IndexFileRow;

const SHARDS: usize = 16;

/// One part of the cache, locked on its own.
type Shard = RwLock<HashMap<Box<str>, Cached>>;

/// Bytes an entry costs beyond its name and body (map slot, `Arc`, headers).
const ENTRY_OVERHEAD: usize = 160;

/// What the cache knows about one index path.
#[derive(Debug, Clone)]
pub enum Cached {
    File(Arc<CachedFile>),
    /// No crate has this name.
    Missing,
}

/// An index file with its response headers, ready to send.
#[derive(Debug)]
pub struct CachedFile {
    pub body: Bytes,
    pub etag: HeaderValue,
    pub last_modified: HeaderValue,
    pub last_modified_secs: i64,
}

impl CachedFile {
    /// Prepares a stored file for serving.
    pub fn from_row(row: IndexFileRow) -> Self {
        let fallback = || HeaderValue::from_static("\"\"");
        Self {
            etag: HeaderValue::from_str(&row.etag).unwrap_or_else(|_| fallback()),
            last_modified: HeaderValue::from_str(&clock::http_date(row.last_modified))
                .unwrap_or_else(|_| fallback()),
            last_modified_secs: row.last_modified,
            body: Bytes::from(row.content),
        }
    }
}

/// Index files of one registry, by lowercase crate name, within a memory budget.
#[derive(Debug)]
pub struct IndexCache {
    shards: Box<[Shard]>,
    hasher: std::collections::hash_map::RandomState,
    /// Bumped by every invalidation: a fill that started before one is dropped.
    epoch: AtomicU64,
    bytes: AtomicUsize,
    budget: usize,
    disabled: AtomicBool,
}

impl IndexCache {
    /// A cache holding at most about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: Default::default(),
            epoch: AtomicU64::new(0),
            bytes: AtomicUsize::new(0),
            budget,
            disabled: AtomicBool::new(false),
        }
    }

    fn shard(&self, name: &str) -> &Shard {
        &self.shards[self.hasher.hash_one(name) as usize % SHARDS]
    }

    /// What is cached for `name`, if anything.
    pub fn get(&self, name: &str) -> Option<Cached> {
        let shard = self.shard(name).read().unwrap_or_else(|e| e.into_inner());
        shard.get(name).cloned()
    }

    /// The epoch to pass to [`IndexCache::insert`]; read it before querying the database.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Caches `value`, read from the database after `epoch` was taken, unless
    /// something was invalidated meanwhile (then the value may already be stale).
    pub fn insert(&self, name: &str, value: Cached, epoch: u64) {
        if self.budget == 0 || self.disabled.load(Ordering::Acquire) {
            return;
        }
        let cost = name.len()
            + ENTRY_OVERHEAD
            + match &value {
                Cached::File(file) => file.body.len(),
                Cached::Missing => 0,
            };
        let mut shard = self.shard(name).write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if self.bytes.load(Ordering::Relaxed) + cost > self.budget {
            // Over budget: forget this shard, then others that are free right now,
            // until there is room. Hot entries come back on their next request.
            self.bytes.fetch_sub(clear(&mut shard), Ordering::Relaxed);
            for other in self.shards.iter() {
                if self.bytes.load(Ordering::Relaxed) + cost <= self.budget {
                    break;
                }
                // `try_write`: never wait for a second shard while holding one.
                if let Ok(mut other) = other.try_write() {
                    self.bytes.fetch_sub(clear(&mut other), Ordering::Relaxed);
                }
            }
        }
        if let Some(old) = shard.insert(name.into(), value) {
            self.bytes
                .fetch_sub(entry_cost(name, &old), Ordering::Relaxed);
        }
        self.bytes.fetch_add(cost, Ordering::Relaxed);
    }

    /// Forgets `name`; a fill in flight for it will not be kept.
    pub fn invalidate(&self, name: &str) {
        let mut shard = self.shard(name).write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(old) = shard.remove(name) {
            self.bytes
                .fetch_sub(entry_cost(name, &old), Ordering::Relaxed);
        }
    }

    /// Stops caching, for when changes can no longer be followed.
    pub fn disable(&self) {
        self.disabled.store(true, Ordering::Release);
        for shard in self.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
            self.epoch.fetch_add(1, Ordering::AcqRel);
            self.bytes.fetch_sub(clear(&mut shard), Ordering::Relaxed);
        }
    }

    /// Bytes held now, approximately.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Empties a shard and returns the bytes it held.
fn clear(shard: &mut HashMap<Box<str>, Cached>) -> usize {
    let freed = shard.iter().map(|(k, v)| entry_cost(k, v)).sum();
    shard.clear();
    freed
}

fn entry_cost(name: &str, value: &Cached) -> usize {
    name.len()
        + ENTRY_OVERHEAD
        + match value {
            Cached::File(file) => file.body.len(),
            Cached::Missing => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str) -> Cached {
        Cached::File(Arc::new(CachedFile::from_row(IndexFileRow {
            content: content.into(),
            etag: "\"e\"".into(),
            last_modified: 0,
        })))
    }

    #[test]
    fn an_entry_filled_before_an_invalidation_is_not_kept() {
        let cache = IndexCache::new(1 << 20);
        let epoch = cache.epoch();
        cache.invalidate("serde");
        cache.insert("serde", file("old"), epoch);
        assert!(cache.get("serde").is_none());
        cache.insert("serde", file("new"), cache.epoch());
        assert!(matches!(cache.get("serde"), Some(Cached::File(f)) if f.body == "new"));
    }

    #[test]
    fn invalidation_removes_the_entry_and_its_bytes() {
        let cache = IndexCache::new(1 << 20);
        cache.insert("a", file("0123456789"), cache.epoch());
        cache.insert("b", Cached::Missing, cache.epoch());
        assert!(cache.bytes() > 10);
        cache.invalidate("a");
        cache.invalidate("b");
        assert!(cache.get("a").is_none() && cache.get("b").is_none());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn the_budget_bounds_what_is_held() {
        let cache = IndexCache::new(4096);
        for i in 0..1000 {
            cache.insert(&format!("crate-{i}"), file(&"x".repeat(100)), cache.epoch());
            assert!(cache.bytes() <= 4096 + 400, "{}", cache.bytes());
        }
        assert!(cache.get("crate-999").is_some(), "the newest entry stays");
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let cache = IndexCache::new(0);
        cache.insert("a", file("x"), cache.epoch());
        assert!(cache.get("a").is_none());
    }
}
