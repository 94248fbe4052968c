//! `cairn manager`: the daemon that orchestrates backups of whole clusters through the agents.
//!
//! The scheduler starts one `BackupSupervisor` per run ([`backup`]); it drives one `NodeActor` per
//! host through the stages (fanned out and restarted by [`fleet`]), while the `ProgressActor`
//! batches progress writes and the `RateLimitActor` shares bandwidth budgets. The REST API reads the store and asks the actors.
//!
//! | module | owns |
//! |---|---|
//! | [`agent_client`] | the HTTPS client of one node's agent: Scylla calls, files, transfer jobs, bandwidth |
//! | [`agent_jobs`] | following one agent transfer job: long polls, a job lost to an agent restart, stopping it |
//! | [`agent_trust`] | which agents get a cluster's token: certificate fingerprints pinned on first use and checked on every connection |
//! | [`api`] | the REST API (`/api/v1`): clusters, tasks, runs and progress, backups in a location |
//! | [`backup`] | one backup run: `BackupSupervisor`, the stages (`backup::stage`), the node actors (`backup::node`, one file per stage), properties, target and plan, resume, retention and purge (see its table) |
//! | [`backups`] | backups in a location through one agent: manifests, the `backup list` aggregate, a snapshot's files, deleting snapshots and the nodes' `sm_*` snapshots |
//! | [`coalesce`] | keeping only the latest progress update per row until the next batched write |
//! | [`config`] | the manager's YAML configuration and its validation |
//! | [`discovery`] | a cluster's nodes, DCs, racks and liveness, found through its agents |
//! | [`fleet`] | fan-out of a message to per-host actors under per-DC parallelism (`snapshot_parallel`, `upload_parallel`), supervised restarts |
//! | [`lease`] | the storage-level lease: one manager at a time writes or purges a cluster's backups in a location (taken, renewed, released, taken over when expired) |
//! | [`location`] | what a backup location holds: whether a node manifest's files are all there (`location::verify`) |
//! | [`location_check`] | whether the agents of a task's DCs can use its locations, asked at task creation and by the dry run |
//! | [`location_reader`] | reading a location's listings and manifests, through an agent or straight from its store (`--offline`) |
//! | [`metrics`] | the manager's Prometheus metrics: per-table backup progress, snapshots, purges, scheduler runs |
//! | [`progress_actor`] | `ProgressActor`: coalesced, batched progress writes, one in flight, flushed on a timer and on demand |
//! | [`rate_limit_actor`] | `RateLimitActor`: divides each DC's budget among its uploading hosts and pushes rates to their agents |
//! | [`rate_share`] | dividing a DC's bandwidth budget among the hosts uploading now (max-min fair, under per-host caps) |
//! | [`schedule`] | when tasks run: cron lines, intervals, start dates, weekly windows, retry backoff |
//! | [`scheduler`] | `Scheduler`: when each task runs; starts and stops runs, retries failed ones |
//! | [`store`] | the manager's state (clusters, tasks, runs, progress) behind a `Store` trait: SQLite by default, ScyllaDB optionally |

pub mod agent_client;
pub mod agent_jobs;
pub mod agent_trust;
pub mod api;
pub mod backup;
pub mod backups;
pub mod coalesce;
pub mod config;
pub mod discovery;
pub mod fleet;
pub mod lease;
pub mod location;
pub mod location_check;
pub mod location_reader;
pub mod metrics;
pub mod progress_actor;
pub mod rate_limit_actor;
pub mod rate_share;
pub mod schedule;
pub mod scheduler;
pub mod store;
