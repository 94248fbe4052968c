//! The SQLite store's suspension table: `scheduler_suspension`, one row per suspended cluster.

use super::SqliteStore;
use super::row::{sql, text};
use crate::manager::store::rows::{SUSPENSION, suspension_from, suspension_values};
use crate::manager::store::{StoreResult, Suspension};

impl SqliteStore {
    /// Inserts or replaces a cluster's suspension.
    pub(super) async fn write_suspension(&self, s: &Suspension) -> StoreResult<()> {
        self.put_row("put suspension", &SUSPENSION, suspension_values(s), None)
            .await
    }

    /// The suspension of a cluster, if it is suspended.
    pub(super) async fn read_suspension(
        &self,
        cluster_id: uuid::Uuid,
    ) -> StoreResult<Option<Suspension>> {
        let mut found = self
            .fetch(
                "get suspension",
                &SUSPENSION,
                "WHERE cluster_id = ?1",
                vec![text(cluster_id)],
                |r| suspension_from(r),
            )
            .await?;
        Ok(found.pop())
    }

    /// Removes a cluster's suspension; none is not an error.
    pub(super) async fn remove_suspension(&self, cluster_id: uuid::Uuid) -> StoreResult<()> {
        const OP: &str = "delete suspension";
        let statement = format!("DELETE FROM {} WHERE cluster_id = ?1", SUSPENSION.name);
        self.call(OP, move |conn| {
            conn.execute(&statement, [cluster_id.to_string()])
                .map_err(sql(OP))?;
            Ok(())
        })
        .await
    }
}
