//! The ScyllaDB store's validate table: `validate_backup_run_progress` (one partition per run,
//! clustered by DC, host and location, as upstream keeps it).

use super::ScyllaStore;
use super::row::cql_values;
use crate::manager::store::rows::{
    VALIDATE_PROGRESS, validate_progress_from, validate_progress_values,
};
use crate::manager::store::{RunKey, StoreResult, ValidateRunProgress, sort_validate_progress};

/// The condition selecting one run's rows.
const RUN_ROWS: &str = "WHERE cluster_id = ? AND task_id = ? AND run_id = ?";

impl ScyllaStore {
    /// Upserts validate progress rows in CQL batches.
    pub(super) async fn write_validate_progress(
        &self,
        rows: &[ValidateRunProgress],
    ) -> StoreResult<()> {
        let rows = rows
            .iter()
            .map(|p| Ok((p.run_key(), cql_values(validate_progress_values(p)?))))
            .collect::<StoreResult<Vec<_>>>()?;
        self.put_run_rows("put validate progress", &VALIDATE_PROGRESS, &rows)
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
                (run.cluster_id, run.task_id, run.run_id),
                validate_progress_from,
            )
            .await?;
        sort_validate_progress(&mut rows);
        Ok(rows)
    }

    /// Removes the validate progress rows of a run.
    pub(super) async fn remove_validate_progress(&self, run: RunKey) -> StoreResult<()> {
        self.exec(
            "delete validate progress",
            &self.q(&format!(
                "DELETE FROM {{ks}}.{} {RUN_ROWS}",
                VALIDATE_PROGRESS.name
            )),
            (run.cluster_id, run.task_id, run.run_id),
        )
        .await
    }
}
