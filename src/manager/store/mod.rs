//! The manager's state store: clusters, tasks, task runs, backup runs and their per-table
//! progress, with ScyllaDB Manager's data model (spec section 3).
//!
//! The manager holds one `Arc<dyn Store>` made by [`open`] from a [`StoreConfig`]. Two
//! implementations exist: [`sqlite::SqliteStore`] (the embedded default, one file) and
//! [`scylla::ScyllaStore`] (tables in a ScyllaDB keyspace, as upstream keeps them). Both create or
//! migrate their schema when opened, and both behave the same, which `tests/store.rs` checks with
//! one behavioural suite.
//!
//! | module | what it owns |
//! | --- | --- |
//! | this one | the [`Store`] trait, the model types (one per table), [`StoreError`], [`StoreConfig`] and [`time_uuid`] |
//! | `rows` | each table's column list and its one row mapping (row → model, model → values), written against a backend-neutral value and row reader; a new table costs one mapping here |
//! | [`sqlite`] | the SQLite store: `schema` (migrations, opening the file), `row` (its encoding of the neutral values, its row reader, its statements) |
//! | [`scylla`] | the ScyllaDB store: `schema` (keyspace and migrations), `row` (its encoding of the neutral values and its row reader) |
//!
//! Conventions shared by both stores:
//! - times are kept to the millisecond (CQL `timestamp`): finer parts are dropped on write;
//! - run ids ([`TaskRun::id`], [`BackupRun::id`], [`BackupRun::prev_id`]) must be version-1 time
//!   UUIDs (CQL `timeuuid`), made with [`time_uuid`]; lists of runs are newest first by that time;
//! - unsigned counters must fit a signed 64-bit column, unit indexes a signed 32-bit one;
//! - no row expires: unlike upstream there is no 180-day TTL, retention is the manager's job.

mod rows;
pub mod scylla;
pub mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::manager::backup::stage::BackupStage;
use crate::spec::filter::Unit;
use crate::spec::location::{Location, serde_as_string};
use crate::spec::tag::SnapshotTag;

/// What went wrong in a store operation; each message names the operation or the value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite file could not be opened or created.
    #[error("cannot open the SQLite store at {path}: {source}")]
    OpenSqlite {
        /// The configured database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The SQLite file could not be created private, or made private (mode 0600).
    #[error(
        "cannot open the SQLite store at {path}: cannot make it readable by its owner only (mode 0600): {source}"
    )]
    PrivateSqlite {
        /// The configured database file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A SQLite statement failed.
    #[error("SQLite store: {op} failed: {source}")]
    Sqlite {
        /// The operation, e.g. `put task`.
        op: &'static str,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A ScyllaDB session could not be established.
    #[error("cannot connect the ScyllaDB store to {contact_points}: {message}")]
    ConnectScylla {
        /// The configured contact points, comma separated.
        contact_points: String,
        /// What the driver said.
        message: String,
    },
    /// A CQL statement failed.
    #[error("ScyllaDB store: {op} failed: {message}")]
    Scylla {
        /// The operation, e.g. `put task`.
        op: &'static str,
        /// What the driver said.
        message: String,
    },
    /// A schema migration failed.
    #[error("store schema migration {version} ({name}) failed: {message}")]
    Migration {
        /// The migration's version number.
        version: u32,
        /// The migration's name.
        name: &'static str,
        /// Why it failed.
        message: String,
    },
    /// The row an update needs does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// The kind of row, e.g. `backup run`.
        what: &'static str,
        /// Its key, printed.
        key: String,
    },
    /// A run id is not a version-1 time UUID.
    #[error("{field} {id} is not a time UUID (version 1)")]
    NotTimeUuid {
        /// The field, e.g. `backup run id`.
        field: &'static str,
        /// The offending id.
        id: Uuid,
    },
    /// A value does not fit its column.
    #[error("{field} = {value} does not fit the store's column")]
    OutOfRange {
        /// The field, e.g. `progress size`.
        field: &'static str,
        /// The offending value, printed.
        value: String,
    },
    /// A stored value cannot be read back as its model type.
    #[error("stored {field} {value:?} cannot be read: {reason}")]
    Corrupt {
        /// The column, e.g. `backup_run.stage`.
        field: &'static str,
        /// The stored value, printed.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The store's configuration is invalid.
    #[error("store configuration: {0}")]
    Config(String),
    /// The blocking worker running a SQLite call failed.
    #[error("SQLite store: {op}: worker thread failed: {message}")]
    Worker {
        /// The operation the worker was running.
        op: &'static str,
        /// Why it failed.
        message: String,
    },
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The text given by [`FromStr`] of the store's enums when a name is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    /// The enum, e.g. `run status`.
    pub kind: &'static str,
    /// The text that was refused.
    pub value: String,
}

/// Defines a fieldless enum stored as fixed text, with `ALL` (in declaration order), `as_str`,
/// `Display`, `FromStr` and serde through the text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName { kind: $kind, value: s.to_owned() })
            }
        }

        serde_as_string!($name, $kind);
    };
}

