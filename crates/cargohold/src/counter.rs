//! Counters (and other per-request state) the hot paths change from every worker
//! thread without sharing a cache line.
//!
//! One `AtomicU64` bumped by both cores for every index request moves its cache line
//! between them each time; a [`Counter`] gives each thread its own slot (padded to
//! a line of its own) and sums the slots when read, which only `/metrics` and tests do.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Slots per value: more than the worker threads of any usual machine's runtime;
/// threads beyond that share slots, which stays correct, only slower.
const SLOTS: usize = 16;

/// A value on a cache line of its own (128 bytes: adjacent lines are fetched in pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// One `T` per thread (up to [`SLOTS`] threads; more share), each on its own cache
/// line: what a thread changes on every request stays in its own core's cache.
#[derive(Debug, Default)]
pub struct PerThread<T> {
    slots: [Padded<T>; SLOTS],
}

impl<T> PerThread<T> {
    /// The calling thread's `T`.
    #[inline]
    pub fn mine(&self) -> &T {
        &self.slots[this_threads_slot()].0
    }

    /// Every thread's `T`.
    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|slot| &slot.0)
    }
}

/// A count that many threads add to and few read.
#[derive(Debug, Default)]
pub struct Counter {
    slots: PerThread<AtomicU64>,
}

impl Counter {
    /// Adds one.
    #[inline]
    pub fn bump(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.slots.mine().fetch_add(n, Ordering::Relaxed);
    }

    /// The sum of every slot: exact once the adding threads are done, and never
    /// less than what was added before the call.
    pub fn get(&self) -> u64 {
        self.slots
            .all()
            .map(|slot| slot.load(Ordering::Relaxed))
            .sum()
    }
}

/// The slot of the calling thread, dealt round-robin as threads first ask.
fn this_threads_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
    }
    SLOT.with(|slot| {
        slot.get().unwrap_or_else(|| {
            let dealt = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
            slot.set(Some(dealt));
            dealt
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_from_many_threads_all_count() {
        let counter = Counter::default();
        std::thread::scope(|scope| {
            for _ in 0..(SLOTS + 3) {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.bump();
                    }
                    counter.add(5);
                });
            }
        });
        assert_eq!(counter.get(), (SLOTS as u64 + 3) * 1005);
    }

    #[test]
    fn each_slot_has_a_cache_line_of_its_own() {
        assert_eq!(std::mem::size_of::<Padded<AtomicU64>>(), 128);
        assert_eq!(std::mem::align_of::<Counter>(), 128);
    }

    #[test]
    fn threads_get_slots_of_their_own() {
        let values: PerThread<AtomicU64> = PerThread::default();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| values.mine().fetch_add(1, Ordering::Relaxed));
            }
        });
        let used = values
            .all()
            .filter(|v| v.load(Ordering::Relaxed) > 0)
            .count();
        assert_eq!(used, 2);
    }
}
