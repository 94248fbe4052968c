//! What the manager reads of a cluster's schema over CQL (the `scylla` driver), when the cluster
//! has CQL credentials: the AWAIT_SCHEMA stage's dump (`DESCRIBE SCHEMA WITH INTERNALS`, kept as
//! upstream stores it: a gzipped JSON array of `{keyspace, type, name, cql_stmt}` rows), and the
//! materialized views, which a backup leaves out (they are rebuilt from their base tables).

use std::io::Write;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use futures::TryStreamExt;
use scylla::client::session_builder::SessionBuilder;
use serde::Serialize;

use crate::format::filter::Unit;
use crate::manager::backup::target::Target;
use crate::manager::store::Cluster;

/// The CQL port the schema is read on.
pub const CQL_PORT: u16 = 9042;

/// Why the schema could not be dumped.
#[derive(Debug, thiserror::Error)]
#[error(
    "schema: reading the CQL schema from {host}: {reason} (check the cluster's CQL credentials, or set skip_schema)"
)]
pub struct SchemaError {
    /// The host asked.
    pub host: String,
    /// What failed.
    pub reason: String,
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

/// Opens a CQL session to `host` with the given credentials.
async fn session(
    host: &str,
    username: &str,
    password: &str,
) -> Result<scylla::client::session::Session, SchemaError> {
    SessionBuilder::new()
        .known_node(format!("{host}:{CQL_PORT}"))
        .user(username, password)
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await
        .map_err(|e| SchemaError {
            host: host.to_string(),
            reason: e.to_string(),
        })
}

/// The materialized views of the cluster, as (keyspace, view).
pub async fn views(
    host: &str,
    username: &str,
    password: &str,
) -> Result<std::collections::BTreeSet<(String, String)>, SchemaError> {
    let fail = |reason: String| SchemaError {
        host: host.to_string(),
        reason,
    };
    session(host, username, password)
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
/// credentials (without them views cannot be told from tables, and stay in, as upstream).
pub async fn exclude_views(target: &mut Target, cluster: &Cluster) {
    let (Some(user), Some(password)) = (&cluster.cql_username, &cluster.cql_password) else {
        return;
    };
    let mut last = None;
    for h in &target.hosts {
        match views(&h.address, user, password).await {
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
pub fn drop_views(units: &mut Vec<Unit>, views: &std::collections::BTreeSet<(String, String)>) {
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

/// Dumps the schema through `host`'s CQL port with the given credentials; gzipped JSON.
pub async fn dump(host: &str, username: &str, password: &str) -> Result<Vec<u8>, SchemaError> {
    let fail = |reason: String| SchemaError {
        host: host.to_string(),
        reason,
    };
    let session = session(host, username, password).await?;
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
    let json = serde_json::to_vec(&rows).map_err(|e| fail(e.to_string()))?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&json).map_err(|e| fail(e.to_string()))?;
    gz.finish().map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

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