text_enum!(
    /// The kind of a scheduled task (`scheduler_task.type`).
    TaskType, "task type", {
        /// A backup task.
        Backup => "backup",
        /// A validate-backup task.
        ValidateBackup => "validate_backup",
    }
);

text_enum!(
    /// The state of a task run (`scheduler_task_run.status`, `scheduler_task.status`).
    RunStatus, "run status", {
        /// Created, not started.
        New => "NEW",
        /// Running.
        Running => "RUNNING",
        /// Asked to stop, still stopping.
        Stopping => "STOPPING",
        /// Stopped by a user.
        Stopped => "STOPPED",
        /// Waiting for its window or a retry.
        Waiting => "WAITING",
        /// Finished successfully.
        Done => "DONE",
        /// Finished with an error.
        Error => "ERROR",
        /// Abandoned (e.g. the manager restarted under it).
        Aborted => "ABORTED",
    }
);

/// A managed cluster (`cluster` table): how to reach its agents and its CQL credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// The cluster id.
    pub id: Uuid,
    /// The name users know it by.
    pub name: String,
    /// Agent addresses (host names or IPs) of its known nodes.
    pub hosts: Vec<String>,
    /// The agents' HTTPS port.
    pub agent_port: u16,
    /// The token the agents require.
    pub auth_token: String,
    /// CQL user name, when CQL needs authentication.
    pub cql_username: Option<String>,
    /// CQL password, when CQL needs authentication.
    pub cql_password: Option<String>,
    /// When the cluster was added.
    pub created_at: DateTime<Utc>,
    /// The SHA-256 fingerprint (hex) of each agent's certificate, by host, pinned when the host
    /// was first trusted; the token is sent only to an agent presenting its pinned certificate.
    #[serde(default)]
    pub agent_pins: BTreeMap<String, String>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The agents' token and the CQL password are secrets: never printed.
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("hosts", &self.hosts)
            .field("agent_port", &self.agent_port)
            .field("cql_username", &self.cql_username)
            .field("created_at", &self.created_at)
            .field("agent_pins", &self.agent_pins)
            .finish_non_exhaustive()
    }
}

/// When a task runs (`schedule` type of `scheduler_task.sched`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// First activation; none means now.
    pub start_date: Option<DateTime<Utc>>,
    /// Seconds between activations; 0 means once (unless `cron` is set).
    pub interval_seconds: u64,
    /// A cron expression, used instead of the interval when set.
    pub cron: Option<String>,
    /// Time windows (`weekday-hh:mm` pairs) in which the task may run; empty means always.
    pub window: Vec<String>,
    /// The time zone of `cron` and `window`; none means UTC.
    pub timezone: Option<String>,
    /// How many times a failed run is retried.
    pub num_retries: u32,
    /// The first wait before a retry, in seconds (doubled per retry).
    pub retry_wait_seconds: u64,
}

/// A scheduled task (`scheduler_task`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The cluster it belongs to.
    pub cluster_id: Uuid,
    /// What it does.
    pub task_type: TaskType,
    /// The task id.
    pub id: Uuid,
    /// Its name, unique per cluster and type.
    pub name: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Whether the scheduler runs it.
    pub enabled: bool,
    /// Whether it was deleted (kept for history, never run).
    pub deleted: bool,
    /// When it runs.
    pub schedule: Schedule,
    /// The task properties JSON (spec section 4.1).
    pub properties: serde_json::Value,
    /// The status of its latest run, if any.
    pub status: Option<RunStatus>,
    /// How many runs succeeded.
    pub success_count: u64,
    /// How many runs failed.
    pub error_count: u64,
    /// When a run last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// When a run last failed.
    pub last_error: Option<DateTime<Utc>>,
}

