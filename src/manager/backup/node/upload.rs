//! UPLOAD: what is left of the snapshot moved into the location, a few tables at a time, one
//! agent job per table (started again when the agent lost it), at the rate the rate-limit actor
//! gives the host.

use actix::prelude::*;
use chrono::Utc;
use futures::StreamExt;

use std::sync::Arc;

use super::{
    Inner, JOB_RESTARTS, MIB, NodeActor, NodeError, NodeResult, SCYLLA_MANIFEST,
    TABLES_IN_PARALLEL, TableDir, stage,
};
use crate::agent::wire::UploadJob;
use crate::agent::wire::{JobProgress, JobStatus};
use crate::manager::agent_client::files::Root;
use crate::manager::agent_jobs;
use crate::manager::backup::resume::resumed_row;
use crate::manager::backup::stage::BackupStage;
use crate::manager::location::verify::list_dir;
use crate::manager::rate_limit_actor::{FinishUpload, GetRateGate, StartUpload};
use crate::manager::store::BackupRunProgress;

/// UPLOAD: moves what is left of the snapshot into the location, one table at a time.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct UploadData;

impl Handler<UploadData> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, _: UploadData, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Upload, |i| async move {
            let setup = &i.setup;
            let host = setup.host.address.clone();
            let _ = setup
                .rates
                .send(StartUpload {
                    host: host.clone(),
                    dc: setup.rate_dc.clone(),
                    pusher: Arc::new(setup.client.clone()),
                })
                .await;
            let result = i.upload().await;
            let _ = setup.rates.send(FinishUpload { host }).await;
            result
        })
    }
}

