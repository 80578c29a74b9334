//! What the reads of a private registry remember about tokens and roles.
//!
//! Every index request and download of a private registry shows a token; checking
//! it and the user's role took two queries, which capped such reads at a fifth of a
//! public registry's rate (docs/performance.md). A successful check is kept for
//! [`FRESH_FOR`]: a change made through this process (a token revoked, a user
//! disabled, a grant or team membership changed) forgets everything at once, and
//! one made elsewhere (the command line, another node) is seen within that time.
//! Failed checks are never kept: they go to the database, and to the rate limit.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::access::Role;
use crate::auth::Actor;

/// How long a token check or a granted role is trusted without asking again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries per map before it is emptied (only valid tokens get in, so only the
/// number of tokens in use can fill it).
const MAX_ENTRIES: usize = 10_000;

type Remembered<K, V> = RwLock<HashMap<K, (V, Instant)>>;

#[derive(Debug, Default)]
pub struct AuthCache {
    /// Bumped by [`AuthCache::forget_all`]: a check that began before it is not kept.
    epoch: AtomicU64,
    /// Token holders by the token's hash.
    tokens: Remembered<String, Actor>,
    /// Roles granted (to the user or its teams) by user and registry id.
    roles: Remembered<(i64, i64), Option<Role>>,
}

impl AuthCache {
    /// Taken before a check reads the database, and given back to `remember_*`.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The holder of the token hashed to `hash`, if checked within [`FRESH_FOR`].
    pub fn token(&self, hash: &str) -> Option<Actor> {
        self.token_with(hash, Actor::clone)
    }

    /// `read` of the holder of the token hashed to `hash`, if checked within
    /// [`FRESH_FOR`]; the holder is read where it is kept, not copied out.
    pub fn token_with<R>(&self, hash: &str, read: impl FnOnce(&Actor) -> R) -> Option<R> {
        fresh(&self.tokens, hash, read)
    }

    pub fn remember_token(&self, hash: String, actor: &Actor, epoch: u64) {
        self.remember(&self.tokens, hash, actor.clone(), epoch);
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
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        let mut roles = self.roles.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        tokens.clear();
        roles.clear();
    }

    fn remember<K: std::hash::Hash + Eq, V>(
        &self,
        map: &Remembered<K, V>,
        key: K,
        value: V,
        epoch: u64,
    ) {
        let mut map = map.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock `forget_all` takes: a check that raced a change is dropped.
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (value, Instant::now()));
    }
}

/// `read` of what `map` keeps for `key`, if it was kept within [`FRESH_FOR`].
fn fresh<K, V, Q, R>(map: &Remembered<K, V>, key: &Q, read: impl FnOnce(&V) -> R) -> Option<R>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let map = map.read().unwrap_or_else(|e| e.into_inner());
    let (value, at) = map.get(key)?;
    (at.elapsed() < FRESH_FOR).then(|| read(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Actor {
        Actor::operator(7, "alice", false)
    }

    #[test]
    fn a_check_is_kept_until_everything_is_forgotten() {
        let cache = AuthCache::default();
        let epoch = cache.epoch();
        cache.remember_token("h".into(), &alice(), epoch);
        cache.remember_role(7, 1, Some(Role::Read), epoch);
        assert_eq!(cache.token("h").map(|a| a.user_id), Some(7));
        assert_eq!(cache.token_with("h", |a| a.user_id), Some(7));
        assert_eq!(cache.token_with("other", |a| a.user_id), None);
        assert_eq!(cache.role(7, 1), Some(Some(Role::Read)));
        assert_eq!(cache.role(7, 2), None);
        cache.forget_all();
        assert!(cache.token("h").is_none());
        assert_eq!(cache.role(7, 1), None);
    }

    #[test]
    fn a_check_that_began_before_a_change_is_not_kept() {
        let cache = AuthCache::default();
        let epoch = cache.epoch();
        cache.forget_all();
        cache.remember_token("h".into(), &alice(), epoch);
        cache.remember_role(7, 1, None, epoch);
        assert!(cache.token("h").is_none());
        assert_eq!(cache.role(7, 1), None);
    }

    #[test]
    fn a_check_goes_stale_after_its_time() {
        let cache = AuthCache::default();
        cache.remember_token("h".into(), &alice(), cache.epoch());
        let mut tokens = cache.tokens.write().unwrap();
        tokens.get_mut("h").unwrap().1 -= FRESH_FOR;
        drop(tokens);
        assert!(cache.token("h").is_none());
    }
}
