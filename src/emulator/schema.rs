//! The cluster-wide schema: keyspaces with their replication, tables with their IDs and CQL.
//!
//! Schema is shared by every node, as in Scylla: a table has one ID everywhere, so its data
//! directory `<table>-<32 hex id>` has the same name on every node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::rng::{Rng, uuid_for};

/// Keyspaces that exist on every Scylla node before any user schema, with their tables.
const SYSTEM_KEYSPACES: &[(&str, Replication, &[&str])] = &[
    (
        "system",
        Replication::Local,
        &[
            "local",
            "peers",
            "compaction_history",
            "size_estimates",
            "truncated",
            "scylla_local",
            "sstable_activity",
            "raft",
        ],
    ),
    (
        "system_schema",
        Replication::Local,
        &[
            "keyspaces",
            "tables",
            "columns",
            "types",
            "functions",
            "aggregates",
            "views",
            "indexes",
            "triggers",
            "dropped_columns",
            "scylla_tables",
            "computed_columns",
            "view_virtual_columns",
            "scylla_keyspaces",
        ],
    ),
    (
        "system_distributed",
        Replication::Simple(3),
        &[
            "cdc_streams_descriptions_v2",
            "cdc_generation_timestamps",
            "service_levels",
            "view_build_status",
        ],
    ),
    (
        "system_distributed_everywhere",
        Replication::Everywhere,
        &["cdc_generation_descriptions_v2"],
    ),
    (
        "system_traces",
        Replication::Simple(2),
        &[
            "events",
            "sessions",
            "sessions_time_idx",
            "node_slow_log",
            "node_slow_log_time_idx",
        ],
    ),
];

/// User keyspaces of the generated dataset: name, then (table, share of the node's user bytes).
pub const USER_DATASET: &[(&str, &[(&str, f64)])] = &[
    (
        "store",
        &[("customers", 0.10), ("orders", 0.22), ("order_items", 0.15)],
    ),
    ("telemetry", &[("readings", 0.45), ("devices", 0.08)]),
];

/// How a keyspace places its replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", content = "options")]
pub enum Replication {
    /// `LocalStrategy`: every node has its own, unreplicated copy.
    Local,
    /// `SimpleStrategy` with this replication factor, ignoring DCs.
    Simple(u32),
    /// `NetworkTopologyStrategy` with a replication factor per DC.
    NetworkTopology(BTreeMap<String, u32>),
    /// `EverywhereStrategy`: every node holds every row.
    Everywhere,
}

impl Replication {
    /// The CQL class name of the strategy.
    pub fn class(&self) -> &'static str {
        match self {
            Replication::Local => "org.apache.cassandra.locator.LocalStrategy",
            Replication::Simple(_) => "org.apache.cassandra.locator.SimpleStrategy",
            Replication::NetworkTopology(_) => {
                "org.apache.cassandra.locator.NetworkTopologyStrategy"
            }
            Replication::Everywhere => "org.apache.cassandra.locator.EverywhereStrategy",
        }
    }

    /// The CQL `replication = {...}` map.
    pub fn cql(&self) -> String {
        match self {
            Replication::Simple(rf) => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': '{rf}'}}")
            }
            Replication::NetworkTopology(dcs) => {
                let parts: Vec<String> = dcs
                    .iter()
                    .map(|(dc, rf)| format!(", '{dc}': '{rf}'"))
                    .collect();
                format!("{{'class': 'NetworkTopologyStrategy'{}}}", parts.concat())
            }
            other => format!("{{'class': '{}'}}", other.class()),
        }
    }

    /// Parses `dc1:3,dc2:3` into NetworkTopologyStrategy replication.
    pub fn parse_nts(spec: &str) -> Option<Self> {
        let mut dcs = BTreeMap::new();
        for part in spec.split(',') {
            let (dc, rf) = part.trim().split_once(':')?;
            dcs.insert(dc.to_string(), rf.parse().ok()?);
        }
        Some(Replication::NetworkTopology(dcs))
    }
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// Table ID; its simple hex form is the data directory suffix and the backup's table version.
    pub id: Uuid,
    /// The `CREATE TABLE` statement, as `schema.cql` in a snapshot shows it.
    pub cql: String,
}

impl Table {
    /// The table's directory name under its keyspace: `<table>-<32 hex id>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.name, self.id.simple())
    }
}

/// One keyspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyspace {
    /// Keyspace name.
    pub name: String,
    /// Replica placement.
    pub replication: Replication,
    /// Whether the keyspace uses tablets instead of vnodes.
    pub tablets: bool,
    /// Tables by name.
    pub tables: BTreeMap<String, Table>,
}

impl Keyspace {
    /// Whether this is one of Scylla's own keyspaces.
    pub fn is_system(&self) -> bool {
        is_system_keyspace(&self.name)
    }
}

/// Whether the keyspace name is one of Scylla's own.
pub fn is_system_keyspace(name: &str) -> bool {
    SYSTEM_KEYSPACES.iter().any(|(ks, _, _)| *ks == name)
}

/// The whole schema, as every node sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Keyspaces by name.
    pub keyspaces: BTreeMap<String, Keyspace>,
}

/// Why a schema change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The keyspace does not exist.
    #[error("Can't find a keyspace {0}")]
    NoKeyspace(String),
    /// The table does not exist in the keyspace.
    #[error("Can't find a column family {table} in keyspace {keyspace}")]
    NoTable {
        /// Keyspace searched.
        keyspace: String,
        /// Table not found.
        table: String,
    },
    /// The table exists already.
    #[error("Table {keyspace}.{table} already exists")]
    TableExists {
        /// Keyspace of the table.
        keyspace: String,
        /// The existing table.
        table: String,
    },
    /// A name has characters CQL identifiers cannot have.
    #[error("invalid name {0:?}: names hold only letters, digits and '_' (at most 48 characters)")]
    BadName(String),
    /// System keyspaces cannot be changed.
    #[error("keyspace {0} is a system keyspace and cannot be changed")]
    SystemKeyspace(String),
}

