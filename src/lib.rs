//! Cairn: a backup orchestrator for ScyllaDB clusters.
//!
//! Cairn reads and writes the ScyllaDB Manager backup layout, so a bucket written by one tool can
//! be listed and restored by the other. The crate is organised as follows:
//!
//! | module | owns |
//! |---|---|
//! | [`spec`] | the backup format: locations, snapshot tags, remote paths, node manifests, keyspace/DC filters, `[dc:]N` limits, SSTable file names. Pure: no I/O beyond bytes. |
//! | [`emulator`] | `cairn emulator`: a stand-in for a cluster of ScyllaDB nodes, each serving the Scylla REST API subset that backup and restore use over a real on-disk data directory. |
//! | [`agent`] | `cairn agent`: the daemon beside each Scylla node: allow-listed Scylla proxy, confined file operations, transfer jobs to object storage under one bandwidth budget; `agent::wire` holds the request and answer types of its API, which the manager's client uses too. |
//! | [`manager`] | `cairn manager`: the state store, the REST API, the scheduler and the backup run actors that drive the agents. |
//! | [`auth`] | bearer tokens as both daemons check them: the `Authorization` header's scheme in any case, constant-time comparison |
//! | [`config_file`] | reading a daemon's YAML configuration; errors naming the file or the key |
//! | [`units`] | byte sizes as operators write and read them. |
//! | [`cli`] | the `cairn` command line: argument parsing and the subcommands' entry points. |

pub mod agent;
pub mod auth;
pub mod cli;
pub mod config_file;
pub mod emulator;
pub mod manager;
pub mod spec;
pub mod units;
