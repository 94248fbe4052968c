//! The records the store keeps, one type per table: clusters, tasks, task runs, backup runs and
//! their per-table progress, with the keys that name them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::stored_text::text_enum;
use crate::format::filter::Unit;
use crate::format::location::Location;
use crate::format::tag::SnapshotTag;
use crate::manager::backup::stage::BackupStage;
use crate::manager::restore::stage::RestoreStage;

text_enum!(
    /// The kind of a scheduled task (`scheduler_task.type`).
    TaskType, "task type", {
        /// A backup task.
        Backup => "backup",
        /// A restore task.
        Restore => "restore",
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
    /// The run id, a time UUID (see [`time_uuid`](super::time_uuid)).
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
    /// The key of this run (and of its kind's run row and progress rows).
    pub fn run_key(&self) -> RunKey {
        RunKey {
            cluster_id: self.cluster_id,
            task_id: self.task_id,
            run_id: self.id,
        }
    }

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

/// What one restore run restores and how far it got (`restore_run`). Units and views are
/// inherited by a run that follows an unfinished one: the cluster has already lost the original
/// tombstone_gc modes and view definitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRun {
    /// The cluster restored into.
    pub cluster_id: Uuid,
    /// The restore task.
    pub task_id: Uuid,
    /// The run id, a time UUID shared with the [`TaskRun`].
    pub id: Uuid,
    /// The run this one continues or inherits from, if any.
    pub prev_id: Option<Uuid>,
    /// The snapshot tag restored.
    pub snapshot_tag: SnapshotTag,
    /// The stage reached.
    pub stage: RestoreStage,
    /// The post-restore repair's Scylla task id (vnode: the `repair_async` number as text;
    /// tablets: the task manager's UUID), kept so a resumed run waits for it instead of starting
    /// another.
    pub repair_task_id: Option<String>,
    /// The keyspaces and tables restored, with sizes and original tombstone_gc modes.
    pub units: Vec<RestoreUnit>,
    /// The views and secondary indexes dropped before DATA and recreated after.
    pub views: Vec<RestoreView>,
    /// When the run started.
    pub start_time: DateTime<Utc>,
}

impl RestoreRun {
    /// The key this run is stored under.
    pub fn key(&self) -> RunKey {
        RunKey {
            cluster_id: self.cluster_id,
            task_id: self.task_id,
            run_id: self.id,
        }
    }
}

/// One keyspace of a restore (`restore_run.units`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreUnit {
    /// The keyspace.
    pub keyspace_name: String,
    /// Bytes of the backup to restore into it.
    pub size: u64,
    /// Its restored tables.
    pub tables: Vec<RestoreTable>,
}

/// One table of a restore unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreTable {
    /// The table.
    pub table_name: String,
    /// Bytes of the backup to restore into it.
    pub size: u64,
    /// Its `tombstone_gc` mode before the restore (`timeout`, `repair`, `disabled`,
    /// `immediate`), put back at ENABLE_TGC.
    pub tombstone_gc: String,
}

/// A view or secondary index over a restored table (`restore_run.views`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreView {
    /// Its keyspace.
    pub keyspace_name: String,
    /// The view's name (an index's own name, not its `_index` table).
    pub view_name: String,
    /// The base table.
    pub base_table: String,
    /// `MaterializedView` or `SecondaryIndex`, as upstream stores it.
    pub view_type: String,
    /// Its `CREATE ... IF NOT EXISTS` statement.
    pub create_stmt: String,
    /// Its build state as last seen: empty before RECREATE_VIEWS, then Scylla's
    /// (`UNKNOWN`, `STARTED`, `SUCCESS`) for the least advanced node.
    pub build_status: String,
}

