//! Per-key rate limits over one-minute windows: failed token checks and web
//! sign-ins per client address, publishes per user.
//!
//! Written here rather than taken from a crate because the web sign-in must ask
//! "is this address blocked?" before checking a password, without counting the
//! request, and the token check must know which refusal first went over the
//! limit (it is logged as a warning); keyed limiters such as governor's only offer
//! check-and-consume.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Windows kept before expired ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// At most `limit` events per key per minute; a limit of 0 allows everything.
#[derive(Debug)]
pub struct RateLimit<K> {
    limit: u32,
    windows: Mutex<HashMap<K, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
    /// Whether an event was refused in this window already.
    refused: bool,
}

/// What counting one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Within the limit.
    Allowed,
    /// Over the limit: the key may act again in `retry_after` seconds. `first`
    /// for the first refusal of the window, when the limit trips.
    Refused { retry_after: u64, first: bool },
}

impl<K: Eq + Hash + Clone> RateLimit<K> {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
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

    /// [`RateLimit::blocked`] for a request about to be refused for it: counts
    /// nothing, but tells the first refusal of the window from the others (as
    /// [`RateLimit::count`] does), so the limit tripping is recorded once however
    /// many requests keep coming.
    pub fn refuse(&self, key: &K) -> Counted {
        if self.limit == 0 {
            return Counted::Allowed;
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get_mut(key) {
            Some(window) if window.count >= self.limit && now < window.started + WINDOW => {
                let first = !window.refused;
                window.refused = true;
                Counted::Refused {
                    retry_after: retry_after(window.started, now),
                    first,
                }
            }
            _ => Counted::Allowed,
        }
    }

    /// Counts one event for `key`; returns the seconds to wait when the event is over the limit.
    pub fn hit(&self, key: &K) -> Option<u64> {
        match self.count(key) {
            Counted::Allowed => None,
            Counted::Refused { retry_after, .. } => Some(retry_after),
        }
    }

    /// Counts one event for `key`: [`RateLimit::hit`], telling the first refusal
    /// of a window from the others.
    pub fn count(&self, key: &K) -> Counted {
        if self.limit == 0 {
            return Counted::Allowed;
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| now < w.started + WINDOW);
        }
        let fresh = Window {
            started: now,
            count: 0,
            refused: false,
        };
        let window = windows.entry(key.clone()).or_insert(fresh);
        if now >= window.started + WINDOW {
            *window = fresh;
        }
        if window.count >= self.limit {
            let first = !window.refused;
            window.refused = true;
            return Counted::Refused {
                retry_after: retry_after(window.started, now),
                first,
            };
        }
        window.count += 1;
        Counted::Allowed
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
        assert_eq!(limit.hit(&"a"), None);
        assert!(limit.blocked(&"a").is_some(), "the limit is used up");
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
        assert_eq!(limit.count(&1), Counted::Allowed);
    }

    #[test]
    fn only_the_first_refusal_of_a_window_is_the_one_that_trips_the_limit() {
        let limit = RateLimit::per_minute(1);
        assert_eq!(limit.count(&"a"), Counted::Allowed);
        let first = limit.count(&"a");
        assert!(
            matches!(first, Counted::Refused { first: true, retry_after } if (1..=60).contains(&retry_after)),
            "{first:?}"
        );
        assert!(matches!(
            limit.count(&"a"),
            Counted::Refused { first: false, .. }
        ));
        assert_eq!(limit.count(&"b"), Counted::Allowed);
    }

    #[test]
    fn refusing_a_blocked_key_counts_nothing_and_is_first_once_per_window() {
        let limit = RateLimit::per_minute(1);
        assert_eq!(limit.refuse(&"a"), Counted::Allowed, "nothing counted yet");
        assert_eq!(limit.count(&"a"), Counted::Allowed);
        let first = limit.refuse(&"a");
        assert!(
            matches!(first, Counted::Refused { first: true, retry_after } if (1..=60).contains(&retry_after)),
            "{first:?}"
        );
        assert!(matches!(
            limit.refuse(&"a"),
            Counted::Refused { first: false, .. }
        ));
        // A refusal by `count` in the same window is not the first any more either.
        assert!(matches!(
            limit.count(&"a"),
            Counted::Refused { first: false, .. }
        ));
        assert_eq!(limit.refuse(&"b"), Counted::Allowed);
        assert_eq!(RateLimit::per_minute(0).refuse(&"a"), Counted::Allowed);
    }
}
