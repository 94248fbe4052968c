//! The restore tables' rows: `restore_run` (one restore run, its units and views) and
//! `restore_run_progress` (one batch of one remote SSTable directory on one host), each with its
//! column list and its one mapping, in the neutral language of the parent module.
//!
//! Units and views are JSON text in both stores (upstream keeps them as lists of user-defined
//! types; here the serde model is the one schema, as for the backup units).

use super::{RowReader, Table, Value, opt, time_uuid_value, to_i64, to_json};
use crate::manager::restore::stage::RestoreStage;
use crate::manager::store::{RestoreRun, RestoreRunProgress, StoreResult};

/// The `restore_run` table.
pub(crate) const RESTORE_RUN: Table = Table {
    name: "restore_run",
    columns: &[
        "cluster_id",
        "task_id",
        "id",
        "prev_id",
        "snapshot_tag",
        "stage",
        "repair_task_id",
        "units",
        "views",
        "start_time",
    ],
};

/// A stored `restore_run` row as a [`RestoreRun`].
pub(crate) fn restore_run_from(r: &impl RowReader) -> StoreResult<RestoreRun> {
    Ok(RestoreRun {
        cluster_id: r.uuid("restore_run.cluster_id")?,
        task_id: r.uuid("restore_run.task_id")?,
        id: r.uuid("restore_run.id")?,
        prev_id: r.opt_uuid("restore_run.prev_id")?,
        snapshot_tag: r.parsed("restore_run.snapshot_tag")?,
        stage: r.parsed::<RestoreStage>("restore_run.stage")?,
        repair_task_id: r.opt_text("restore_run.repair_task_id")?,
        units: r.json("restore_run.units")?,
        views: r.json("restore_run.views")?,
        start_time: r.time("restore_run.start_time")?,
    })
}

/// The values of a [`RestoreRun`], in [`RESTORE_RUN`]'s column order; refuses run ids that are
/// not time UUIDs.
pub(crate) fn restore_run_values(r: &RestoreRun) -> StoreResult<Vec<Value>> {
    let prev_id = match r.prev_id {
        Some(p) => time_uuid_value("restore run prev_id", p)?,
        None => Value::Null,
    };
    Ok(vec![
        Value::Uuid(r.cluster_id),
        Value::Uuid(r.task_id),
        time_uuid_value("restore run id", r.id)?,
        prev_id,
        Value::Text(r.snapshot_tag.to_string()),
        Value::Text(r.stage.as_str().to_owned()),
        opt(r.repair_task_id.clone(), Value::Text),
        Value::Text(to_json("restore run units", &r.units)?),
        Value::Text(to_json("restore run views", &r.views)?),
        Value::Time(r.start_time),
    ])
}

/// The `restore_run_progress` table; its key is the run, then the first six columns after it
/// (upstream's clustering key).
pub(crate) const RESTORE_PROGRESS: Table = Table {
    name: "restore_run_progress",
    columns: &[
        "cluster_id",
        "task_id",
        "run_id",
        "remote_sstable_dir",
        "keyspace_name",
        "table_name",
        "host",
        "agent_job_id",
        "scylla_task_id",
        "sstable_id",
        "download_started_at",
        "download_completed_at",
        "restore_started_at",
        "restore_completed_at",
        "downloaded",
        "versioned_downloaded",
        "skipped",
        "restored",
        "failed",
        "error",
        "shard_cnt",
    ],
};

/// A stored `restore_run_progress` row as a [`RestoreRunProgress`].
pub(crate) fn restore_progress_from(r: &impl RowReader) -> StoreResult<RestoreRunProgress> {
    Ok(RestoreRunProgress {
        cluster_id: r.uuid("restore_run_progress.cluster_id")?,
        task_id: r.uuid("restore_run_progress.task_id")?,
        run_id: r.uuid("restore_run_progress.run_id")?,
        remote_sstable_dir: r.text("restore_run_progress.remote_sstable_dir")?,
        keyspace_name: r.text("restore_run_progress.keyspace_name")?,
        table_name: r.text("restore_run_progress.table_name")?,
        host: r.text("restore_run_progress.host")?,
        agent_job_id: r.text("restore_run_progress.agent_job_id")?,
        scylla_task_id: r.text("restore_run_progress.scylla_task_id")?,
        sstable_id: r.text_list("restore_run_progress.sstable_id")?,
        download_started_at: r.opt_time("restore_run_progress.download_started_at")?,
        download_completed_at: r.opt_time("restore_run_progress.download_completed_at")?,
        restore_started_at: r.opt_time("restore_run_progress.restore_started_at")?,
        restore_completed_at: r.opt_time("restore_run_progress.restore_completed_at")?,
        downloaded: r.unsigned("restore_run_progress.downloaded")?,
        versioned_downloaded: r.unsigned("restore_run_progress.versioned_downloaded")?,
        skipped: r.unsigned("restore_run_progress.skipped")?,
        restored: r.unsigned("restore_run_progress.restored")?,
        failed: r.unsigned("restore_run_progress.failed")?,
        error: r.opt_text("restore_run_progress.error")?,
        shard_cnt: r.unsigned("restore_run_progress.shard_cnt")?,
    })
}

/// The values of a [`RestoreRunProgress`], in [`RESTORE_PROGRESS`]'s column order.
pub(crate) fn restore_progress_values(p: &RestoreRunProgress) -> StoreResult<Vec<Value>> {
    let count = |field, v| to_i64(field, v).map(Value::BigInt);
    Ok(vec![
        Value::Uuid(p.cluster_id),
        Value::Uuid(p.task_id),
        Value::Uuid(p.run_id),
        Value::Text(p.remote_sstable_dir.clone()),
        Value::Text(p.keyspace_name.clone()),
        Value::Text(p.table_name.clone()),
        Value::Text(p.host.clone()),
        Value::Text(p.agent_job_id.clone()),
        Value::Text(p.scylla_task_id.clone()),
        Value::TextList(p.sstable_id.clone()),
        opt(p.download_started_at, Value::Time),
        opt(p.download_completed_at, Value::Time),
        opt(p.restore_started_at, Value::Time),
        opt(p.restore_completed_at, Value::Time),
        count("restore progress downloaded", p.downloaded)?,
        count(
            "restore progress versioned_downloaded",
            p.versioned_downloaded,
        )?,
        count("restore progress skipped", p.skipped)?,
        count("restore progress restored", p.restored)?,
        count("restore progress failed", p.failed)?,
        opt(p.error.clone(), Value::Text),
        count("restore progress shard_cnt", p.shard_cnt)?,
    ])
}

/// The key columns of a `restore_run_progress` row after its run, in [`RESTORE_PROGRESS`]'s
/// order, with their values: what deleting one row matches.
pub(crate) fn restore_progress_row_key(p: &RestoreRunProgress) -> [(&'static str, &str); 6] {
    [
        ("remote_sstable_dir", p.remote_sstable_dir.as_str()),
        ("keyspace_name", p.keyspace_name.as_str()),
        ("table_name", p.table_name.as_str()),
        ("host", p.host.as_str()),
        ("agent_job_id", p.agent_job_id.as_str()),
        ("scylla_task_id", p.scylla_task_id.as_str()),
    ]
}
