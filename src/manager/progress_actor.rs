//! `ProgressActor`: turns the stream of progress updates of all runs into few, batched store
//! writes. Updates are coalesced per row (see [`super::coalesce`]); at most one batch is being
//! written at a time; a timer flushes what accumulated, and [`FlushProgress`] (sent at stage ends
//! and at the end of a run) returns only once everything received before it is stored. A batch
//! whose write fails goes back under newer updates and is tried again, so the last update of a
//! run is never lost.
//!
//! The actor is generic over the kind of progress row ([`ProgressRow`]: its coalescing key and
//! its batched store write); one actor serves each kind: a backup run's row
//! ([`BackupRunProgress`]) and a restore run's ([`RestoreRunProgress`]).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::future::BoxFuture;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::coalesce::Coalescer;
use super::store::{BackupRunProgress, RestoreRunProgress, Store, StoreError, ValidateRunProgress};

/// How often accumulated updates are written when nobody asks for a flush.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// A progress row the actor batches: a later update of the same key replaces an earlier one,
/// and pending rows are stored together in one write.
pub trait ProgressRow: Clone + Unpin + Send + 'static {
    /// What identifies the row (its primary key in the store).
    type Key: Ord + Unpin + Send + 'static;

    /// This row's key.
    fn key(&self) -> Self::Key;

    /// Stores `rows` in one write.
    fn put(store: Arc<dyn Store>, rows: Vec<Self>) -> BoxFuture<'static, Result<(), StoreError>>;
}

/// A backup run's row: one table of one unit on one host.
impl ProgressRow for BackupRunProgress {
    /// Run, host, unit, table.
    type Key = (Uuid, Uuid, Uuid, String, u32, String);

    fn key(&self) -> Self::Key {
        (
            self.cluster_id,
            self.task_id,
            self.run_id,
            self.host.clone(),
            self.unit,
            self.table_name.clone(),
        )
    }

    fn put(store: Arc<dyn Store>, rows: Vec<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move { store.put_progress(&rows).await })
    }
}

/// A restore run's row: one batch of one remote SSTable directory on one host.
impl ProgressRow for RestoreRunProgress {
    /// Run, remote SSTable directory, keyspace, table, host, agent job, Scylla task (upstream's
    /// key of `restore_run_progress`).
    type Key = (
        Uuid,
        Uuid,
        Uuid,
        String,
        String,
        String,
        String,
        String,
        String,
    );

    fn key(&self) -> Self::Key {
        (
            self.cluster_id,
            self.task_id,
            self.run_id,
            self.remote_sstable_dir.clone(),
            self.keyspace_name.clone(),
            self.table_name.clone(),
            self.host.clone(),
            self.agent_job_id.clone(),
            self.scylla_task_id.clone(),
        )
    }

    fn put(store: Arc<dyn Store>, rows: Vec<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move { store.put_restore_progress(&rows).await })
    }
}

/// A validate run's row: one host in one location.
impl ProgressRow for ValidateRunProgress {
    /// Run, DC, host, location (upstream's key of `validate_backup_run_progress`).
    type Key = (Uuid, Uuid, Uuid, String, String, String);

    fn key(&self) -> Self::Key {
        (
            self.cluster_id,
            self.task_id,
            self.run_id,
            self.dc.clone(),
            self.host.clone(),
            self.location.clone(),
        )
    }

    fn put(store: Arc<dyn Store>, rows: Vec<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move { store.put_validate_progress(&rows).await })
    }
}

/// A new state of one progress row.
#[derive(Debug, Clone)]
pub struct ProgressUpdate<R>(pub R);

impl<R: ProgressRow> Message for ProgressUpdate<R> {
    type Result = ();
}

/// Asks for everything received so far to be stored; answers once it is (or with the store's
/// error if a write failed, in which case the rows stay pending and are tried again).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<(), String>")]
pub struct FlushProgress;

/// Asks for the actor's observable state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "ProgressStats")]
pub struct GetProgressStats;

