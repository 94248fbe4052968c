//! The statements the engine understands, as a syntax tree: what [`mod@super::parse`] builds and
//! the rest of the engine runs.

/// A literal or a bind marker.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `'text'`.
    Str(String),
    /// A number as written.
    Num(String),
    /// `true`/`false`.
    Bool(bool),
    /// A UUID.
    Uuid(uuid::Uuid),
    /// `0x...`.
    Blob(String),
    /// `null`.
    Null,
    /// `{k: v, ...}`.
    Map(Vec<(Term, Term)>),
    /// `{a, b}`.
    Set(Vec<Term>),
    /// `[a, b]`.
    List(Vec<Term>),
    /// The n-th `?` of the statement (from 0).
    Marker(usize),
}

/// A `[keyspace.]name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The keyspace, when given.
    pub keyspace: Option<String>,
    /// The name.
    pub name: String,
}

/// One `WHERE` restriction of a `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub enum Restriction {
    /// `col = term`.
    Eq(String, Term),
    /// `col IN (terms)`.
    In(String, Vec<Term>),
    /// `col IN ?`.
    InMarker(String, usize),
}

/// A `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// Selected columns; `None` for `*`.
    pub columns: Option<Vec<String>>,
    /// Whether it is `SELECT COUNT(*)`.
    pub count: bool,
    /// The table.
    pub from: Name,
    /// `WHERE` restrictions.
    pub restrictions: Vec<Restriction>,
    /// `LIMIT n` (a literal or a marker).
    pub limit: Option<Term>,
}

/// What a `DESCRIBE` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Describe {
    /// `DESCRIBE [FULL] SCHEMA`.
    Schema {
        /// `FULL`: include system keyspaces.
        full: bool,
    },
    /// `DESCRIBE KEYSPACES`.
    Keyspaces,
    /// `DESCRIBE [ONLY] KEYSPACE [ks]`.
    Keyspace {
        /// The keyspace (the current one when `None`).
        name: Option<String>,
        /// `ONLY`: the keyspace's statement alone.
        only: bool,
    },
    /// `DESCRIBE TABLES`.
    Tables,
    /// `DESCRIBE TABLE [ks.]t`.
    Table(Name),
    /// `DESCRIBE MATERIALIZED VIEW [ks.]v`.
    View(Name),
    /// `DESCRIBE INDEX [ks.]i`.
    Index(Name),
    /// `DESCRIBE TYPE [ks.]t`.
    Type(Name),
}

/// A column definition of `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// Name.
    pub name: String,
    /// CQL type, normalized.
    pub ty: String,
    /// `STATIC`.
    pub is_static: bool,
}

/// A primary key: partition key columns, then clustering columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrimaryKey {
    /// Partition key columns.
    pub partition: Vec<String>,
    /// Clustering columns.
    pub clustering: Vec<String>,
}

/// `WITH` properties: `name = term` pairs, `CLUSTERING ORDER BY`, and `ID`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Properties {
    /// `name = value` pairs in order (without `ID`).
    pub values: Vec<(String, Term)>,
    /// `CLUSTERING ORDER BY (c ASC|DESC, ...)`: (column, descending).
    pub clustering_order: Vec<(String, bool)>,
    /// `ID = <uuid>`.
    pub id: Option<uuid::Uuid>,
    /// `COMPACT STORAGE` was given.
    pub compact_storage: bool,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `USE ks`.
    Use(String),
    /// `SELECT ...`.
    Select(Select),
    /// `DESCRIBE ...`; `with_internals` for `WITH INTERNALS`.
    Describe(Describe, bool),
    /// `CREATE KEYSPACE`.
    CreateKeyspace {
        /// Keyspace name.
        name: String,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// `replication`, `durable_writes`, `tablets`.
        properties: Properties,
    },
    /// `CREATE TABLE`.
    CreateTable {
        /// The table.
        name: Name,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Column definitions.
        columns: Vec<ColumnDef>,
        /// Primary key.
        key: PrimaryKey,
        /// `WITH ...`.
        properties: Properties,
    },
    /// `CREATE MATERIALIZED VIEW`.
    CreateView {
        /// The view.
        name: Name,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Selected columns; `None` for `*`.
        columns: Option<Vec<String>>,
        /// Base table.
        base: Name,
        /// The `WHERE` clause as written (whitespace collapsed).
        where_clause: String,
        /// Primary key.
        key: PrimaryKey,
        /// `WITH ...`.
        properties: Properties,
    },
    /// `CREATE INDEX`.
    CreateIndex {
        /// Index name, when given.
        name: Option<String>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// The indexed table.
        table: Name,
        /// The indexed column.
        target: String,
        /// `WITH ...`.
        properties: Properties,
    },
    /// `CREATE TYPE`.
    CreateType {
        /// The type.
        name: Name,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Fields: name and normalized type.
        fields: Vec<(String, String)>,
    },
    /// `ALTER TABLE t WITH ...`.
    AlterTable {
        /// The table.
        name: Name,
        /// `WITH ...`.
        properties: Properties,
    },
    /// `DROP KEYSPACE|TABLE|MATERIALIZED VIEW|INDEX|TYPE`.
    Drop {
        /// What kind of object.
        what: DropKind,
        /// Its name.
        name: Name,
        /// `IF EXISTS`.
        if_exists: bool,
    },
}

/// What a `DROP` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropKind {
    /// `DROP KEYSPACE`.
    Keyspace,
    /// `DROP TABLE`.
    Table,
    /// `DROP MATERIALIZED VIEW`.
    View,
    /// `DROP INDEX`.
    Index,
    /// `DROP TYPE`.
    Type,
}
