//! The cluster's call record: CQL statements run and the REST calls whose order matters (the raft
//! read barrier, tablet balancing), numbered in the order they happened across all nodes, so a
//! test can check that one came before another. Bounded: the oldest entries go first.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Most entries kept.
const KEPT: usize = 10_000;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// Position in the cluster's order of calls, from 1.
    pub seq: u64,
    /// Address of the node that served it.
    pub node: String,
    /// What was called: `CQL <statement>` or `<METHOD> <path>`.
    pub what: String,
}

/// The bounded record.
#[derive(Debug, Default)]
pub struct CallLog {
    /// The next number, and the kept entries, oldest first.
    inner: Mutex<(u64, VecDeque<Call>)>,
}

impl CallLog {
    /// Records a call served by `node`.
    pub fn record(&self, node: &str, what: impl Into<String>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0 += 1;
        let seq = inner.0;
        if inner.1.len() == KEPT {
            inner.1.pop_front();
        }
        inner.1.push_back(Call {
            seq,
            node: node.to_string(),
            what: what.into(),
        });
    }

    /// The kept entries, oldest first.
    pub fn entries(&self) -> Vec<Call> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.1.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_numbered_in_order_and_bounded() {
        let log = CallLog::default();
        for i in 0..KEPT + 5 {
            log.record("127.0.0.1", format!("CQL {i}"));
        }
        let entries = log.entries();
        assert_eq!(entries.len(), KEPT);
        assert_eq!(entries[0].seq, 6);
        assert_eq!(entries[KEPT - 1].what, format!("CQL {}", KEPT + 4));
    }
}
