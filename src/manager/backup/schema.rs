//! What the manager reads of a cluster's schema over CQL (the `scylla` driver, one node at a
//! time through [`super::cql`]): the AWAIT_SCHEMA stage's dump (`DESCRIBE SCHEMA WITH INTERNALS`
//! after a raft read barrier on the same node, kept as upstream stores it: a gzipped JSON array
//! of `{keyspace, type, name, cql_stmt}` rows), the materialized views, which a backup leaves
//! out (they are rebuilt from their base tables), and the refusal of a run that should back the
//! schema up but has no credentials to read it.

use std::collections::BTreeSet;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use futures::TryStreamExt;
use serde::Serialize;

use super::cql::{self, CqlEndpoint, CqlError, Credentials};
use crate::format::filter::Unit;
use crate::manager::agent_client::AgentClient;
use crate::manager::backup::target::Target;
use crate::manager::store::Cluster;

/// Why the schema could not be backed up.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The cluster has no CQL credentials and the task does not skip the schema.
    #[error(
        "CQL credentials are required to back up the schema of cluster {cluster}: add them with cairn cluster update -c {cluster} --username U --password P, or pass --skip-schema to back up without the schema"
    )]
    NoCredentials {
        /// The cluster's name.
        cluster: String,
    },
    /// No node's CQL could be reached.
    #[error(
        "schema: no node's CQL could be reached: {0} (check the nodes' CQL address and port and the cluster's CQL credentials, or pass --skip-schema)"
    )]
    Unreachable(CqlError),
    /// The read barrier failed on the node the schema is read from.
    #[error("schema: raft read barrier on {host}: {reason}")]
    ReadBarrier {
        /// The node.
        host: String,
        /// What failed.
        reason: String,
    },
    /// Describing the schema failed.
    #[error("schema: DESCRIBE SCHEMA WITH INTERNALS: {0}")]
    Describe(CqlError),
}

/// The credentials to read the schema with: `None` when the task skips the schema; refused when
/// the cluster has none and the task does not skip it (checked before any node is touched).
pub fn credentials(
    cluster: &Cluster,
    skip_schema: bool,
) -> Result<Option<Credentials>, SchemaError> {
    if skip_schema {
        return Ok(None);
    }
    match Credentials::of(cluster) {
        Some(c) => Ok(Some(c)),
        None => Err(SchemaError::NoCredentials {
            cluster: cluster.name.clone(),
        }),
    }
}

/// One schema row as upstream stores it.
#[derive(Debug, Serialize)]
struct SchemaRow {
    /// Keyspace.
    keyspace: String,
    /// Element type (keyspace, table, type, ...).
    #[serde(rename = "type")]
    kind: String,
    /// Element name.
    name: String,
    /// The CQL statement creating it.
    cql_stmt: String,
}

/// The materialized views of the cluster, as (keyspace, view), read through `node`.
pub async fn views(
    node: &CqlEndpoint,
    credentials: &Credentials,
) -> Result<BTreeSet<(String, String)>, CqlError> {
    let fail = |reason: String| CqlError {
        host: node.to_string(),
        reason,
    };
    cql::session(node, credentials)
        .await?
        .query_iter(
            "SELECT keyspace_name, view_name FROM system_schema.views",
            (),
        )
        .await
        .map_err(|e| fail(e.to_string()))?
        .rows_stream::<(String, String)>()
        .map_err(|e| fail(e.to_string()))?
        .try_collect()
        .await
        .map_err(|e| fail(e.to_string()))
}

/// Leaves the cluster's materialized views out of `target` when the cluster has CQL
/// credentials (without them views cannot be told from tables, and stay in, as upstream); the
/// views are read from the first target host whose CQL answers (`client` reaches any agent).
pub async fn exclude_views(target: &mut Target, cluster: &Cluster, client: &AgentClient) {
    let Some(credentials) = Credentials::of(cluster) else {
        tracing::error!(cluster = %cluster.name, "no CQL credentials: materialized views cannot be told from tables and are backed up like tables");
        return;
    };
    let mut last = None;
    for h in &target.hosts {
        let found = match cql::endpoint(&client.for_host(&h.address)).await {
            Ok(node) => views(&node, &credentials).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(views) => {
                drop_views(&mut target.units, &views);
                return;
            }
            Err(e) => last = Some(e),
        }
    }
    if let Some(e) = last {
        tracing::warn!(cluster = %cluster.name, error = %e, "views could not be listed over CQL; they are backed up like tables");
    }
}

