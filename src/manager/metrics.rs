//! The manager's Prometheus metrics (served on the `prometheus` address by `cairn manager`; the
//! recorder is the same one the agent installs, see [`crate::agent::metrics::install`]).
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `cairn_manager_backup_files_size_bytes` | cluster, host, keyspace, table | bytes of the table's snapshot |
//! | `cairn_manager_backup_files_uploaded_bytes` | same | bytes uploaded by the current run |
//! | `cairn_manager_backup_files_skipped_bytes` | same | bytes already in the location (deduplicated or uploaded earlier) |
//! | `cairn_manager_backup_files_failed_bytes` | same | bytes that failed to upload |
//! | `cairn_manager_backup_files_count` | same | files of the table's snapshot |
//! | `cairn_manager_backup_files_skipped_count` | same | files skipped |
//! | `cairn_manager_backup_snapshot` | cluster, host, keyspace | 0 while the keyspace is being snapshotted, 1 once taken |
//! | `cairn_manager_backup_nodes_skipped` | cluster, task | nodes of the backed-up DCs the task's latest run leaves out (down when it started) |
//! | `cairn_manager_backup_purge_files` | cluster, host | files the last purge set out to delete |
//! | `cairn_manager_backup_purge_deleted_files` | cluster, host | files the last purge deleted |
//! | `cairn_manager_restore_batch_size` | cluster, host | bytes of the batch the host took last |
//! | `cairn_manager_restore_remaining_bytes` | cluster, keyspace, table | bytes of the table not restored yet |
//! | `cairn_manager_restore_state` | cluster, host | 0 idle, 1 downloading, 2 loading, 3 downloading and loading, 4 done |
//! | `cairn_manager_restore_restored_bytes` | cluster, host, keyspace, table | bytes restored (counter) |
//! | `cairn_manager_restore_restore_duration` | same | seconds from a batch's download start to its load's end (counter) |
//! | `cairn_manager_restore_downloaded_bytes` | same | bytes downloaded into `upload/` (counter) |
//! | `cairn_manager_restore_download_duration` | same | seconds spent downloading (counter) |
//! | `cairn_manager_restore_streamed_bytes` | same | bytes loaded with load&stream (counter) |
//! | `cairn_manager_restore_stream_duration` | same | seconds spent in load&stream (counter) |
//! | `cairn_manager_restore_progress` | cluster | percent of the run's bytes restored |
//! | `cairn_manager_restore_view_build_status` | cluster, keyspace, view | 0 unknown, 1 started, 2 success |
//! | `cairn_manager_validate_backup_missing_files` | cluster, task | referenced files the task's last validate run did not find |
//! | `cairn_manager_validate_backup_broken_snapshots` | cluster, task | snapshots (per node) referencing a missing, mis-sized or corrupt file |
//! | `cairn_manager_validate_backup_size_mismatches` | cluster, task | table directories whose files do not add up to the manifest's size |
//! | `cairn_manager_validate_backup_corrupt_files` | cluster, task | files whose content check failed |
//! | `cairn_manager_validate_backup_orphaned_files` | cluster, task | files no manifest references |
//! | `cairn_manager_validate_backup_orphaned_bytes` | cluster, task | their bytes |
//! | `cairn_manager_validate_backup_deleted_files` | cluster, task | orphans the run deleted |
//! | `cairn_manager_validate_backup_sstables_checked` | cluster, task | SSTables whose content the run checked |
//! | `cairn_manager_validate_backup_last_success` | cluster, task | 1 when the last run found nothing wrong, else 0 |
//! | `cairn_manager_validate_backup_last_run_timestamp_seconds` | cluster, task | Unix time the last run ended |
//! | `cairn_manager_progress_writes_total` | | batched progress writes to the store |
//! | `cairn_manager_progress_rows_written_total` | | progress rows those writes stored |
//! | `cairn_manager_scheduler_run_total` | cluster, type, task, status | runs that ended, by status |
//! | `cairn_manager_scheduler_run_indicator` | cluster, type, task | 1 while the task runs |
//! | `cairn_manager_scheduler_last_success` | cluster, type, task | Unix time of the last successful run |
//! | `cairn_manager_scheduler_suspended` | cluster | 1 while the cluster is suspended (`cairn suspend`), else 0 |

