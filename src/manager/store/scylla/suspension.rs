//! The ScyllaDB store's suspension table: `scheduler_suspension`, one partition per suspended
//! cluster.

use uuid::Uuid;

use super::ScyllaStore;
use super::row::cql_values;
use crate::manager::store::rows::{SUSPENSION, suspension_from, suspension_values};
use crate::manager::store::{StoreResult, Suspension};

impl ScyllaStore {
    /// Inserts or replaces a cluster's suspension.
    pub(super) async fn write_suspension(&self, s: &Suspension) -> StoreResult<()> {
        self.exec(
            "put suspension",
            &self.insert_all(&SUSPENSION),
            cql_values(suspension_values(s)),
        )
        .await
    }

    /// The suspension of a cluster, if it is suspended.
    pub(super) async fn read_suspension(
        &self,
        cluster_id: Uuid,
    ) -> StoreResult<Option<Suspension>> {
        let mut found = self
            .fetch(
                "get suspension",
                &SUSPENSION,
                "WHERE cluster_id = ?",
                (cluster_id,),
                suspension_from,
            )
            .await?;
        Ok(found.pop())
    }

    /// Removes a cluster's suspension; none is not an error.
    pub(super) async fn remove_suspension(&self, cluster_id: Uuid) -> StoreResult<()> {
        self.exec(
            "delete suspension",
            &self.q(&format!(
                "DELETE FROM {{ks}}.{} WHERE cluster_id = ?",
                SUSPENSION.name
            )),
            (cluster_id,),
        )
        .await
    }
}
