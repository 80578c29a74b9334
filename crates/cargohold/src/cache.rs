//! Bounded in-memory caches for the hot paths: index files, download lookups, small `.crate` files.
//!
//! A [`MemoryCache`] keeps values by string key within a byte budget; over the
//! budget it forgets whole shards (hot entries come back on their next request).
//! Fills race with invalidations safely: a value read from the database before
//! an invalidation is never kept after it.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;

const SHARDS: usize = 16;

/// Bytes an entry costs beyond its key and its value's weight (map slot, pointers, headers).
const ENTRY_OVERHEAD: usize = 160;

/// Which of `shards` locks keeps `key`: FNV-1a, since spreading locks needs no
/// more, and the maps inside keep std's keyed hash against crafted keys (hashing
/// twice with that one cost every cache hit about 130 instructions more).
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    let hash = key.iter().fold(0x811c_9dc5_u32, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash as usize % shards
}

/// One part of a cache, locked on its own.
type Shard<V> = RwLock<HashMap<Box<str>, V>>;

/// Values by string key, within a memory budget, safe to fill and invalidate concurrently.
#[derive(Debug)]
pub struct MemoryCache<V> {
    shards: Box<[Shard<V>]>,
    /// Bumped by every invalidation: a fill that started before one is dropped.
    epoch: AtomicU64,
    bytes: AtomicUsize,
    budget: usize,
    disabled: AtomicBool,
}

impl<V: Clone + Weigh> MemoryCache<V> {
    /// A cache holding at most about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            epoch: AtomicU64::new(0),
            bytes: AtomicUsize::new(0),
            budget,
            disabled: AtomicBool::new(false),
        }
    }

    fn shard(&self, name: &str) -> &Shard<V> {
        &self.shards[shard_of(name.as_bytes(), SHARDS)]
    }

    /// What is cached for `name`, if anything.
    pub fn get(&self, name: &str) -> Option<V> {
        let shard = self.shard(name).read().unwrap_or_else(|e| e.into_inner());
        shard.get(name).cloned()
    }

    /// The epoch to pass to [`MemoryCache::insert`]; read it before querying the database.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Caches `value`, read from the database after `epoch` was taken, unless
    /// something was invalidated meanwhile (then the value may already be stale).
    pub fn insert(&self, name: &str, value: V, epoch: u64) {
        if self.budget == 0 || self.disabled.load(Ordering::Acquire) {
            return;
        }
        let cost = entry_cost(name, &value);
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

    /// Forgets everything; fills in flight will not be kept.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
            self.epoch.fetch_add(1, Ordering::AcqRel);
            self.bytes.fetch_sub(clear(&mut shard), Ordering::Relaxed);
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

/// Something whose memory use the cache can account for.
pub trait Weigh {
    /// Bytes held beyond the value's fixed size.
    fn weight(&self) -> usize;
}

impl Weigh for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// Empties a shard and returns the bytes it held.
fn clear<V: Weigh>(shard: &mut HashMap<Box<str>, V>) -> usize {
    let freed = shard.iter().map(|(k, v)| entry_cost(k, v)).sum();
    shard.clear();
    freed
}

fn entry_cost<V: Weigh>(name: &str, value: &V) -> usize {
    name.len() + ENTRY_OVERHEAD + value.weight()
}