impl Inner {
    /// Uploads the tables, largest first, a few at a time: the agent's one bandwidth budget
    /// keeps the host's rate exact, and the next table's job starts while another one ends, so
    /// per-job overhead (many small tables) does not leave the budget unused. One table's
    /// failure fails the host once the others are done.
    async fn upload(&self) -> NodeResult<()> {
        let guard = self.indexed().await?;
        let dirs = guard.as_deref().unwrap_or_default();
        // Once a table fails, no new table starts (the host fails anyway); those in flight end.
        let failed = std::sync::atomic::AtomicBool::new(false);
        let failed = &failed;
        let results: Vec<NodeResult<()>> = futures::stream::iter(dirs.iter().map(|t| async move {
            if failed.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            let r = self.upload_one(t).await;
            if r.is_err() {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            r
        }))
        .buffer_unordered(TABLES_IN_PARALLEL)
        .collect()
        .await;
        results.into_iter().collect()
    }

    /// Uploads one table unless it is done, then drops its snapshot.
    async fn upload_one(&self, t: &TableDir) -> NodeResult<()> {
        self.check_stop()?;
        let mut row = self.row(t);
        if row.completed_at.is_some() && row.error.is_none() {
            return Ok(());
        }
        if t.files.is_empty() {
            // Nothing left: deduplicated or uploaded earlier.
            let now = Utc::now();
            row.started_at.get_or_insert(now);
            row.completed_at = Some(now);
            row.agent_job_id = None;
            self.put_row(row).await;
        } else {
            self.upload_table(t, row).await?;
        }
        self.drop_table_snapshot(t).await
    }

    /// Deletes what is left of a table's snapshot once it is uploaded.
    async fn drop_table_snapshot(&self, t: &TableDir) -> NodeResult<()> {
        let tag = self.setup.run.tag.as_str();
        self.client()
            .delete_snapshot(Some(tag), Some(&t.keyspace), Some(&t.table))
            .await?;
        Ok(())
    }

    /// Uploads one table with an agent job, restarting the job if the agent lost it.
    async fn upload_table(&self, t: &TableDir, mut row: BackupRunProgress) -> NodeResult<()> {
        let (client, run, host) = (self.client(), &self.setup.run, &self.setup.host);
        let mut job = UploadJob {
            source_dir: t.dir.clone(),
            location: host.location.without_dc().to_string(),
            remote_dir: self.remote_dir(t),
            tag: run.tag.clone(),
            transfers: run.transfers,
            rate_limit: None,
        };
        let fail = |reason: String| NodeError::Upload {
            host: host.address.clone(),
            keyspace: t.keyspace.clone(),
            table: t.table.clone(),
            reason,
        };
        let gate = self
            .setup
            .rates
            .send(GetRateGate {
                host: host.address.clone(),
            })
            .await
            .ok();
        let mut restarts = 0;
        loop {
            let (skipped_offset, files_offset) = (row.skipped, row.files_skipped_count);
            // The job carries the host's current rate: an agent that restarted since the last
            // push (and lost it) applies it before moving a byte.
            let turn = match &gate {
                Some(gate) => {
                    let (turn, rate) = gate.turn().await;
                    job.rate_limit = rate.map(|bytes| bytes as f64 / MIB as f64);
                    Some(turn)
                }
                None => None,
            };
            let started = client.start_upload(&job).await;
            drop(turn);
            let id = started?;
            tracing::debug!(host = %host.address, table = %t.table, job = %id, "upload started");
            row.agent_job_id = Some(id.clone());
            row.started_at.get_or_insert_with(Utc::now);
            row.error = None;
            self.put_row(row.clone()).await;
            let p = self
                .follow_job(&id, &mut row, (skipped_offset, files_offset))
                .await?;
            match p.status {
                JobStatus::Success => {
                    row.completed_at = Some(Utc::now());
                    row.agent_job_id = None;
                    self.put_row(row).await;
                    let _ = client.remove_job(&id).await;
                    return Ok(());
                }
                _ if agent_jobs::lost(&p) && restarts < JOB_RESTARTS => {
                    restarts += 1;
                    tracing::warn!(host = %host.address, job = %id, "the agent lost the upload job; starting it again");
                    // What the lost job moved is gone from disk: count it as skipped.
                    let left = list_dir(client, Root::Data, &t.dir, false).await?;
                    let (bytes, files) = left
                        .iter()
                        .filter(|e| !e.dir && e.path != SCYLLA_MANIFEST)
                        .fold((0, 0), |a, e| (a.0 + e.size, a.1 + 1));
                    row = resumed_row(&row, bytes, files);
                }
                status => {
                    let reason = match (status, p.failures.first()) {
                        (JobStatus::Stopped, _) => "the agent job was stopped".to_string(),
                        (_, Some(f)) => format!("{}: {}", f.file, f.error),
                        _ => p
                            .error
                            .clone()
                            .unwrap_or_else(|| format!("job {id} ended {status:?}")),
                    };
                    row.error = Some(reason.clone());
                    self.put_row(row).await;
                    return Err(fail(reason));
                }
            }
        }
    }

    /// Long-polls a job until it ends, keeping `row` up to date (the job's counts on top of the
    /// offsets the row had when the job started); a stopped run stops the job.
    async fn follow_job(
        &self,
        id: &str,
        row: &mut BackupRunProgress,
        offsets: (u64, u64),
    ) -> NodeResult<JobProgress> {
        let count = |row: &mut BackupRunProgress, p: &JobProgress| {
            row.uploaded = p.bytes_transferred;
            row.skipped = offsets.0 + p.bytes_skipped;
            row.failed = p.bytes_failed;
            row.files_skipped_count = offsets.1 + p.files_skipped;
        };
        let (client, run) = (self.client(), &self.setup.run);
        let p = agent_jobs::follow(
            client,
            id,
            run.settings.long_poll,
            &self.setup.cancel,
            |p| {
                count(row, p);
                self.put_row(row.clone())
            },
        )
        .await
        .map_err(|e| self.job_error(e))?;
        if !agent_jobs::lost(&p) {
            count(row, &p);
        }
        Ok(p)
    }
}
