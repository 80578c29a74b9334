//! One upstream request per key at a time: concurrent requests for the same file wait for the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

type Gate = Arc<tokio::sync::Mutex<()>>;

/// Per-key gates; a key's gate exists only while someone holds or awaits it.
#[derive(Debug, Default)]
pub struct Flights {
    gates: Mutex<HashMap<String, Gate>>,
}

/// Held while fetching one key; others asking for the key wait until it drops.
/// It owns its way back to the gates, so a background task can hold it.
pub struct Flight {
    flights: Arc<Flights>,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Flights {
    /// Waits until no one else works on `key`, then holds it.
    pub async fn enter(self: &Arc<Self>, key: &str) -> Flight {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
            gates.entry(key.to_owned()).or_default().clone()
        };
        let guard = gate.lock_owned().await;
        Flight {
            flights: Arc::clone(self),
            key: key.to_owned(),
            guard: Some(guard),
        }
    }

    /// How many keys are being worked on or waited for.
    pub fn in_flight(&self) -> usize {
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut gates = self.flights.gates.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map holds the gate: nobody waits, so it can go.
        if gates
            .get(&self.key)
            .is_some_and(|gate| Arc::strong_count(gate) == 1)
        {
            gates.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_holder_per_key_and_gates_go_away_after_use() {
        let flights = Arc::new(Flights::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (flights, inside, most) = (flights.clone(), inside.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let _flight = flights.enter("serde").await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0);
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let flights = Arc::new(Flights::default());
        let _a = flights.enter("a").await;
        let _b = flights.enter("b").await;
        assert_eq!(flights.in_flight(), 2);
    }
}
