//! The ScyllaDB store's restore tables: `restore_run` (runs newest first by their `timeuuid`
//! clustering key) and `restore_run_progress` (one partition per run).

use uuid::Uuid;

use super::row::cql_values;
use super::{ScyllaStore, cql_limit, timeuuid};
use crate::manager::store::rows::{
    RESTORE_PROGRESS, RESTORE_RUN, Value, restore_progress_from, restore_progress_row_key,
    restore_progress_values, restore_run_from, restore_run_values,
};
use crate::manager::store::{
    RestoreRun, RestoreRunProgress, RunKey, StoreResult, sort_restore_progress,
};

/// The condition selecting one run's progress rows.
const RUN_ROWS: &str = "WHERE cluster_id = ? AND task_id = ? AND run_id = ?";

impl ScyllaStore {
    /// Inserts or replaces a restore run.
    pub(super) async fn write_restore_run(&self, r: &RestoreRun) -> StoreResult<()> {
        self.exec(
            "put restore run",
            &self.insert_all(&RESTORE_RUN),
            cql_values(restore_run_values(r)?),
        )
        .await
    }

    /// The restore run with this key, if any (none for an id that is not a time UUID).
    pub(super) async fn read_restore_run(&self, key: RunKey) -> StoreResult<Option<RestoreRun>> {
        let Ok(run_id) = timeuuid("restore run id", key.run_id) else {
            return Ok(None);
        };
        let mut found = self
            .fetch(
                "get restore run",
                &RESTORE_RUN,
                "WHERE cluster_id = ? AND task_id = ? AND id = ?",
                (key.cluster_id, key.task_id, run_id),
                restore_run_from,
            )
            .await?;
        Ok(found.pop())
    }

    /// The restore runs of a task, newest first (the clustering order), at most `limit`.
    pub(super) async fn read_restore_runs(
        &self,
        cluster_id: Uuid,
        task_id: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<RestoreRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.fetch(
            "list restore runs",
            &RESTORE_RUN,
            "WHERE cluster_id = ? AND task_id = ? LIMIT ?",
            (cluster_id, task_id, cql_limit(limit)),
            restore_run_from,
        )
        .await
    }

    /// Upserts restore progress rows in CQL batches.
    pub(super) async fn write_restore_progress(
        &self,
        rows: &[RestoreRunProgress],
    ) -> StoreResult<()> {
        let rows = rows
            .iter()
            .map(|p| Ok((p.run_key(), cql_values(restore_progress_values(p)?))))
            .collect::<StoreResult<Vec<_>>>()?;
        self.put_run_rows("put restore progress", &RESTORE_PROGRESS, &rows)
            .await
    }

    /// The restore progress rows of a run, in the store's list order.
    pub(super) async fn read_restore_progress(
        &self,
        run: RunKey,
    ) -> StoreResult<Vec<RestoreRunProgress>> {
        let mut rows = self
            .fetch(
                "list restore progress",
                &RESTORE_PROGRESS,
                RUN_ROWS,
                (run.cluster_id, run.task_id, run.run_id),
                restore_progress_from,
            )
            .await?;
        sort_restore_progress(&mut rows);
        Ok(rows)
    }

    /// Removes one restore progress row by its key.
    pub(super) async fn remove_restore_progress_row(
        &self,
        row: &RestoreRunProgress,
    ) -> StoreResult<()> {
        let mut statement = self.q(&format!(
            "DELETE FROM {{ks}}.{} {RUN_ROWS}",
            RESTORE_PROGRESS.name
        ));
        let mut values = vec![
            Value::Uuid(row.cluster_id),
            Value::Uuid(row.task_id),
            Value::Uuid(row.run_id),
        ];
        for (column, value) in restore_progress_row_key(row) {
            statement.push_str(&format!(" AND {column} = ?"));
            values.push(Value::Text(value.to_owned()));
        }
        self.exec(
            "delete restore progress row",
            &statement,
            cql_values(values),
        )
        .await
    }

    /// Removes the restore progress rows of a run.
    pub(super) async fn remove_restore_progress(&self, run: RunKey) -> StoreResult<()> {
        self.exec(
            "delete restore progress",
            &self.q(&format!(
                "DELETE FROM {{ks}}.{} {RUN_ROWS}",
                RESTORE_PROGRESS.name
            )),
            (run.cluster_id, run.task_id, run.run_id),
        )
        .await
    }
}