/// Removes `views` (keyspace, view) from `units`; a unit left with no table goes, and a unit
/// that lost a view no longer covers all its keyspace's tables.
pub fn drop_views(units: &mut Vec<Unit>, views: &BTreeSet<(String, String)>) {
    for u in units.iter_mut() {
        let before = u.tables.len();
        u.tables
            .retain(|t| !views.contains(&(u.keyspace.clone(), t.clone())));
        if u.tables.len() != before {
            u.all_tables = false;
        }
    }
    units.retain(|u| !u.tables.is_empty());
}

/// Dumps the schema as upstream does: a session to the first host (of `hosts`, reached through
/// `client`'s agents) whose CQL answers, the raft read barrier on that host, then `DESCRIBE
/// SCHEMA WITH INTERNALS` on that same host; gzipped JSON.
pub async fn dump(
    client: &AgentClient,
    hosts: &[String],
    credentials: &Credentials,
) -> Result<Vec<u8>, SchemaError> {
    let mut last = None;
    let mut chosen = None;
    for h in hosts {
        let agent = client.for_host(h);
        let opened = match cql::endpoint(&agent).await {
            Ok(node) => cql::session(&node, credentials)
                .await
                .map(|s| (agent, node, s)),
            Err(e) => Err(e),
        };
        match opened {
            Ok(found) => {
                chosen = Some(found);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some((agent, node, session)) = chosen else {
        return Err(SchemaError::Unreachable(last.unwrap_or(CqlError {
            host: "-".into(),
            reason: "the run has no hosts".into(),
        })));
    };
    agent
        .read_barrier()
        .await
        .map_err(|e| SchemaError::ReadBarrier {
            host: agent.host().to_string(),
            reason: e.to_string(),
        })?;
    let fail = |reason: String| {
        SchemaError::Describe(CqlError {
            host: node.to_string(),
            reason,
        })
    };
    let rows: Vec<(String, String, String, String)> = session
        .query_iter("DESCRIBE SCHEMA WITH INTERNALS", ())
        .await
        .map_err(|e| fail(e.to_string()))?
        .rows_stream::<(String, String, String, String)>()
        .map_err(|e| fail(e.to_string()))?
        .try_collect()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let rows: Vec<SchemaRow> = rows
        .into_iter()
        .map(|(keyspace, kind, name, cql_stmt)| SchemaRow {
            keyspace,
            kind,
            name,
            cql_stmt,
        })
        .collect();
    gzip_json(&rows).map_err(|e| fail(e.to_string()))
}

/// `rows` as gzipped JSON.
fn gzip_json(rows: &[SchemaRow]) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(rows)?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&json)?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_credentials_only_a_task_skipping_the_schema_goes_on() {
        let mut cluster = Cluster {
            id: uuid::Uuid::nil(),
            name: "prod".into(),
            hosts: vec![],
            agent_port: 10001,
            auth_token: String::new(),
            cql_username: None,
            cql_password: None,
            created_at: chrono::Utc::now(),
            agent_pins: Default::default(),
        };
        let refused = credentials(&cluster, false).err().map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some(
                "CQL credentials are required to back up the schema of cluster prod: add them with cairn cluster update -c prod --username U --password P, or pass --skip-schema to back up without the schema"
            )
        );
        assert!(matches!(credentials(&cluster, true), Ok(None)));
        cluster.cql_username = Some("cassandra".into());
        cluster.cql_password = Some("cassandra".into());
        assert!(matches!(credentials(&cluster, false), Ok(Some(_))));
        assert!(matches!(credentials(&cluster, true), Ok(None)));
    }

    #[test]
    fn views_leave_their_units_and_empty_units_go() {
        let unit = |ks: &str, tables: &[&str]| Unit {
            keyspace: ks.into(),
            tables: tables.iter().map(|t| t.to_string()).collect(),
            all_tables: true,
        };
        let mut units = vec![
            unit("store", &["orders", "orders_by_customer"]),
            unit("mv_only", &["v"]),
            unit("telemetry", &["readings"]),
        ];
        let views: BTreeSet<(String, String)> = [("store", "orders_by_customer"), ("mv_only", "v")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        drop_views(&mut units, &views);
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].tables, vec!["orders".to_string()]);
        assert!(!units[0].all_tables, "store no longer has all its tables");
        assert!(units[1].all_tables, "telemetry is untouched");
    }
}
