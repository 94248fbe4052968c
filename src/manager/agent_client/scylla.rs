//! The Scylla calls backup needs, made through the agent's allow-listed proxy, and the types of
//! Scylla's answers (the agent passes them through untouched, so only this side types them).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::error::AgentError;
use super::{AgentClient, Call, LONG_CALL_TIMEOUT, segment};
use crate::format::tag::SnapshotTag;

/// Time allowed for the raft read barrier (upstream's).
const READ_BARRIER_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed for turning tablet balancing on or off (upstream's: Scylla may first wait for
/// migrations in flight).
const BALANCING_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Which keyspaces `GET /storage_service/keyspaces` lists, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyspaceKind {
    /// Every keyspace.
    All,
    /// Keyspaces that are not system keyspaces.
    User,
    /// Keyspaces whose replication strategy is not `LocalStrategy`.
    NonLocalStrategy,
}

impl KeyspaceKind {
    /// The value of the `type` parameter.
    fn as_param(self) -> &'static str {
        match self {
            KeyspaceKind::All => "all",
            KeyspaceKind::User => "user",
            KeyspaceKind::NonLocalStrategy => "non_local_strategy",
        }
    }
}

/// Which keyspaces `GET /storage_service/keyspaces` lists, by replication mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationKind {
    /// Every keyspace.
    All,
    /// Keyspaces that use vnodes.
    Vnodes,
    /// Keyspaces that use tablets.
    Tablets,
}

impl ReplicationKind {
    /// The value of the `replication` parameter.
    fn as_param(self) -> &'static str {
        match self {
            ReplicationKind::All => "all",
            ReplicationKind::Vnodes => "vnodes",
            ReplicationKind::Tablets => "tablets",
        }
    }
}

/// One replica of a token range, as `describe_ring` details it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointDetail {
    /// Replica address.
    pub host: String,
    /// Replica DC.
    pub datacenter: String,
    /// Replica rack.
    #[serde(default)]
    pub rack: String,
}

/// One token range of a keyspace's (or tablet table's) ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRange {
    /// Range start (exclusive), decimal.
    pub start_token: String,
    /// Range end (inclusive), decimal.
    pub end_token: String,
    /// Replica addresses, primary first.
    pub endpoints: Vec<String>,
    /// Replica RPC addresses.
    #[serde(default)]
    pub rpc_endpoints: Vec<String>,
    /// Replica hosts with their DC and rack.
    #[serde(default)]
    pub endpoint_details: Vec<EndpointDetail>,
}

/// One table's part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotTable {
    /// Keyspace.
    pub ks: String,
    /// Table.
    pub cf: String,
    /// Bytes in the snapshot.
    pub total: u64,
    /// Bytes held only by the snapshot (no longer live).
    pub live: u64,
}

/// One snapshot tag of a node and the tables it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The tag.
    #[serde(rename = "key")]
    pub tag: String,
    /// The tables.
    #[serde(rename = "value")]
    pub tables: Vec<SnapshotTable>,
}

/// A `{key, value}` pair as Scylla's maps are answered.
#[derive(Debug, Deserialize)]
struct KeyValue {
    /// The key.
    key: String,
    /// The value.
    value: String,
}

impl AgentClient {
    /// Address → host ID of every node of the cluster, as this node sees it.
    pub async fn host_id_map(&self) -> Result<BTreeMap<String, String>, AgentError> {
        let pairs: Vec<KeyValue> = self
            .json(Call::new(Method::GET, "/storage_service/host_id"))
            .await?;
        Ok(pairs.into_iter().map(|kv| (kv.key, kv.value)).collect())
    }

    /// The DC of `host`, or of this node when `None`.
    pub async fn datacenter(&self, host: Option<&str>) -> Result<String, AgentError> {
        let mut call = Call::new(Method::GET, "/snitch/datacenter");
        if let Some(h) = host {
            call = call.param("host", h);
        }
        self.json(call).await
    }

    /// The rack of `host`, or of this node when `None`.
    pub async fn rack(&self, host: Option<&str>) -> Result<String, AgentError> {
        let mut call = Call::new(Method::GET, "/snitch/rack");
        if let Some(h) = host {
            call = call.param("host", h);
        }
        self.json(call).await
    }

