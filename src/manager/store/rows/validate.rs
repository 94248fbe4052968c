//! The validate table's row: `validate_backup_run_progress` (what one host found in one location
//! in a validate run), with its column list and its one mapping, in the neutral language of the
//! parent module.
//!
//! Upstream's counters and broken snapshot tags are kept as upstream keeps them (the tags a list
//! of texts); Cairn's node reports are JSON text in both stores, as the restore units are.

use super::{RowReader, Table, Value, opt, to_i64, to_json};
use crate::manager::store::{StoreResult, ValidateRunProgress};

/// The `validate_backup_run_progress` table; its key is the run, then `dc`, `host` and
/// `location` (upstream's clustering key).
pub(crate) const VALIDATE_PROGRESS: Table = Table {
    name: "validate_backup_run_progress",
    columns: &[
        "cluster_id",
        "task_id",
        "run_id",
        "dc",
        "host",
        "location",
        "manifests",
        "scanned_files",
        "missing_files",
        "orphaned_files",
        "orphaned_bytes",
        "deleted_files",
        "broken_snapshots",
        "started_at",
        "completed_at",
        "sstables_checked",
        "corrupt_files",
        "size_mismatches",
        "nodes",
    ],
};

/// A stored `validate_backup_run_progress` row as a [`ValidateRunProgress`].
pub(crate) fn validate_progress_from(r: &impl RowReader) -> StoreResult<ValidateRunProgress> {
    Ok(ValidateRunProgress {
        cluster_id: r.uuid("validate_backup_run_progress.cluster_id")?,
        task_id: r.uuid("validate_backup_run_progress.task_id")?,
        run_id: r.uuid("validate_backup_run_progress.run_id")?,
        dc: r.text("validate_backup_run_progress.dc")?,
        host: r.text("validate_backup_run_progress.host")?,
        location: r.text("validate_backup_run_progress.location")?,
        manifests: r.unsigned("validate_backup_run_progress.manifests")?,
        scanned_files: r.unsigned("validate_backup_run_progress.scanned_files")?,
        missing_files: r.unsigned("validate_backup_run_progress.missing_files")?,
        orphaned_files: r.unsigned("validate_backup_run_progress.orphaned_files")?,
        orphaned_bytes: r.unsigned("validate_backup_run_progress.orphaned_bytes")?,
        deleted_files: r.unsigned("validate_backup_run_progress.deleted_files")?,
        broken_snapshots: r.text_list("validate_backup_run_progress.broken_snapshots")?,
        started_at: r.opt_time("validate_backup_run_progress.started_at")?,
        completed_at: r.opt_time("validate_backup_run_progress.completed_at")?,
        sstables_checked: r.unsigned("validate_backup_run_progress.sstables_checked")?,
        corrupt_files: r.unsigned("validate_backup_run_progress.corrupt_files")?,
        size_mismatches: r.unsigned("validate_backup_run_progress.size_mismatches")?,
        nodes: r.json("validate_backup_run_progress.nodes")?,
    })
}

/// The values of a [`ValidateRunProgress`], in [`VALIDATE_PROGRESS`]'s column order.
pub(crate) fn validate_progress_values(p: &ValidateRunProgress) -> StoreResult<Vec<Value>> {
    let count = |field, v| to_i64(field, v).map(Value::BigInt);
    Ok(vec![
        Value::Uuid(p.cluster_id),
        Value::Uuid(p.task_id),
        Value::Uuid(p.run_id),
        Value::Text(p.dc.clone()),
        Value::Text(p.host.clone()),
        Value::Text(p.location.clone()),
        count("validate progress manifests", p.manifests)?,
        count("validate progress scanned_files", p.scanned_files)?,
        count("validate progress missing_files", p.missing_files)?,
        count("validate progress orphaned_files", p.orphaned_files)?,
        count("validate progress orphaned_bytes", p.orphaned_bytes)?,
        count("validate progress deleted_files", p.deleted_files)?,
        Value::TextList(p.broken_snapshots.clone()),
        opt(p.started_at, Value::Time),
        opt(p.completed_at, Value::Time),
        count("validate progress sstables_checked", p.sstables_checked)?,
        count("validate progress corrupt_files", p.corrupt_files)?,
        count("validate progress size_mismatches", p.size_mismatches)?,
        Value::Text(to_json("validate progress nodes", &p.nodes)?),
    ])
}
