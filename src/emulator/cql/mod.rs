//! The CQL side of an emulated node: the native protocol v4 listener and the statements it runs
//! against the shared schema, so the `scylla` driver and `cqlsh` can talk to the emulator as to
//! Scylla.
//!
//! | module | owns |
//! |---|---|
//! | [`engine`] | the statements a node runs: parsing, system tables, DDL, `DESCRIBE` |
//! | [`value`] | CQL types and values, and their encoding on the wire |
//! | [`outcome`] | what a statement produces or why it fails: the interface between the listener and the engine |
//!
//! The listener (frames, handshake, authentication, paging) and the engine (parsing, system
//! tables, DDL, `DESCRIBE`) meet only through [`outcome::Statements`].

pub mod engine;
pub mod outcome;
pub mod value;
