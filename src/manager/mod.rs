//! `cairn manager`: the daemon that orchestrates backups of whole clusters through the agents.
//!
//! [`runtime`] starts the actors and servers in order and stops them in reverse. The scheduler
//! starts each run through the runner of its task type: one `BackupSupervisor` per backup run
//! ([`backup`]); it drives one `NodeActor` per host through the stages (fanned out and restarted
//! by [`fleet`]), while the `ProgressActor` batches progress writes and the `RateLimitActor`
//! shares bandwidth budgets. The REST API reads the store and asks the actors.
//!
//! | module | owns |
//! |---|---|
//! | [`agent_client`] | the HTTPS client of one node's agent: the call and its retries (`mod`), errors (`error`), Scylla calls (`scylla`), transfer jobs and bandwidth (`jobs`), files (`files`); the types it sends and reads are [`crate::agent::wire`] |
//! | [`agent_jobs`] | following one agent transfer job: long polls, a job lost to an agent restart, stopping it |
//! | [`agent_trust`] | which agents get a cluster's token: certificate fingerprints pinned on first use and checked on every connection |
//! | [`api`] | the REST API (`/api/v1`): clusters, tasks, runs and progress, backups in a location |
//! | [`backup`] | backups: one run (`BackupSupervisor`, the stages in `backup::stage`, the node actors in `backup::node`, one file per stage), properties, target and plan, resume, retention, purge, deleting backups on request (see its table) |
//! | [`coalesce`] | keeping only the latest progress update per row until the next batched write |
//! | [`config`] | the manager's YAML configuration and its validation |
//! | [`discovery`] | a cluster's nodes, DCs, racks and liveness, found through its agents |
//! | [`fleet`] | fan-out of a message to per-host actors under per-DC parallelism (`snapshot_parallel`, `upload_parallel`), supervised restarts |
//! | [`lease`] | the storage-level lease: one manager at a time writes or purges a cluster's backups in a location (taken, renewed, released, taken over when expired); this machine's hostname, naming the holder |
//! | [`location`] | where the manager reads backup locations: listings and manifests (through an agent or straight from the store for `--offline`), the `backup list` and `backup files` answers, whether a manifest's files are all there, whether the agents can use a task's locations |
//! | [`metrics`] | the manager's Prometheus metrics: per-table backup progress, snapshots, purges, scheduler runs |
//! | [`progress_actor`] | `ProgressActor`: coalesced, batched progress writes, one in flight, flushed on a timer and on demand; generic over a progress row (`ProgressRow`: key and batched write), backup's row implements it |
//! | [`rate_limit_actor`] | `RateLimitActor`: divides each DC's budget (`DcKey`: cluster and DC) among its uploading hosts and pushes rates to their agents, through the client each `StartUpload` brings |
//! | [`rate_share`] | dividing a DC's bandwidth budget among the hosts uploading now (max-min fair, under per-host caps) |
//! | [`run_actor`] | `RunActor`: the actor shell of a restore or validate run (start its flow, pass on a stop, report its end); each kind of run gives its flow (`RunFlow`) |
//! | [`run_record`] | the bookkeeping around a run of any kind: its task run row and its task's outcome at start and end, the run metrics, what the scheduler is told |
//! | [`runtime`] | `Runtime`: starts the progress, rate-limit and scheduler actors (with one runner per task type) and the servers in order, and stops them in reverse; used by `cairn manager` and the tests |
//! | [`schedule`] | when tasks run: cron lines, intervals, start dates, weekly windows, retry backoff |
//! | [`scheduler`] | `Scheduler`: when each task runs; starts and stops runs through one runner per task type (`scheduler::runner`: backup now), retries failed ones; what it finds at start-up (`scheduler::startup`); a cluster's suspension (`scheduler::suspension`) |
//! | [`store`] | the manager's state (clusters, tasks, runs, progress) behind a `Store` trait: SQLite by default, ScyllaDB optionally; `store/rows.rs` holds each table's column list and row mapping once for both |
//! | [`validate`] | validate (`validate_backup`): the per-node check shared by the online run (`ValidateSupervisor`, through the agents) and `--offline` (straight from the store): missing files, broken snapshots, sizes, SSTable content, orphans and their safe deletion (see its table) |

pub mod agent_client;
pub mod agent_jobs;
pub mod agent_trust;
pub mod api;
pub mod backup;
pub mod coalesce;
pub mod config;
pub mod discovery;
pub mod fleet;
pub mod lease;
pub mod location;
pub mod metrics;
pub mod progress_actor;
pub mod rate_limit_actor;
pub mod rate_share;
pub mod restore;
pub mod run_actor;
pub mod run_record;
pub mod runtime;
pub mod schedule;
pub mod scheduler;
pub mod store;
pub mod validate;
