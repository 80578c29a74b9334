//! Per-key rate limits over one-minute windows: failed token checks per client
//! address, publishes per user.
//!
//! Written here rather than taken from a crate because the failed-login limit must
//! ask "is this address blocked?" before checking a token, without counting the
//! request; keyed limiters such as governor's only offer check-and-consume.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Windows kept before expired ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// At most `limit` events per key per minute; a limit of 0 allows everything.
#[derive(Debug)]
pub struct RateLimit<K> {
    limit: u32,
    windows: Mutex<HashMap<K, Window>>,
    /// When this limiter was made: the clock of `last_full`.
    created: Instant,
    /// Milliseconds after `created` when some key last used its limit up (0: never).
    last_full: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl<K: Eq + Hash + Clone> RateLimit<K> {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
            created: Instant::now(),
            last_full: AtomicU64::new(0),
        }
    }

    /// Whether some key may be blocked now, without a lock: false unless a key
    /// used its limit up within the last minute. Lets the hot paths skip
    /// [`RateLimit::blocked`] while nobody is.
    pub fn anyone_blocked(&self) -> bool {
        let last_full = self.last_full.load(Ordering::Relaxed);
        last_full != 0
            && (self.created.elapsed().as_millis() as u64) < last_full + WINDOW.as_millis() as u64
    }

    /// Seconds until `key` may act again, when its limit is used up; counts nothing.
    pub fn blocked(&self, key: &K) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.get(key)?;
        (window.count >= self.limit && now < window.started + WINDOW)
            .then(|| retry_after(window.started, now))
    }

    /// Counts one event for `key`; returns the seconds to wait when the event is over the limit.
    pub fn hit(&self, key: &K) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| now < w.started + WINDOW);
        }
        let window = windows.entry(key.clone()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now >= window.started + WINDOW {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        if window.count >= self.limit {
            return Some(retry_after(window.started, now));
        }
        window.count += 1;
        if window.count >= self.limit {
            let at = now.duration_since(self.created).as_millis() as u64;
            self.last_full.store(at.max(1), Ordering::Relaxed);
        }
        None
    }
}

/// Whole seconds until the window that started at `started` ends, at least 1.
fn retry_after(started: Instant, now: Instant) -> u64 {
    let left = (started + WINDOW).saturating_duration_since(now);
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_limit_and_others_are_not() {
        let limit = RateLimit::per_minute(2);
        assert_eq!(limit.blocked(&"a"), None);
        assert_eq!(limit.hit(&"a"), None);
        assert!(!limit.anyone_blocked());
        assert_eq!(limit.hit(&"a"), None);
        assert!(limit.anyone_blocked(), "the limit is used up");
        let wait = limit.hit(&"a").expect("third event is over the limit");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(limit.blocked(&"a").is_some());
        assert_eq!(limit.blocked(&"b"), None);
        assert_eq!(limit.hit(&"b"), None);
    }

    #[test]
    fn a_limit_of_zero_allows_everything() {
        let limit = RateLimit::per_minute(0);
        for _ in 0..100 {
            assert_eq!(limit.hit(&1), None);
        }
        assert_eq!(limit.blocked(&1), None);
        assert!(!limit.anyone_blocked());
    }
}
