//! `RestoreNode`: one host's part of a restore's DATA stage, pipelined. While batch N is loaded
//! with load&stream, batch N+1 is downloaded: at most one batch ahead, and only if the host's
//! file system keeps `disk_space_free_min_percent` free after it.
//!
//! Where batch N+1 lands: load&stream loads everything in a table's `upload/`, so a batch of the
//! table being loaded is downloaded into [`STAGING`] inside that `upload/` (Scylla only loads
//! regular files, not subdirectories) and its files are moved (renamed) into `upload/` once
//! batch N is loaded; a batch of another table goes straight into that table's `upload/`.
//!
//! A host resuming a run first takes again its interrupted batches (from the previous run's
//! open rows) with `keep_verified`, so files already in `upload/` with the right size are kept
//! and only the missing ones are downloaded; files in the restored tables' `upload/` that belong
//! to no such batch are removed. A batch that fails is given back to the pool (its row deleted,
//! its files removed) and the host is barred from that source DC for the rest of the run. An
//! agent that lost a download job (it restarted) gets the job again, keeping what it verified.
//!
//! | module | holds |
//! |---|---|
//! | this one | the actor, its messages, the pipeline: download, unstage, load&stream, a failed batch |
//! | [`resume`] | a host's start: the interrupted run's batches taken again, `upload/` set to hold exactly them |

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use serde::Serialize;

pub mod resume;

use super::batches::Batch;
use super::plan::TargetHost;
use super::run::DataContext;
use crate::agent::wire::{DownloadJob, JobProgress, JobStatus};
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::error::AgentError;
use crate::manager::agent_client::files::Root;
use crate::manager::agent_client::restore::Load;
use crate::manager::agent_jobs::{self, JobError};
use crate::manager::metrics::{self, RestoreHostState};
use crate::manager::store::RestoreRunProgress;

/// The subdirectory of a table's `upload/` a batch waits in while another batch of the same
/// table is loaded.
pub const STAGING: &str = ".cairn-next";
/// Pause before load&stream is asked again (Scylla is still loading, or the call timed out).
const LOAD_RETRY: Duration = Duration::from_secs(10);
/// How many times load&stream is asked again after the agent or Scylla could not be reached
/// (the agent restarting), [`LOAD_RETRY`] apart.
const LOAD_UNREACHABLE: u32 = 30;
/// Pause before a download is started again after its agent could not be reached.
const AGENT_AWAY: Duration = Duration::from_secs(2);
/// How many times a download job is started again when the agent lost it or was away.
const JOB_RESTARTS: u32 = 10;
/// How long a job of the interrupted run may take to stop.
const JOB_STOP_WAIT: Duration = Duration::from_secs(60);
/// Most paths deleted in one agent call.
const DELETE_BATCH: usize = 1000;

/// Why a host could not restore (its batches' own failures are given back, not errors).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A call to the agent outside a batch failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The run was stopped.
    #[error("host {host}: stopped")]
    Stopped {
        /// The host.
        host: String,
    },
    /// The node actor did not answer.
    #[error("host {host}: its node actor is gone: {reason}")]
    Actor {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
}

/// Why one batch failed.
#[derive(Debug)]
enum BatchError {
    /// The run was stopped.
    Stopped,
    /// The batch failed (goes back to the pool).
    Failed(String),
}

impl From<AgentError> for BatchError {
    fn from(e: AgentError) -> Self {
        BatchError::Failed(e.to_string())
    }
}

/// What a node actor is made from.
pub struct NodeSetup {
    /// What the run's node actors share.
    pub ctx: Arc<DataContext>,
    /// The host.
    pub host: TargetHost,
    /// Its agent.
    pub client: AgentClient,
    /// Its batches interrupted in the run this one continues (their rows).
    pub interrupted: Vec<RestoreRunProgress>,
}

/// A host's observable state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeState {
    /// The remote directory of the batch being downloaded.
    pub downloading: Option<String>,
    /// The remote directory of the batch being loaded.
    pub loading: Option<String>,
    /// Batches restored.
    pub batches_done: u64,
    /// Batches that failed and went back to the pool.
    pub batches_failed: u64,
}

/// Restores batches until none is left for the host.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<(), NodeError>")]
pub struct RestoreBatches;

/// Asks for the host's state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeState")]
pub struct GetNodeState;

/// One host of a restore's DATA stage.
pub struct RestoreNode {
    /// Shared with the futures of its work.
    inner: Arc<Inner>,
}

