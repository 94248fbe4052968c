//! The manager's state store: clusters, tasks, task runs, backup and restore runs and their
//! progress, validate progress, suspended clusters, with ScyllaDB Manager's data model (spec
//! section 3).
//!
//! The manager holds one `Arc<dyn Store>` made by [`open`] from a [`StoreConfig`]. Two
//! implementations exist: [`sqlite::SqliteStore`] (the embedded default, one file) and
//! [`scylla::ScyllaStore`] (tables in a ScyllaDB keyspace, as upstream keeps them). Both create or
//! migrate their schema when opened, and both behave the same, which `tests/store.rs` checks with
//! one behavioural suite.
//!
//! | module | what it owns |
//! | --- | --- |
//! | this one | the [`Store`] trait, [`StoreError`], [`open`] and [`time_uuid`] |
//! | `config` | [`StoreConfig`] and [`ScyllaConfig`]: which store, and how to reach it (the manager's `store:` section) |
//! | `model` | the records, one type per table ([`Cluster`], [`Task`], [`TaskRun`], [`BackupRun`], [`BackupRunProgress`], [`RestoreRun`], [`RestoreRunProgress`], [`ValidateRunProgress`], [`Suspension`]) and their keys |
//! | `stored_text` | `text_enum!`: enums kept as fixed text ([`TaskType`], [`RunStatus`], `BackupStage`, `RestoreStage`), and [`UnknownName`] |
//! | `rows` | each table's column list and its one row mapping (row → model, model → values), written against a backend-neutral value and row reader; a new table costs one mapping here (`rows::restore`: the restore tables; `rows::validate`: validate progress) |
//! | [`sqlite`] | the SQLite store: `schema` (migrations, opening the file), `row` (its encoding of the neutral values, its row reader, its statements) |
//! | [`scylla`] | the ScyllaDB store: `schema` (keyspace and migrations), `row` (its encoding of the neutral values and its row reader) |
//!
//! Conventions shared by both stores:
//! - times are kept to the millisecond (CQL `timestamp`): finer parts are dropped on write;
//! - run ids ([`TaskRun::id`], [`BackupRun::id`], [`BackupRun::prev_id`], [`RestoreRun::id`],
//!   [`RestoreRun::prev_id`]) must be version-1 time UUIDs (CQL `timeuuid`), made with
//!   [`time_uuid`]; lists of runs are newest first by that time;
//! - unsigned counters must fit a signed 64-bit column, unit indexes a signed 32-bit one;
//! - no row expires: unlike upstream there is no 180-day TTL, retention is the manager's job.

mod config;
mod model;
mod rows;
pub mod scylla;
pub mod sqlite;
mod stored_text;

pub use config::{DEFAULT_KEYSPACE, ScyllaConfig, StoreConfig};
pub use model::{
    BackupRun, BackupRunProgress, Cluster, RestoreRun, RestoreRunProgress, RestoreTable,
    RestoreUnit, RestoreView, RunKey, RunStatus, Schedule, SkippedHost, Suspension, Task, TaskKey,
    TaskRun, TaskType, ValidateRunProgress,
};
pub use stored_text::UnknownName;
pub(crate) use stored_text::text_enum;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::manager::backup::stage::BackupStage;

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
    /// Removes a cluster with its tasks, task runs, backup and restore runs and their progress,
    /// its validate progress and its suspension; a missing cluster is not an error.
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

    /// Records a run's outcome on its task (status, success or error count and time), for every
    /// task type; nothing when the task row is gone.
    async fn record_task_outcome(&self, key: TaskKey, status: RunStatus) -> StoreResult<()> {
        let Some(mut task) = self.get_task(key).await? else {
            return Ok(());
        };
        task.status = Some(status);
        let now = Utc::now();
        match status {
            RunStatus::Done => {
                task.success_count += 1;
                task.last_success = Some(now);
            }
            RunStatus::Error => {
                task.error_count += 1;
                task.last_error = Some(now);
            }
            _ => {}
        }
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

    /// Inserts or replaces a restore run.
    async fn put_restore_run(&self, run: &RestoreRun) -> StoreResult<()>;
    /// The restore run with this key, if any.
    async fn get_restore_run(&self, key: RunKey) -> StoreResult<Option<RestoreRun>>;
    /// The restore runs of a task, newest first, at most `limit`.
    async fn list_restore_runs(
        &self,
        cluster_id: Uuid,
        task_id: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<RestoreRun>>;
    /// Upserts a batch of restore progress rows (keyed as [`RestoreRunProgress`] says), in one
    /// transaction (SQLite) or in batches of at most [`PROGRESS_BATCH_ROWS`] rows (ScyllaDB).
    async fn put_restore_progress(&self, rows: &[RestoreRunProgress]) -> StoreResult<()>;
    /// The restore progress rows of a run, by host, keyspace, table, remote directory, job.
    async fn list_restore_progress(&self, run: RunKey) -> StoreResult<Vec<RestoreRunProgress>>;
    /// Removes one restore progress row (by its key); a missing row is not an error.
    async fn delete_restore_progress_row(&self, row: &RestoreRunProgress) -> StoreResult<()>;
    /// Removes the restore progress rows of a run.
    async fn delete_restore_progress(&self, run: RunKey) -> StoreResult<()>;

    /// Upserts a batch of validate progress rows (keyed by run, DC, host and location), in one
    /// transaction (SQLite) or in batches of at most [`PROGRESS_BATCH_ROWS`] rows (ScyllaDB).
    async fn put_validate_progress(&self, rows: &[ValidateRunProgress]) -> StoreResult<()>;
    /// The validate progress rows of a run, by DC, host and location.
    async fn list_validate_progress(&self, run: RunKey) -> StoreResult<Vec<ValidateRunProgress>>;
    /// Removes the validate progress rows of a run.
    async fn delete_validate_progress(&self, run: RunKey) -> StoreResult<()>;

    /// Inserts or replaces a cluster's suspension.
    async fn put_suspension(&self, suspension: &Suspension) -> StoreResult<()>;
    /// The suspension of a cluster, if it is suspended.
    async fn get_suspension(&self, cluster_id: Uuid) -> StoreResult<Option<Suspension>>;
    /// Removes a cluster's suspension (it is resumed); none is not an error.
    async fn delete_suspension(&self, cluster_id: Uuid) -> StoreResult<()>;
}

/// The most progress rows written in one CQL batch, under ScyllaDB's batch size limits.
pub const PROGRESS_BATCH_ROWS: usize = 100;

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

/// Sorts restore progress rows as [`Store::list_restore_progress`] returns them.
pub(crate) fn sort_restore_progress(rows: &mut [RestoreRunProgress]) {
    let order = |p: &RestoreRunProgress| {
        (
            p.host.clone(),
            p.keyspace_name.clone(),
            p.table_name.clone(),
            p.remote_sstable_dir.clone(),
            p.agent_job_id.clone(),
            p.scylla_task_id.clone(),
        )
    };
    rows.sort_by_cached_key(order);
}

/// Sorts validate progress rows as [`Store::list_validate_progress`] returns them.
pub(crate) fn sort_validate_progress(rows: &mut [ValidateRunProgress]) {
    rows.sort_by(|a, b| (&a.dc, &a.host, &a.location).cmp(&(&b.dc, &b.host, &b.location)));
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
