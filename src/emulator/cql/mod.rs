//! The CQL side of an emulated node: the native protocol v4 listener and the statements it runs
//! against the shared schema, so the `scylla` driver and `cqlsh` can talk to the emulator as to
//! Scylla.
//!
//! | module | owns |
//! |---|---|
//! | [`engine`] | the statements a node runs: parsing, system tables, DDL, `DESCRIBE` |
//! | [`value`] | CQL types and values, and their encoding on the wire |
//! | [`outcome`] | what a statement produces or why it fails: the interface between the listener and the engine |
//! | [`listener`] | one node's accept loop |
//! | [`service`] | what a node's connections share: statements, credentials, prepared statements, call record |
//! | [`connection`] | one client connection: handshake, login, keyspace, pipelined requests |
//! | [`frame`] | frame headers, size limit, the protocol's primitive notations |
//! | [`request`] | decoding request bodies |
//! | [`response`] | encoding response bodies: errors, results, metadata |
//! | [`paging`] | cutting results into pages and checking paging states |
//!
//! The listener (frames, handshake, authentication, paging) and the engine (parsing, system
//! tables, DDL, `DESCRIBE`) meet only through [`outcome::Statements`].
//!
//! The frame codec is Cairn's own, small because [`value`] already encodes values. The two
//! maintained crates were measured and set aside: `cassandra-protocol` 3.3 adds 37 s wall (25 s
//! CPU) to a clean build here and its `Envelope::from_buffer` panics on a negative body length
//! (an overflowing `usize` sum, then a slice); `scylla-cql` (already built for the driver) decodes
//! requests but encodes no responses, and its query-parameter decoding panics on a truncated body.
//! A listener fed by any client must refuse such bytes with a protocol error, never panic.

pub mod connection;
pub mod engine;
pub mod frame;
pub mod listener;
pub mod outcome;
pub mod paging;
pub mod request;
pub mod response;
pub mod service;
pub mod value;