/// What the actor's work uses.
struct Inner {
    /// What it is made from.
    setup: NodeSetup,
    /// Its observable state.
    state: Mutex<NodeState>,
}

impl RestoreNode {
    /// A node actor for `setup`.
    pub fn new(setup: NodeSetup) -> Self {
        RestoreNode {
            inner: Arc::new(Inner {
                setup,
                state: Mutex::new(NodeState::default()),
            }),
        }
    }
}

impl Actor for RestoreNode {
    type Context = Context<Self>;
}

impl Handler<RestoreBatches> for RestoreNode {
    type Result = ResponseFuture<Result<(), NodeError>>;
    fn handle(&mut self, _: RestoreBatches, _: &mut Self::Context) -> Self::Result {
        let inner = self.inner.clone();
        Box::pin(async move { inner.run().await })
    }
}

impl Handler<GetNodeState> for RestoreNode {
    type Result = MessageResult<GetNodeState>;
    fn handle(&mut self, _: GetNodeState, _: &mut Self::Context) -> Self::Result {
        MessageResult(
            self.inner
                .state
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default(),
        )
    }
}

/// Where a batch is downloaded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// The table's `upload/`.
    Upload,
    /// [`STAGING`] inside it.
    Staging,
}

/// A batch that failed, with what is needed to clean up after it.
struct FailedBatch {
    /// Why.
    error: BatchError,
    /// The batch.
    batch: Batch,
    /// Its row, once stored.
    row: Option<RestoreRunProgress>,
    /// Where its files are.
    dest: Dest,
}

/// A batch in the host's data directory, with its progress row.
struct Downloaded {
    /// The batch.
    batch: Batch,
    /// Its row.
    row: RestoreRunProgress,
    /// Where it is.
    dest: Dest,
}

impl Inner {
    /// The host's address.
    fn host(&self) -> &str {
        &self.setup.host.address
    }

