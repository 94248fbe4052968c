//! Loading a table's `upload/` directory: refresh (the SSTables join the node's own table as
//! they are) or load&stream (each record is sent to the nodes that replicate its token in the
//! current topology, or only to its primary replica, and written there as new SSTables), one
//! load per table and node at a time, as Scylla's loader refuses a second.
//!
//! Load&stream is synchronous and takes `bytes written / (shards × stream rate)` seconds, the
//! stream rate being `--stream-rate` MiB/s per shard (0: no limit).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use super::cluster::Cluster;
use super::node::{NodeError, TableRef};
use super::placement;
use super::records::{self, Record};

/// The tables with a load under way on one node.
#[derive(Debug, Default)]
pub struct Loading {
    /// (keyspace, table) of each load under way.
    tables: Mutex<BTreeSet<(String, String)>>,
}

/// A load under way; dropping it ends it.
#[derive(Debug)]
pub struct LoadGuard<'a> {
    /// The node's record of loads.
    loading: &'a Loading,
    /// The table being loaded.
    key: (String, String),
}

impl Drop for LoadGuard<'_> {
    fn drop(&mut self) {
        self.loading
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl Loading {
    /// Starts a load of `t`; `None` while another load of it runs.
    pub fn begin(&self, t: &TableRef) -> Option<LoadGuard<'_>> {
        let key = (t.keyspace.clone(), t.table.name.clone());
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if !tables.insert(key.clone()) {
            return None;
        }
        Some(LoadGuard { loading: self, key })
    }
}

/// Scylla's message for a load refused because one runs already.
pub const ALREADY_LOADING: &str = "Already loading SSTables. Try again later";

/// Why a load failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Another load of the table runs on the node.
    #[error("{ALREADY_LOADING}")]
    AlreadyLoading,
    /// Reading, writing or removing files failed, or an SSTable was incomplete.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// SSTables taken from `upload/`.
    pub sstables: usize,
    /// Bytes of `Data.db` written at the receiving nodes (load&stream).
    pub bytes_streamed: u64,
}

/// How long moving `bytes` takes at `rate_mib` MiB/s per shard over `shards` shards.
pub fn stream_time(bytes: u64, shards: u32, rate_mib: u64) -> Duration {
    if rate_mib == 0 {
        return Duration::ZERO;
    }
    let per_second = u64::from(shards.max(1)) as f64 * rate_mib as f64 * 1024.0 * 1024.0;
    Duration::from_secs_f64(bytes as f64 / per_second)
}

/// Loads the table's `upload/` on node `index`: refresh when `stream` is false, else
/// load&stream to every replica (or the primary only). Incomplete SSTables fail the call
/// before anything moves.
pub fn load(
    cluster: &Cluster,
    index: usize,
    t: &TableRef,
    stream: bool,
    primary_only: bool,
) -> Result<LoadReport, LoadError> {
    let Some(node) = cluster.nodes.get(index) else {
        return Ok(LoadReport::default());
    };
    let _guard = node.loading.begin(t).ok_or(LoadError::AlreadyLoading)?;
    if !stream {
        let sstables = node.load_uploaded(t)?;
        return Ok(LoadReport {
            sstables,
            bytes_streamed: 0,
        });
    }
    let uploads = node.read_uploads(t)?;
    let all: Vec<Record<'_>> = uploads
        .iter()
        .flat_map(|u| records::parse(&u.data))
        .collect();
    let replication = cluster.replication(&t.keyspace);
    let owners = |token: i64| {
        let replicas = cluster
            .topology
            .replicas_of_token(&replication, token, index);
        if primary_only {
            replicas.into_iter().take(1).collect()
        } else {
            replicas
        }
    };
    let split = placement::split_by_owner(&all, owners);
    let bytes: u64 = split.values().flatten().map(|r| r.bytes.len() as u64).sum();
    std::thread::sleep(stream_time(
        bytes,
        cluster.config.shards,
        cluster.config.stream_rate,
    ));
    for (target, records) in &split {
        if let Some(n) = cluster.nodes.get(*target) {
            n.add_records(t, records)?;
        }
    }
    node.remove_uploads(t, &uploads)?;
    Ok(LoadReport {
        sstables: uploads.len(),
        bytes_streamed: bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_time_scales_with_bytes_and_shards() {
        assert_eq!(stream_time(1 << 30, 2, 0), Duration::ZERO, "0 is unlimited");
        assert_eq!(stream_time(4 << 20, 2, 1), Duration::from_secs(2));
        assert!(stream_time(4 << 20, 4, 1) < stream_time(4 << 20, 2, 1));
    }
}
