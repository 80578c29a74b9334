//! What the reads of a private registry remember about tokens and roles.
//!
//! Every index request and download of a private registry shows a token; checking
//! it and the user's role took two queries, which capped such reads at a fifth of a
//! public registry's rate (docs/performance.md). A successful check is kept for
//! [`FRESH_FOR`]: a change made through this process (a token revoked, a user
//! disabled, a grant or team membership changed) forgets everything at once, and
//! one made elsewhere (the command line, another node) is seen within that time.
//! Failed checks are never kept: they go to the database, and to the rate limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::access::Role;
use crate::auth::{Actor, TokenDigest};
use crate::cache::shard_of;

/// How long a token check or a granted role is trusted without asking again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries a map keeps (only valid tokens get in, so only the number of tokens
/// in use can fill it); a shard that reaches its share is emptied.
const MAX_ENTRIES: usize = 10_000;

/// Locks each map is spread over: a read takes its shard's lock, which writes
/// the lock's word, so readers of different tokens on different cores do not
/// fight over one cache line.
const SHARDS: usize = 16;

/// A shard's share of [`MAX_ENTRIES`].
const MAX_ENTRIES_PER_SHARD: usize = MAX_ENTRIES / SHARDS;

/// One shard of a map: each value with the time it was checked. Hashed with
/// foldhash, not SipHash: keys are digests of valid tokens and ids of users and
/// registries, which no client picks, and every private read hashes two.
type Shard<K, V> = foldhash::HashMap<K, (V, Instant)>;

/// What one map keeps, spread over [`SHARDS`] locks by its key's [`ShardKey`].
struct Remembered<K, V> {
    shards: Box<[RwLock<Shard<K, V>>]>,
}

impl<K, V> Default for Remembered<K, V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }
}

impl<K, V> Remembered<K, V> {
    /// Every shard, locked for writing, in order.
    fn lock_all(&self) -> Vec<RwLockWriteGuard<'_, Shard<K, V>>> {
        self.shards
            .iter()
            .map(|shard| shard.write().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }
}

impl<K, V> std::fmt::Debug for Remembered<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remembered").finish_non_exhaustive()
    }
}

/// The bytes a key's shard is picked by.
trait ShardKey {
    fn shard(&self) -> usize;
}

impl ShardKey for TokenDigest {
    fn shard(&self) -> usize {
        shard_of(self, SHARDS)
    }
}

impl ShardKey for (i64, i64) {
    fn shard(&self) -> usize {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.0.to_le_bytes());
        bytes[8..].copy_from_slice(&self.1.to_le_bytes());
        shard_of(&bytes, SHARDS)
    }
}

#[derive(Debug, Default)]
pub struct AuthCache {
    /// Bumped by [`AuthCache::forget_all`]: a check that began before it is not kept.
    epoch: AtomicU64,
    /// Token holders by the token's SHA-256.
    tokens: Remembered<TokenDigest, Actor>,
    /// Roles granted (to the user or its teams) by user and registry id.
    roles: Remembered<(i64, i64), Option<Role>>,
}

impl AuthCache {
    /// Taken before a check reads the database, and given back to `remember_*`.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The holder of the token whose SHA-256 is `digest`, if checked within [`FRESH_FOR`].
    pub fn token(&self, digest: &TokenDigest) -> Option<Actor> {
        self.token_with(digest, Actor::clone)
    }

    /// `read` of the holder of the token whose SHA-256 is `digest`, if checked
    /// within [`FRESH_FOR`]; the holder is read where it is kept, not copied out.
    pub fn token_with<R>(&self, digest: &TokenDigest, read: impl FnOnce(&Actor) -> R) -> Option<R> {
        fresh(&self.tokens, digest, read)
    }

    pub fn remember_token(&self, digest: TokenDigest, actor: &Actor, epoch: u64) {
        self.remember(&self.tokens, digest, actor.clone(), epoch);
    }

    /// The role granted to `user_id` in `registry_id`, if looked up within [`FRESH_FOR`].
    pub fn role(&self, user_id: i64, registry_id: i64) -> Option<Option<Role>> {
        fresh(&self.roles, &(user_id, registry_id), |role| *role)
    }