    /// Changes the observable state and publishes it.
    fn with_state(&self, f: impl FnOnce(&mut NodeState)) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        f(&mut s);
        let state = match (&s.downloading, &s.loading) {
            (Some(_), Some(_)) => RestoreHostState::DownloadingAndLoading,
            (Some(_), None) => RestoreHostState::Downloading,
            (None, Some(_)) => RestoreHostState::Loading,
            (None, None) => RestoreHostState::Idle,
        };
        metrics::restore_state(&self.setup.ctx.cluster_name, self.host(), state);
    }

    /// The `upload/` directory of a batch's table, relative to the data directory.
    fn upload_dir(&self, batch: &Batch) -> Option<String> {
        self.setup
            .ctx
            .table_dirs
            .get(&(batch.keyspace.clone(), batch.table.clone()))
            .map(|d| format!("{d}/upload"))
    }

    /// The directory a batch goes to.
    fn dest_dir(&self, batch: &Batch, dest: Dest) -> Option<String> {
        let upload = self.upload_dir(batch)?;
        Some(match dest {
            Dest::Upload => upload,
            Dest::Staging => format!("{upload}/{STAGING}"),
        })
    }

    /// Fails with `Stopped` once the run is stopped.
    fn check_stop(&self) -> Result<(), NodeError> {
        if self.setup.ctx.cancel.is_cancelled() {
            return Err(NodeError::Stopped {
                host: self.host().to_string(),
            });
        }
        Ok(())
    }

    /// The host's whole DATA stage.
    async fn run(&self) -> Result<(), NodeError> {
        let mut queue = self.prepare().await?;
        let mut current: Option<Downloaded> = None;
        loop {
            self.check_stop()?;
            let cur = match current.take() {
                Some(c) => c,
                None => {
                    let Some(batch) = self.next(&mut queue) else {
                        break;
                    };
                    match self.download(batch, Dest::Upload).await {
                        Ok(d) => d,
                        Err(e) => {
                            self.batch_failed(e).await?;
                            continue;
                        }
                    }
                }
            };
            let (table, cur_dir) = (
                (cur.batch.keyspace.clone(), cur.batch.table.clone()),
                cur.batch.dir.clone(),
            );
            let ahead = async {
                let batch = self.next_with_room(&mut queue).await?;
                let dest = if (batch.keyspace.clone(), batch.table.clone()) == table {
                    Dest::Staging
                } else {
                    Dest::Upload
                };
                Some(self.download(batch, dest).await)
            };
            let (loaded, ahead) = tokio::join!(self.load(cur), ahead);
            if let Err(e) = loaded {
                self.batch_failed(e).await?;
            } else {
                tracing::debug!(host = self.host(), dir = %cur_dir, "batch restored");
            }
            match ahead {
                None => {}
                Some(Ok(mut next)) => match self.unstage(&mut next).await {
                    Ok(()) => current = Some(next),
                    Err(e) => self.batch_failed(e).await?,
                },
                Some(Err(e)) => self.batch_failed(e).await?,
            }
        }
        metrics::restore_state(
            &self.setup.ctx.cluster_name,
            self.host(),
            RestoreHostState::Done,
        );
        Ok(())
    }

    /// The next batch: an interrupted one first, then one from the pool.
    fn next(&self, queue: &mut VecDeque<Batch>) -> Option<Batch> {
        if let Some(b) = queue.pop_front() {
            return Some(b);
        }
        let batch = self.setup.ctx.pool.lock().ok()?.take(&self.setup.host)?;
        metrics::restore_batch_size(&self.setup.ctx.cluster_name, self.host(), batch.size());
        Some(batch)
    }

    /// The next batch, if the host's disk keeps its free-space floor with it downloaded too;
    /// none when the manager runs restores unpipelined (`restore.pipeline: false`).
    async fn next_with_room(&self, queue: &mut VecDeque<Batch>) -> Option<Batch> {
        if self.setup.ctx.cancel.is_cancelled() || !self.setup.ctx.settings.restore_pipeline {
            return None;
        }
        let from_queue = !queue.is_empty();
        let batch = self.next(queue)?;
        let min = u64::from(self.setup.ctx.settings.disk_free_min_percent);
        let room = match self.setup.client.disk().await {
            Ok(d) => {
                d.free.saturating_sub(batch.size()).saturating_mul(100)
                    >= d.total.saturating_mul(min)
            }
            Err(e) => {
                tracing::debug!(host = self.host(), error = %e, "disk usage unknown; not downloading ahead");
                false
            }
        };
        if room {
            return Some(batch);
        }
        tracing::debug!(
            host = self.host(),
            "not enough free disk to download the next batch ahead"
        );
        if from_queue {
            queue.push_front(batch);
        } else if let Ok(mut pool) = self.setup.ctx.pool.lock() {
            pool.put_back(batch);
        }
        None
    }

    /// A fresh progress row for `batch`.
    fn new_row(&self, batch: &Batch) -> RestoreRunProgress {
        let key = self.setup.ctx.key;
        RestoreRunProgress {
            cluster_id: key.cluster_id,
            task_id: key.task_id,
            run_id: key.run_id,
            remote_sstable_dir: batch.dir.clone(),
            keyspace_name: batch.keyspace.clone(),
            table_name: batch.table.clone(),
            host: self.host().to_string(),
            agent_job_id: String::new(),
            scylla_task_id: String::new(),
            sstable_id: batch.ids(),
            download_started_at: Some(Utc::now()),
            download_completed_at: None,
            restore_started_at: None,
            restore_completed_at: None,
            downloaded: 0,
            versioned_downloaded: 0,
            skipped: 0,
            restored: 0,
            failed: 0,
            error: None,
            shard_cnt: self.setup.host.shards,
        }
    }

    /// Files in parallel for a download job.
    fn transfers(&self) -> Option<usize> {
        match self.setup.ctx.transfers {
            t if t < 0 => None,
            0 => Some((2 * self.setup.host.shards.max(1)) as usize),
            t => Some(t as usize),
        }
    }

    /// Downloads `batch` into `dest` with one agent job (started again if the agent loses it).
    async fn download(&self, batch: Batch, dest: Dest) -> Result<Downloaded, FailedBatch> {
        self.with_state(|s| s.downloading = Some(batch.dir.clone()));
        let mut row = self.new_row(&batch);
        let result = self.download_into(&batch, dest, &mut row).await;
        self.with_state(|s| s.downloading = None);
        match result {
            Ok(()) => Ok(Downloaded { batch, row, dest }),
            Err(e) => {
                let row = (!row.agent_job_id.is_empty()).then_some(row);
                Err(FailedBatch {
                    error: e,
                    batch,
                    row,
                    dest,
                })
            }
        }
    }

    /// The download job of `batch`, keeping `row` up to date.
    async fn download_into(
        &self,
        batch: &Batch,
        dest: Dest,
        row: &mut RestoreRunProgress,
    ) -> Result<(), BatchError> {
        let ctx = &self.setup.ctx;
        let Some(dest_dir) = self.dest_dir(batch, dest) else {
            return Err(BatchError::Failed(format!(
                "{}.{} has no directory on the target",
                batch.keyspace, batch.table
            )));
        };
        let (files, names): (Vec<String>, Vec<String>) = batch
            .sstables
            .iter()
            .flat_map(|s| &s.files)
            .map(|f| (f.remote.clone(), f.name.clone()))
            .unzip();
        let rate = ctx.rate_limit.for_dc(&self.setup.host.dc).unwrap_or(0);
        let job = DownloadJob {
            location: batch.location.without_dc().to_string(),
            files,
            dest_dir,
            names,
            keep_verified: true,
            transfers: self.transfers(),
            rate_limit: Some(rate as f64),
        };
        let client = &self.setup.client;
        let mut restarts = 0;
        loop {
            let offset = row.downloaded;
            let id = client.start_download(&job).await?;
            if !row.agent_job_id.is_empty() && row.agent_job_id != id {
                // The row is keyed by its job: the lost job's row gives way to the new one.
                ctx.delete_row(row).await;
            }
            row.agent_job_id = id.clone();
            ctx.put_row(row).await;
            tracing::debug!(host = self.host(), dir = %batch.dir, job = %id, "download started");
            let count = |row: &mut RestoreRunProgress, p: &JobProgress| {
                row.downloaded = offset + p.bytes_transferred;
                row.skipped = p.bytes_skipped.saturating_sub(offset);
                row.failed = p.bytes_failed;
            };
            let followed =
                agent_jobs::follow(client, &id, ctx.settings.long_poll, &ctx.cancel, |p| {
                    count(row, p);
                    let snapshot = row.clone();
                    async move { ctx.put_row(&snapshot).await }
                })
                .await;
            let p = match followed {
                Ok(p) => p,
                Err(JobError::Stopped) => return Err(BatchError::Stopped),
                Err(JobError::Agent(e)) if e.retryable() && restarts < JOB_RESTARTS => {
                    // The agent is away (restarting): once it answers, the job is started
                    // again, keeping what it verified.
                    restarts += 1;
                    tracing::warn!(host = self.host(), job = %id, error = %e, "the agent is away; starting the download again");
                    tokio::select! {
                        () = tokio::time::sleep(AGENT_AWAY) => {}
                        () = ctx.cancel.cancelled() => return Err(BatchError::Stopped),
                    }
                    let _ = client.stop_job(&id).await;
                    continue;
                }
                Err(e) => {
                    let _ = client.stop_job(&id).await;
                    return Err(BatchError::Failed(e.to_string()));
                }
            };
            match p.status {
                JobStatus::Success => {
                    count(row, &p);
                    row.download_completed_at = Some(Utc::now());
                    ctx.put_row(row).await;
                    let _ = client.remove_job(&id).await;
                    return Ok(());
                }
                _ if agent_jobs::lost(&p) && restarts < JOB_RESTARTS => {
                    restarts += 1;
                    tracing::warn!(host = self.host(), job = %id, "the agent lost the download job; starting it again");
                }
                status => {
                    let reason = match p.failures.first() {
                        Some(f) => format!("{}: {}", f.file, f.error),
                        None => p
                            .error
                            .clone()
                            .unwrap_or_else(|| format!("download job {id} ended {status:?}")),
                    };
                    return Err(BatchError::Failed(reason));
                }
            }
        }
    }

    /// Moves a staged batch's files into `upload/`.
    async fn unstage(&self, d: &mut Downloaded) -> Result<(), FailedBatch> {
        if d.dest == Dest::Upload {
            return Ok(());
        }
        let fail = |e: String, d: &Downloaded| FailedBatch {
            error: BatchError::Failed(e),
            batch: d.batch.clone(),
            row: Some(d.row.clone()),
            dest: d.dest,
        };
        let (Some(upload), Some(staging)) = (
            self.dest_dir(&d.batch, Dest::Upload),
            self.dest_dir(&d.batch, Dest::Staging),
        ) else {
            return Err(fail("the table has no directory on the target".into(), d));
        };
        for name in d.batch.file_names() {
            let (from, to) = (format!("{staging}/{name}"), format!("{upload}/{name}"));
            if let Err(e) = self
                .setup
                .client
                .move_file(Root::Data, &from, &to, false)
                .await
            {
                return Err(fail(e.to_string(), d));
            }
        }
        d.dest = Dest::Upload;
        Ok(())
    }

    /// Loads a downloaded batch with load&stream (asked again every [`LOAD_RETRY`] while Scylla
    /// is still loading or the call timed out) and marks its row restored.
    async fn load(&self, d: Downloaded) -> Result<(), FailedBatch> {
        let ctx = &self.setup.ctx;
        let Downloaded {
            batch,
            mut row,
            dest,
        } = d;
        self.with_state(|s| s.loading = Some(batch.dir.clone()));
        row.restore_started_at = Some(Utc::now());
        ctx.put_row(&row).await;
        let result = self.load_until_done(&batch).await;
        self.with_state(|s| s.loading = None);
        if let Err(e) = result {
            return Err(FailedBatch {
                error: e,
                batch,
                row: Some(row),
                dest,
            });
        }
        row.restore_completed_at = Some(Utc::now());
        row.restored = row.downloaded + row.skipped + row.versioned_downloaded;
        ctx.put_row(&row).await;
        metrics::restore_batch_done(&ctx.cluster_name, &row);
        if let Ok(mut tables) = ctx.tables.lock() {
            let key = (batch.keyspace.clone(), batch.table.clone());
            if let Some((size, restored)) = tables.get_mut(&key) {
                *restored += row.restored;
                metrics::restore_remaining(
                    &ctx.cluster_name,
                    &key.0,
                    &key.1,
                    size.saturating_sub(*restored),
                );
            }
            let (size, restored) = tables.values().fold((0, 0), |a, t| (a.0 + t.0, a.1 + t.1));
            if size > 0 {
                metrics::restore_progress(&ctx.cluster_name, restored as f64 * 100.0 / size as f64);
            }
        }
        self.with_state(|s| s.batches_done += 1);
        Ok(())
    }

    /// How this host's batches are loaded: streamed to their primary owners, or with a 1-1
    /// restore kept where they are.
    fn load_mode(&self) -> Load {
        match self.setup.host.source_node {
            Some(_) => Load::Local,
            None => Load::Stream {
                primary_replica_only: true,
            },
        }
    }

    /// Asks Scylla to load the table's `upload/` until it answers that it did.
    async fn load_until_done(&self, batch: &Batch) -> Result<(), BatchError> {
        let cancel = &self.setup.ctx.cancel;
        let mut unreachable = 0;
        loop {
            let r = tokio::select! {
                r = self.setup.client.load_sstables(&batch.keyspace, &batch.table, self.load_mode()) => r,
                () = cancel.cancelled() => return Err(BatchError::Stopped),
            };
            match r {
                Ok(()) => return Ok(()),
                Err(e) if again(&e) || (e.retryable() && unreachable < LOAD_UNREACHABLE) => {
                    if !again(&e) {
                        unreachable += 1;
                    }
                    tracing::debug!(host = self.host(), table = %batch.table, error = %e, "load&stream busy; asking again");
                    tokio::select! {
                        () = tokio::time::sleep(LOAD_RETRY) => {}
                        () = cancel.cancelled() => return Err(BatchError::Stopped),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A batch failed: unless the run is stopped, its row is deleted, its files are removed, it
    /// goes back to the pool and the host is barred from its source DC.
    async fn batch_failed(&self, failed: FailedBatch) -> Result<(), NodeError> {
        let FailedBatch {
            error,
            batch,
            row,
            dest,
        } = failed;
        let reason = match error {
            BatchError::Stopped => {
                return Err(NodeError::Stopped {
                    host: self.host().to_string(),
                });
            }
            BatchError::Failed(r) => r,
        };
        let ctx = &self.setup.ctx;
        let message = format!(
            "host {}: batch of {}.{} from {} failed: {reason}",
            self.host(),
            batch.keyspace,
            batch.table,
            batch.dir
        );
        tracing::warn!(run = %ctx.key, "{message}");
        ctx.record_error(message);
        if let Some(row) = &row {
            ctx.delete_row(row).await;
        }
        if let Some(dir) = self.dest_dir(&batch, dest) {
            let paths: Vec<String> = batch
                .file_names()
                .into_iter()
                .map(|n| format!("{dir}/{n}"))
                .collect();
            for chunk in paths.chunks(DELETE_BATCH) {
                if let Err(e) = self.setup.client.delete_files(Root::Data, chunk).await {
                    tracing::warn!(host = self.host(), error = %e, "could not remove a failed batch's files");
                }
            }
        }
        if let Ok(mut pool) = ctx.pool.lock() {
            pool.failed(self.host(), batch);
        }
        self.with_state(|s| s.batches_failed += 1);
        Ok(())
    }
}

/// Whether a load&stream call should be sent again: Scylla is still loading an earlier one, or
/// the call timed out (Scylla goes on loading).
fn again(e: &AgentError) -> bool {
    matches!(e, AgentError::Timeout { .. }) || e.to_string().contains("Already loading SSTables")
}
