//! One table of the schema: its columns, its options, and whether it is a base table, a
//! materialized view or the view backing a secondary index (Scylla keeps all three as tables with
//! their own ID and data directory).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::options::Options;

/// The role of a column in its table, as `system_schema.columns.kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Part of the partition key.
    PartitionKey,
    /// Part of the clustering key.
    Clustering,
    /// A regular column.
    Regular,
    /// A static column.
    Static,
}

impl ColumnKind {
    /// The name `system_schema.columns.kind` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::PartitionKey => "partition_key",
            ColumnKind::Clustering => "clustering",
            ColumnKind::Regular => "regular",
            ColumnKind::Static => "static",
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name (case kept as CQL resolved it).
    pub name: String,
    /// The CQL type as `system_schema.columns.type` writes it.
    pub ty: String,
    /// Partition key, clustering, regular or static.
    pub kind: ColumnKind,
    /// Position within the partition or clustering key; -1 for other columns.
    pub position: i32,
    /// For a clustering column: whether it sorts descending.
    #[serde(default)]
    pub descending: bool,
}

impl Column {
    /// `system_schema.columns.clustering_order`: `asc`/`desc` for clustering columns, else `none`.
    pub fn clustering_order(&self) -> &'static str {
        match (self.kind, self.descending) {
            (ColumnKind::Clustering, true) => "desc",
            (ColumnKind::Clustering, false) => "asc",
            _ => "none",
        }
    }
}

/// What a table is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum TableKind {
    /// A base table.
    #[default]
    Table,
    /// A materialized view of `base`.
    View {
        /// Base table name (same keyspace).
        base: String,
        /// The view's `WHERE` clause, as `system_schema.views.where_clause` holds it.
        where_clause: String,
        /// Whether the view was created with `SELECT *`.
        include_all_columns: bool,
    },
    /// The view `<index>_index` backing secondary index `index` on `base`.
    Index {
        /// Base table name (same keyspace).
        base: String,
        /// The index name.
        index: String,
        /// The indexed column.
        target: String,
    },
}

/// One table, view or index view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Table name (for an index: `<index>_index`).
    pub name: String,
    /// Table ID; its simple hex form is the data directory suffix and the backup's table version.
    pub id: Uuid,
    /// Columns: partition key in position order, clustering in position order, then the others.
    #[serde(default)]
    pub columns: Vec<Column>,
    /// The table's options (`WITH ...`), defaults filled in.
    #[serde(default)]
    pub options: Options,
    /// Base table, materialized view or index view.
    #[serde(default)]
    pub kind: TableKind,
}

impl Table {
    /// The table's directory name under its keyspace: `<table>-<32 hex id>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.name, self.id.simple())
    }

    /// The columns of one kind, in position order.
    pub fn columns_of(&self, kind: ColumnKind) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(move |c| c.kind == kind)
    }

    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The base table of a view or index view.
    pub fn base(&self) -> Option<&str> {
        match &self.kind {
            TableKind::Table => None,
            TableKind::View { base, .. } | TableKind::Index { base, .. } => Some(base),
        }
    }

    /// Whether this is a view (materialized or backing an index).
    pub fn is_view(&self) -> bool {
        self.base().is_some()
    }

    /// Puts columns in Scylla's order (partition key, clustering, then static and regular
    /// columns each by name)
    /// and numbers key positions.
    pub fn sort_columns(&mut self) {
        let rank = |k: ColumnKind| match k {
            ColumnKind::PartitionKey => 0,
            ColumnKind::Clustering => 1,
            ColumnKind::Static => 2,
            ColumnKind::Regular => 3,
        };
        self.columns.sort_by(|a, b| {
            rank(a.kind)
                .cmp(&rank(b.kind))
                .then_with(|| match rank(a.kind) {
                    2 | 3 => a.name.cmp(&b.name),
                    _ => a.position.cmp(&b.position),
                })
        });
    }
}