use metrics::gauge;

use super::store::{BackupRunProgress, RestoreRunProgress};
use super::validate::report::Totals;

/// Publishes a table's progress row.
pub fn table_progress(cluster: &str, keyspace: &str, row: &BackupRunProgress) {
    let labels = [
        ("cluster", cluster.to_string()),
        ("host", row.host.clone()),
        ("keyspace", keyspace.to_string()),
        ("table", row.table_name.clone()),
    ];
    let set = |name: &'static str, v: u64| gauge!(name, &labels).set(v as f64);
    set("cairn_manager_backup_files_size_bytes", row.size);
    set("cairn_manager_backup_files_uploaded_bytes", row.uploaded);
    set("cairn_manager_backup_files_skipped_bytes", row.skipped);
    set("cairn_manager_backup_files_failed_bytes", row.failed);
    set("cairn_manager_backup_files_count", row.files_count);
    set(
        "cairn_manager_backup_files_skipped_count",
        row.files_skipped_count,
    );
}

/// Publishes whether a keyspace's snapshot is taken on a host.
pub fn snapshot_state(cluster: &str, host: &str, keyspace: &str, taken: bool) {
    gauge!("cairn_manager_backup_snapshot", "cluster" => cluster.to_string(), "host" => host.to_string(), "keyspace" => keyspace.to_string())
        .set(if taken { 1.0 } else { 0.0 });
}

/// Publishes a purge's file counts for a host.
pub fn purge(cluster: &str, host: &str, to_delete: u64, deleted: u64) {
    let labels = [("cluster", cluster.to_string()), ("host", host.to_string())];
    gauge!("cairn_manager_backup_purge_files", &labels).set(to_delete as f64);
    gauge!("cairn_manager_backup_purge_deleted_files", &labels).set(deleted as f64);
}

/// Publishes how many nodes a backup task's latest run leaves out.
pub fn nodes_skipped(cluster: &str, task: &str, count: usize) {
    let labels = [("cluster", cluster.to_string()), ("task", task.to_string())];
    gauge!("cairn_manager_backup_nodes_skipped", &labels).set(count as f64);
}

/// Publishes that a task's run started (`running`) or ended with `status`.
pub fn task_run(cluster: &str, task_type: &str, task: &str, running: bool, status: Option<&str>) {
    let labels = [
        ("cluster", cluster.to_string()),
        ("type", task_type.to_string()),
        ("task", task.to_string()),
    ];
    gauge!("cairn_manager_scheduler_run_indicator", &labels).set(if running { 1.0 } else { 0.0 });
    if let Some(status) = status {
        let mut with_status = labels.to_vec();
        with_status.push(("status", status.to_string()));
        metrics::counter!("cairn_manager_scheduler_run_total", &with_status).increment(1);
        if status == "DONE" {
            gauge!("cairn_manager_scheduler_last_success", &labels)
                .set(chrono::Utc::now().timestamp() as f64);
        }
    }
}

/// Publishes whether a cluster is suspended.
pub fn scheduler_suspended(cluster: &str, suspended: bool) {
    gauge!("cairn_manager_scheduler_suspended", "cluster" => cluster.to_string())
        .set(if suspended { 1.0 } else { 0.0 });
}

/// What a host does in a restore's DATA stage (`cairn_manager_restore_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreHostState {
    /// Waiting for work.
    Idle = 0,
    /// Downloading a batch.
    Downloading = 1,
    /// Loading a batch with load&stream.
    Loading = 2,
    /// Loading one batch while downloading the next.
    DownloadingAndLoading = 3,
    /// Finished.
    Done = 4,
}

/// Publishes what a restoring host does.
pub fn restore_state(cluster: &str, host: &str, state: RestoreHostState) {
    let labels = [("cluster", cluster.to_string()), ("host", host.to_string())];
    gauge!("cairn_manager_restore_state", &labels).set(state as u8 as f64);
}

/// Publishes the size of the batch a host took.
pub fn restore_batch_size(cluster: &str, host: &str, bytes: u64) {
    let labels = [("cluster", cluster.to_string()), ("host", host.to_string())];
    gauge!("cairn_manager_restore_batch_size", &labels).set(bytes as f64);
}

