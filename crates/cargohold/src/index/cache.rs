//! The cache of a registry's index files, so the hottest path needs no query.
//!
//! Index requests come by the hundred per `cargo update`. Each registry keeps its
//! rendered files (and "no such crate" answers, for cargo's name probes) in
//! memory, with headers ready to send. Entries go away when a change commits: at
//! once for changes made by this process, within a poll interval for changes made
//! by another (`server.rs` follows `index_state.generation`).

use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;

use crate::cache::{MemoryCache, Weigh};
use crate::clock;
use crate::db::index_files::IndexFileRow;

/// Index files of one registry, by lowercase crate name.
pub type IndexCache = MemoryCache<Cached>;

/// What the cache knows about one index path.
#[derive(Debug, Clone)]
pub enum Cached {
    File(Arc<CachedFile>),
    /// No crate has this name (a proxy asks its upstream again after `until`).
    Missing {
        until: i64,
    },
    /// A proxy's upstream has the crate, or might, but the proxy's policy keeps all
    /// of it out; `reason` says so to the user (until `until`).
    Refused {
        until: i64,
        reason: Arc<str>,
    },
}

impl Cached {
    /// "No such crate", for as long as nothing changes.
    pub const MISSING: Self = Self::Missing { until: i64::MAX };

    /// Whether the entry may still be served at `now` (local files: until invalidated).
    pub fn is_fresh(&self, now: i64) -> bool {
        match self {
            Cached::File(file) => now < file.expires_at,
            Cached::Missing { until } | Cached::Refused { until, .. } => now < *until,
        }
    }
}

impl Weigh for Cached {
    fn weight(&self) -> usize {
        match self {
            Cached::File(file) => file.body.len(),
            Cached::Missing { .. } => 0,
            Cached::Refused { reason, .. } => reason.len(),
        }
    }
}

/// An index file with its response headers, ready to send.
#[derive(Debug)]
pub struct CachedFile {
    pub body: Bytes,
    pub etag: HeaderValue,
    pub last_modified: HeaderValue,
    pub last_modified_secs: i64,
    /// When a proxy's copy must be revalidated; never for local files.
    pub expires_at: i64,
}

impl CachedFile {
    /// Prepares a stored file for serving.
    pub fn from_row(row: IndexFileRow) -> Self {
        Self::expiring(row, i64::MAX)
    }

    /// Prepares a file that is good until `expires_at`.
    pub fn expiring(row: IndexFileRow, expires_at: i64) -> Self {
        let fallback = || HeaderValue::from_static("\"\"");
        Self {
            etag: HeaderValue::from_str(&row.etag).unwrap_or_else(|_| fallback()),
            last_modified: HeaderValue::from_str(&clock::http_date(row.last_modified))
                .unwrap_or_else(|_| fallback()),
            last_modified_secs: row.last_modified,
            body: Bytes::from(row.content),
            expires_at,
        }
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
        cache.insert("b", Cached::MISSING, cache.epoch());
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