impl Task {
    /// The key this task is stored under.
    pub fn key(&self) -> TaskKey {
        TaskKey {
            cluster_id: self.cluster_id,
            task_type: self.task_type,
            task_id: self.id,
        }
    }
}

/// The key of a task: its cluster, type and id (`scheduler_task` primary key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskKey {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The task type.
    pub task_type: TaskType,
    /// The task id.
    pub task_id: Uuid,
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.cluster_id, self.task_type, self.task_id)
    }
}

/// One run of a task (`scheduler_task_run`); a backup run shares its id with its [`BackupRun`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The task's type.
    pub task_type: TaskType,
    /// The task.
    pub task_id: Uuid,
    /// The run id, a time UUID (see [`time_uuid`]).
    pub id: Uuid,
    /// Its state.
    pub status: RunStatus,
    /// Why it ended as it did (error text), empty if nothing to say.
    pub cause: String,
    /// Which manager instance runs it.
    pub owner: String,
    /// When it started.
    pub start_time: DateTime<Utc>,
    /// When it ended, if it did.
    pub end_time: Option<DateTime<Utc>>,
}

impl TaskRun {
    /// The key of the task this run belongs to.
    pub fn task_key(&self) -> TaskKey {
        TaskKey {
            cluster_id: self.cluster_id,
            task_type: self.task_type,
            task_id: self.task_id,
        }
    }
}

/// The key of a backup run: cluster, task and run id (`backup_run_progress` partition key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The backup task.
    pub task_id: Uuid,
    /// The run.
    pub run_id: Uuid,
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.cluster_id, self.task_id, self.run_id)
    }
}

/// What one backup run does and how far it got (`backup_run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRun {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The backup task.
    pub task_id: Uuid,
    /// The run id, a time UUID shared with the [`TaskRun`].
    pub id: Uuid,
    /// The run this one resumes, if any.
    pub prev_id: Option<Uuid>,
    /// The snapshot tag of the backup.
    pub snapshot_tag: SnapshotTag,
    /// The keyspaces and tables backed up; progress rows refer to them by index.
    pub units: Vec<Unit>,
    /// The data centres backed up.
    pub dc: Vec<String>,
    /// Where the backup goes.
    pub location: Vec<Location>,
    /// Host ids of the nodes taking part.
    pub nodes: Vec<String>,
    /// When the run started.
    pub start_time: DateTime<Utc>,
    /// The stage reached.
    pub stage: BackupStage,
    /// Nodes of the backed-up DCs the run leaves out (live nodes only are backed up), and why.
    pub skipped_hosts: Vec<SkippedHost>,
}

/// A node a backup run leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedHost {
    /// The node's address.
    pub host: String,
    /// Why it is not backed up (e.g. `down in gossip`).
    pub reason: String,
}

impl BackupRun {
    /// The key this run is stored under.
    pub fn key(&self) -> RunKey {
        RunKey {
            cluster_id: self.cluster_id,
            task_id: self.task_id,
            run_id: self.id,
        }
    }
}

/// Progress of one table of one host in a backup run (`backup_run_progress`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRunProgress {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The backup task.
    pub task_id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// The host (agent address) doing the work.
    pub host: String,
    /// Index of the unit in [`BackupRun::units`].
    pub unit: u32,
    /// The table.
    pub table_name: String,
    /// The agent's transfer job id, while one is running.
    pub agent_job_id: Option<String>,
    /// When work on the table started.
    pub started_at: Option<DateTime<Utc>>,
    /// When work on the table completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// The error that stopped it, if any.
    pub error: Option<String>,
    /// Bytes to back up.
    pub size: u64,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Bytes skipped because already in the location.
    pub skipped: u64,
    /// Bytes that failed to upload.
    pub failed: u64,
    /// Files to back up.
    pub files_count: u64,
    /// Files skipped because already in the location.
    pub files_skipped_count: u64,
}

