//! The SQLite store's validate table: `validate_backup_run_progress`, one row per run, DC, host
//! and location.

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;

use super::SqliteStore;
use super::row::{insert, sql, sql_values, text};
use crate::manager::store::rows::{
    VALIDATE_PROGRESS, validate_progress_from, validate_progress_values,
};
use crate::manager::store::{RunKey, StoreResult, ValidateRunProgress, sort_validate_progress};

/// The condition selecting one run's rows.
const RUN_ROWS: &str = "WHERE cluster_id = ?1 AND task_id = ?2 AND run_id = ?3";

/// A run's key as the parameters of [`RUN_ROWS`].
fn run_params(run: RunKey) -> Vec<SqlValue> {
    vec![text(run.cluster_id), text(run.task_id), text(run.run_id)]
}

impl SqliteStore {
    /// Upserts validate progress rows in one transaction.
    pub(super) async fn write_validate_progress(
        &self,
        rows: &[ValidateRunProgress],
    ) -> StoreResult<()> {
        const OP: &str = "put validate progress";
        let values = rows
            .iter()
            .map(|p| sql_values(&VALIDATE_PROGRESS, validate_progress_values(p)?))
            .collect::<StoreResult<Vec<_>>>()?;
        self.call(OP, move |conn| {
            let tx = conn.transaction().map_err(sql(OP))?;
            {
                let mut stmt = tx
                    .prepare(&insert(&VALIDATE_PROGRESS, &[]))
                    .map_err(sql(OP))?;
                for row in values {
                    stmt.execute(params_from_iter(row)).map_err(sql(OP))?;
                }
            }
            tx.commit().map_err(sql(OP))
        })
        .await
    }

    /// The validate progress rows of a run, by DC, host and location.
    pub(super) async fn read_validate_progress(
        &self,
        run: RunKey,
    ) -> StoreResult<Vec<ValidateRunProgress>> {
        let mut rows = self
            .fetch(
                "list validate progress",
                &VALIDATE_PROGRESS,
                RUN_ROWS,
                run_params(run),
                |r| validate_progress_from(r),
            )
            .await?;
        sort_validate_progress(&mut rows);
        Ok(rows)
    }

    /// Removes the validate progress rows of a run.
    pub(super) async fn remove_validate_progress(&self, run: RunKey) -> StoreResult<()> {
        const OP: &str = "delete validate progress";
        let statement = format!("DELETE FROM {} {RUN_ROWS}", VALIDATE_PROGRESS.name);
        self.call(OP, move |conn| {
            conn.execute(&statement, params_from_iter(run_params(run)))
                .map_err(sql(OP))?;
            Ok(())
        })
        .await
    }
}
