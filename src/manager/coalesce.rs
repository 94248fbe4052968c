//! Coalescing of progress updates before they are written.
//!
//! An upload reports progress many times a second per table; the store needs only the latest
//! state of each (host, unit, table) row. The `ProgressActor` feeds every update into a
//! [`Coalescer`] and writes one batch at a time: whatever accumulated while the previous batch
//! was being written. So the number of writes is bounded by the flush rate, not the event rate,
//! and the last update of every row is never lost: it either waits in the coalescer or has been
//! drained into a batch.

use std::collections::BTreeMap;

/// The latest value per key, since the last drain.
#[derive(Debug, Clone)]
pub struct Coalescer<K: Ord, V> {
    /// Pending values by key.
    pending: BTreeMap<K, V>,
    /// Updates received since the last drain (including overwritten ones).
    received: u64,
}

impl<K: Ord, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Coalescer {
            pending: BTreeMap::new(),
            received: 0,
        }
    }
}

impl<K: Ord, V> Coalescer<K, V> {
    /// Records an update; a later update of the same key replaces it.
    pub fn push(&mut self, key: K, value: V) {
        self.received += 1;
        self.pending.insert(key, value);
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// How many rows wait to be written.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Updates received since the last drain.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Takes everything pending, in key order, as one batch.
    pub fn drain(&mut self) -> Vec<(K, V)> {
        self.received = 0;
        std::mem::take(&mut self.pending).into_iter().collect()
    }

    /// Puts a batch whose write failed back, under any newer updates of the same keys.
    pub fn restore(&mut self, batch: Vec<(K, V)>) {
        for (k, v) in batch {
            self.pending.entry(k).or_insert(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn latest_update_per_key_in_key_order() {
        let mut c = Coalescer::default();
        c.push(("h2", 0), 10);
        c.push(("h1", 1), 5);
        c.push(("h2", 0), 20);
        assert_eq!((c.len(), c.received()), (2, 3));
        assert_eq!(c.drain(), vec![(("h1", 1), 5), (("h2", 0), 20)]);
        assert!(c.is_empty());
    }

    #[test]
    fn a_failed_batch_goes_back_under_newer_updates() {
        let mut c = Coalescer::default();
        c.push("a", 1);
        c.push("b", 1);
        let batch = c.drain();
        c.push("a", 2);
        c.restore(batch);
        assert_eq!(
            c.drain(),
            vec![("a", 2), ("b", 1)],
            "a's newer update wins, b is not lost"
        );
    }

    proptest! {
        #[test]
        fn draining_at_any_points_keeps_the_last_value_of_every_key(
            updates in proptest::collection::vec((0u8..8, any::<u32>(), any::<bool>()), 1..200),
        ) {
            let mut c = Coalescer::default();
            let mut written = std::collections::BTreeMap::new();
            let mut expected = std::collections::BTreeMap::new();
            for (key, value, drain_now) in updates {
                c.push(key, value);
                expected.insert(key, value);
                if drain_now {
                    written.extend(c.drain());
                }
            }
            written.extend(c.drain());
            prop_assert_eq!(written, expected);
        }
    }
}
