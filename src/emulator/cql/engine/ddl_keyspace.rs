//! `CREATE KEYSPACE`: its replication (SimpleStrategy, NetworkTopologyStrategy with DCs
//! checked against the cluster's), `durable_writes` and `tablets`.

use std::collections::BTreeMap;

use super::super::outcome::{ChangeTarget, ChangeType, CqlError, ErrorKind, SchemaChange};
use super::ddl::{Context, check_name, text_map};
use super::statement::{Properties, Term};
use crate::emulator::schema::{Keyspace, Replication, Schema, is_system_keyspace};

/// `CREATE KEYSPACE [IF NOT EXISTS]`: the keyspace added to the schema, or nothing when it exists
/// and `IF NOT EXISTS` says so.
pub(super) fn create_keyspace(
    schema: &mut Schema,
    name: &str,
    if_not_exists: bool,
    props: &Properties,
    ctx: Context<'_>,
) -> Result<Option<SchemaChange>, CqlError> {
    if is_system_keyspace(name) {
        return Err(CqlError::invalid("system keyspace is not user-modifiable"));
    }
    check_name("keyspace", name)?;
    if schema.keyspaces.contains_key(name) {
        if if_not_exists {
            return Ok(None);
        }
        return Err(CqlError {
            kind: ErrorKind::AlreadyExists {
                keyspace: name.to_string(),
                table: String::new(),
            },
            message: format!("Cannot add existing keyspace \"{name}\""),
        });
    }
    let mut replication = None;
    let mut durable = true;
    let mut tablets = false;
    for (key, value) in &props.values {
        match (key.as_str(), value) {
            ("replication", Term::Map(pairs)) => {
                replication = Some(parse_replication(&text_map(pairs)?, name, ctx)?)
            }
            ("durable_writes", Term::Bool(b)) => durable = *b,
            ("tablets", Term::Map(pairs)) => {
                tablets = text_map(pairs)?.get("enabled").is_some_and(|v| v == "true")
            }
            _ => {
                return Err(CqlError::syntax(format!(
                    "Unknown property '{key}' or bad value for CREATE KEYSPACE"
                )));
            }
        }
    }
    let replication = replication
        .ok_or_else(|| CqlError::syntax("Missing mandatory replication strategy class"))?;
    let mut k = Keyspace::new(name, replication, tablets);
    k.durable_writes = durable;
    schema.keyspaces.insert(name.to_string(), k);
    Ok(Some(SchemaChange {
        change: ChangeType::Created,
        keyspace: name.to_string(),
        target: ChangeTarget::Keyspace,
    }))
}

/// `{'class': ..., ...}` into a replication, checking DC names as Scylla does.
fn parse_replication(
    m: &BTreeMap<String, String>,
    ks: &str,
    ctx: Context<'_>,
) -> Result<Replication, CqlError> {
    let class = m
        .get("class")
        .ok_or_else(|| CqlError::syntax("Missing mandatory replication strategy class"))?;
    let short = class.rsplit('.').next().unwrap_or(class);
    let rf = |v: &str| {
        v.parse::<u32>().map_err(|_| CqlError {
            kind: ErrorKind::Config,
            message: format!("Replication factor must be numeric and non-negative, found '{v}'"),
        })
    };
    match short {
        "SimpleStrategy" => Ok(Replication::Simple(rf(m
            .get("replication_factor")
            .map(String::as_str)
            .unwrap_or(""))?)),
        "NetworkTopologyStrategy" => {
            let mut dcs = BTreeMap::new();
            for (k, v) in m.iter().filter(|(k, _)| *k != "class") {
                if k == "replication_factor" {
                    for (dc, _) in ctx.dcs {
                        dcs.entry(dc.clone()).or_insert(rf(v)?);
                    }
                } else if ctx.dcs.iter().any(|(dc, _)| dc == k) {
                    dcs.insert(k.clone(), rf(v)?);
                } else {
                    return Err(CqlError {
                        kind: ErrorKind::Config,
                        message: format!(
                            "Unrecognized strategy option {{{k}}} passed to NetworkTopologyStrategy for keyspace {ks}"
                        ),
                    });
                }
            }
            Ok(Replication::NetworkTopology(dcs))
        }
        "EverywhereStrategy" => Ok(Replication::Everywhere),
        "LocalStrategy" => Ok(Replication::Local),
        other => Err(CqlError {
            kind: ErrorKind::Config,
            message: format!(
                "Unable to find replication strategy class 'org.apache.cassandra.locator.{other}'"
            ),
        }),
    }
}
