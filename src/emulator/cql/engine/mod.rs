//! The statements an emulated node runs over CQL, against the cluster's shared schema.
//!
//! | module | owns |
//! |---|---|
//! | [`lexer`] | cutting statement text into tokens |
//! | [`statement`] | the statement syntax tree |
//! | [`mod@parse`] | the parser: tokens, names, terms, `SELECT`, `DESCRIBE` |
//! | [`parse_ddl`] | the parser's schema statements: `CREATE`, `DROP`, `ALTER` |
//! | [`select`] | `SELECT` on system tables: restrictions, projection, limit |
//! | [`system_tables`] | `system.local`, `system.peers`, `system_schema.*`: columns and rows |
//! | [`describe`] | `DESCRIBE` rows in Scylla's order |
//! | [`ddl`] | `CREATE`/`DROP`/`ALTER` applied to the schema model |
//! | [`ddl_keyspace`] | `CREATE KEYSPACE`: replication, durable writes, tablets |
//!
//! The subset, and where it differs from Scylla:
//! - `USE`; `SELECT cols|*|COUNT(*) FROM t [WHERE c = v|? [AND c IN (..)|IN ?]...] [LIMIT n]
//!   [ALLOW FILTERING]` on `system.local`, `system.peers` and `system_schema.*`; any restriction
//!   filters (no key-only rules). `SELECT` on a user table returns no rows: the emulator keeps
//!   files, not rows. Other system tables (`system.peers_v2`, ...) are "unconfigured".
//! - `DESCRIBE [FULL] SCHEMA`, `KEYSPACES`, `[ONLY] KEYSPACE`, `TABLES`, `TABLE`,
//!   `MATERIALIZED VIEW`, `INDEX`, `TYPE`, each `[WITH INTERNALS]` (no roles or service levels);
//!   other forms are syntax errors, so cqlsh falls back to its own describe.
//! - `CREATE`/`DROP` `KEYSPACE`, `TABLE`, `MATERIALIZED VIEW`, `INDEX` (one regular column, no
//!   `CUSTOM`), `TYPE`, with `IF [NOT] EXISTS`; `ALTER TABLE ... WITH tombstone_gc = {...}`.
//!   No `INSERT`/`UPDATE`/`DELETE`, no other `ALTER`, no functions, roles or `tablets.initial`.

pub mod ddl;
pub mod ddl_keyspace;
pub mod describe;
pub mod lexer;
pub mod parse;
pub mod parse_ddl;
pub mod select;
pub mod statement;
pub mod system_tables;

use std::sync::{Arc, Weak};

use super::outcome::{CqlError, Outcome, Shape, Statements};
use crate::emulator::Cluster;
use parse::parse;
use statement::Statement;

/// Runs statements for one node of the cluster.
#[derive(Debug)]
pub struct Engine {
    /// The cluster (weak: the cluster owns the servers that own the engine).
    cluster: Weak<Cluster>,
    /// Index of the node the connection reached.
    node: usize,
}

impl Engine {
    /// The engine of node `node`.
    pub fn new(cluster: &Arc<Cluster>, node: usize) -> Self {
        Engine {
            cluster: Arc::downgrade(cluster),
            node,
        }
    }

    /// The cluster, or a server error once it is gone.
    fn cluster(&self) -> Result<Arc<Cluster>, CqlError> {
        self.cluster
            .upgrade()
            .ok_or_else(|| CqlError::server("the emulated cluster is shutting down"))
    }
}

impl From<crate::emulator::EmulatorError> for CqlError {
    /// A schema change that failed on disk: a server error naming what failed.
    fn from(e: crate::emulator::EmulatorError) -> Self {
        CqlError::server(e.to_string())
    }
}

impl Statements for Engine {
    fn prepare(&self, keyspace: Option<&str>, text: &str) -> Result<Shape, CqlError> {
        let cluster = self.cluster()?;
        let parsed = parse(text)?;
        match &parsed.statement {
            Statement::Select(s) => select::shape(&cluster, keyspace, s),
            Statement::Describe(what, internals) => {
                let rs = describe::describe(&cluster.schema(), what, *internals, keyspace)?;
                Ok(Shape {
                    markers: Vec::new(),
                    result: rs.columns,
                })
            }
            _ if parsed.markers > 0 => Err(CqlError::invalid(
                "bind markers are only supported in SELECT by the emulator",
            )),
            _ => Ok(Shape {
                markers: Vec::new(),
                result: Vec::new(),
            }),
        }
    }

    fn execute(
        &self,
        keyspace: Option<&str>,
        text: &str,
        values: &[Option<Vec<u8>>],
    ) -> Result<Outcome, CqlError> {
        let cluster = self.cluster()?;
        let parsed = parse(text)?;
        match &parsed.statement {
            Statement::Use(ks) => {
                if cluster.schema().keyspaces.contains_key(ks) {
                    Ok(Outcome::SetKeyspace(ks.clone()))
                } else {
                    Err(CqlError::invalid(format!("Keyspace '{ks}' does not exist")))
                }
            }
            Statement::Select(s) => {
                select::run(&cluster, self.node, keyspace, s, values).map(Outcome::Rows)
            }
            Statement::Describe(what, internals) => {
                describe::describe(&cluster.schema(), what, *internals, keyspace).map(Outcome::Rows)
            }
            stmt => {
                let ctx_dcs = cluster.config.nodes.0.clone();
                let change = cluster.change_schema(|schema| {
                    ddl::apply(
                        schema,
                        stmt,
                        ddl::Context {
                            dcs: &ctx_dcs,
                            keyspace,
                        },
                    )
                })?;
                Ok(change.map_or(Outcome::Void, Outcome::SchemaChange))
            }
        }
    }
}

#[cfg(test)]
mod tests;
