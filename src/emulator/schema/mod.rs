//! The cluster-wide schema: keyspaces with their replication, user types, tables with their
//! IDs, columns and options, materialized views and the views backing secondary indexes, and the
//! schema version that changes with every change.
//!
//! Schema is shared by every node, as in Scylla: a table has one ID everywhere, so its data
//! directory `<table>-<32 hex id>` has the same name on every node. Views and index views are
//! tables too (own ID, own directory), as Scylla keeps them.
//!
//! | module | owns |
//! |---|---|
//! | [`table`] | a table's columns and what it is (table, view, index view) |
//! | [`options`] | table options, Scylla's defaults, the `extensions` blob |
//! | [`statements`] | the `CREATE` statements `DESCRIBE` and `schema.cql` show |

pub mod options;
pub mod statements;
pub mod table;

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::rng::uuid_for;
pub use options::{OptionValue, Options};
pub use table::{Column, ColumnKind, Table, TableKind};

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

    /// The strategy options besides the class, as `system_schema.keyspaces.replication` holds them.
    pub fn options(&self) -> Vec<(String, String)> {
        match self {
            Replication::Simple(rf) => vec![("replication_factor".into(), rf.to_string())],
            Replication::NetworkTopology(dcs) => dcs
                .iter()
                .map(|(dc, rf)| (dc.clone(), rf.to_string()))
                .collect(),
            _ => Vec::new(),
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

/// A user-defined type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserType {
    /// Type name.
    pub name: String,
    /// Fields in order: name and CQL type.
    pub fields: Vec<(String, String)>,
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
    /// `durable_writes`.
    #[serde(default = "yes")]
    pub durable_writes: bool,
    /// User types, each after the types it uses.
    #[serde(default)]
    pub types: Vec<UserType>,
    /// Tables, views and index views by name.
    pub tables: BTreeMap<String, Table>,
}

/// Serde's default for `durable_writes`.
fn yes() -> bool {
    true
}

impl Keyspace {
    /// A new keyspace without tables.
    pub fn new(name: &str, replication: Replication, tablets: bool) -> Self {
        Keyspace {
            name: name.to_string(),
            replication,
            tablets,
            durable_writes: true,
            types: Vec::new(),
            tables: BTreeMap::new(),
        }
    }

    /// Whether this is one of Scylla's own keyspaces.
    pub fn is_system(&self) -> bool {
        is_system_keyspace(&self.name)
    }

    /// The user type with this name.
    pub fn user_type(&self, name: &str) -> Option<&UserType> {
        self.types.iter().find(|t| t.name == name)
    }

    /// Base tables (not views), by name.
    pub fn base_tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.values().filter(|t| !t.is_view())
    }

    /// The views and index views of a base table, by name.
    pub fn views_of<'a>(&'a self, base: &'a str) -> impl Iterator<Item = &'a Table> + 'a {
        self.tables.values().filter(move |t| t.base() == Some(base))
    }

    /// The index view backing index `index`.
    pub fn index(&self, index: &str) -> Option<&Table> {
        self.tables
            .values()
            .find(|t| matches!(&t.kind, TableKind::Index { index: i, .. } if i == index))
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
    /// Materialized views still depend on the table.
    #[error("Cannot drop table when materialized views still depend on it ({keyspace}.{{{}}})", views.join(", "))]
    HasViews {
        /// Keyspace of the table.
        keyspace: String,
        /// The views.
        views: Vec<String>,
    },
    /// A name has characters CQL identifiers cannot have.
    #[error("invalid name {0:?}: names hold only letters, digits and '_' (at most 48 characters)")]
    BadName(String),
    /// System keyspaces cannot be changed.
    #[error("keyspace {0} is a system keyspace and cannot be changed")]
    SystemKeyspace(String),
}

