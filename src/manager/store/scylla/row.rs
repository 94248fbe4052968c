//! How the ScyllaDB store keeps the stores' neutral values (native `uuid`, `timeuuid`,
//! `timestamp`, lists and maps; a JSON document as a `blob`) and reads a row back through
//! [`RowReader`].

use std::collections::BTreeMap;

use scylla::value::{CqlTimestamp, CqlTimeuuid, CqlValue, Row};
use uuid::Uuid;

use crate::manager::store::rows::{RowReader, Table, Value, missing, to_millis, wrong_kind};
use crate::manager::store::{StoreError, StoreResult};

/// A time as a CQL `timestamp`.
pub(super) fn ts(t: chrono::DateTime<chrono::Utc>) -> CqlTimestamp {
    CqlTimestamp(to_millis(t))
}

/// A ScyllaDB row, read through the stores' neutral [`RowReader`].
pub(super) struct CqlRow {
    /// The row's cells, in the table's column order; none where a column holds no value.
    pub(super) row: Row,
    /// The table it was selected from, all its columns in order.
    pub(super) table: &'static Table,
}

impl CqlRow {
    /// The stored cell of the column a label names, if it holds a value.
    fn cell(&self, label: &'static str) -> StoreResult<Option<&CqlValue>> {
        let index = self.table.index(label)?;
        match self.row.columns.get(index) {
            Some(cell) => Ok(cell.as_ref()),
            None => Err(wrong_kind(
                label,
                self.row.columns.len(),
                "a row with the column",
            )),
        }
    }
}

/// A cell of a text list or map as its text.
fn cql_text(label: &'static str, v: &CqlValue) -> StoreResult<String> {
    match v {
        CqlValue::Text(text) | CqlValue::Ascii(text) => Ok(text.clone()),
        other => Err(wrong_kind(label, other, "text")),
    }
}

impl RowReader for CqlRow {
    fn opt_text(&self, label: &'static str) -> StoreResult<Option<String>> {
        self.cell(label)?.map(|v| cql_text(label, v)).transpose()
    }

    fn opt_integer(&self, label: &'static str) -> StoreResult<Option<i64>> {
        match self.cell(label)? {
            None => Ok(None),
            Some(CqlValue::Int(i)) => Ok(Some(i64::from(*i))),
            Some(CqlValue::BigInt(i)) => Ok(Some(*i)),
            Some(other) => Err(wrong_kind(label, other, "an integer")),
        }
    }

    fn opt_bool(&self, label: &'static str) -> StoreResult<Option<bool>> {
        match self.cell(label)? {
            None => Ok(None),
            Some(CqlValue::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_kind(label, other, "a boolean")),
        }
    }

    fn opt_uuid(&self, label: &'static str) -> StoreResult<Option<Uuid>> {
        match self.cell(label)? {
            None => Ok(None),
            Some(CqlValue::Uuid(id)) => Ok(Some(*id)),
            Some(CqlValue::Timeuuid(id)) => Ok(Some(Uuid::from(*id))),
            Some(other) => Err(wrong_kind(label, other, "a UUID")),
        }
    }

    fn opt_millis(&self, label: &'static str) -> StoreResult<Option<i64>> {
        match self.cell(label)? {
            None => Ok(None),
            Some(CqlValue::Timestamp(t)) => Ok(Some(t.0)),
            Some(other) => Err(wrong_kind(label, other, "a timestamp")),
        }
    }

    fn text_list(&self, label: &'static str) -> StoreResult<Vec<String>> {
        match self.cell(label)? {
            None => Ok(Vec::new()),
            Some(CqlValue::List(items)) => items.iter().map(|v| cql_text(label, v)).collect(),
            Some(other) => Err(wrong_kind(label, other, "a list")),
        }
    }

    fn text_map(&self, label: &'static str) -> StoreResult<BTreeMap<String, String>> {
        match self.cell(label)? {
            None => Ok(BTreeMap::new()),
            Some(CqlValue::Map(pairs)) => pairs
                .iter()
                .map(|(k, v)| Ok((cql_text(label, k)?, cql_text(label, v)?)))
                .collect(),
            Some(other) => Err(wrong_kind(label, other, "a map")),
        }
    }

    fn document(&self, label: &'static str) -> StoreResult<String> {
        match self.cell(label)? {
            None => Err(missing(label)),
            Some(CqlValue::Blob(bytes)) => {
                String::from_utf8(bytes.clone()).map_err(|e| StoreError::Corrupt {
                    field: label,
                    value: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    reason: e.to_string(),
                })
            }
            Some(other) => Err(wrong_kind(label, other, "a blob")),
        }
    }
}

/// A column value as ScyllaDB keeps it: native UUIDs, timestamps, lists and maps; a JSON
/// document as a blob.
fn to_cql(value: Value) -> Option<CqlValue> {
    let text = CqlValue::Text;
    Some(match value {
        Value::Null => return None,
        Value::Text(t) => text(t),
        Value::Int(i) => CqlValue::Int(i),
        Value::BigInt(i) => CqlValue::BigInt(i),
        Value::Bool(b) => CqlValue::Boolean(b),
        Value::Uuid(id) => CqlValue::Uuid(id),
        Value::TimeUuid(id) => CqlValue::Timeuuid(CqlTimeuuid::from(id)),
        Value::Time(t) => CqlValue::Timestamp(ts(t)),
        Value::TextList(list) => CqlValue::List(list.into_iter().map(text).collect()),
        Value::TextMap(map) => {
            CqlValue::Map(map.into_iter().map(|(k, v)| (text(k), text(v))).collect())
        }
        Value::Document(json) => CqlValue::Blob(json.into_bytes()),
    })
}

/// The values of a row as statement values.
pub(super) fn cql_values(values: Vec<Value>) -> Vec<Option<CqlValue>> {
    values.into_iter().map(to_cql).collect()
}