impl BackupRunProgress {
    /// The run this row belongs to.
    pub fn run_key(&self) -> RunKey {
        RunKey {
            cluster_id: self.cluster_id,
            task_id: self.task_id,
            run_id: self.run_id,
        }
    }
}

/// The manager's state store. Every method is one operation on the store; writes are upserts
/// by primary key. Object safe: the manager holds an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Inserts or replaces a cluster.
    async fn put_cluster(&self, cluster: &Cluster) -> StoreResult<()>;
    /// The cluster with this id, if any.
    async fn get_cluster(&self, id: Uuid) -> StoreResult<Option<Cluster>>;
    /// Every cluster, by name then id.
    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>>;
    /// Removes a cluster with its tasks, task runs, backup runs and progress; a missing cluster
    /// is not an error.
    async fn delete_cluster(&self, id: Uuid) -> StoreResult<()>;

    /// Inserts or replaces a task.
    async fn put_task(&self, task: &Task) -> StoreResult<()>;
    /// The task with this key, if any (deleted ones included).
    async fn get_task(&self, key: TaskKey) -> StoreResult<Option<Task>>;
    /// The tasks of a cluster by type, name then id; deleted ones only when asked.
    async fn list_tasks(&self, cluster_id: Uuid, include_deleted: bool) -> StoreResult<Vec<Task>>;
    /// Marks a task deleted and disabled, as upstream does; its runs stay for history.
    async fn delete_task(&self, key: TaskKey) -> StoreResult<()> {
        let mut task = self
            .get_task(key)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "task",
                key: key.to_string(),
            })?;
        task.deleted = true;
        task.enabled = false;
        self.put_task(&task).await
    }

    /// Inserts or replaces a task run.
    async fn put_task_run(&self, run: &TaskRun) -> StoreResult<()>;
    /// The run `run_id` of a task, if any.
    async fn get_task_run(&self, task: TaskKey, run_id: Uuid) -> StoreResult<Option<TaskRun>>;
    /// The runs of a task, newest first, at most `limit`.
    async fn list_task_runs(&self, task: TaskKey, limit: usize) -> StoreResult<Vec<TaskRun>>;

    /// Inserts or replaces a backup run.
    async fn put_backup_run(&self, run: &BackupRun) -> StoreResult<()>;
    /// The backup run with this key, if any.
    async fn get_backup_run(&self, key: RunKey) -> StoreResult<Option<BackupRun>>;
    /// Records the stage a backup run reached; the run must exist.
    async fn update_backup_stage(&self, key: RunKey, stage: BackupStage) -> StoreResult<()>;
    /// The backup runs of a task, newest first, at most `limit`.
    async fn list_backup_runs(
        &self,
        cluster_id: Uuid,
        task_id: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<BackupRun>>;
    /// The newest backup run of a task, if any.
    async fn last_backup_run(
        &self,
        cluster_id: Uuid,
        task_id: Uuid,
    ) -> StoreResult<Option<BackupRun>> {
        Ok(self
            .list_backup_runs(cluster_id, task_id, 1)
            .await?
            .into_iter()
            .next())
    }

    /// Upserts a batch of progress rows, keyed by run, host, unit and table, in one transaction
    /// (SQLite) or in batches of at most [`PROGRESS_BATCH_ROWS`] rows (ScyllaDB).
    async fn put_progress(&self, rows: &[BackupRunProgress]) -> StoreResult<()>;
    /// The progress rows of a run, by host, unit then table.
    async fn list_progress(&self, run: RunKey) -> StoreResult<Vec<BackupRunProgress>>;
    /// Removes the progress rows of a run.
    async fn delete_progress(&self, run: RunKey) -> StoreResult<()>;
}

/// The most progress rows written in one CQL batch, under ScyllaDB's batch size limits.
pub const PROGRESS_BATCH_ROWS: usize = 100;

/// Which store the manager uses, from the manager's YAML (`store:` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoreConfig {
    /// An embedded SQLite file (the default).
    Sqlite {
        /// The database file; created if missing, its directory must exist.
        path: PathBuf,
    },
    /// Tables in a ScyllaDB keyspace.
    Scylla(ScyllaConfig),
}