    pub fn remember_role(&self, user_id: i64, registry_id: i64, role: Option<Role>, epoch: u64) {
        self.remember(&self.roles, (user_id, registry_id), role, epoch);
    }

    /// Forgets every check: called after a change to tokens, users, grants or teams.
    pub fn forget_all(&self) {
        // Every shard is held while the epoch moves, so no check that read the
        // database before the change is stored after it (`remember` checks the
        // epoch under its shard's lock). Always taken in the same order.
        let mut tokens = self.tokens.lock_all();
        let mut roles = self.roles.lock_all();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        tokens.iter_mut().for_each(|shard| shard.clear());
        roles.iter_mut().for_each(|shard| shard.clear());
    }

    fn remember<K: std::hash::Hash + Eq + ShardKey, V>(
        &self,
        map: &Remembered<K, V>,
        key: K,
        value: V,
        epoch: u64,
    ) {
        let shard = &map.shards[key.shard()];
        let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock `forget_all` takes: a check that raced a change is dropped.
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if shard.len() >= MAX_ENTRIES_PER_SHARD {
            shard.clear();
        }
        shard.insert(key, (value, Instant::now()));
    }
}

/// `read` of what `map` keeps for `key`, if it was kept within [`FRESH_FOR`].
fn fresh<K, V, Q, R>(map: &Remembered<K, V>, key: &Q, read: impl FnOnce(&V) -> R) -> Option<R>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ShardKey + ?Sized,
{
    let shard = map.shards[key.shard()]
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let (value, at) = shard.get(key)?;
    (at.elapsed() < FRESH_FOR).then(|| read(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token_digest;

    fn alice() -> Actor {
        Actor::operator(7, "alice", false)
    }

    #[test]
    fn a_check_is_kept_until_everything_is_forgotten() {
        let cache = AuthCache::default();
        let epoch = cache.epoch();
        let (h, other) = (token_digest("h"), token_digest("other"));
        cache.remember_token(h, &alice(), epoch);
        cache.remember_role(7, 1, Some(Role::Read), epoch);
        assert_eq!(cache.token(&h).map(|a| a.user_id), Some(7));
        assert_eq!(cache.token_with(&h, |a| a.user_id), Some(7));
        assert_eq!(cache.token_with(&other, |a| a.user_id), None);
        assert_eq!(cache.role(7, 1), Some(Some(Role::Read)));
        assert_eq!(cache.role(7, 2), None);
        cache.forget_all();
        assert!(cache.token(&h).is_none());
        assert_eq!(cache.role(7, 1), None);
    }

    #[test]
    fn a_check_that_began_before_a_change_is_not_kept() {
        let cache = AuthCache::default();
        let epoch = cache.epoch();
        cache.forget_all();
        cache.remember_token(token_digest("h"), &alice(), epoch);
        cache.remember_role(7, 1, None, epoch);
        assert!(cache.token(&token_digest("h")).is_none());
        assert_eq!(cache.role(7, 1), None);
    }

    #[test]
    fn checks_of_many_tokens_are_all_kept_and_all_forgotten() {
        let cache = AuthCache::default();
        let epoch = cache.epoch();
        let digest = |n: i64| token_digest(&format!("token-{n}"));
        for n in 0..200 {
            cache.remember_token(digest(n), &alice(), epoch);
            cache.remember_role(n, 1, Some(Role::Read), epoch);
        }
        let used: std::collections::HashSet<_> = (0..200).map(|n| digest(n).shard()).collect();
        assert!(used.len() > 1, "the tokens fell in one shard");
        assert!((0..200).all(|n| cache.token(&digest(n)).is_some()));
        assert!((0..200).all(|n| cache.role(n, 1) == Some(Some(Role::Read))));
        cache.forget_all();
        assert!((0..200).all(|n| cache.token(&digest(n)).is_none()));
        assert!((0..200).all(|n| cache.role(n, 1).is_none()));
    }

    #[test]
    fn a_check_goes_stale_after_its_time() {
        let cache = AuthCache::default();
        let h = token_digest("h");
        cache.remember_token(h, &alice(), cache.epoch());
        let mut tokens = cache.tokens.shards[h.shard()].write().unwrap();
        tokens.get_mut(&h).unwrap().1 -= FRESH_FOR;
        drop(tokens);
        assert!(cache.token(&h).is_none());
    }
}