/// One batch of one remote SSTable directory on one host in a restore run
/// (`restore_run_progress`), keyed as upstream keys it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRunProgress {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The restore task.
    pub task_id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// The remote SSTable directory the batch comes from (relative to the location's root).
    pub remote_sstable_dir: String,
    /// The keyspace.
    pub keyspace_name: String,
    /// The table.
    pub table_name: String,
    /// The host (agent address) restoring it.
    pub host: String,
    /// The agent's download job.
    pub agent_job_id: String,
    /// Scylla's task for the load&stream, when Scylla gives one (empty otherwise).
    pub scylla_task_id: String,
    /// The SSTables of the batch (their generation ids).
    pub sstable_id: Vec<String>,
    /// When the download started.
    pub download_started_at: Option<DateTime<Utc>>,
    /// When the download completed.
    pub download_completed_at: Option<DateTime<Utc>>,
    /// When load&stream started.
    pub restore_started_at: Option<DateTime<Utc>>,
    /// When load&stream completed: the batch is restored.
    pub restore_completed_at: Option<DateTime<Utc>>,
    /// Bytes downloaded by the job.
    pub downloaded: u64,
    /// Bytes of versioned files downloaded one by one.
    pub versioned_downloaded: u64,
    /// Bytes found already in `upload/`, verified, and kept (a resumed batch).
    pub skipped: u64,
    /// Bytes restored (loaded and streamed).
    pub restored: u64,
    /// Bytes that failed.
    pub failed: u64,
    /// Why the batch failed, if it did.
    pub error: Option<String>,
    /// Shards of the host.
    pub shard_cnt: u64,
}

impl RestoreRunProgress {
    /// The run this row belongs to.
    pub fn run_key(&self) -> RunKey {
        RunKey {
            cluster_id: self.cluster_id,
            task_id: self.task_id,
            run_id: self.run_id,
        }
    }
}

/// What one host found in one location in a validate run (`validate_backup_run_progress`), keyed
/// as upstream keys it: run, DC, host, location. Upstream's counters, plus Cairn's content and
/// size counters and the report of each node directory the host checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidateRunProgress {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The validate task.
    pub task_id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// The host's DC.
    pub dc: String,
    /// The host (agent address) that checked.
    pub host: String,
    /// The location (`[dc:]provider:bucket`).
    pub location: String,
    /// Final manifests read.
    pub manifests: u64,
    /// Files listed.
    pub scanned_files: u64,
    /// Referenced files not listed.
    pub missing_files: u64,
    /// Listed files nothing references.
    pub orphaned_files: u64,
    /// Their bytes.
    pub orphaned_bytes: u64,
    /// Orphans deleted.
    pub deleted_files: u64,
    /// Snapshot tags referencing a missing, mis-sized or corrupt file.
    pub broken_snapshots: Vec<String>,
    /// When the host started on this location.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// SSTables whose content was checked (Cairn).
    pub sstables_checked: u64,
    /// Files whose content is wrong (Cairn).
    pub corrupt_files: u64,
    /// Table directories whose sizes do not add up (Cairn).
    pub size_mismatches: u64,
    /// The report of each node directory the host checked (Cairn; JSON text in the store).
    pub nodes: Vec<crate::manager::validate::report::NodeReport>,
}

impl ValidateRunProgress {
    /// The run this row belongs to.
    pub fn run_key(&self) -> RunKey {
        RunKey {
            cluster_id: self.cluster_id,
            task_id: self.task_id,
            run_id: self.run_id,
        }
    }
}

/// A suspended cluster (`scheduler_suspension`, upstream's `scheduler_suspended` drawer entry):
/// while it exists no task of the cluster starts, by its schedule or by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// The cluster.
    pub cluster_id: Uuid,
    /// When the cluster was suspended.
    pub started_at: DateTime<Utc>,
    /// When it resumes by itself (`--duration`); `None` until `cairn resume`.
    pub resume_at: Option<DateTime<Utc>>,
    /// Whether resuming by itself starts the tasks the suspension stopped
    /// (`--on-resume-start-tasks`).
    pub start_tasks: bool,
    /// The tasks that were running when the cluster was suspended, stopped by it.
    pub stopped_tasks: Vec<Uuid>,
}
