//! `SELECT` on the tables a node serves: the system tables' rows filtered by `=`/`IN`
//! restrictions, projected and limited; a user table has no rows in the emulator.

use super::super::outcome::{Column, CqlError, ResultSet, Shape};
use super::super::value::{CqlType, Value};
use super::statement::{Restriction, Select, Term};
use super::system_tables;
use crate::emulator::Cluster;

/// The keyspace and the table's columns, or Scylla's error for a table it does not know.
fn resolve(
    cluster: &Cluster,
    current: Option<&str>,
    s: &Select,
) -> Result<(String, Vec<(String, CqlType)>), CqlError> {
    let ks = s
        .from
        .keyspace
        .clone()
        .or_else(|| current.map(str::to_string))
        .ok_or_else(|| {
            CqlError::invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
        })?;
    if let Some(cols) = system_tables::columns(&ks, &s.from.name) {
        return Ok((
            ks,
            cols.into_iter().map(|(n, t)| (n.to_string(), t)).collect(),
        ));
    }
    let schema = cluster.schema();
    let table = schema
        .keyspaces
        .get(&ks)
        .and_then(|k| k.tables.get(&s.from.name))
        .ok_or_else(|| CqlError::invalid(format!("unconfigured table {}", s.from.name)))?;
    let cols = table
        .columns
        .iter()
        .map(|c| (c.name.clone(), native_type(&c.ty)))
        .collect();
    Ok((ks, cols))
}

/// The wire type of a user column (types the emulator cannot encode travel as blobs).
fn native_type(ty: &str) -> CqlType {
    match ty {
        "ascii" => CqlType::Ascii,
        "bigint" | "counter" => CqlType::Bigint,
        "boolean" => CqlType::Boolean,
        "double" => CqlType::Double,
        "float" => CqlType::Float,
        "int" => CqlType::Int,
        "text" => CqlType::Text,
        "timestamp" => CqlType::Timestamp,
        "uuid" => CqlType::Uuid,
        "timeuuid" => CqlType::Timeuuid,
        "inet" => CqlType::Inet,
        _ => CqlType::Blob,
    }
}

/// What a `SELECT` reads: the indexes of the selected table columns, the result columns and
/// the marker columns.
type Layout = (Vec<usize>, Vec<Column>, Vec<Column>);

