//! INDEX: the snapshot's table dirs and files, listed after earlier attempts' jobs are stopped,
//! and each table's progress row (resumed from earlier rows).

use actix::prelude::*;
use chrono::Utc;

use super::{
    Inner, JOB_STOP_WAIT, NodeActor, NodeError, NodeResult, SCYLLA_MANIFEST, SCYLLA_SCHEMA,
    TableDir, stage,
};
use crate::agent::wire::JobStatus;
use crate::manager::agent_client::files::Root;
use crate::manager::agent_jobs;
use crate::manager::backup::resume::resumed_row;
use crate::manager::backup::stage::BackupStage;
use crate::manager::location::verify::list_dir;
use crate::manager::store::BackupRunProgress;

/// INDEX: lists the snapshot's table dirs and files and writes each table's first progress row.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct IndexSnapshot;

impl Handler<IndexSnapshot> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, _: IndexSnapshot, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Index, |i| async move {
            i.reindex().await
        })
    }
}

/// Splits a table dir name `<table>-<32 hex digits>` into table and version.
fn table_dir_name(name: &str) -> Option<(&str, &str)> {
    let (table, version) = name.rsplit_once('-')?;
    let hex = version.len() == 32 && version.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !table.is_empty()).then_some((table, version))
}

impl Inner {
    /// Lists the snapshot's table dirs and their files.
    async fn list_snapshot(&self) -> NodeResult<Vec<TableDir>> {
        let (client, run) = (self.client(), &self.setup.run);
        let mut out = Vec::new();
        for (unit_index, unit) in run.units.iter().enumerate() {
            self.check_stop()?;
            for entry in list_dir(client, Root::Data, &unit.keyspace, false).await? {
                let Some((table, version)) = table_dir_name(&entry.path).filter(|_| entry.dir)
                else {
                    continue;
                };
                if !unit.all_tables && !unit.tables.iter().any(|t| t == table) {
                    continue;
                }
                let dir = format!("{}/{}/snapshots/{}", unit.keyspace, entry.path, run.tag);
                let listing = list_dir(client, Root::Data, &dir, false).await?;
                if listing.is_empty() {
                    continue;
                }
                let mut t = TableDir {
                    unit: unit_index as u32,
                    keyspace: unit.keyspace.clone(),
                    table: table.to_string(),
                    version: version.to_string(),
                    dir: dir.clone(),
                    files: Vec::new(),
                    scylla_manifest: false,
                };
                for f in listing.into_iter().filter(|f| !f.dir) {
                    match f.path.as_str() {
                        SCYLLA_SCHEMA => {
                            client
                                .delete_files(Root::Data, &[format!("{dir}/{SCYLLA_SCHEMA}")])
                                .await?;
                        }
                        SCYLLA_MANIFEST => t.scylla_manifest = true,
                        _ => t.files.push((f.path, f.size)),
                    }
                }
                t.files.sort();
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Indexes the snapshot again and writes every table's row (resumed from earlier rows).
    async fn reindex(&self) -> NodeResult<()> {
        let mut guard = self.index.lock().await;
        self.stop_previous_jobs().await?;
        let mut dirs = self.list_snapshot().await?;
        if dirs.is_empty() && self.rows_snapshot().is_empty() {
            return Err(NodeError::NoFiles {
                host: self.host().to_string(),
                tag: self.setup.run.tag.to_string(),
            });
        }
        for t in &dirs {
            let (bytes, files) = (
                t.files.iter().map(|f| f.1).sum::<u64>(),
                t.files.len() as u64,
            );
            let prev = self.row(t);
            let row = if prev.size > 0 || prev.files_count > 0 {
                resumed_row(&prev, bytes, files)
            } else {
                BackupRunProgress {
                    size: bytes,
                    files_count: files,
                    ..prev
                }
            };
            self.put_row(row).await;
        }
        // Tables of earlier rows with nothing left on disk were moved to the location by a job
        // that ended after its run was interrupted: complete, all skipped. (The manifest check
        // before the commit proves the files are there.)
        let indexed: std::collections::HashSet<(u32, &str)> =
            dirs.iter().map(|t| (t.unit, t.table.as_str())).collect();
        for mut row in self.rows_snapshot() {
            if row.completed_at.is_none() && !indexed.contains(&(row.unit, row.table_name.as_str()))
            {
                row = resumed_row(&row, 0, 0);
                let now = Utc::now();
                row.started_at.get_or_insert(now);
                row.completed_at = Some(now);
                row.agent_job_id = None;
            }
            self.put_row(row).await;
        }
        // The largest table first (the most likely to be compacted away and free disk), then the
        // others smallest first: while the large one keeps the bandwidth budget busy, the small
        // ones' per-job overhead runs beside it, and the last tables are large enough to keep
        // the budget busy to the end.
        dirs.sort_by_key(|t| std::cmp::Reverse(t.files.iter().map(|f| f.1).sum::<u64>()));
        let mut rest = dirs.split_off(dirs.len().min(1));
        rest.reverse();
        dirs.extend(rest);
        self.with_state(|s| s.tables = dirs.len());
        *guard = Some(dirs);
        Ok(())
    }

    /// Stops the agent jobs an interrupted attempt may have left moving this snapshot: those
    /// earlier rows name, and any running upload of this snapshot tag the agent reports (one
    /// whose start was never recorded), so indexing sees a snapshot nobody else is moving.
    async fn stop_previous_jobs(&self) -> NodeResult<()> {
        let client = self.client();
        let mut ids: Vec<String> = self
            .rows_snapshot()
            .into_iter()
            .filter(|r| r.completed_at.is_none())
            .filter_map(|r| r.agent_job_id)
            .collect();
        let ours = format!("/snapshots/{}", self.setup.run.tag);
        for job in client.jobs().await? {
            let running_upload = job.kind == "upload" && job.status == JobStatus::Running;
            if running_upload && job.source.ends_with(&ours) && !ids.contains(&job.id) {
                ids.push(job.id);
            }
        }
        for id in ids {
            agent_jobs::stop(client, &id, JOB_STOP_WAIT, &self.setup.cancel)
                .await
                .map_err(|e| self.job_error(e))?;
        }
        Ok(())
    }

    /// The index, built first if this actor has none yet.
    pub(super) async fn indexed(
        &self,
    ) -> NodeResult<tokio::sync::MutexGuard<'_, Option<Vec<TableDir>>>> {
        if self.index.lock().await.is_none() {
            self.reindex().await?;
        }
        Ok(self.index.lock().await)
    }
}
