//! The AWAIT_SCHEMA stage's dump: the cluster's CQL schema, read with `DESCRIBE SCHEMA WITH
//! INTERNALS` over CQL (the `scylla` driver) and kept as upstream stores it: a gzipped JSON array
//! of `{keyspace, type, name, cql_stmt}` rows.

use std::io::Write;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use futures::TryStreamExt;
use scylla::client::session_builder::SessionBuilder;
use serde::Serialize;

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

/// Dumps the schema through `host`'s CQL port with the given credentials; gzipped JSON.
pub async fn dump(host: &str, username: &str, password: &str) -> Result<Vec<u8>, SchemaError> {
    let fail = |reason: String| SchemaError {
        host: host.to_string(),
        reason,
    };
    let session = SessionBuilder::new()
        .known_node(format!("{host}:{CQL_PORT}"))
        .user(username, password)
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await
        .map_err(|e| fail(e.to_string()))?;
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