/// Result columns and marker columns of a `SELECT`.
fn columns_of(ks: &str, s: &Select, cols: &[(String, CqlType)]) -> Result<Layout, CqlError> {
    let column = |name: &str, ty: CqlType| Column {
        keyspace: ks.to_string(),
        table: s.from.name.clone(),
        name: name.to_string(),
        ty,
    };
    let find = |name: &str| cols.iter().position(|(n, _)| n == name);
    let picked: Vec<usize> = match &s.columns {
        None => (0..cols.len()).collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                find(n).ok_or_else(|| {
                    CqlError::invalid(format!("Undefined name {n} in selection clause"))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let result = if s.count {
        vec![column("count", CqlType::Bigint)]
    } else {
        picked
            .iter()
            .map(|i| column(&cols[*i].0, cols[*i].1.clone()))
            .collect()
    };
    let mut markers: Vec<(usize, Column)> = Vec::new();
    for r in &s.restrictions {
        let (name, marker_of) = match r {
            Restriction::Eq(n, Term::Marker(m)) => (n, Some((*m, false))),
            Restriction::Eq(n, _) => (n, None),
            Restriction::In(n, terms) => {
                for t in terms {
                    if let Term::Marker(m) = t {
                        let i = find(n).ok_or_else(|| undefined(r))?;
                        markers.push((*m, column(n, cols[i].1.clone())));
                    }
                }
                (n, None)
            }
            Restriction::InMarker(n, m) => (n, Some((*m, true))),
        };
        let i = find(name).ok_or_else(|| undefined(r))?;
        if let Some((m, list)) = marker_of {
            let ty = if list {
                CqlType::List(Box::new(cols[i].1.clone()))
            } else {
                cols[i].1.clone()
            };
            markers.push((m, column(name, ty)));
        }
    }
    if let Some(Term::Marker(m)) = &s.limit {
        markers.push((*m, column("[limit]", CqlType::Int)));
    }
    markers.sort_by_key(|(m, _)| *m);
    Ok((
        picked,
        result,
        markers.into_iter().map(|(_, c)| c).collect(),
    ))
}

/// Scylla's error for a restriction on an unknown column, quoting the relation.
fn undefined(r: &Restriction) -> CqlError {
    let (name, relation) = match r {
        Restriction::Eq(n, t) => (n, format!("{n} = {}", term_text(t))),
        Restriction::In(n, ts) => {
            let items: Vec<String> = ts.iter().map(term_text).collect();
            (n, format!("{n} IN ({})", items.join(", ")))
        }
        Restriction::InMarker(n, _) => (n, format!("{n} IN ?")),
    };
    CqlError::invalid(format!(
        "Undefined name {name} in where clause ('{relation}')"
    ))
}

/// A term as CQL writes it.
fn term_text(t: &Term) -> String {
    let list = |items: &[Term]| items.iter().map(term_text).collect::<Vec<_>>().join(", ");
    match t {
        Term::Str(s) => format!("'{}'", s.replace('\'', "''")),
        Term::Num(n) | Term::Blob(n) => n.clone(),
        Term::Bool(b) => b.to_string(),
        Term::Uuid(u) => u.to_string(),
        Term::Null => "null".into(),
        Term::Marker(_) => "?".into(),
        Term::List(items) => format!("[{}]", list(items)),
        Term::Set(items) => format!("{{{}}}", list(items)),
        Term::Map(pairs) => {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", term_text(k), term_text(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// The shape of a prepared `SELECT`.
pub fn shape(cluster: &Cluster, current: Option<&str>, s: &Select) -> Result<Shape, CqlError> {
    let (ks, cols) = resolve(cluster, current, s)?;
    let (_, result, markers) = columns_of(&ks, s, &cols)?;
    Ok(Shape { markers, result })
}

/// Runs a `SELECT` with its bound values.
pub fn run(
    cluster: &Cluster,
    node: usize,
    current: Option<&str>,
    s: &Select,
    values: &[Option<Vec<u8>>],
) -> Result<ResultSet, CqlError> {
    let (ks, cols) = resolve(cluster, current, s)?;
    let (picked, result, markers) = columns_of(&ks, s, &cols)?;
    if values.len() != markers.len() {
        return Err(CqlError::invalid(format!(
            "There were {} markers(?) in CQL but {} bound variables",
            markers.len(),
            values.len()
        )));
    }
    let bound: Vec<Value> = markers
        .iter()
        .zip(values)
        .map(|(c, v)| {
            Value::decode(&c.ty, v.as_deref()).map_err(|e| {
                CqlError::invalid(format!("Exception while binding column {}: {e}", c.name))
            })
        })
        .collect::<Result<_, _>>()?;
    let value_of = |t: &Term, ty: &CqlType| -> Result<Value, CqlError> {
        match t {
            Term::Marker(m) => bound
                .get(*m)
                .cloned()
                .ok_or_else(|| CqlError::invalid("missing bound value")),
            other => literal(other, ty),
        }
    };
    let mut filters: Vec<(usize, Vec<Value>)> = Vec::new();
    for r in &s.restrictions {
        let (name, allowed) = match r {
            Restriction::Eq(n, t) => {
                let i = cols.iter().position(|(c, _)| c == n).unwrap_or(0);
                (n, vec![value_of(t, &cols[i].1)?])
            }
            Restriction::In(n, ts) => {
                let i = cols.iter().position(|(c, _)| c == n).unwrap_or(0);
                (
                    n,
                    ts.iter()
                        .map(|t| value_of(t, &cols[i].1))
                        .collect::<Result<_, _>>()?,
                )
            }
            Restriction::InMarker(n, m) => match bound.get(*m) {
                Some(Value::List(items)) => (n, items.clone()),
                _ => (n, Vec::new()),
            },
        };
        let i = cols.iter().position(|(c, _)| c == name).unwrap_or(0);
        filters.push((i, allowed));
    }
    let limit = match &s.limit {
        None => usize::MAX,
        Some(t) => match value_of(t, &CqlType::Int)? {
            Value::Int(n) if n > 0 => n as usize,
            _ => return Err(CqlError::invalid("LIMIT must be strictly positive")),
        },
    };
    let all = if system_tables::columns(&ks, &s.from.name).is_some() {
        system_tables::rows(cluster, node, &ks, &s.from.name)
    } else {
        Vec::new()
    };
    let matching: Vec<Vec<Value>> = all
        .into_iter()
        .filter(|row| {
            filters
                .iter()
                .all(|(i, allowed)| row.get(*i).is_some_and(|v| allowed.contains(v)))
        })
        .take(limit)
        .collect();
    let rows = if s.count {
        vec![vec![Value::Bigint(matching.len() as i64)]]
    } else {
        matching
            .into_iter()
            .map(|row| {
                picked
                    .iter()
                    .map(|i| row.get(*i).cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .collect()
    };
    Ok(ResultSet {
        columns: result,
        rows,
    })
}

/// A literal as a value of the column's type.
fn literal(t: &Term, ty: &CqlType) -> Result<Value, CqlError> {
    let bad = || CqlError::invalid(format!("Invalid literal for a column of type {ty}"));
    Ok(match (t, ty.unfrozen()) {
        (Term::Null, _) => Value::Null,
        (Term::Str(s), CqlType::Text | CqlType::Ascii) => Value::Text(s.clone()),
        (Term::Str(s), CqlType::Inet) => Value::Inet(s.parse().map_err(|_| bad())?),
        (Term::Uuid(u), CqlType::Uuid | CqlType::Timeuuid) => Value::Uuid(*u),
        (Term::Num(n), CqlType::Int) => Value::Int(n.parse().map_err(|_| bad())?),
        (Term::Num(n), CqlType::Bigint) => Value::Bigint(n.parse().map_err(|_| bad())?),
        (Term::Num(n), CqlType::Double) => Value::Double(n.parse().map_err(|_| bad())?),
        (Term::Bool(b), CqlType::Boolean) => Value::Boolean(*b),
        _ => return Err(bad()),
    })
}
