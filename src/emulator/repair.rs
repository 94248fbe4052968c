//! Repair: every replica of a repaired range ends up holding every record any replica of that
//! range holds (the union), the missing records written as new SSTables. A vnode repair
//! (`repair_async`) covers the ranges one node replicates (or is primary for); a tablet repair
//! covers the whole ring of one table. Repairs run in the background and take
//! `bytes moved / (shards × stream rate)` seconds; a down node fails them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cluster::Cluster;
use super::load_stream::stream_time;
use super::node::{NodeError, TableRef};
use super::placement::in_ranges;
use super::records::{self, Record, RecordId};
use super::schema::Replication;

/// The state of a vnode repair, as `repair_status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RepairStatus {
    /// Still running.
    Running,
    /// Finished; every replica holds the union.
    Successful,
    /// Failed; some replicas may have received data.
    Failed,
}

/// The repairs one node coordinates, numbered from 1 as Scylla numbers them.
#[derive(Debug, Default)]
pub struct Repairs {
    /// The last ID given and the state of every repair.
    inner: Mutex<(i64, HashMap<i64, RepairStatus>)>,
}

impl Repairs {
    fn lock(&self) -> std::sync::MutexGuard<'_, (i64, HashMap<i64, RepairStatus>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new running repair; returns its ID.
    pub fn start(&self) -> i64 {
        let mut inner = self.lock();
        inner.0 += 1;
        let id = inner.0;
        inner.1.insert(id, RepairStatus::Running);
        id
    }

    /// Records the end of repair `id`.
    pub fn finish(&self, id: i64, ok: bool) {
        let status = if ok {
            RepairStatus::Successful
        } else {
            RepairStatus::Failed
        };
        self.lock().1.insert(id, status);
    }

    /// The state of repair `id`; `None` for an ID never given.
    pub fn status(&self, id: i64) -> Option<RepairStatus> {
        self.lock().1.get(&id).copied()
    }

    /// Waits until repair `id` ends or `timeout` passes (no timeout: until it ends).
    pub async fn wait(&self, id: i64, timeout: Option<Duration>) -> Option<RepairStatus> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let status = self.status(id)?;
            if status != RepairStatus::Running || deadline.is_some_and(|d| Instant::now() >= d) {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Which ranges a repair covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// The ranges node `index` replicates, or only those it is primary for.
    Node {
        /// The coordinating node.
        index: usize,
        /// Only the ranges it is the primary replica of (`primaryRange=true`).
        primary_only: bool,
    },
    /// Every range (a tablet repair of the whole table).
    All,
}

/// Why a repair failed.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// A node that holds or should hold data is down.
    #[error("failed to repair {keyspace}.{table}: node {node} is down")]
    NodeDown {
        /// Keyspace.
        keyspace: String,
        /// Table.
        table: String,
        /// Address of the down node.
        node: String,
    },
    /// The repair was aborted.
    #[error("repair aborted on user request")]
    Aborted,
    /// Reading or writing a node's files failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Repairs `tables` over `scope`; `abort` is checked while data is on the wire. Returns the
/// bytes moved.
pub fn repair_tables(
    cluster: &Cluster,
    tables: &[TableRef],
    scope: Scope,
    abort: &AtomicBool,
) -> Result<u64, RepairError> {
    let mut moved = 0;
    for t in tables {
        moved += repair_table(cluster, t, scope, abort)?;
    }
    Ok(moved)
}

fn repair_table(
    cluster: &Cluster,
    t: &TableRef,
    scope: Scope,
    abort: &AtomicBool,
) -> Result<u64, RepairError> {
    let replication = cluster.replication(&t.keyspace);
    if replication == Replication::Local {
        return Ok(0);
    }
    if let Some(down) = cluster.nodes.iter().find(|n| !n.is_up()) {
        return Err(RepairError::NodeDown {
            keyspace: t.keyspace.clone(),
            table: t.table.name.clone(),
            node: down.id.address.to_string(),
        });
    }
    let topology = &cluster.topology;
    let (ranges, local) = match scope {
        Scope::Node {
            index,
            primary_only,
        } => (
            topology.owned_ranges(&replication, index, primary_only),
            index,
        ),
        Scope::All => (topology.ranges(), 0),
    };
    let data: Vec<Vec<Vec<u8>>> = cluster
        .nodes
        .iter()
        .map(|n| n.live_data(t))
        .collect::<Result<_, _>>()?;
    let mut held: BTreeMap<RecordId, (Record<'_>, BTreeSet<usize>)> = BTreeMap::new();
    for (node, files) in data.iter().enumerate() {
        for r in files.iter().flat_map(|d| records::parse(d)) {
            held.entry(r.id())
                .or_insert((r, BTreeSet::new()))
                .1
                .insert(node);
        }
    }
    let mut missing: BTreeMap<usize, Vec<Record<'_>>> = BTreeMap::new();
    for (record, holders) in held.values() {
        if !in_ranges(record.token, &ranges) {
            continue;
        }
        let replicas = topology.replicas_of_token(&replication, record.token, local);
        if !replicas.iter().any(|r| holders.contains(r)) {
            continue;
        }
        for r in replicas.iter().filter(|r| !holders.contains(r)) {
            missing.entry(*r).or_default().push(*record);
        }
    }
    let bytes: u64 = missing
        .values()
        .flatten()
        .map(|r| r.bytes.len() as u64)
        .sum();
    let wire = stream_time(bytes, cluster.config.shards, cluster.config.stream_rate);
    let end = Instant::now() + wire;
    while Instant::now() < end {
        if abort.load(Ordering::SeqCst) {
            return Err(RepairError::Aborted);
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
    }
    if abort.load(Ordering::SeqCst) {
        return Err(RepairError::Aborted);
    }
    for (node, records) in &missing {
        if let Some(n) = cluster.nodes.get(*node) {
            n.add_records(t, records)?;
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn repair_ids_count_from_one_and_report_their_end() {
        let r = Repairs::default();
        assert_eq!(r.status(1), None);
        let id = r.start();
        assert_eq!(id, 1);
        assert_eq!(
            r.wait(id, Some(Duration::from_millis(30))).await,
            Some(RepairStatus::Running)
        );
        r.finish(id, true);
        assert_eq!(r.wait(id, None).await, Some(RepairStatus::Successful));
        let second = r.start();
        r.finish(second, false);
        assert_eq!(r.status(second), Some(RepairStatus::Failed));
    }
}
