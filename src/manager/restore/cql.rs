//! What a restore reads and runs over CQL: a session to the first node whose CQL answers (the
//! cluster's credentials, through [`crate::manager::backup::cql`]), the tables' IDs and
//! tombstone_gc modes from `system_schema.tables`, the views and secondary indexes from
//! `system_schema.views`/`indexes`, their `CREATE ... IF NOT EXISTS` statements from `DESCRIBE`,
//! and identifier quoting.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::TryStreamExt;
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use uuid::Uuid;

use super::target::{Init, InitError};
use crate::manager::backup::cql::{self, Credentials};

/// The tombstone_gc mode of a table that has none set.
pub const DEFAULT_TOMBSTONE_GC: &str = "timeout";
/// `view_type` of a materialized view, as upstream stores it.
pub const MATERIALIZED_VIEW: &str = "MaterializedView";
/// `view_type` of a secondary index, as upstream stores it.
pub const SECONDARY_INDEX: &str = "SecondaryIndex";

/// Opens a session to the first node of `init` whose CQL answers, with the cluster's credentials.
pub async fn open(init: &Init) -> Result<Session, InitError> {
    let Some(credentials) = Credentials::of(&init.cluster) else {
        return Err(InitError::NoCredentials {
            cluster: init.cluster.name.clone(),
        });
    };
    let mut failures = Vec::new();
    for n in &init.view.nodes {
        let opened = match cql::endpoint(&init.client.for_host(&n.address)).await {
            Ok(node) => cql::session(&node, &credentials).await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(s) => return Ok(s),
            Err(e) => failures.push(e.to_string()),
        }
    }
    Err(InitError::CqlUnreachable {
        failures: failures.join("; "),
    })
}

/// `name` as a CQL identifier: as it is when it is a plain lowercase one, else double-quoted.
pub fn quote_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `ks.name`, each part quoted as needed.
pub fn qualified(keyspace: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(keyspace), quote_ident(name))
}

/// Runs `query` and collects its rows as `R`.
pub async fn rows<R>(session: &Session, query: &str) -> Result<Vec<R>, InitError>
where
    R: for<'f, 'm> DeserializeRow<'f, 'm> + Send + 'static,
{
    let fail = |reason: String| InitError::Cql {
        statement: query.to_string(),
        reason,
    };
    session
        .query_iter(query, ())
        .await
        .map_err(|e| fail(e.to_string()))?
        .rows_stream::<R>()
        .map_err(|e| fail(e.to_string()))?
        .try_collect()
        .await
        .map_err(|e| fail(e.to_string()))
}

/// Runs one statement that returns no rows.
pub async fn execute(session: &Session, statement: &str) -> Result<(), InitError> {
    session
        .query_unpaged(statement, ())
        .await
        .map(|_| ())
        .map_err(|e| InitError::Cql {
            statement: statement.to_string(),
            reason: e.to_string(),
        })
}

/// A table of the cluster as a restore needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Its ID (its data directory is `<table>-<id without dashes>`).
    pub id: Uuid,
    /// Its tombstone_gc mode.
    pub tombstone_gc: String,
}

/// Every table of the cluster (not views) by (keyspace, table).
pub async fn tables(session: &Session) -> Result<BTreeMap<(String, String), TableInfo>, InitError> {
    type Row = (String, String, Uuid, Option<HashMap<String, Vec<u8>>>);
    let found: Vec<Row> = rows(
        session,
        "SELECT keyspace_name, table_name, id, extensions FROM system_schema.tables",
    )
    .await?;
    Ok(found
        .into_iter()
        .map(|(ks, t, id, ext)| {
            let tombstone_gc = ext
                .as_ref()
                .and_then(|e| e.get("tombstone_gc"))
                .and_then(|blob| decode_text_map(blob))
                .and_then(|m| m.get("mode").cloned())
                .unwrap_or_else(|| DEFAULT_TOMBSTONE_GC.to_string());
            ((ks, t), TableInfo { id, tombstone_gc })
        })
        .collect())
}

/// Decodes a `map<text, text>` as Scylla serializes schema extensions (little-endian 32-bit
/// count, then each key and value as a little-endian 32-bit length and bytes); `None` when the
/// blob is not one.
pub fn decode_text_map(blob: &[u8]) -> Option<BTreeMap<String, String>> {
    let mut at = 0usize;
    let u32_at = |at: &mut usize| -> Option<usize> {
        let bytes: [u8; 4] = blob.get(*at..*at + 4)?.try_into().ok()?;
        *at += 4;
        usize::try_from(u32::from_le_bytes(bytes)).ok()
    };
    let count = u32_at(&mut at)?;
    let mut out = BTreeMap::new();
    for _ in 0..count {
        let mut text = || -> Option<String> {
            let len = u32_at(&mut at)?;
            let s = std::str::from_utf8(blob.get(at..at.checked_add(len)?)?).ok()?;
            at += len;
            Some(s.to_string())
        };
        let k = text()?;
        let v = text()?;
        out.insert(k, v);
    }
    (at == blob.len()).then_some(out)
}

