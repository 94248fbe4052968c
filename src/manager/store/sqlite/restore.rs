//! The SQLite store's restore tables: `restore_run` (ordered newest first by its SQLite-only
//! `id_time` column, as backup runs are) and `restore_run_progress`.

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use uuid::Uuid;

use super::SqliteStore;
use super::row::{insert, sql, sql_limit, sql_values, text};
use crate::manager::store::rows::{
    RESTORE_PROGRESS, RESTORE_RUN, restore_progress_from, restore_progress_row_key,
    restore_progress_values, restore_run_from, restore_run_values,
};
use crate::manager::store::{
    RestoreRun, RestoreRunProgress, RunKey, StoreResult, sort_restore_progress, time_uuid_ticks,
};

/// The condition selecting one run's progress rows.
const RUN_ROWS: &str = "WHERE cluster_id = ?1 AND task_id = ?2 AND run_id = ?3";

/// A run's key as the parameters of [`RUN_ROWS`].
fn run_params(run: RunKey) -> Vec<SqlValue> {
    vec![text(run.cluster_id), text(run.task_id), text(run.run_id)]
}

impl SqliteStore {
    /// Inserts or replaces a restore run.
    pub(super) async fn write_restore_run(&self, r: &RestoreRun) -> StoreResult<()> {
        let values = restore_run_values(r)?;
        let id_time = time_uuid_ticks("restore run id", r.id)?;
        self.put_row("put restore run", &RESTORE_RUN, values, Some(id_time))
            .await
    }

    /// The restore run with this key, if any.
    pub(super) async fn read_restore_run(&self, key: RunKey) -> StoreResult<Option<RestoreRun>> {
        let mut found = self
            .fetch(
                "get restore run",
                &RESTORE_RUN,
                "WHERE cluster_id = ?1 AND task_id = ?2 AND id = ?3",
                vec![text(key.cluster_id), text(key.task_id), text(key.run_id)],
                |r| restore_run_from(r),
            )
            .await?;
        Ok(found.pop())
    }

    /// The restore runs of a task, newest first, at most `limit`.
    pub(super) async fn read_restore_runs(
        &self,
        cluster_id: Uuid,
        task_id: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<RestoreRun>> {
        self.fetch(
            "list restore runs",
            &RESTORE_RUN,
            "WHERE cluster_id = ?1 AND task_id = ?2 ORDER BY id_time DESC, id DESC LIMIT ?3",
            vec![
                text(cluster_id),
                text(task_id),
                SqlValue::Integer(sql_limit(limit)),
            ],
            |r| restore_run_from(r),
        )
        .await
    }

    /// Upserts restore progress rows in one transaction.
    pub(super) async fn write_restore_progress(
        &self,
        rows: &[RestoreRunProgress],
    ) -> StoreResult<()> {
        const OP: &str = "put restore progress";
        let values = rows
            .iter()
            .map(|p| sql_values(&RESTORE_PROGRESS, restore_progress_values(p)?))
            .collect::<StoreResult<Vec<_>>>()?;
        self.call(OP, move |conn| {
            let tx = conn.transaction().map_err(sql(OP))?;
            {
                let mut stmt = tx
                    .prepare(&insert(&RESTORE_PROGRESS, &[]))
                    .map_err(sql(OP))?;
                for row in values {
                    stmt.execute(params_from_iter(row)).map_err(sql(OP))?;
                }
            }
            tx.commit().map_err(sql(OP))
        })
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
                run_params(run),
                |r| restore_progress_from(r),
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
        const OP: &str = "delete restore progress row";
        let mut params = run_params(row.run_key());
        let mut statement = format!("DELETE FROM {} {RUN_ROWS}", RESTORE_PROGRESS.name);
        for (column, value) in restore_progress_row_key(row) {
            params.push(text(value));
            statement.push_str(&format!(" AND {column} = ?{}", params.len()));
        }
        self.call(OP, move |conn| {
            conn.execute(&statement, params_from_iter(params))
                .map_err(sql(OP))?;
            Ok(())
        })
        .await
    }

    /// Removes the restore progress rows of a run.
    pub(super) async fn remove_restore_progress(&self, run: RunKey) -> StoreResult<()> {
        const OP: &str = "delete restore progress";
        let statement = format!("DELETE FROM {} {RUN_ROWS}", RESTORE_PROGRESS.name);
        self.call(OP, move |conn| {
            conn.execute(&statement, params_from_iter(run_params(run)))
                .map_err(sql(OP))?;
            Ok(())
        })
        .await
    }
}
