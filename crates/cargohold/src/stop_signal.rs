//! Telling every open connection to close, with no shared lock on the way of each read.
//!
//! A connection waits for its next request and for the signal at once. With a
//! `watch` channel, every such wait (once per request) took and gave back the
//! channel's one mutex, a cache line both cores fought over under load. Here a
//! connection registers once, when it opens; each wait only stores its waker in the
//! connection's own [`AtomicWaker`], and [`StopSignal::stop`] wakes them all.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

/// Raised once, when the server stops; seen by every [`StopListener`].
#[derive(Debug, Default)]
pub struct StopSignal {
    stopping: AtomicBool,
    next_id: AtomicU64,
    listeners: Mutex<HashMap<u64, Arc<AtomicWaker>>>,
}

impl StopSignal {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A listener for one connection; it unregisters when dropped.
    pub fn listen(self: &Arc<Self>) -> StopListener {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(AtomicWaker::new());
        self.lock().insert(id, waker.clone());
        StopListener {
            signal: self.clone(),
            id,
            waker,
        }
    }

    /// Raises the signal and wakes every listener waiting for it.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for waker in self.lock().values() {
            waker.wake();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<AtomicWaker>>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection's view of the [`StopSignal`].
#[derive(Debug)]
pub struct StopListener {
    signal: Arc<StopSignal>,
    id: u64,
    waker: Arc<AtomicWaker>,
}

impl StopListener {
    /// Whether the server is stopping.
    pub fn is_stopping(&self) -> bool {
        self.signal.stopping.load(Ordering::SeqCst)
    }

    /// Ready once the server is stopping.
    pub fn poll_stopped(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Register first, then look: a `stop` between the two still wakes this waker.
        self.waker.register(cx.waker());
        if self.is_stopping() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Resolves once the server is stopping.
    pub async fn stopped(&self) {
        poll_fn(|cx| self.poll_stopped(cx)).await;
    }
}

impl Drop for StopListener {
    fn drop(&mut self) {
        self.signal.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_waiting_listener_wakes_when_the_signal_is_raised() {
        let signal = StopSignal::new();
        let listener = signal.listen();
        assert!(!listener.is_stopping());
        let waiting = tokio::spawn(async move { listener.stopped().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        signal.stop();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the listener woke")
            .unwrap();
    }

    #[tokio::test]
    async fn a_listener_made_after_the_signal_sees_it_at_once() {
        let signal = StopSignal::new();
        signal.stop();
        let listener = signal.listen();
        assert!(listener.is_stopping());
        listener.stopped().await;
    }

    #[test]
    fn a_dropped_listener_is_forgotten() {
        let signal = StopSignal::new();
        let first = signal.listen();
        let second = signal.listen();
        drop(first);
        assert_eq!(signal.lock().len(), 1);
        drop(second);
        assert!(signal.lock().is_empty());
    }
}
