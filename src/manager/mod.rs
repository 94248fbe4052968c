//! `cairn manager`: the daemon that orchestrates backups of whole clusters through the agents.
//!
//! The scheduler starts one `BackupSupervisor` per run; it drives one `NodeActor` per host through
//! the stages, while the `ProgressActor` batches progress writes and the `RateLimitActor` shares
//! bandwidth budgets. The REST API reads the store and asks the actors.
//!
//! | module | owns |
//! |---|---|
//! | [`agent_client`] | the HTTPS client of one node's agent: the call and its retries (`mod`), errors (`error`), Scylla calls (`scylla`), transfer jobs and bandwidth (`jobs`), files (`files`); the types it sends and reads are [`crate::agent::wire`] |
//! | [`agent_trust`] | which agents get a cluster's token: certificate fingerprints pinned on first use and checked on every connection |
//! | [`api`] | the REST API (`/api/v1`): clusters, tasks, runs and progress, backups in a location |
//! | [`backup`] | a backup's work beyond one run's stages: deleting snapshots (purged under the locations' leases) and the nodes' `sm_*` snapshots on request |
//! | [`backup_supervisor`] | `BackupSupervisor`: one backup run: target, resume, the stages over the node actors, host restarts, the final commit |
//! | [`coalesce`] | keeping only the latest progress update per row until the next batched write |
//! | [`config`] | the manager's YAML configuration and its validation |
//! | [`dedup`] | which snapshot files are already in the location (same generation, names and sizes; equal digests for integer generations) |
//! | [`discovery`] | a cluster's nodes, DCs, racks and liveness, found through its agents |
//! | [`host_limits`] | a stage's per-DC host parallelism (`snapshot_parallel`, `upload_parallel`) |
//! | [`lease`] | the storage-level lease: one manager at a time writes or purges a cluster's backups in a location (taken, renewed, released, taken over when expired); this machine's hostname, naming the holder |
//! | [`location`] | where the manager reads backup locations: listings and manifests (through an agent or straight from the store for `--offline`), the `backup list` and `backup files` answers, whether the agents can use a task's locations |
//! | [`metrics`] | the manager's Prometheus metrics: per-table backup progress, snapshots, purges, scheduler runs |
//! | [`node_actor`] | `NodeActor`: one host's part of a backup run, one message per stage |
//! | [`progress_actor`] | `ProgressActor`: coalesced, batched progress writes, one in flight, flushed on a timer and on demand |
//! | [`progress`] | a run's progress rolled up host → keyspace → table, with upstream's percentage and stage wording |
//! | [`purge`] | the purge of one node's stale snapshots in a location (reference counting by set difference, expired versions), and which host purges which node |
//! | [`rate_limit_actor`] | `RateLimitActor`: divides each DC's budget among its uploading hosts and pushes rates to their agents |
//! | [`rate_share`] | dividing a DC's bandwidth budget among the hosts uploading now (max-min fair, under per-host caps) |
//! | [`resume`] | which interrupted run the next run resumes, and how a table's progress carries over |
//! | [`retention`] | which snapshots retention keeps, which files purge may delete (by set difference over manifests), which old versions go |
//! | [`schedule`] | when tasks run: cron lines, intervals, start dates, weekly windows, retry backoff |
//! | [`scheduler`] | `Scheduler`: when each task runs; starts and stops runs, retries failed ones |
//! | [`schema_dump`] | the CQL schema of a cluster, dumped over CQL for the backup's schema file |
//! | [`store`] | the manager's state (clusters, tasks, runs, progress) behind a `Store` trait: SQLite by default, ScyllaDB optionally; `store/rows.rs` holds each table's column list and row mapping once for both |
//! | [`target`] | task properties, their validation, and what a backup run will do (spec 1.2) |

pub mod agent_client;
pub mod agent_trust;
pub mod api;
pub mod backup;
pub mod backup_supervisor;
pub mod coalesce;
pub mod config;
pub mod dedup;
pub mod discovery;
pub mod host_limits;
pub mod lease;
pub mod location;
pub mod metrics;
pub mod node_actor;
pub mod progress;
pub mod progress_actor;
pub mod purge;
pub mod rate_limit_actor;
pub mod rate_share;
pub mod resume;
pub mod retention;
pub mod schedule;
pub mod scheduler;
pub mod schema_dump;
pub mod store;
pub mod target;
