//! How the SQLite store keeps the stores' neutral values (UUIDs as text, times as integer
//! milliseconds, booleans as 0 or 1, lists and maps as JSON text), reads a row back through
//! [`RowReader`], and assembles its statements from the shared column lists.

use std::collections::BTreeMap;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, Row};
use uuid::Uuid;

use crate::manager::store::rows::{
    RowReader, Table, Value, parse_text, to_json, to_millis, wrong_kind,
};
use crate::manager::store::{StoreError, StoreResult};

/// A SQLite row, read through the stores' neutral [`RowReader`].
pub(super) struct SqliteRow<'a> {
    /// The row.
    pub(super) row: &'a Row<'a>,
    /// The table it was selected from, all its columns in order.
    pub(super) table: &'static Table,
}

impl SqliteRow<'_> {
    /// The stored cell of the column a label names.
    fn cell(&self, label: &'static str) -> StoreResult<ValueRef<'_>> {
        let index = self.table.index(label)?;
        self.row.get_ref(index).map_err(|e| StoreError::Corrupt {
            field: label,
            value: String::new(),
            reason: e.to_string(),
        })
    }
}

impl RowReader for SqliteRow<'_> {
    fn opt_text(&self, label: &'static str) -> StoreResult<Option<String>> {
        match self.cell(label)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Ok(Some(text.to_owned())),
                Err(e) => Err(StoreError::Corrupt {
                    field: label,
                    value: String::from_utf8_lossy(bytes).into_owned(),
                    reason: e.to_string(),
                }),
            },
            other => Err(wrong_kind(label, other, "text")),
        }
    }

    fn opt_integer(&self, label: &'static str) -> StoreResult<Option<i64>> {
        match self.cell(label)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(i) => Ok(Some(i)),
            other => Err(wrong_kind(label, other, "an integer")),
        }
    }

    fn opt_bool(&self, label: &'static str) -> StoreResult<Option<bool>> {
        Ok(self.opt_integer(label)?.map(|i| i != 0))
    }

    fn opt_uuid(&self, label: &'static str) -> StoreResult<Option<Uuid>> {
        self.opt_text(label)?
            .map(|text| parse_text(label, &text))
            .transpose()
    }

    fn opt_millis(&self, label: &'static str) -> StoreResult<Option<i64>> {
        self.opt_integer(label)
    }

    fn text_list(&self, label: &'static str) -> StoreResult<Vec<String>> {
        self.json(label)
    }

    fn text_map(&self, label: &'static str) -> StoreResult<BTreeMap<String, String>> {
        self.json(label)
    }

    fn document(&self, label: &'static str) -> StoreResult<String> {
        self.text(label)
    }
}

/// A column value as SQLite keeps it: UUIDs as text, times as integer milliseconds, booleans as
/// 0 or 1, lists and maps as JSON text.
fn to_sql(column: &'static str, value: Value) -> StoreResult<SqlValue> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Text(text) | Value::Document(text) => SqlValue::Text(text),
        Value::Int(i) => SqlValue::Integer(i64::from(i)),
        Value::BigInt(i) => SqlValue::Integer(i),
        Value::Bool(b) => SqlValue::Integer(i64::from(b)),
        Value::Uuid(id) | Value::TimeUuid(id) => SqlValue::Text(id.to_string()),
        Value::Time(t) => SqlValue::Integer(to_millis(t)),
        Value::TextList(list) => SqlValue::Text(to_json(column, &list)?),
        Value::TextMap(map) => SqlValue::Text(to_json(column, &map)?),
    })
}

/// The values of a row of `table` as SQLite parameters.
pub(super) fn sql_values(table: &Table, values: Vec<Value>) -> StoreResult<Vec<SqlValue>> {
    table
        .columns
        .iter()
        .zip(values)
        .map(|(column, value)| to_sql(column, value))
        .collect()
}

/// `INSERT OR REPLACE` of every column of `table`, then of the `extra` ones (SQLite's own).
pub(super) fn insert(table: &Table, extra: &[&str]) -> String {
    let columns: Vec<&str> = table.columns.iter().chain(extra).copied().collect();
    let slots: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
        table.name,
        columns.join(", "),
        slots.join(", ")
    )
}

/// `SELECT` of every column of `table`, followed by `rest` (conditions, order, limit).
pub(super) fn select(table: &Table, rest: &str) -> String {
    format!("SELECT {} FROM {} {rest}", table.column_list(), table.name)
}

/// Runs a query selecting every column of `table` and converts every row.
pub(super) fn query_all<T>(
    conn: &Connection,
    op: &'static str,
    table: &'static Table,
    query: &str,
    params: impl rusqlite::Params,
    convert: impl Fn(&SqliteRow<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare(query).map_err(sql(op))?;
    let mut rows = stmt.query(params).map_err(sql(op))?;
    let mut all = Vec::new();
    while let Some(row) = rows.next().map_err(sql(op))? {
        all.push(convert(&SqliteRow { row, table })?);
    }
    Ok(all)
}

/// A `LIMIT` value for SQLite (which takes a signed 64-bit count).
pub(super) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A key or condition value as SQLite keeps it (text, as UUIDs and names are stored).
pub(super) fn text(v: impl ToString) -> SqlValue {
    SqlValue::Text(v.to_string())
}

/// Wraps a SQLite error with the operation that failed.
pub(super) fn sql(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { op, source }
}