    /// Addresses of the nodes gossip sees up.
    pub async fn live_endpoints(&self) -> Result<Vec<String>, AgentError> {
        self.json(Call::new(Method::GET, "/gossiper/endpoint/live/"))
            .await
    }

    /// Addresses of the nodes joining the ring.
    pub async fn joining(&self) -> Result<Vec<String>, AgentError> {
        self.json(Call::new(Method::GET, "/storage_service/nodes/joining"))
            .await
    }

    /// Addresses of the nodes leaving the ring.
    pub async fn leaving(&self) -> Result<Vec<String>, AgentError> {
        self.json(Call::new(Method::GET, "/storage_service/nodes/leaving"))
            .await
    }

    /// Scylla's release version; also the way upstream pings a node's Scylla.
    pub async fn release_version(&self) -> Result<String, AgentError> {
        self.json(Call::new(
            Method::GET,
            "/storage_service/scylla_release_version",
        ))
        .await
    }

    /// Keyspace names of a kind and replication mechanism.
    pub async fn keyspaces(
        &self,
        kind: KeyspaceKind,
        replication: ReplicationKind,
    ) -> Result<Vec<String>, AgentError> {
        self.json(
            Call::new(Method::GET, "/storage_service/keyspaces")
                .param("type", kind.as_param())
                .param("replication", replication.as_param()),
        )
        .await
    }

    /// Every table as `(keyspace, table)`, from Scylla's `ks:table` names.
    pub async fn table_names(&self) -> Result<Vec<(String, String)>, AgentError> {
        let call = Call::new(Method::GET, "/column_family/name");
        let name = call.name();
        let names: Vec<String> = self.json(call).await?;
        names
            .into_iter()
            .map(|n| match n.split_once(':') {
                Some((ks, t)) => Ok((ks.to_string(), t.to_string())),
                None => Err(AgentError::Decode {
                    host: self.host.clone(),
                    call: name.clone(),
                    reason: format!("table name {n:?} is not keyspace:table"),
                }),
            })
            .collect()
    }

    /// The token ranges of a keyspace and their replicas; `table` is needed for tablet
    /// keyspaces.
    pub async fn describe_ring(
        &self,
        keyspace: &str,
        table: Option<&str>,
    ) -> Result<Vec<TokenRange>, AgentError> {
        let mut call = Call::new(
            Method::GET,
            format!("/storage_service/describe_ring/{}", segment(keyspace)),
        )
        .timeout(LONG_CALL_TIMEOUT);
        if let Some(t) = table {
            call = call.param("table", t);
        }
        self.json(call).await
    }

    /// The tokens owned by `endpoint`.
    pub async fn tokens(&self, endpoint: &str) -> Result<Vec<i64>, AgentError> {
        let call = Call::new(
            Method::GET,
            format!("/storage_service/tokens/{}", segment(endpoint)),
        );
        let name = call.name();
        let tokens: Vec<String> = self.json(call).await?;
        tokens
            .iter()
            .map(|t| {
                t.parse().map_err(|_| AgentError::Decode {
                    host: self.host.clone(),
                    call: name.clone(),
                    reason: format!("token {t:?} is not a 64-bit integer"),
                })
            })
            .collect()
    }

    /// Every snapshot of the node.
    pub async fn snapshots(&self) -> Result<Vec<Snapshot>, AgentError> {
        self.json(Call::new(Method::GET, "/storage_service/snapshots").timeout(LONG_CALL_TIMEOUT))
            .await
    }

    /// Snapshots `tables` of `keyspace` (every table when empty) as `tag`; `skip_flush` skips
    /// flushing memtables first.
    pub async fn take_snapshot(
        &self,
        tag: &SnapshotTag,
        keyspace: &str,
        tables: &[String],
        skip_flush: bool,
    ) -> Result<(), AgentError> {
        let mut call = Call::new(Method::POST, "/storage_service/snapshots")
            .param("tag", tag.as_str())
            .param("kn", keyspace)
            .timeout(LONG_CALL_TIMEOUT);
        if !tables.is_empty() {
            call = call.param("cf", tables.join(","));
        }
        if skip_flush {
            call = call.param("sf", "true");
        }
        self.void(call).await
    }