impl Schema {
    /// The schema of a fresh node plus the generated user keyspaces, with IDs from the seed.
    pub fn generated(seed: u64, dcs: &[(String, usize)]) -> Self {
        let mut schema = Schema::default();
        for (ks, replication, tables) in SYSTEM_KEYSPACES {
            for t in *tables {
                schema.add_table(seed, ks, t, replication.clone(), false);
            }
        }
        let nts = default_nts(dcs);
        for (ks, tables) in USER_DATASET {
            for (t, _) in *tables {
                schema.add_table(seed, ks, t, nts.clone(), false);
            }
        }
        schema
    }

    /// Adds a table, creating its keyspace with `replication` if needed; returns it.
    fn add_table(
        &mut self,
        seed: u64,
        ks: &str,
        table: &str,
        replication: Replication,
        tablets: bool,
    ) -> Table {
        let keyspace = self
            .keyspaces
            .entry(ks.to_string())
            .or_insert_with(|| Keyspace {
                name: ks.to_string(),
                replication,
                tablets,
                tables: BTreeMap::new(),
            });
        let t = Table {
            name: table.to_string(),
            id: uuid_for(seed, &["table", ks, table]),
            cql: table_cql(seed, ks, table),
        };
        keyspace.tables.insert(table.to_string(), t.clone());
        t
    }

    /// Creates a user table (and its keyspace, when new, with the given or default replication).
    pub fn create_table(
        &mut self,
        seed: u64,
        ks: &str,
        table: &str,
        replication: Option<Replication>,
        tablets: bool,
        dcs: &[(String, usize)],
    ) -> Result<Table, SchemaError> {
        for name in [ks, table] {
            let ok = !name.is_empty()
                && name.len() <= 48
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(SchemaError::BadName(name.to_string()));
            }
        }
        if is_system_keyspace(ks) {
            return Err(SchemaError::SystemKeyspace(ks.to_string()));
        }
        if self
            .keyspaces
            .get(ks)
            .is_some_and(|k| k.tables.contains_key(table))
        {
            return Err(SchemaError::TableExists {
                keyspace: ks.to_string(),
                table: table.to_string(),
            });
        }
        let replication = replication.unwrap_or_else(|| default_nts(dcs));
        Ok(self.add_table(seed, ks, table, replication, tablets))
    }

    /// Drops a user table; returns it.
    pub fn drop_table(&mut self, ks: &str, table: &str) -> Result<Table, SchemaError> {
        if is_system_keyspace(ks) {
            return Err(SchemaError::SystemKeyspace(ks.to_string()));
        }
        let keyspace = self
            .keyspaces
            .get_mut(ks)
            .ok_or_else(|| SchemaError::NoKeyspace(ks.to_string()))?;
        keyspace
            .tables
            .remove(table)
            .ok_or_else(|| SchemaError::NoTable {
                keyspace: ks.to_string(),
                table: table.to_string(),
            })
    }

    /// The keyspace, or the error Scylla gives for a missing one.
    pub fn keyspace(&self, ks: &str) -> Result<&Keyspace, SchemaError> {
        self.keyspaces
            .get(ks)
            .ok_or_else(|| SchemaError::NoKeyspace(ks.to_string()))
    }

    /// The table, or the error Scylla gives for a missing one.
    pub fn table(&self, ks: &str, table: &str) -> Result<(&Keyspace, &Table), SchemaError> {
        let keyspace = self.keyspace(ks)?;
        let t = keyspace
            .tables
            .get(table)
            .ok_or_else(|| SchemaError::NoTable {
                keyspace: ks.to_string(),
                table: table.to_string(),
            })?;
        Ok((keyspace, t))
    }

    /// Every (keyspace, table) pair, in name order.
    pub fn all_tables(&self) -> impl Iterator<Item = (&Keyspace, &Table)> {
        self.keyspaces
            .values()
            .flat_map(|k| k.tables.values().map(move |t| (k, t)))
    }
}

/// NetworkTopologyStrategy with RF = min(3, nodes) in every DC: what operators usually run.
fn default_nts(dcs: &[(String, usize)]) -> Replication {
    Replication::NetworkTopology(
        dcs.iter()
            .map(|(dc, n)| (dc.clone(), (*n).min(3) as u32))
            .collect(),
    )
}

/// A plausible `CREATE TABLE` statement for a table, stable for a given seed.
fn table_cql(seed: u64, ks: &str, table: &str) -> String {
    let mut rng = Rng::for_parts(seed, &["cql", ks, table]);
    let types = [
        "text",
        "bigint",
        "timestamp",
        "double",
        "blob",
        "int",
        "boolean",
    ];
    let columns: Vec<String> = (0..rng.range(2, 6))
        .map(|i| {
            format!(
                "    c{i} {},\n",
                types[rng.range(0, types.len() as u64) as usize]
            )
        })
        .collect();
    format!(
        "CREATE TABLE {ks}.{table} (\n    id uuid,\n    ts timestamp,\n{}    PRIMARY KEY (id, ts)\n) WITH CLUSTERING ORDER BY (ts DESC)\n    AND compaction = {{'class': 'SizeTieredCompactionStrategy'}}\n    AND compression = {{'sstable_compression': 'org.apache.cassandra.io.compress.LZ4Compressor'}};\n",
        columns.concat()
    )
}
