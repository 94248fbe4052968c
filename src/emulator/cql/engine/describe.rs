//! `DESCRIBE` statements: Scylla's result columns (`keyspace_name, type, name,
//! create_statement`) and order (each keyspace, its user types, then each table followed by its
//! indexes and its views).

use super::super::outcome::{Column, CqlError, ResultSet};
use super::super::value::{CqlType, Value};
use super::statement::Describe;
use crate::emulator::schema::{Keyspace, Schema, TableKind, statements};

/// One described object: keyspace, type, name and its statement.
type Row = (String, &'static str, String, String);

/// Runs a `DESCRIBE` against the schema; `current` is the connection's keyspace.
pub fn describe(
    schema: &Schema,
    what: &Describe,
    internals: bool,
    current: Option<&str>,
) -> Result<ResultSet, CqlError> {
    let keyspace = |name: &str| {
        schema
            .keyspaces
            .get(name)
            .ok_or_else(|| CqlError::invalid(format!("'{name}' not found in keyspaces")))
    };
    let (rows, listing) = match what {
        Describe::Schema { full } => (
            schema
                .keyspaces
                .values()
                .filter(|k| *full || !k.is_system())
                .flat_map(|k| keyspace_rows(k, internals))
                .collect(),
            false,
        ),
        Describe::Keyspaces => (
            schema
                .keyspaces
                .values()
                .map(|k| (k.name.clone(), "keyspace", k.name.clone(), String::new()))
                .collect(),
            true,
        ),
        Describe::Keyspace { name, only } => {
            let name = name.as_deref().or(current).ok_or_else(|| {
                CqlError::invalid("No keyspace specified and no current keyspace")
            })?;
            let k = keyspace(name)?;
            let mut rows = keyspace_rows(k, internals);
            if *only {
                rows.truncate(1);
            }
            (rows, false)
        }
        Describe::Tables => {
            let rows: Vec<Row> = schema
                .keyspaces
                .values()
                .filter(|k| current.is_none_or(|c| c == k.name))
                .flat_map(|k| {
                    k.base_tables()
                        .map(|t| (k.name.clone(), "table", t.name.clone(), String::new()))
                })
                .collect();
            (rows, true)
        }
        Describe::Table(name) => {
            let ks = name.keyspace.as_deref().or(current).ok_or_else(|| {
                CqlError::invalid("No keyspace specified and no current keyspace")
            })?;
            let k = keyspace(ks)?;
            match k.tables.get(&name.name) {
                Some(t) if t.is_view() => {
                    return Err(CqlError::invalid(
                        "Cannot use DESC TABLE on materialized View. (Did you mean DESC MATERIALIZED VIEW)?",
                    ));
                }
                Some(_) => (table_rows(k, &name.name, internals), false),
                None => {
                    return Err(CqlError::invalid(format!(
                        "Table '{}' not found in keyspace '{ks}'",
                        name.name
                    )));
                }
            }
        }
        Describe::View(name) | Describe::Index(name) | Describe::Type(name) => {
            let ks = name.keyspace.as_deref().or(current).ok_or_else(|| {
                CqlError::invalid("No keyspace specified and no current keyspace")
            })?;
            let k = keyspace(ks)?;
            let n = &name.name;
            let row = match what {
                Describe::Type(_) => k.user_type(n).map(|ut| {
                    (
                        ks.to_string(),
                        "type",
                        n.clone(),
                        statements::user_type(ks, ut),
                    )
                }),
                Describe::Index(_) => k.index(n).map(|v| {
                    (
                        ks.to_string(),
                        "index",
                        n.clone(),
                        statements::table(ks, v, internals),
                    )
                }),
                // As Scylla does, the view backing an index describes as its index.
                _ => k.tables.get(n).and_then(|v| match &v.kind {
                    TableKind::View { .. } => Some((
                        ks.to_string(),
                        "view",
                        n.clone(),
                        statements::table(ks, v, internals),
                    )),
                    TableKind::Index { index, .. } => Some((
                        ks.to_string(),
                        "index",
                        index.clone(),
                        statements::table(ks, v, internals),
                    )),
                    TableKind::Table => None,
                }),
            };
            let what_name = match what {
                Describe::Type(_) => "Type",
                Describe::Index(_) => "Index",
                _ => "Materialized view",
            };
            let row = row.ok_or_else(|| {
                CqlError::invalid(format!("{what_name} '{n}' not found in keyspace '{ks}'"))
            })?;
            (vec![row], false)
        }
    };
    let col = |name: &str| Column {
        keyspace: "system".into(),
        table: "describe".into(),
        name: name.into(),
        ty: CqlType::Text,
    };
    let mut columns = vec![col("keyspace_name"), col("type"), col("name")];
    if !listing {
        columns.push(col("create_statement"));
    }
    Ok(ResultSet {
        columns,
        rows: rows
            .into_iter()
            .map(|(k, ty, n, stmt)| {
                let mut row = vec![Value::Text(k), Value::text(ty), Value::Text(n)];
                if !listing {
                    row.push(Value::Text(stmt));
                }
                row
            })
            .collect(),
    })
}

/// A keyspace, its user types, then each of its tables with their indexes and views.
fn keyspace_rows(k: &Keyspace, internals: bool) -> Vec<Row> {
    let mut rows = vec![(
        k.name.clone(),
        "keyspace",
        k.name.clone(),
        statements::keyspace(k),
    )];
    for ut in &k.types {
        rows.push((
            k.name.clone(),
            "type",
            ut.name.clone(),
            statements::user_type(&k.name, ut),
        ));
    }
    for t in k.base_tables() {
        rows.extend(table_rows(k, &t.name, internals));
    }
    rows
}

/// A table, its indexes by name, then its materialized views by name.
fn table_rows(k: &Keyspace, table: &str, internals: bool) -> Vec<Row> {
    let Some(t) = k.tables.get(table) else {
        return Vec::new();
    };
    let mut rows = vec![(
        k.name.clone(),
        "table",
        t.name.clone(),
        statements::table(&k.name, t, internals),
    )];
    let mut indexes: Vec<_> = k
        .views_of(table)
        .filter_map(|v| match &v.kind {
            TableKind::Index { index, .. } => Some((index.clone(), v)),
            _ => None,
        })
        .collect();
    indexes.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, v) in indexes {
        rows.push((
            k.name.clone(),
            "index",
            name,
            statements::table(&k.name, v, internals),
        ));
    }
    for v in k
        .views_of(table)
        .filter(|v| matches!(v.kind, TableKind::View { .. }))
    {
        rows.push((
            k.name.clone(),
            "view",
            v.name.clone(),
            statements::table(&k.name, v, internals),
        ));
    }
    rows
}