/// A materialized view or secondary index of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewInfo {
    /// Its keyspace.
    pub keyspace: String,
    /// Its name (an index's own name).
    pub name: String,
    /// Its base table.
    pub base_table: String,
    /// [`MATERIALIZED_VIEW`] or [`SECONDARY_INDEX`].
    pub view_type: &'static str,
}

impl ViewInfo {
    /// The view Scylla builds for it (an index's is `<name>_index`).
    pub fn view_table(&self) -> String {
        if self.view_type == SECONDARY_INDEX {
            format!("{}_index", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// Every materialized view and secondary index of the cluster.
pub async fn views(session: &Session) -> Result<Vec<ViewInfo>, InitError> {
    let indexes: Vec<(String, String, String)> = rows(
        session,
        "SELECT keyspace_name, table_name, index_name FROM system_schema.indexes",
    )
    .await?;
    let index_views: BTreeSet<(String, String)> = indexes
        .iter()
        .map(|(ks, _, i)| (ks.clone(), format!("{i}_index")))
        .collect();
    let mvs: Vec<(String, String, String)> = rows(
        session,
        "SELECT keyspace_name, view_name, base_table_name FROM system_schema.views",
    )
    .await?;
    let mut out: Vec<ViewInfo> = indexes
        .into_iter()
        .map(|(keyspace, base_table, name)| ViewInfo {
            keyspace,
            name,
            base_table,
            view_type: SECONDARY_INDEX,
        })
        .collect();
    out.extend(
        mvs.into_iter()
            .filter(|(ks, v, _)| !index_views.contains(&(ks.clone(), v.clone())))
            .map(|(keyspace, name, base_table)| ViewInfo {
                keyspace,
                name,
                base_table,
                view_type: MATERIALIZED_VIEW,
            }),
    );
    out.sort_by(|a, b| (&a.keyspace, &a.name).cmp(&(&b.keyspace, &b.name)));
    Ok(out)
}

/// The `CREATE ... IF NOT EXISTS` statement of `view`, from `DESCRIBE`.
pub async fn create_statement(session: &Session, view: &ViewInfo) -> Result<String, InitError> {
    let what = if view.view_type == SECONDARY_INDEX {
        "INDEX"
    } else {
        "MATERIALIZED VIEW"
    };
    let query = format!("DESCRIBE {what} {}", qualified(&view.keyspace, &view.name));
    let found: Vec<(String, String, String, String)> = rows(session, &query).await?;
    let stmt = found
        .into_iter()
        .next()
        .map(|(_, _, _, stmt)| stmt)
        .ok_or_else(|| InitError::Cql {
            statement: query.clone(),
            reason: "no statement returned".into(),
        })?;
    Ok(if_not_exists(&stmt))
}

/// `stmt` (`CREATE [CUSTOM] INDEX` or `CREATE MATERIALIZED VIEW`) with `IF NOT EXISTS` added
/// after the object kind, unless it has it.
pub fn if_not_exists(stmt: &str) -> String {
    let lower = stmt.to_ascii_lowercase();
    if lower.contains(" if not exists ") {
        return stmt.to_string();
    }
    for kind in [
        "create materialized view ",
        "create custom index ",
        "create index ",
    ] {
        if let Some(at) = lower.find(kind)
            && let Some((head, tail)) = stmt.split_at_checked(at + kind.len())
        {
            return format!("{head}IF NOT EXISTS {tail}");
        }
    }
    stmt.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(quote_ident("orders_2"), "orders_2");
        assert_eq!(quote_ident("Orders"), "\"Orders\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("ks", "1t"), "ks.\"1t\"");
    }

    #[test]
    fn extension_maps_decode_as_scylla_writes_them() {
        let mut blob = 2u32.to_le_bytes().to_vec();
        for s in ["mode", "repair", "propagation_delay_in_seconds", "3600"] {
            blob.extend((s.len() as u32).to_le_bytes());
            blob.extend(s.as_bytes());
        }
        let m = decode_text_map(&blob).unwrap();
        assert_eq!(m.get("mode").map(String::as_str), Some("repair"));
        assert_eq!(decode_text_map(&blob[..blob.len() - 1]), None);
        assert_eq!(decode_text_map(&[1, 0]), None);
    }

    #[test]
    fn create_statements_get_if_not_exists_once() {
        assert_eq!(
            if_not_exists("CREATE INDEX idx ON ks.t(v);"),
            "CREATE INDEX IF NOT EXISTS idx ON ks.t(v);"
        );
        assert_eq!(
            if_not_exists("CREATE MATERIALIZED VIEW ks.v AS SELECT *"),
            "CREATE MATERIALIZED VIEW IF NOT EXISTS ks.v AS SELECT *"
        );
        let done = "CREATE INDEX IF NOT EXISTS idx ON ks.t(v)";
        assert_eq!(if_not_exists(done), done);
    }
}
