//! What a CQL statement produces (rows, a keyspace switch, a schema change) or why it fails, and
//! the [`Statements`] trait the listener calls: the one seam between the wire and the engine.

use super::value::{CqlType, Value};

/// One column of a result or one bound marker of a prepared statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Keyspace of the table the column belongs to.
    pub keyspace: String,
    /// Table the column belongs to.
    pub table: String,
    /// Column name (for a marker: the column it is compared with).
    pub name: String,
    /// CQL type.
    pub ty: CqlType,
}

/// Rows a statement returned, whole; the listener cuts them into pages.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    /// The columns, in result order.
    pub columns: Vec<Column>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// The kind of schema change, as the protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// `CREATED`.
    Created,
    /// `UPDATED`.
    Updated,
    /// `DROPPED`.
    Dropped,
}

/// What a schema change touched, as the protocol names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeTarget {
    /// `KEYSPACE`: the keyspace itself.
    Keyspace,
    /// `TABLE` (also views and the tables of indexes): this table.
    Table(String),
    /// `TYPE`: this user type.
    Type(String),
}

/// A schema change a statement made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// Created, updated or dropped.
    pub change: ChangeType,
    /// Keyspace changed or holding what changed.
    pub keyspace: String,
    /// What changed.
    pub target: ChangeTarget,
}

/// What a statement produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing to return (`RESULT` kind Void).
    Void,
    /// Rows.
    Rows(ResultSet),
    /// `USE ks` switched the connection's keyspace.
    SetKeyspace(String),
    /// A DDL statement changed the schema.
    SchemaChange(SchemaChange),
}

/// The shape of a prepared statement: its markers and, for a `SELECT`, its result columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// One column per `?` marker, in order.
    pub markers: Vec<Column>,
    /// The result columns; empty for statements without rows.
    pub result: Vec<Column>,
}

/// The error codes of the protocol (§9 of `native_protocol_v4.spec`) that the emulator sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `0x0000` Server error.
    Server,
    /// `0x000A` Protocol error.
    Protocol,
    /// `0x0100` Bad credentials.
    BadCredentials,
    /// `0x2000` Syntax error.
    Syntax,
    /// `0x2100` Unauthorized.
    Unauthorized,
    /// `0x2200` Invalid request.
    Invalid,
    /// `0x2300` Configuration error.
    Config,
    /// `0x2400` Already exists: the keyspace, and the table (empty for a keyspace).
    AlreadyExists {
        /// Keyspace that exists, or that holds the table that exists.
        keyspace: String,
        /// Table that exists; empty when the keyspace itself exists.
        table: String,
    },
    /// `0x2500` Unprepared: the statement id the server does not know.
    Unprepared(Vec<u8>),
}

impl ErrorKind {
    /// The protocol's error code.
    pub fn code(&self) -> i32 {
        match self {
            ErrorKind::Server => 0x0000,
            ErrorKind::Protocol => 0x000A,
            ErrorKind::BadCredentials => 0x0100,
            ErrorKind::Syntax => 0x2000,
            ErrorKind::Unauthorized => 0x2100,
            ErrorKind::Invalid => 0x2200,
            ErrorKind::Config => 0x2300,
            ErrorKind::AlreadyExists { .. } => 0x2400,
            ErrorKind::Unprepared(_) => 0x2500,
        }
    }
}

/// Why a statement failed: sent to the client as an `ERROR` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CqlError {
    /// The protocol error kind.
    pub kind: ErrorKind,
    /// The message, as Scylla words it where the emulator knows Scylla's wording.
    pub message: String,
}

impl CqlError {
    /// A `SyntaxException`.
    pub fn syntax(message: impl Into<String>) -> Self {
        CqlError {
            kind: ErrorKind::Syntax,
            message: message.into(),
        }
    }

    /// An `InvalidRequest`.
    pub fn invalid(message: impl Into<String>) -> Self {
        CqlError {
            kind: ErrorKind::Invalid,
            message: message.into(),
        }
    }

    /// A server error (the emulator failed, e.g. on disk).
    pub fn server(message: impl Into<String>) -> Self {
        CqlError {
            kind: ErrorKind::Server,
            message: message.into(),
        }
    }
}

/// Runs statements for one node; the listener holds one per node and calls it from a blocking
/// thread (DDL creates and removes table directories on disk).
pub trait Statements: Send + Sync + 'static {
    /// Parses `text` (with `keyspace` the connection's current one) and describes its markers
    /// and result, for `PREPARE`.
    fn prepare(&self, keyspace: Option<&str>, text: &str) -> Result<Shape, CqlError>;

    /// Runs `text` with its bound values as the client sent them (`None` is a null), for `QUERY`
    /// and `EXECUTE`.
    fn execute(
        &self,
        keyspace: Option<&str>,
        text: &str,
        values: &[Option<Vec<u8>>],
    ) -> Result<Outcome, CqlError>;
}