impl Schema {
    /// The schema of a fresh node: Scylla's own keyspaces, with IDs from the seed; `columns`
    /// gives the columns of the system tables it knows (others get a plain layout).
    pub fn system(seed: u64, columns: impl Fn(&str, &str) -> Option<Vec<Column>>) -> Self {
        let mut schema = Schema::default();
        for (ks, replication, tables) in SYSTEM_KEYSPACES {
            let keyspace = schema
                .keyspaces
                .entry(ks.to_string())
                .or_insert_with(|| Keyspace::new(ks, replication.clone(), false));
            for t in *tables {
                let id = uuid_for(seed, &["table", ks, t]);
                let mut table = plain_table(t, id, Some("blob"));
                if let Some(cols) = columns(ks, t) {
                    table.columns = cols;
                    table.sort_columns();
                }
                keyspace.tables.insert(t.to_string(), table);
            }
        }
        schema
    }

    /// The schema version: a name-based UUID of the whole schema's content, so every node
    /// agrees on it and every change changes it.
    pub fn version(&self) -> Uuid {
        let text = serde_json::to_string(self).unwrap_or_default();
        let digest = Md5::digest(text.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest);
        uuid::Builder::from_md5_bytes(bytes).into_uuid()
    }

    /// Creates a user table with a plain layout (`id uuid, ts timestamp, value blob`) for the
    /// REST control, creating its keyspace with the given or default replication when new.
    pub fn create_table(
        &mut self,
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
        let keyspace = self.keyspaces.entry(ks.to_string()).or_insert_with(|| {
            Keyspace::new(ks, replication.unwrap_or_else(|| default_nts(dcs)), tablets)
        });
        if keyspace.tables.contains_key(table) {
            return Err(SchemaError::TableExists {
                keyspace: ks.to_string(),
                table: table.to_string(),
            });
        }
        let t = plain_table(table, Uuid::new_v4(), Some("blob"));
        keyspace.tables.insert(table.to_string(), t.clone());
        Ok(t)
    }

    /// Adds a table, view or index view to an existing keyspace.
    pub fn add_table(&mut self, ks: &str, table: Table) -> Result<(), SchemaError> {
        let keyspace = self
            .keyspaces
            .get_mut(ks)
            .ok_or_else(|| SchemaError::NoKeyspace(ks.to_string()))?;
        if keyspace.tables.contains_key(&table.name) {
            return Err(SchemaError::TableExists {
                keyspace: ks.to_string(),
                table: table.name,
            });
        }
        keyspace.tables.insert(table.name.clone(), table);
        Ok(())
    }

    /// Drops a user table with its index views (refused while materialized views depend on
    /// it), or a view; returns what was removed, the table first.
    pub fn drop_table(&mut self, ks: &str, table: &str) -> Result<Vec<Table>, SchemaError> {
        if is_system_keyspace(ks) {
            return Err(SchemaError::SystemKeyspace(ks.to_string()));
        }
        let keyspace = self
            .keyspaces
            .get_mut(ks)
            .ok_or_else(|| SchemaError::NoKeyspace(ks.to_string()))?;
        if !keyspace.tables.contains_key(table) {
            return Err(SchemaError::NoTable {
                keyspace: ks.to_string(),
                table: table.to_string(),
            });
        }
        let views: Vec<String> = keyspace
            .views_of(table)
            .filter(|v| matches!(v.kind, TableKind::View { .. }))
            .map(|v| v.name.clone())
            .collect();
        if !views.is_empty() {
            return Err(SchemaError::HasViews {
                keyspace: ks.to_string(),
                views,
            });
        }
        let names: Vec<String> = std::iter::once(table.to_string())
            .chain(keyspace.views_of(table).map(|v| v.name.clone()))
            .collect();
        Ok(names
            .iter()
            .filter_map(|n| keyspace.tables.remove(n))
            .collect())
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

/// A table with columns `id uuid, ts timestamp[, value <ty>]`, primary key `(id, ts)`.
fn plain_table(name: &str, id: Uuid, value: Option<&str>) -> Table {
    let col = |name: &str, ty: &str, kind, position| Column {
        name: name.to_string(),
        ty: ty.to_string(),
        kind,
        position,
        descending: false,
    };
    let mut columns = vec![
        col("id", "uuid", ColumnKind::PartitionKey, 0),
        col("ts", "timestamp", ColumnKind::Clustering, 0),
    ];
    if let Some(ty) = value {
        columns.push(col("value", ty, ColumnKind::Regular, -1));
    }
    Table {
        name: name.to_string(),
        id,
        columns,
        options: Options::default(),
        kind: TableKind::Table,
    }
}
