//! Cairn: a backup orchestrator for ScyllaDB clusters.
//!
//! Cairn reads and writes the ScyllaDB Manager backup layout, so a bucket written by one tool can
//! be listed and restored by the other. The crate is organised as follows:
//!
//! | module | owns |
//! |---|---|
//! | [`format`](mod@format) | the backup format: locations, snapshot tags, remote paths, node manifests, keyspace/DC filters, `[dc:]N` limits, SSTable file names. Pure: no I/O beyond bytes. |
//! | [`emulator`] | `cairn emulator`: a stand-in for a cluster of ScyllaDB nodes, each serving the Scylla REST API subset that backup and restore use over a real on-disk data directory. |
//! | [`agent`] | `cairn agent`: the daemon beside each Scylla node: allow-listed Scylla proxy, confined file operations, transfer jobs to object storage under one bandwidth budget; `agent::wire` holds the request and answer types of its API, which the manager's client uses too. |
//! | [`manager`] | `cairn manager`: the state store, the REST API, the scheduler and the run actors that drive the agents (see the map below). |
//! | [`auth`] | bearer tokens as both daemons check them: the `Authorization` header's scheme in any case, constant-time comparison |
//! | [`config_file`] | reading a daemon's YAML configuration; errors naming the file or the key |
//! | [`units`] | byte sizes, rates, durations and times (`now±DURATION`) as operators write and read them. |
//! | [`cli`] | the `cairn` command line: argument parsing and the subcommands' entry points. |
//!
//! Where to find a concept of the manager in one hop:
//!
//! | concept | home |
//! |---|---|
//! | starting and stopping the daemon's actors and servers | [`manager::runtime`] |
//! | when a task runs; one runner per task type; a suspended cluster | [`manager::scheduler`] (`scheduler::runner`, `scheduler::suspension`) |
//! | a backup stage: its name, order, skip rule, wording | [`manager::backup::stage`] |
//! | a stage's work on one host (message, handler, work) | [`manager::backup::node`]`::<stage>` (`snapshot`, `index`, `manifest`, `dedup`, `upload`, `commit`) |
//! | a run's actor and its messages | [`manager::backup::supervisor`]; what it is given and shows: [`manager::backup::run`]; what it works from: [`manager::backup::plan`] |
//! | fan-out to per-host actors, supervised restarts | [`manager::fleet`] |
//! | a restore or validate run's actor shell and messages; a run's task-run bookkeeping | [`manager::run_actor`], [`manager::run_record`] |
//! | validate: the check of one node directory (shared online and offline), the online run, offline | [`manager::validate`] (`node`, `supervisor`, `offline`); content checks: [`agent::check`] |
//! | following one agent job (long poll, lost job, stop) | [`manager::agent_jobs`] |
//! | batched progress writes, bandwidth budgets | [`manager::progress_actor`] (generic over a progress row), [`manager::rate_limit_actor`] |
//! | reading a location: listings, manifests, "every file of this manifest is there" | [`manager::location`] |
//! | the store's records, and each table's one row mapping | [`manager::store`] (`model`, `rows`) |
//! | 1-1 restore: node mapping and mirror checks | [`manager::restore::one_to_one`] |
//! | the manager↔agent requests and answers | [`agent::wire`]; the client: [`manager::agent_client`] |

pub mod agent;
pub mod auth;
pub mod cli;
pub mod config_file;
pub mod emulator;
pub mod format;
pub mod manager;
pub mod units;
