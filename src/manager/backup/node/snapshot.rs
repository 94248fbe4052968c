//! SNAPSHOT: a host's snapshot of every unit (after its stale snapshots of the task go and free
//! disk is checked), and the node part of PURGE: dropping the run's snapshot from the node.

use actix::prelude::*;

use super::{Inner, NodeActor, NodeError, NodeResult, stage};
use crate::format::filter::Unit;
use crate::manager::agent_client::error::AgentError;
use crate::manager::backup::stage::BackupStage;
use crate::manager::metrics;

/// SNAPSHOT: removes the host's stale snapshots of the task, checks free disk, snapshots every
/// unit.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct TakeSnapshot;

/// PURGE (node part): deletes the run's snapshot, and the task's stale ones, from the node.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct DropSnapshot;

impl Handler<TakeSnapshot> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, _: TakeSnapshot, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Snapshot, |i| async move {
            i.take_snapshot().await
        })
    }
}

impl Handler<DropSnapshot> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, _: DropSnapshot, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Purge, |i| async move {
            let tag = i.setup.run.tag.as_str().to_string();
            i.client().delete_snapshot(Some(&tag), None, None).await?;
            // A resumed run skips SNAPSHOT: stale snapshots of the task go here instead.
            i.drop_stale_snapshots().await
        })
    }
}

/// Whether Scylla's answer to a snapshot request says the snapshot exists already.
fn snapshot_exists(e: &AgentError) -> bool {
    matches!(e, AgentError::Status { message, .. } if message.contains("already exists"))
}

impl Inner {
    /// Deletes the host's snapshots of this task's earlier runs that will not be resumed (a
    /// node left out of a failed run keeps its snapshot until a later run reaches it). Other
    /// tasks' snapshots are theirs: a run of theirs may be taking or reading them right now.
    async fn drop_stale_snapshots(&self) -> NodeResult<()> {
        let (client, run) = (self.client(), &self.setup.run);
        for s in client.snapshots().await? {
            if s.tag != run.tag.as_str() && run.stale_tags.contains(&s.tag) {
                tracing::info!(host = %self.host(), tag = %s.tag, "deleting a stale snapshot of the task");
                client.delete_snapshot(Some(&s.tag), None, None).await?;
            }
        }
        Ok(())
    }

    async fn take_snapshot(&self) -> NodeResult<()> {
        let (client, run) = (self.client(), &self.setup.run);
        self.drop_stale_snapshots().await?;
        let disk = client.disk().await?;
        let free_percent = (disk.free as u128 * 100 / disk.total.max(1) as u128) as u64;
        if free_percent < u64::from(run.settings.disk_free_min_percent) {
            return Err(NodeError::DiskSpace {
                host: self.host().to_string(),
                free_percent,
                min_percent: run.settings.disk_free_min_percent,
            });
        }
        // system_schema is snapshotted last, so the schema is never older than the data.
        let mut units: Vec<&Unit> = run.units.iter().collect();
        units.sort_by_key(|u| u.keyspace == "system_schema");
        for unit in units {
            self.check_stop()?;
            let cluster = &run.cluster_name;
            metrics::snapshot_state(cluster, self.host(), &unit.keyspace, false);
            let tables = if unit.all_tables {
                Vec::new()
            } else {
                unit.tables.clone()
            };
            match client
                .take_snapshot(&run.tag, &unit.keyspace, &tables, false)
                .await
            {
                Ok(()) => {}
                Err(e) if snapshot_exists(&e) => {}
                Err(e) => return Err(e.into()),
            }
            metrics::snapshot_state(cluster, self.host(), &unit.keyspace, true);
        }
        Ok(())
    }
}