/// The actor's observable state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProgressStats {
    /// Updates received.
    pub received: u64,
    /// Rows written (a row written twice counts twice).
    pub rows_written: u64,
    /// Batches written: the number of store writes.
    pub writes: u64,
    /// Batch writes that failed (and were retried).
    pub failed_writes: u64,
    /// Rows waiting to be written.
    pub pending: usize,
    /// Whether a batch is being written now.
    pub writing: bool,
}

/// The progress actor of the manager, for rows of kind `R`.
pub struct ProgressActor<R: ProgressRow> {
    /// Where progress rows go.
    store: Arc<dyn Store>,
    /// The latest state of each row not yet written.
    pending: Coalescer<R::Key, R>,
    /// Flush requests waiting for the rows they cover.
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    /// Observable counters.
    stats: ProgressStats,
    /// Timer period.
    flush_every: Duration,
}

impl<R: ProgressRow> ProgressActor<R> {
    /// An actor writing to `store`, flushing every `flush_every` by itself.
    pub fn new(store: Arc<dyn Store>, flush_every: Duration) -> Self {
        ProgressActor {
            store,
            pending: Coalescer::default(),
            waiters: Vec::new(),
            stats: ProgressStats::default(),
            flush_every,
        }
    }

    /// Writes the pending rows as one batch, unless a batch is already being written.
    fn write(&mut self, ctx: &mut Context<Self>) {
        if self.stats.writing {
            return;
        }
        if self.pending.is_empty() {
            for w in self.waiters.drain(..) {
                let _ = w.send(Ok(()));
            }
            return;
        }
        let batch = self.pending.drain();
        let rows: Vec<R> = batch.iter().map(|(_, r)| r.clone()).collect();
        self.stats.writing = true;
        let n = rows.len();
        let write = R::put(self.store.clone(), rows);
        let write = async move { write.await.map(|()| n).map_err(|e| e.to_string()) };
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.stats.writing = false;
            match result {
                Ok(n) => {
                    act.stats.writes += 1;
                    act.stats.rows_written += n as u64;
                    metrics::counter!("cairn_manager_progress_writes_total").increment(1);
                    metrics::counter!("cairn_manager_progress_rows_written_total")
                        .increment(n as u64);
                }
                Err(e) => {
                    tracing::warn!(error = %e, rows = batch.len(), "progress write failed; will retry");
                    act.stats.failed_writes += 1;
                    act.pending.restore(batch);
                    for w in act.waiters.drain(..) {
                        let _ = w.send(Err(e.clone()));
                    }
                    act.stats.pending = act.pending.len();
                    return;
                }
            }
            act.stats.pending = act.pending.len();
            if !act.waiters.is_empty() {
                // Flush requests wait for what arrived meanwhile too.
                act.write(ctx);
            }
        }));
    }
}

impl<R: ProgressRow> Actor for ProgressActor<R> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.flush_every, |act, ctx| act.write(ctx));
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if !self.pending.is_empty() {
            tracing::warn!(
                rows = self.pending.len(),
                "progress actor stopping with unwritten rows"
            );
        }
        Running::Stop
    }
}

impl<R: ProgressRow> Handler<ProgressUpdate<R>> for ProgressActor<R> {
    type Result = ();

    fn handle(&mut self, msg: ProgressUpdate<R>, _: &mut Self::Context) {
        self.stats.received += 1;
        self.pending.push(msg.0.key(), msg.0);
        self.stats.pending = self.pending.len();
    }
}

impl<R: ProgressRow> Handler<FlushProgress> for ProgressActor<R> {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, _: FlushProgress, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        self.write(ctx);
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err("progress actor stopped".into()))
        })
    }
}

impl<R: ProgressRow> Handler<GetProgressStats> for ProgressActor<R> {
    type Result = MessageResult<GetProgressStats>;

    fn handle(&mut self, _: GetProgressStats, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.stats.clone())
    }
}
