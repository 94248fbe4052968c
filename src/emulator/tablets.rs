//! Tablet load balancing: one cluster-wide switch, as in Scylla (a group0 setting), and the
//! record of every change and of every snapshot taken of a tablet keyspace, so a test can check
//! what a real cluster needs: no tablet keyspace snapshotted while balancing could move a tablet.

use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

/// One entry of the balancing record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BalancingEvent {
    /// `POST /storage_service/tablets/balancing?enabled=` was called on `node`.
    Set {
        /// Address of the node the call reached.
        node: String,
        /// The new state.
        enabled: bool,
        /// Milliseconds since the epoch.
        at_ms: u64,
    },
    /// A snapshot of a tablet keyspace was taken on `node`.
    Snapshot {
        /// Address of the node.
        node: String,
        /// The keyspace snapshotted.
        keyspace: String,
        /// Whether balancing was on at that moment.
        balancing: bool,
        /// Milliseconds since the epoch.
        at_ms: u64,
    },
}

/// The cluster's balancing switch and its record.
#[derive(Debug)]
pub struct Balancing {
    /// Current state and the record, under one lock so the record is in order.
    inner: Mutex<(bool, Vec<BalancingEvent>)>,
}

impl Default for Balancing {
    /// Balancing starts on, as in Scylla.
    fn default() -> Self {
        Balancing {
            inner: Mutex::new((true, Vec::new())),
        }
    }
}

/// Milliseconds since the epoch, now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Balancing {
    fn lock(&self) -> std::sync::MutexGuard<'_, (bool, Vec<BalancingEvent>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether balancing is on.
    pub fn enabled(&self) -> bool {
        self.lock().0
    }

    /// Turns balancing on or off through `node`.
    pub fn set(&self, node: &str, enabled: bool) {
        let mut inner = self.lock();
        inner.0 = enabled;
        inner.1.push(BalancingEvent::Set {
            node: node.to_string(),
            enabled,
            at_ms: now_ms(),
        });
    }

    /// Records a snapshot of tablet keyspace `keyspace` on `node`, with the state at that moment.
    pub fn snapshot_taken(&self, node: &str, keyspace: &str) {
        let mut inner = self.lock();
        let balancing = inner.0;
        inner.1.push(BalancingEvent::Snapshot {
            node: node.to_string(),
            keyspace: keyspace.to_string(),
            balancing,
            at_ms: now_ms(),
        });
    }

    /// The record, oldest first.
    pub fn events(&self) -> Vec<BalancingEvent> {
        self.lock().1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_record_the_state_they_were_taken_in() {
        let b = Balancing::default();
        assert!(b.enabled());
        b.set("127.0.0.1", false);
        b.snapshot_taken("127.0.0.2", "ks");
        b.set("127.0.0.1", true);
        let events = b.events();
        assert_eq!(events.len(), 3);
        assert!(matches!(
            &events[1],
            BalancingEvent::Snapshot {
                balancing: false,
                ..
            }
        ));
        assert!(b.enabled());
    }
}