/// Where and how to reach the ScyllaDB cluster that holds the manager's state.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ScyllaConfig {
    /// `host:port` of one or more nodes.
    pub contact_points: Vec<String>,
    /// CQL user name, when authentication is on.
    #[serde(default)]
    pub username: Option<String>,
    /// CQL password, when authentication is on.
    #[serde(default)]
    pub password: Option<String>,
    /// The keyspace, created if missing.
    #[serde(default = "default_keyspace")]
    pub keyspace: String,
    /// Replication factor of the keyspace when it is created (SimpleStrategy).
    #[serde(default = "default_replication_factor")]
    pub replication_factor: u32,
}

impl fmt::Debug for ScyllaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScyllaConfig")
            .field("contact_points", &self.contact_points)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("keyspace", &self.keyspace)
            .field("replication_factor", &self.replication_factor)
            .finish()
    }
}

impl ScyllaConfig {
    /// Checks what can be checked without connecting: contact points present, the keyspace a
    /// plain CQL identifier (it is spliced into statements), the replication factor at least 1.
    pub fn validate(&self) -> StoreResult<()> {
        if self.contact_points.is_empty() {
            return Err(StoreError::Config(
                "scylla store: contact_points is empty; give at least one host:port".to_owned(),
            ));
        }
        let ks = &self.keyspace;
        let plain = ks.len() <= 48
            && ks.starts_with(|c: char| c.is_ascii_alphabetic())
            && ks.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            return Err(StoreError::Config(format!(
                "scylla store: keyspace {ks:?} is not a plain CQL name \
                 (a letter, then letters, digits or _, at most 48)"
            )));
        }
        if self.replication_factor == 0 {
            return Err(StoreError::Config(
                "scylla store: replication_factor must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The keyspace used when none is configured; not upstream's, so both can share a cluster.
pub const DEFAULT_KEYSPACE: &str = "cairn_manager";

fn default_keyspace() -> String {
    DEFAULT_KEYSPACE.to_owned()
}

fn default_replication_factor() -> u32 {
    1
}

/// Opens the configured store, creating or migrating its schema.
pub async fn open(config: &StoreConfig) -> StoreResult<Arc<dyn Store>> {
    Ok(match config {
        StoreConfig::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path).await?),
        StoreConfig::Scylla(cfg) => Arc::new(scylla::ScyllaStore::open(cfg).await?),
    })
}

/// Gregorian ticks (100 ns) between 1582-10-15 and the Unix epoch.
const GREGORIAN_OFFSET_TICKS: i64 = 0x01B2_1DD2_1381_4000;

/// A new version-1 time UUID for time `at`, with random clock sequence and node, as used for run
/// ids. Times before 1582-10-15 are clamped to it.
pub fn time_uuid(at: DateTime<Utc>) -> Uuid {
    let ticks = at
        .timestamp()
        .saturating_mul(10_000_000)
        .saturating_add(i64::from(at.timestamp_subsec_nanos() / 100))
        .saturating_add(GREGORIAN_OFFSET_TICKS)
        .max(0);
    let random = Uuid::new_v4().into_bytes();
    let node = [
        random[0] | 0x01, // multicast bit: a random node id, not a MAC (RFC 4122 4.5)
        random[1],
        random[2],
        random[3],
        random[4],
        random[5],
    ];
    let counter = u16::from_be_bytes([random[6], random[7]]) & 0x3FFF;
    uuid::Builder::from_gregorian_timestamp(ticks.unsigned_abs(), counter, &node).into_uuid()
}

/// The time a version-1 UUID carries, in gregorian ticks; refuses other versions.
pub(crate) fn time_uuid_ticks(field: &'static str, id: Uuid) -> StoreResult<i64> {
    match (id.get_version(), id.get_timestamp()) {
        (Some(uuid::Version::Mac), Some(ts)) => {
            i64::try_from(ts.to_gregorian().0).map_err(|_| StoreError::NotTimeUuid { field, id })
        }
        _ => Err(StoreError::NotTimeUuid { field, id }),
    }
}

/// Sorts clusters as [`Store::list_clusters`] returns them.
pub(crate) fn sort_clusters(clusters: &mut [Cluster]) {
    clusters.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
}

/// The tasks that could be read; a stored row that cannot be (a hand edit, an older build) is
/// logged and left out, so that one bad row does not hide its cluster's other tasks.
pub(crate) fn readable_tasks(tasks: Vec<StoreResult<Task>>) -> Vec<Task> {
    tasks
        .into_iter()
        .filter_map(|t| {
            t.map_err(
                |e| tracing::error!(error = %e, "a stored task cannot be read; it is left out"),
            )
            .ok()
        })
        .collect()
}

/// Sorts and filters tasks as [`Store::list_tasks`] returns them.
pub(crate) fn finish_task_list(mut tasks: Vec<Task>, include_deleted: bool) -> Vec<Task> {
    tasks.retain(|t| include_deleted || !t.deleted);
    tasks.sort_by(|a, b| (a.task_type, &a.name, a.id).cmp(&(b.task_type, &b.name, b.id)));
    tasks
}

/// Sorts progress rows as [`Store::list_progress`] returns them.
pub(crate) fn sort_progress(rows: &mut [BackupRunProgress]) {
    rows.sort_by(|a, b| (&a.host, a.unit, &a.table_name).cmp(&(&b.host, b.unit, &b.table_name)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_stored_text() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
            assert_eq!(s.as_str(), s.as_str().to_uppercase());
        }
        for t in TaskType::ALL {
            assert_eq!(t.as_str().parse::<TaskType>(), Ok(*t));
        }
        for s in BackupStage::ALL {
            assert_eq!(s.as_str().parse::<BackupStage>(), Ok(*s));
        }
        assert_eq!(
            serde_json::to_string(&RunStatus::Running).ok().as_deref(),
            Some("\"RUNNING\"")
        );
        assert_eq!(
            serde_json::to_string(&TaskType::ValidateBackup)
                .ok()
                .as_deref(),
            Some("\"validate_backup\"")
        );
        let err = "running".parse::<RunStatus>().unwrap_err();
        assert_eq!(err.to_string(), "unknown run status \"running\"");
    }

    #[test]
    fn time_uuids_carry_their_time_and_order_by_it() {
        let t1 = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
        let t2 = t1 + chrono::Duration::milliseconds(1);
        let (a, b) = (time_uuid(t1), time_uuid(t2));
        assert_eq!(a.get_version(), Some(uuid::Version::Mac));
        let ta = time_uuid_ticks("a", a).ok();
        let tb = time_uuid_ticks("b", b).ok();
        assert!(ta < tb, "{ta:?} < {tb:?}");
        let (secs, nanos) = a.get_timestamp().map(|t| t.to_unix()).unwrap_or_default();
        assert_eq!((secs, nanos), (1_700_000_000, 123_000_000));
        assert_ne!(
            time_uuid(t1),
            time_uuid(t1),
            "random clock sequence and node"
        );
        let err = time_uuid_ticks("backup run id", Uuid::new_v4()).unwrap_err();
        assert!(err.to_string().contains("backup run id"), "{err}");
    }

    #[test]
    fn config_reads_both_store_kinds_from_yaml() {
        let sqlite: StoreConfig =
            serde_yaml_ng::from_str("type: sqlite\npath: /var/lib/cairn/manager.db\n")
                .expect("sqlite config parses");
        assert_eq!(
            sqlite,
            StoreConfig::Sqlite {
                path: "/var/lib/cairn/manager.db".into()
            }
        );
        let scylla: StoreConfig = serde_yaml_ng::from_str(
            "type: scylla\ncontact_points: [10.0.0.1:9042, 10.0.0.2:9042]\nusername: u\npassword: secret\n",
        )
        .expect("scylla config parses");
        let StoreConfig::Scylla(cfg) = scylla else {
            panic!("expected a scylla config, got {scylla:?}");
        };
        assert_eq!(cfg.contact_points, ["10.0.0.1:9042", "10.0.0.2:9042"]);
        assert_eq!(cfg.keyspace, DEFAULT_KEYSPACE);
        assert_eq!(cfg.replication_factor, 1);
        assert!(!format!("{cfg:?}").contains("secret"), "password redacted");
        let bad = serde_yaml_ng::from_str::<StoreConfig>("type: postgres\n").unwrap_err();
        assert!(bad.to_string().contains("postgres"), "{bad}");
    }
}