    /// Deletes snapshot `tag` (every snapshot when `None`) of `keyspace` (all when `None`),
    /// optionally of one table.
    pub async fn delete_snapshot(
        &self,
        tag: Option<&str>,
        keyspace: Option<&str>,
        table: Option<&str>,
    ) -> Result<(), AgentError> {
        let mut call =
            Call::new(Method::DELETE, "/storage_service/snapshots").timeout(LONG_CALL_TIMEOUT);
        for (name, value) in [("tag", tag), ("kn", keyspace), ("cf", table)] {
            if let Some(v) = value {
                call = call.param(name, v);
            }
        }
        self.void(call.idempotent()).await
    }

    /// Bytes on disk of a table on this node (live SSTables).
    pub async fn table_disk_size(&self, keyspace: &str, table: &str) -> Result<u64, AgentError> {
        self.json(Call::new(
            Method::GET,
            format!(
                "/column_family/metrics/total_disk_space_used/{}:{}",
                segment(keyspace),
                segment(table)
            ),
        ))
        .await
    }

    /// Flushes the memtables of `tables` of `keyspace` (every table when empty).
    pub async fn flush_keyspace(
        &self,
        keyspace: &str,
        tables: &[String],
    ) -> Result<(), AgentError> {
        let mut call = Call::new(
            Method::POST,
            format!("/storage_service/keyspace_flush/{}", segment(keyspace)),
        )
        .timeout(LONG_CALL_TIMEOUT)
        .idempotent();
        if !tables.is_empty() {
            call = call.param("cf", tables.join(","));
        }
        self.void(call).await
    }
}

impl AgentClient {
    /// Waits until this node has applied every schema change committed before the call (the
    /// group0 raft read barrier).
    pub async fn read_barrier(&self) -> Result<(), AgentError> {
        self.void(
            Call::new(Method::POST, "/raft/read_barrier")
                .timeout(READ_BARRIER_TIMEOUT)
                .idempotent(),
        )
        .await
    }

    /// Turns the cluster's tablet load balancing on or off (one node's call is cluster-wide).
    pub async fn set_tablet_balancing(&self, enabled: bool) -> Result<(), AgentError> {
        self.void(
            Call::new(Method::POST, "/storage_service/tablets/balancing")
                .param("enabled", enabled.to_string())
                .timeout(BALANCING_TIMEOUT),
        )
        .await
    }

    /// The node's shard count: the number of `scylla_database_total_writes` series on its
    /// Prometheus metrics (upstream's way), read through the agent's `/metrics`.
    pub async fn shard_count(&self) -> Result<u64, AgentError> {
        let call = Call::new(Method::GET, "/metrics").param("name", SHARD_METRIC);
        let name = call.name();
        let text = self.fetch(&call).await?;
        match count_series(&String::from_utf8_lossy(&text), SHARD_METRIC) {
            0 => Err(AgentError::Decode {
                host: self.host.clone(),
                call: name,
                reason: format!("no {SHARD_METRIC} series in the node's metrics"),
            }),
            n => Ok(n),
        }
    }

    /// The build status of view `view` of `keyspace` (an index's `<index>_index`) on every node
    /// that reports one, as (host ID, status: `UNKNOWN`, `STARTED`, `SUCCESS`).
    pub async fn view_build_statuses(
        &self,
        keyspace: &str,
        view: &str,
    ) -> Result<Vec<(String, String)>, AgentError> {
        let pairs: Vec<KeyValue> = self
            .json(Call::new(
                Method::GET,
                format!(
                    "/storage_service/view_build_statuses/{}/{}",
                    segment(keyspace),
                    segment(view)
                ),
            ))
            .await?;
        Ok(pairs.into_iter().map(|kv| (kv.key, kv.value)).collect())
    }
}

/// The metric whose series count a node's shards.
const SHARD_METRIC: &str = "scylla_database_total_writes";

/// How many series of `metric` a Prometheus text exposition holds.
fn count_series(text: &str, metric: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_the_series_of_the_writes_metric() {
        let text = "# HELP scylla_database_total_writes Counts\n# TYPE scylla_database_total_writes counter\nscylla_database_total_writes{shard=\"0\"} 5\nscylla_database_total_writes{shard=\"1\"} 0\nscylla_database_total_writes_failed{shard=\"0\"} 0\n";
        assert_eq!(count_series(text, SHARD_METRIC), 2);
        assert_eq!(count_series("", SHARD_METRIC), 0);
    }
}