/// Publishes the bytes of a table not restored yet.
pub fn restore_remaining(cluster: &str, keyspace: &str, table: &str, bytes: u64) {
    let labels = [
        ("cluster", cluster.to_string()),
        ("keyspace", keyspace.to_string()),
        ("table", table.to_string()),
    ];
    gauge!("cairn_manager_restore_remaining_bytes", &labels).set(bytes as f64);
}

/// Publishes the percentage of a run's bytes restored.
pub fn restore_progress(cluster: &str, percent: f64) {
    gauge!("cairn_manager_restore_progress", "cluster" => cluster.to_string()).set(percent);
}

/// Counts a restored batch: its bytes and durations.
pub fn restore_batch_done(cluster: &str, row: &RestoreRunProgress) {
    let labels = [
        ("cluster", cluster.to_string()),
        ("host", row.host.clone()),
        ("keyspace", row.keyspace_name.clone()),
        ("table", row.table_name.clone()),
    ];
    let secs = |from: Option<chrono::DateTime<chrono::Utc>>,
                to: Option<chrono::DateTime<chrono::Utc>>| match (from, to) {
        (Some(f), Some(t)) if t > f => (t - f).num_milliseconds().max(0) as u64 / 1000,
        _ => 0,
    };
    let add = |name: &'static str, v: u64| metrics::counter!(name, &labels).increment(v);
    add("cairn_manager_restore_restored_bytes", row.restored);
    add(
        "cairn_manager_restore_downloaded_bytes",
        row.downloaded + row.versioned_downloaded,
    );
    add("cairn_manager_restore_streamed_bytes", row.restored);
    add(
        "cairn_manager_restore_download_duration",
        secs(row.download_started_at, row.download_completed_at),
    );
    add(
        "cairn_manager_restore_stream_duration",
        secs(row.restore_started_at, row.restore_completed_at),
    );
    add(
        "cairn_manager_restore_restore_duration",
        secs(row.download_started_at, row.restore_completed_at),
    );
}

/// Publishes a recreated view's build status (`UNKNOWN`, `STARTED`, `SUCCESS`).
pub fn restore_view_build_status(cluster: &str, keyspace: &str, view: &str, status: &str) {
    let value = match status {
        "SUCCESS" => 2.0,
        "STARTED" => 1.0,
        _ => 0.0,
    };
    let labels = [
        ("cluster", cluster.to_string()),
        ("keyspace", keyspace.to_string()),
        ("view", view.to_string()),
    ];
    gauge!("cairn_manager_restore_view_build_status", &labels).set(value);
}

/// Publishes what a validate task's last run found (`healthy`: nothing wrong).
pub fn validate_run(cluster: &str, task: &str, totals: &Totals, healthy: bool) {
    let labels = [("cluster", cluster.to_string()), ("task", task.to_string())];
    let set = |name: &'static str, v: u64| gauge!(name, &labels).set(v as f64);
    set(
        "cairn_manager_validate_backup_missing_files",
        totals.missing_files,
    );
    set(
        "cairn_manager_validate_backup_broken_snapshots",
        totals.broken_snapshots,
    );
    set(
        "cairn_manager_validate_backup_size_mismatches",
        totals.size_mismatches,
    );
    set(
        "cairn_manager_validate_backup_corrupt_files",
        totals.corrupt_files,
    );
    set(
        "cairn_manager_validate_backup_orphaned_files",
        totals.orphaned_files,
    );
    set(
        "cairn_manager_validate_backup_orphaned_bytes",
        totals.orphaned_bytes,
    );
    set(
        "cairn_manager_validate_backup_deleted_files",
        totals.deleted_files,
    );
    set(
        "cairn_manager_validate_backup_sstables_checked",
        totals.sstables_checked,
    );
    set(
        "cairn_manager_validate_backup_last_success",
        u64::from(healthy),
    );
    gauge!(
        "cairn_manager_validate_backup_last_run_timestamp_seconds",
        &labels
    )
    .set(chrono::Utc::now().timestamp() as f64);
}
