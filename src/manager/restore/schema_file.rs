//! The backup's CQL schema file (`task_<t>_tag_<T>_schema_with_internals.json.gz`): finding the
//! one of a tag in a location, reading its `{keyspace, type, name, cql_stmt}` rows, and what a
//! tables restore learns from it (which backed-up tables are views or index views).

use std::collections::BTreeSet;
use std::io::Read;

use flate2::read::GzDecoder;
use serde::Deserialize;

use crate::format::paths::{SchemaFileInfo, SchemaKind};
use crate::format::tag::SnapshotTag;

/// One row of the schema file, as upstream stores it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SchemaRow {
    /// Keyspace (empty for roles and service levels).
    pub keyspace: String,
    /// Element type: `keyspace`, `type`, `table`, `index`, `view`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Element name.
    pub name: String,
    /// The CQL creating it.
    pub cql_stmt: String,
}

/// Why a schema file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("schema file {path}: {reason} (a retry will not help)")]
pub struct SchemaFileError {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Decodes a gzipped schema file.
pub fn read_rows(path: &str, gz: &[u8]) -> Result<Vec<SchemaRow>, SchemaFileError> {
    let fail = |reason: String| SchemaFileError {
        path: path.to_string(),
        reason,
    };
    let mut json = Vec::new();
    GzDecoder::new(gz)
        .read_to_end(&mut json)
        .map_err(|e| fail(format!("not gzip: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| fail(format!("not a JSON array of schema rows: {e}")))
}

/// The CQL schema file of `tag` among `listing` (paths relative to `backup/schema`), preferring one
/// of a cluster in `clusters` (those of the tag's manifests).
pub fn find(
    listing: &[String],
    tag: &SnapshotTag,
    clusters: &BTreeSet<uuid::Uuid>,
) -> Option<String> {
    let mut found: Vec<SchemaFileInfo> = listing
        .iter()
        .filter_map(|p| SchemaFileInfo::parse(&format!("backup/schema/{p}")).ok())
        .filter(|i| i.snapshot_tag == *tag && i.kind == SchemaKind::WithInternals)
        .collect();
    found.sort_by_key(|i| (!clusters.contains(&i.cluster_id), i.path()));
    found.first().map(SchemaFileInfo::path)
}

/// The tables of the backup that are views: materialized views, and the `<index>_index` view of
/// each secondary index, as (keyspace, table).
pub fn view_tables(rows: &[SchemaRow]) -> BTreeSet<(String, String)> {
    rows.iter()
        .filter_map(|r| match r.kind.as_str() {
            "view" | "materialized_view" => Some((r.keyspace.clone(), r.name.clone())),
            "index" => Some((r.keyspace.clone(), format!("{}_index", r.name))),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(json: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(json.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn rows_read_and_views_are_told() {
        let rows = read_rows(
            "f",
            &gz(r#"[{"keyspace":"ks","type":"table","name":"t","cql_stmt":"CREATE TABLE"},
                   {"keyspace":"ks","type":"index","name":"by_v","cql_stmt":"CREATE INDEX"},
                   {"keyspace":"ks","type":"view","name":"mv","cql_stmt":"CREATE MATERIALIZED VIEW"}]"#),
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        let views = view_tables(&rows);
        assert!(views.contains(&("ks".into(), "by_v_index".into())));
        assert!(views.contains(&("ks".into(), "mv".into())));
        assert!(!views.contains(&("ks".into(), "t".into())));
        let err = read_rows("f", b"nope").unwrap_err();
        assert!(err.to_string().contains("schema file f"), "{err}");
    }

    #[test]
    fn the_schema_file_of_the_tag_is_found() {
        let tag: SnapshotTag = "sm_20260101000000UTC".parse().unwrap();
        let c = uuid::Uuid::from_u128(1);
        let t = uuid::Uuid::from_u128(2);
        let listing = vec![
            format!("cluster/{c}/task_{t}_tag_sm_20260102000000UTC_schema_with_internals.json.gz"),
            format!("cluster/{c}/task_{t}_tag_{tag}_schema_with_internals.json.gz"),
        ];
        let got = find(&listing, &tag, &BTreeSet::from([c])).unwrap();
        assert!(got.starts_with("backup/schema/cluster/"), "{got}");
        assert!(got.contains(tag.as_str()), "{got}");
        let other: SnapshotTag = "sm_20260103000000UTC".parse().unwrap();
        assert_eq!(find(&listing, &other, &BTreeSet::new()), None);
    }
}
