//! `cairn manager`: the daemon that orchestrates backups of whole clusters through the agents.
//!
//! [`runtime`] starts the actors and servers in order and stops them in reverse. The scheduler
//! starts each run through the runner of its task type: one `BackupSupervisor` per backup run;
//! it drives one `NodeActor` per host through the stages, while the `ProgressActor` batches
//! progress writes and the `RateLimitActor` shares bandwidth budgets. The REST API reads the
//! store and asks the actors.
//!
//! | module | owns |
//! |---|---|
//! | [`agent_client`] | the HTTPS client of one node's agent: Scylla calls, files, transfer jobs, bandwidth |
//! | [`agent_trust`] | which agents get a cluster's token: certificate fingerprints pinned on first use and checked on every connection |
//! | [`api`] | the REST API (`/api/v1`): clusters, tasks, runs and progress, backups in a location |
//! | [`backup_supervisor`] | `BackupSupervisor`: one backup run: target, resume, the stages over the node actors, host restarts, the final commit |
//! | [`backups`] | backups in a location through one agent: manifests, the `backup list` aggregate, a snapshot's files, deleting snapshots and the nodes' `sm_*` snapshots |
//! | [`coalesce`] | keeping only the latest progress update per row until the next batched write |
//! | [`config`] | the manager's YAML configuration and its validation |
//! | [`dedup`] | which snapshot files are already in the location (same generation, names and sizes; equal digests for integer generations) |
//! | [`discovery`] | a cluster's nodes, DCs, racks and liveness, found through its agents |
//! | [`host_limits`] | a stage's per-DC host parallelism (`snapshot_parallel`, `upload_parallel`) |
//! | [`lease`] | the storage-level lease: one manager at a time writes or purges a cluster's backups in a location (taken, renewed, released, taken over when expired) |
//! | [`location_check`] | whether the agents of a task's DCs can use its locations, asked at task creation and by the dry run |
//! | [`location_reader`] | reading a location's listings and manifests, through an agent or straight from its store (`--offline`) |
//! | [`metrics`] | the manager's Prometheus metrics: per-table backup progress, snapshots, purges, scheduler runs |
//! | [`node_actor`] | `NodeActor`: one host's part of a backup run, one message per stage |
//! | [`progress_actor`] | `ProgressActor`: coalesced, batched progress writes, one in flight, flushed on a timer and on demand; generic over a progress row (`ProgressRow`: key and batched write), backup's row implements it |
//! | [`progress`] | a run's progress rolled up host → keyspace → table, with upstream's percentage and stage wording |
//! | [`purge`] | the purge of one node's stale snapshots in a location (reference counting by set difference, expired versions), and which host purges which node |
//! | [`rate_limit_actor`] | `RateLimitActor`: divides each DC's budget (`DcKey`: cluster and DC) among its uploading hosts and pushes rates to their agents, through the client each `StartUpload` brings |
//! | [`rate_share`] | dividing a DC's bandwidth budget among the hosts uploading now (max-min fair, under per-host caps) |
//! | [`resume`] | which interrupted run the next run resumes, and how a table's progress carries over |
//! | [`retention`] | which snapshots retention keeps, which files purge may delete (by set difference over manifests), which old versions go |
//! | [`runtime`] | `Runtime`: starts the progress, rate-limit and scheduler actors (with one runner per task type) and the servers in order, and stops them in reverse; used by `cairn manager` and the tests |
//! | [`schedule`] | when tasks run: cron lines, intervals, start dates, weekly windows, retry backoff |
//! | [`scheduler`] | `Scheduler`: when each task runs; starts and stops runs through one runner per task type (`scheduler::runner`: backup now), retries failed ones; what it finds at start-up (`scheduler::startup`) |
//! | [`schema_dump`] | the CQL schema of a cluster, dumped over CQL for the backup's schema file |
//! | [`store`] | the manager's state (clusters, tasks, runs, progress) behind a `Store` trait: SQLite by default, ScyllaDB optionally |
//! | [`target`] | task properties, their validation, and what a backup run will do (spec 1.2) |

pub mod agent_client;
pub mod agent_trust;
pub mod api;
pub mod backup_supervisor;
pub mod backups;
pub mod coalesce;
pub mod config;
pub mod dedup;
pub mod discovery;
pub mod host_limits;
pub mod lease;
pub mod location_check;
pub mod location_reader;
pub mod metrics;
pub mod node_actor;
pub mod progress;
pub mod progress_actor;
pub mod purge;
pub mod rate_limit_actor;
pub mod rate_share;
pub mod resume;
pub mod retention;
pub mod runtime;
pub mod schedule;
pub mod scheduler;
pub mod schema_dump;
pub mod store;
pub mod target;
