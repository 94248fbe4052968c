//! The system tables a node serves over CQL (`system.local`, `system.peers`, `system_schema.*`)
//! with Scylla's column names and types, their rows built from the topology and the schema.

use std::net::IpAddr;

use super::super::value::{CqlType, Value};
use crate::emulator::Cluster;
use crate::emulator::schema::{Column, ColumnKind, Schema, TableKind};

/// `set<text>`.
fn text_set() -> CqlType {
    CqlType::Set(Box::new(CqlType::Text))
}

/// `list<text>`.
fn text_list() -> CqlType {
    CqlType::List(Box::new(CqlType::Text))
}

/// The columns of a system table the engine serves, in `SELECT *` order.
pub fn columns(ks: &str, table: &str) -> Option<Vec<(&'static str, CqlType)>> {
    use CqlType::*;
    let options = |mut v: Vec<(&'static str, CqlType)>| {
        v.extend([
            ("bloom_filter_fp_chance", Double),
            ("caching", CqlType::text_map()),
            ("comment", Text),
            ("compaction", CqlType::text_map()),
            ("compression", CqlType::text_map()),
            ("crc_check_chance", Double),
            ("dclocal_read_repair_chance", Double),
            ("default_time_to_live", Int),
            ("extensions", Map(Box::new(Text), Box::new(Blob))),
        ]);
        v
    };
    let tail = [
        ("max_index_interval", Int),
        ("memtable_flush_period_in_ms", Int),
        ("min_index_interval", Int),
        ("read_repair_chance", Double),
        ("speculative_retry", Text),
    ];
    Some(match (ks, table) {
        ("system", "local") => vec![
            ("key", Text),
            ("bootstrapped", Text),
            ("broadcast_address", Inet),
            ("cluster_name", Text),
            ("cql_version", Text),
            ("data_center", Text),
            ("gossip_generation", Int),
            ("host_id", Uuid),
            ("listen_address", Inet),
            ("native_protocol_version", Text),
            ("partitioner", Text),
            ("rack", Text),
            ("release_version", Text),
            ("rpc_address", Inet),
            ("schema_version", Uuid),
            ("supported_features", Text),
            ("tokens", text_set()),
        ],
        ("system", "peers") => vec![
            ("peer", Inet),
            ("data_center", Text),
            ("host_id", Uuid),
            ("preferred_ip", Inet),
            ("rack", Text),
            ("release_version", Text),
            ("rpc_address", Inet),
            ("schema_version", Uuid),
            ("supported_features", Text),
            ("tokens", text_set()),
        ],
        ("system_schema", "keyspaces") => vec![
            ("keyspace_name", Text),
            ("durable_writes", Boolean),
            ("replication", CqlType::text_map()),
        ],
        ("system_schema", "scylla_keyspaces") => vec![
            ("keyspace_name", Text),
            ("consistency", Text),
            ("initial_tablets", Int),
            ("storage_options", CqlType::text_map()),
            ("storage_type", Text),
        ],
        ("system_schema", "tables") => {
            let mut v = options(vec![("keyspace_name", Text), ("table_name", Text)]);
            v.extend([
                ("flags", text_set()),
                ("gc_grace_seconds", Int),
                ("id", Uuid),
            ]);
            v.extend(tail.clone());
            v
        }
        ("system_schema", "views") => {
            let mut v = vec![
                ("keyspace_name", Text),
                ("view_name", Text),
                ("base_table_id", Uuid),
                ("base_table_name", Text),
            ];
            v = options(v);
            v.extend([
                ("gc_grace_seconds", Int),
                ("id", Uuid),
                ("include_all_columns", Boolean),
            ]);
            v.extend(tail.clone());
            v.push(("where_clause", Text));
            v
        }
        ("system_schema", "columns") => vec![
            ("keyspace_name", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("clustering_order", Text),
            ("column_name_bytes", Blob),
            ("kind", Text),
            ("position", Int),
            ("type", Text),
        ],
        ("system_schema", "indexes") => vec![
            ("keyspace_name", Text),
            ("table_name", Text),
            ("index_name", Text),
            ("kind", Text),
            ("options", CqlType::text_map()),
        ],
        ("system_schema", "types") => vec![
            ("keyspace_name", Text),
            ("type_name", Text),
            ("field_names", text_list()),
            ("field_types", text_list()),
        ],
        ("system_schema", "functions") => vec![
            ("keyspace_name", Text),
            ("function_name", Text),
            ("argument_types", text_list()),
            ("argument_names", text_list()),
            ("body", Text),
            ("called_on_null_input", Boolean),
            ("language", Text),
            ("return_type", Text),
        ],
        ("system_schema", "aggregates") => vec![
            ("keyspace_name", Text),
            ("aggregate_name", Text),
            ("argument_types", text_list()),
            ("final_func", Text),
            ("initcond", Text),
            ("return_type", Text),
            ("state_func", Text),
            ("state_type", Text),
        ],
        ("system_schema", "triggers") => vec![
            ("keyspace_name", Text),
            ("table_name", Text),
            ("trigger_name", Text),
            ("options", CqlType::text_map()),
        ],
        ("system_schema", "dropped_columns") => vec![
            ("keyspace_name", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("dropped_time", Timestamp),
            ("type", Text),
        ],
        ("system_schema", "scylla_tables") => vec![
            ("keyspace_name", Text),
            ("table_name", Text),
            ("cdc", CqlType::text_map()),
            ("partitioner", Text),
            ("version", Uuid),
        ],
        ("system_schema", "computed_columns") => vec![
            ("keyspace_name", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("computation", Blob),
        ],
        ("system_schema", "view_virtual_columns") => vec![
            ("keyspace_name", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("clustering_order", Text),
            ("column_name_bytes", Blob),
            ("kind", Text),
            ("position", Int),
            ("type", Text),
        ],
        _ => return None,
    })
}

/// How many of a system table's first columns form its partition key and its clustering key.
fn key_shape(ks: &str, table: &str) -> (usize, usize) {
    match (ks, table) {
        ("system", _) => (1, 0),
        (_, "keyspaces" | "scylla_keyspaces") => (1, 0),
        (_, "tables" | "views" | "types" | "scylla_tables") => (1, 1),
        _ => (1, 2),
    }
}

/// The columns of a system table the engine serves, as the schema model holds them.
pub fn schema_columns(ks: &str, table: &str) -> Option<Vec<Column>> {
    let cols = columns(ks, table)?;
    let (pk, ck) = key_shape(ks, table);
    Some(
        cols.into_iter()
            .enumerate()
            .map(|(i, (name, ty))| {
                let (kind, position) = if i < pk {
                    (ColumnKind::PartitionKey, i as i32)
                } else if i < pk + ck {
                    (ColumnKind::Clustering, (i - pk) as i32)
                } else {
                    (ColumnKind::Regular, -1)
                };
                Column {
                    name: name.to_string(),
                    ty: ty.to_string(),
                    kind,
                    position,
                    descending: false,
                }
            })
            .collect(),
    )
}

/// The rows of a system table (every column, in [`columns`] order) as node `node` sees them.
pub fn rows(cluster: &Cluster, node: usize, ks: &str, table: &str) -> Vec<Vec<Value>> {
    let schema = cluster.schema();
    let version = Value::Uuid(schema.version());
    let t = |s: &str| Value::text(s);
    let tokens = |i: usize| {
        Value::Set(
            cluster.topology.nodes[i]
                .tokens
                .iter()
                .map(|tok| Value::text(tok.to_string()))
                .collect(),
        )
    };
    let addr = |i: usize| Value::Inet(IpAddr::V4(cluster.topology.nodes[i].address));
    match (ks, table) {
        ("system", "local") => {
            let n = &cluster.topology.nodes[node];
            vec![vec![
                t("local"),
                t("COMPLETED"),
                addr(node),
                t(&cluster.config.cluster_name),
                t("3.3.1"),
                t(&n.dc),
                Value::Int(1),
                Value::Uuid(n.host_id),
                addr(node),
                t("4"),
                t("org.apache.cassandra.dht.Murmur3Partitioner"),
                t(&n.rack),
                t("3.0.8"),
                addr(node),
                version,
                t(""),
                tokens(node),
            ]]
        }
        ("system", "peers") => (0..cluster.topology.nodes.len())
            .filter(|i| *i != node)
            .map(|i| {
                let n = &cluster.topology.nodes[i];
                vec![
                    addr(i),
                    t(&n.dc),
                    Value::Uuid(n.host_id),
                    addr(i),
                    t(&n.rack),
                    t("3.0.8"),
                    addr(i),
                    version.clone(),
                    t(""),
                    tokens(i),
                ]
            })
            .collect(),
        ("system_schema", name) => schema_rows(&schema, name),
        _ => Vec::new(),
    }
}

/// Rows of a `system_schema` table.
fn schema_rows(schema: &Schema, table: &str) -> Vec<Vec<Value>> {
    let version = schema.version();
    let t = |s: &str| Value::text(s);
    let map = |m: std::collections::BTreeMap<String, String>| Value::text_map(m);
    let mut out = Vec::new();
    for k in schema.keyspaces.values() {
        let ks = t(&k.name);
        match table {
            "keyspaces" => {
                let mut repl = vec![("class".to_string(), k.replication.class().to_string())];
                repl.extend(k.replication.options());
                out.push(vec![
                    ks.clone(),
                    Value::Boolean(k.durable_writes),
                    Value::text_map(repl),
                ]);
            }
            "scylla_keyspaces" if k.tablets => out.push(vec![
                ks.clone(),
                Value::Null,
                Value::Int(0),
                Value::Null,
                Value::Null,
            ]),
            "types" => {
                for ut in &k.types {
                    out.push(vec![
                        ks.clone(),
                        t(&ut.name),
                        Value::List(ut.fields.iter().map(|(n, _)| t(n)).collect()),
                        Value::List(ut.fields.iter().map(|(_, ty)| t(ty)).collect()),
                    ]);
                }
            }
            _ => {}
        }
        for tab in k.tables.values() {
            let o = &tab.options;
            let ext = Value::Map(
                o.extensions()
                    .into_iter()
                    .map(|(n, b)| (t(&n), Value::Blob(b)))
                    .collect(),
            );
            let common = || {
                vec![
                    Value::Double(o.double("bloom_filter_fp_chance")),
                    map(o.map("caching")),
                    t(&o.text("comment")),
                    map(o.map("compaction")),
                    map(o.map("compression")),
                    Value::Double(o.double("crc_check_chance")),
                    Value::Double(0.0),
                    Value::Int(o.int("default_time_to_live")),
                    ext.clone(),
                ]
            };
            let tail = || {
                vec![
                    Value::Int(o.int("max_index_interval")),
                    Value::Int(o.int("memtable_flush_period_in_ms")),
                    Value::Int(o.int("min_index_interval")),
                    Value::Double(0.0),
                    t(&o.text("speculative_retry")),
                ]
            };
            match (table, &tab.kind) {
                ("tables", TableKind::Table) => {
                    let mut row = vec![ks.clone(), t(&tab.name)];
                    row.extend(common());
                    row.extend([
                        Value::Set(vec![t("compound")]),
                        Value::Int(o.int("gc_grace_seconds")),
                        Value::Uuid(tab.id),
                    ]);
                    row.extend(tail());
                    out.push(row);
                }
                ("views", TableKind::View { .. } | TableKind::Index { .. }) => {
                    let base = tab.base().unwrap_or_default();
                    let base_id = k.tables.get(base).map(|b| b.id).unwrap_or_default();
                    let (where_clause, all) = match &tab.kind {
                        TableKind::View {
                            where_clause,
                            include_all_columns,
                            ..
                        } => (where_clause.clone(), *include_all_columns),
                        TableKind::Index { target, .. } => (format!("{target} IS NOT NULL"), false),
                        TableKind::Table => (String::new(), false),
                    };
                    let mut row = vec![ks.clone(), t(&tab.name), Value::Uuid(base_id), t(base)];
                    row.extend(common());
                    row.extend([
                        Value::Int(o.int("gc_grace_seconds")),
                        Value::Uuid(tab.id),
                        Value::Boolean(all),
                    ]);
                    row.extend(tail());
                    row.push(t(&where_clause));
                    out.push(row);
                }
                (
                    "indexes",
                    TableKind::Index {
                        base,
                        index,
                        target,
                    },
                ) => out.push(vec![
                    ks.clone(),
                    t(base),
                    t(index),
                    t("COMPOSITES"),
                    Value::text_map([("target", target.as_str())]),
                ]),
                ("columns", _) => {
                    for c in &tab.columns {
                        out.push(vec![
                            ks.clone(),
                            t(&tab.name),
                            t(&c.name),
                            t(c.clustering_order()),
                            Value::Blob(c.name.as_bytes().to_vec()),
                            t(c.kind.as_str()),
                            Value::Int(c.position),
                            t(&c.ty),
                        ]);
                    }
                }
                ("scylla_tables", _) => out.push(vec![
                    ks.clone(),
                    t(&tab.name),
                    Value::Null,
                    Value::Null,
                    Value::Uuid(version),
                ]),
                _ => {}
            }
        }
    }
    out
}
