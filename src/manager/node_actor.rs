//! `NodeActor`: one host's part of a backup run. The [`super::backup_supervisor`] sends it one
//! message per stage; each stage is idempotent, so a restarted actor (or the next run of the task)
//! can run it again: it re-indexes what is still in the snapshot and counts what is gone as
//! uploaded earlier.
//!
//! The actor keeps the host's snapshot index (which table dirs and files the snapshot holds) and
//! the progress row of each table; every row change goes to the [`ProgressActor`] and to the
//! metrics. Agent calls and transfer jobs run as futures beside the actor's mailbox, so
//! [`GetNodeState`] answers while a stage runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::agent_client::{
    AgentClient, AgentError, KeyspaceKind, ReplicationKind, Root, UploadJob,
};
use super::dedup::deduplicate;
use super::metrics;
use super::progress_actor::{ProgressActor, ProgressUpdate};
use super::rate_limit_actor::{DcKey, FinishUpload, GetRateGate, RateLimitActor, StartUpload};
use super::resume::resumed_row;
use super::store::{BackupRunProgress, BackupStage, RunKey};
use crate::agent::files::Entry;
use crate::agent::jobs::{JobProgress, JobStatus};
use crate::spec::filter::Unit;
use crate::spec::location::Location;
use crate::spec::manifest::{FilesMeta, Manifest, ManifestContent, ReplicationType};
use crate::spec::paths::{
    remote_manifest_file, remote_meta_node_dir, remote_sstable_version_dir, scylla_manifest_name,
    temp_file,
};
use crate::spec::sstable::{DIGEST_COMPONENT, SSTableName};
use crate::spec::tag::SnapshotTag;

/// Bytes in a MiB (the agent API's rate unit).
const MIB: u64 = 1 << 20;
/// Tables of one host uploading at once (each an agent job with its own `transfers`).
const TABLES_IN_PARALLEL: usize = 4;
/// Most paths deleted in one agent call.
const DELETE_BATCH: usize = 1000;
/// How long an earlier attempt's agent job may take to stop.
const JOB_STOP_WAIT: Duration = Duration::from_secs(60);
/// How many times an upload is started again when the agent lost its job (it restarted).
const JOB_RESTARTS: u32 = 10;
/// Scylla's per-table snapshot manifest.
const SCYLLA_MANIFEST: &str = "manifest.json";
/// Scylla's per-table schema file in a snapshot, not backed up (the schema is dumped whole).
const SCYLLA_SCHEMA: &str = "schema.cql";
/// The Prometheus series with one line per shard.
const SHARD_SERIES: &str = "scylla_database_total_writes{";

/// What every node of a run shares.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The run.
    pub key: RunKey,
    /// The cluster's name (metrics labels, manifest header).
    pub cluster_name: String,
    /// The snapshot tag.
    pub tag: SnapshotTag,
    /// The keyspaces and tables backed up; rows refer to them by index.
    pub units: Vec<Unit>,
    /// Files in parallel per upload job; the agent's setting when `None`.
    pub transfers: Option<usize>,
    /// One long poll of an agent job.
    pub long_poll: Duration,
    /// A host with less free disk than this (percent) is not snapshotted.
    pub disk_free_min_percent: u8,
    /// Snapshot tags of this task's earlier runs that this run does not resume (never another
    /// task's): deleted from every node the run reaches.
    pub stale_tags: std::collections::BTreeSet<String>,
}

/// One host of a run: where it is and where its backup goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    /// Agent address.
    pub address: String,
    /// Scylla host ID (the node's name in the bucket).
    pub host_id: String,
    /// DC.
    pub dc: String,
    /// Its location.
    pub location: Location,
}

/// Everything a node actor is made from; the supervisor keeps it to restart the actor.
#[derive(Clone)]
pub struct NodeSetup {
    /// The run.
    pub run: Arc<RunInfo>,
    /// The host.
    pub host: HostPlan,
    /// The host's agent.
    pub client: AgentClient,
    /// Where progress rows go.
    pub progress: Addr<ProgressActor<BackupRunProgress>>,
    /// Whom to tell when uploads start and end.
    pub rates: Addr<RateLimitActor>,
    /// The host's DC, as the rate-limit actor knows it.
    pub rate_dc: DcKey,
    /// Rows this host had before: of the resumed run, or of the actor this one replaces.
    pub prev_rows: Vec<BackupRunProgress>,
    /// Cancelled when the run is stopped.
    pub cancel: CancellationToken,
}

/// Why a stage failed on a host.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A call to the agent failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The run was stopped.
    #[error("host {host}: stopped")]
    Stopped {
        /// The host.
        host: String,
    },
    /// Too little free disk to snapshot.
    #[error(
        "host {host}: not enough disk space: {free_percent}% free, at least {min_percent}% required (disk_space_free_min_percent)"
    )]
    DiskSpace {
        /// The host.
        host: String,
        /// Free space found.
        free_percent: u64,
        /// The minimum.
        min_percent: u8,
    },
    /// The snapshot holds no table dirs.
    #[error("host {host}: could not find any files of snapshot {tag}")]
    NoFiles {
        /// The host.
        host: String,
        /// The tag.
        tag: String,
    },
    /// A table's upload job failed.
    #[error("host {host}: upload of {keyspace}.{table} failed: {reason}")]
    Upload {
        /// The host.
        host: String,
        /// Keyspace.
        keyspace: String,
        /// Table.
        table: String,
        /// The agent's error.
        reason: String,
    },
    /// An agent job of an earlier attempt keeps moving the snapshot's files.
    #[error(
        "host {host}: agent job {job} of an earlier attempt does not stop; the snapshot cannot be indexed while it moves files (a retry may help)"
    )]
    Busy {
        /// The host.
        host: String,
        /// The job.
        job: String,
    },
    /// The host's node actor did not answer (it stopped).
    #[error("host {host}: its node actor is gone: {reason}")]
    Actor {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The node manifest could not be built, written or committed.
    #[error("host {host}: manifest: {reason}")]
    Manifest {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
}

impl NodeError {
    /// Whether restarting the node actor may get past the failure.
    pub fn retryable(&self) -> bool {
        match self {
            NodeError::Agent(e) => e.retryable(),
            NodeError::Upload { .. } | NodeError::Busy { .. } | NodeError::Actor { .. } => true,
            NodeError::Stopped { .. }
            | NodeError::DiskSpace { .. }
            | NodeError::NoFiles { .. }
            | NodeError::Manifest { .. } => false,
        }
    }
}

/// Result of a stage on a host.
pub type NodeResult<T> = Result<T, NodeError>;

/// SNAPSHOT: removes the host's stale snapshots of the task, checks free disk, snapshots every
/// unit.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct TakeSnapshot;

/// INDEX: lists the snapshot's table dirs and files and writes each table's first progress row.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<IndexSummary>")]
pub struct IndexSnapshot;

/// MANIFEST: writes the node manifest as `.tmp` (unless it is there already) and moves Scylla's
/// per-table manifests into the location.
#[derive(Message, Debug, Clone)]
#[rtype(result = "NodeResult<()>")]
pub struct WriteManifest {
    /// The schema file's path in the location, empty when no schema is backed up.
    pub schema: String,
}

/// DEDUPLICATE: deletes from the snapshot the files the location already holds.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<DedupSummary>")]
pub struct Deduplicate;

/// UPLOAD: moves what is left of the snapshot into the location, one table at a time.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct UploadData;

/// MOVE_MANIFEST: renames the `.tmp` manifest to its final name (or back, to roll back).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct CommitManifest {
    /// Final → tmp instead of tmp → final.
    pub rollback: bool,
}

/// PURGE (node part): deletes the run's snapshot, and the task's stale ones, from the node.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct DropSnapshot;

/// Asks for the host's progress rows (to seed a replacement actor).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<BackupRunProgress>")]
pub struct GetRows;

/// Asks for the actor's observable state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeState")]
pub struct GetNodeState;

/// What indexing found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IndexSummary {
    /// Table dirs in the snapshot.
    pub tables: usize,
    /// Files in them.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What deduplication found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DedupSummary {
    /// Files already in the location, deleted from the snapshot.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bundles that will create versioned files.
    pub versioned_bundles: usize,
}

/// The node actor's observable state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeState {
    /// The host.
    pub host: String,
    /// The stage it works on or last worked on.
    pub stage: Option<BackupStage>,
    /// Table dirs indexed.
    pub tables: usize,
    /// Bytes of the snapshot.
    pub size: u64,
    /// Bytes uploaded in this run.
    pub uploaded: u64,
    /// Bytes skipped (deduplicated or uploaded earlier).
    pub skipped: u64,
    /// Bytes failed.
    pub failed: u64,
    /// The agent job running now.
    pub job: Option<String>,
    /// The last error.
    pub error: Option<String>,
}

/// One table dir of the snapshot.
#[derive(Debug, Clone)]
struct TableDir {
    /// Index of the unit.
    unit: u32,
    /// Keyspace.
    keyspace: String,
    /// Table.
    table: String,
    /// Table version (32 hex digits).
    version: String,
    /// The snapshot dir, relative to the data dir.
    dir: String,
    /// Data files still in it, with sizes.
    files: Vec<(String, u64)>,
    /// Whether Scylla's `manifest.json` is in it.
    scylla_manifest: bool,
}

/// The actor's state, shared with the futures running its stages.
struct Inner {
    /// What it was made from.
    setup: NodeSetup,
    /// The snapshot index, once built.
    index: tokio::sync::Mutex<Option<Vec<TableDir>>>,
    /// Progress rows by (unit, table).
    rows: Mutex<BTreeMap<(u32, String), BackupRunProgress>>,
    /// Observable state.
    state: Mutex<NodeState>,
}

/// The actor of one host in one run.
pub struct NodeActor {
    /// Shared with running stages.
    inner: Arc<Inner>,
}

impl NodeActor {
    /// An actor for `setup`'s host, seeded with its previous rows.
    pub fn new(setup: NodeSetup) -> Self {
        let rows = setup
            .prev_rows
            .iter()
            .map(|r| ((r.unit, r.table_name.clone()), r.clone()))
            .collect();
        let state = NodeState {
            host: setup.host.address.clone(),
            ..NodeState::default()
        };
        NodeActor {
            inner: Arc::new(Inner {
                setup,
                index: tokio::sync::Mutex::new(None),
                rows: Mutex::new(rows),
                state: Mutex::new(state),
            }),
        }
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;
}

/// Runs one stage of `inner` as the answer of a message, recording the stage and any error.
fn stage<T, F, Fut>(
    inner: &Arc<Inner>,
    stage: BackupStage,
    work: F,
) -> ResponseFuture<NodeResult<T>>
where
    T: 'static,
    F: FnOnce(Arc<Inner>) -> Fut + 'static,
    Fut: Future<Output = NodeResult<T>> + 'static,
{
    let inner = inner.clone();
    inner.with_state(|s| {
        s.stage = Some(stage);
        s.error = None;
    });
    Box::pin(async move {
        let result = work(inner.clone()).await;
        if let Err(e) = &result {
            tracing::warn!(host = %inner.host(), ?stage, error = %e, "stage failed on host");
            inner.with_state(|s| s.error = Some(e.to_string()));
        }
        result
    })
}

impl Handler<TakeSnapshot> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, _: TakeSnapshot, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Snapshot, |i| async move {
            i.take_snapshot().await
        })
    }
}

impl Handler<IndexSnapshot> for NodeActor {
    type Result = ResponseFuture<NodeResult<IndexSummary>>;
    fn handle(&mut self, _: IndexSnapshot, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Index, |i| async move {
            i.reindex().await
        })
    }
}

impl Handler<WriteManifest> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, msg: WriteManifest, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Manifest, |i| async move {
            i.write_manifest(&msg.schema).await
        })
    }
}

impl Handler<Deduplicate> for NodeActor {
    type Result = ResponseFuture<NodeResult<DedupSummary>>;
    fn handle(&mut self, _: Deduplicate, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Deduplicate, |i| async move {
            i.deduplicate().await
        })
    }
}

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

impl Handler<CommitManifest> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, msg: CommitManifest, _: &mut Self::Context) -> Self::Result {
        stage(
            &self.inner,
            BackupStage::MoveManifest,
            move |i| async move { i.commit_manifest(msg.rollback).await },
        )
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

impl Handler<GetRows> for NodeActor {
    type Result = MessageResult<GetRows>;
    fn handle(&mut self, _: GetRows, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.inner.rows_snapshot())
    }
}

impl Handler<GetNodeState> for NodeActor {
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

/// Lists a directory through the agent; a directory that does not exist lists as empty.
async fn list_dir(
    client: &AgentClient,
    root: Root<'_>,
    path: &str,
    recursive: bool,
) -> Result<Vec<Entry>, AgentError> {
    match client.list_files(root, path, recursive).await {
        Ok(stream) => match stream.try_collect().await {
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            other => other,
        },
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Splits a table dir name `<table>-<32 hex digits>` into table and version.
fn table_dir_name(name: &str) -> Option<(&str, &str)> {
    let (table, version) = name.rsplit_once('-')?;
    let hex = version.len() == 32 && version.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !table.is_empty()).then_some((table, version))
}

/// Whether Scylla's answer to a snapshot request says the snapshot exists already.
fn snapshot_exists(e: &AgentError) -> bool {
    matches!(e, AgentError::Status { message, .. } if message.contains("already exists"))
}

impl Inner {
    /// The host's agent.
    fn client(&self) -> &AgentClient {
        &self.setup.client
    }

    /// The host's address.
    fn host(&self) -> &str {
        &self.setup.host.address
    }

    /// Changes the observable state.
    fn with_state(&self, f: impl FnOnce(&mut NodeState)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
    }

    /// The current rows, by unit then table.
    fn rows_snapshot(&self) -> Vec<BackupRunProgress> {
        self.rows
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Fails with `Stopped` once the run is stopped.
    fn check_stop(&self) -> NodeResult<()> {
        if self.setup.cancel.is_cancelled() {
            return Err(NodeError::Stopped {
                host: self.host().to_string(),
            });
        }
        Ok(())
    }

    /// The remote dir of a table's files.
    fn remote_dir(&self, t: &TableDir) -> String {
        let (run, host) = (&self.setup.run, &self.setup.host);
        remote_sstable_version_dir(
            run.key.cluster_id,
            &host.dc,
            &host.host_id,
            &t.keyspace,
            &t.table,
            &t.version,
        )
    }

    /// The final path of the node manifest.
    fn manifest_path(&self) -> String {
        let (run, host) = (&self.setup.run, &self.setup.host);
        remote_manifest_file(
            run.key.cluster_id,
            run.key.task_id,
            &run.tag,
            &host.dc,
            &host.host_id,
        )
    }

    /// Stores a row's new state: in the actor, the metrics and the progress actor.
    async fn put_row(&self, row: BackupRunProgress) {
        let keyspace = self
            .setup
            .run
            .units
            .get(row.unit as usize)
            .map(|u| u.keyspace.clone())
            .unwrap_or_default();
        metrics::table_progress(&self.setup.run.cluster_name, &keyspace, &row);
        let totals = {
            let Ok(mut rows) = self.rows.lock() else {
                return;
            };
            rows.insert((row.unit, row.table_name.clone()), row.clone());
            rows.values().fold((0, 0, 0, 0), |a, r| {
                (
                    a.0 + r.size,
                    a.1 + r.uploaded,
                    a.2 + r.skipped,
                    a.3 + r.failed,
                )
            })
        };
        self.with_state(|s| {
            (s.size, s.uploaded, s.skipped, s.failed) = totals;
            s.job = row.agent_job_id.clone();
        });
        // Bounded mailbox: a slow store slows progress reporting, never loses a row.
        let _ = self.setup.progress.send(ProgressUpdate(row)).await;
    }

    /// The row of a table, or a new one.
    fn row(&self, t: &TableDir) -> BackupRunProgress {
        let existing = self
            .rows
            .lock()
            .ok()
            .and_then(|r| r.get(&(t.unit, t.table.clone())).cloned());
        existing.unwrap_or_else(|| {
            let key = self.setup.run.key;
            BackupRunProgress {
                cluster_id: key.cluster_id,
                task_id: key.task_id,
                run_id: key.run_id,
                host: self.host().to_string(),
                unit: t.unit,
                table_name: t.table.clone(),
                agent_job_id: None,
                started_at: None,
                completed_at: None,
                error: None,
                size: 0,
                uploaded: 0,
                skipped: 0,
                failed: 0,
                files_count: 0,
                files_skipped_count: 0,
            }
        })
    }

    // ---- SNAPSHOT ----

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
        if free_percent < u64::from(run.disk_free_min_percent) {
            return Err(NodeError::DiskSpace {
                host: self.host().to_string(),
                free_percent,
                min_percent: run.disk_free_min_percent,
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

    // ---- INDEX ----

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
    async fn reindex(&self) -> NodeResult<IndexSummary> {
        let mut guard = self.index.lock().await;
        self.stop_previous_jobs().await?;
        let mut dirs = self.list_snapshot().await?;
        if dirs.is_empty() && self.rows_snapshot().is_empty() {
            return Err(NodeError::NoFiles {
                host: self.host().to_string(),
                tag: self.setup.run.tag.to_string(),
            });
        }
        let mut summary = IndexSummary {
            tables: dirs.len(),
            ..IndexSummary::default()
        };
        for t in &dirs {
            let (bytes, files) = (
                t.files.iter().map(|f| f.1).sum::<u64>(),
                t.files.len() as u64,
            );
            summary.bytes += bytes;
            summary.files += files;
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
        Ok(summary)
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
            let mut status = client.stop_job(&id).await?.status;
            let deadline = std::time::Instant::now() + JOB_STOP_WAIT;
            while status == JobStatus::Running {
                self.check_stop()?;
                if std::time::Instant::now() > deadline {
                    return Err(NodeError::Busy {
                        host: self.host().to_string(),
                        job: id,
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                status = client.job_progress(&id, Duration::ZERO).await?.status;
            }
        }
        Ok(())
    }

    /// The index, built first if this actor has none yet.
    async fn indexed(&self) -> NodeResult<tokio::sync::MutexGuard<'_, Option<Vec<TableDir>>>> {
        if self.index.lock().await.is_none() {
            self.reindex().await?;
        }
        Ok(self.index.lock().await)
    }

    // ---- MANIFEST ----

    async fn write_manifest(&self, schema: &str) -> NodeResult<()> {
        let guard = self.indexed().await?;
        let dirs = guard.as_deref().unwrap_or_default();
        let (client, run, host) = (self.client(), &self.setup.run, &self.setup.host);
        let final_path = self.manifest_path();
        let tmp_path = temp_file(&final_path);
        let meta_dir = remote_meta_node_dir(run.key.cluster_id, &host.dc, &host.host_id);
        let present: Vec<String> = list_dir(client, Root::Backup(&host.location), &meta_dir, false)
            .await?
            .into_iter()
            .map(|e| format!("{meta_dir}/{}", e.path))
            .collect();
        let scylla_name = scylla_manifest_name(&run.tag, &host.host_id);
        if !present.iter().any(|p| *p == tmp_path || *p == final_path) {
            let manifest = self.manifest(dirs, schema, &scylla_name).await?;
            let mut gz = Vec::new();
            manifest
                .write_gzip(&mut gz)
                .map_err(|e| NodeError::Manifest {
                    host: self.host().to_string(),
                    reason: e.to_string(),
                })?;
            client
                .write_file(&host.location, &tmp_path, Bytes::from(gz))
                .await?;
        }
        for t in dirs.iter().filter(|t| t.scylla_manifest) {
            self.check_stop()?;
            let local = format!("{}/{SCYLLA_MANIFEST}", t.dir);
            let body = match client.read_file(Root::Data, &local).await {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let remote = format!("{}/{scylla_name}", self.remote_dir(t));
            client.write_file(&host.location, &remote, body).await?;
            client.delete_files(Root::Data, &[local]).await?;
        }
        Ok(())
    }

    /// The node manifest of the indexed snapshot.
    async fn manifest(
        &self,
        dirs: &[TableDir],
        schema: &str,
        scylla_name: &str,
    ) -> NodeResult<Manifest> {
        let (client, run, host) = (self.client(), &self.setup.run, &self.setup.host);
        let info = client.node_info().await?;
        let tokens = client.tokens(&host.address).await?;
        let rack = client.rack(Some(&host.address)).await?;
        let shard_count = match client
            .raw(reqwest::Method::GET, "/metrics?name=database_total_writes")
            .await
        {
            Ok(body) => String::from_utf8_lossy(&body)
                .lines()
                .filter(|l| l.starts_with(SHARD_SERIES))
                .count() as u32,
            Err(e) => {
                tracing::warn!(host = %host.address, error = %e, "shard count unknown");
                0
            }
        };
        let tablets = client
            .keyspaces(KeyspaceKind::All, ReplicationKind::Tablets)
            .await
            .unwrap_or_default();
        let index: Vec<FilesMeta> = dirs
            .iter()
            .map(|t| FilesMeta {
                keyspace: t.keyspace.clone(),
                table: t.table.clone(),
                replication_type: Some(if tablets.contains(&t.keyspace) {
                    ReplicationType::Tablets
                } else {
                    ReplicationType::Vnodes
                }),
                version: t.version.clone(),
                files: t.files.iter().map(|f| f.0.clone()).collect(),
                size: t.files.iter().map(|f| f.1 as i64).sum(),
                scylla_manifests: if t.scylla_manifest {
                    vec![scylla_name.to_string()]
                } else {
                    Vec::new()
                },
                path: None,
            })
            .collect();
        Ok(Manifest {
            content: ManifestContent {
                scylla_version: info.scylla_version,
                cluster_name: run.cluster_name.clone(),
                ip: host.address.clone(),
                size: index.iter().map(|f| f.size).sum(),
                tokens,
                schema: schema.to_string(),
                rack,
                shard_count,
                cpu_count: info.cpu_count as u32,
                storage_size: info.storage_size,
                dc: host.dc.clone(),
                cluster_id: run.key.cluster_id,
                node_id: host.host_id.clone(),
                task_id: run.key.task_id,
                snapshot_tag: Some(run.tag.clone()),
                ..ManifestContent::default()
            },
            index,
        })
    }

    // ---- DEDUPLICATE ----

    async fn deduplicate(&self) -> NodeResult<DedupSummary> {
        let mut guard = self.indexed().await?;
        let dirs = guard.as_mut().map(|d| d.as_mut_slice()).unwrap_or_default();
        let (client, host) = (self.client(), &self.setup.host);
        let mut summary = DedupSummary::default();
        for t in dirs {
            self.check_stop()?;
            let remote_dir = self.remote_dir(t);
            let remote: Vec<(String, u64)> =
                list_dir(client, Root::Backup(&host.location), &remote_dir, false)
                    .await?
                    .into_iter()
                    .filter(|e| !e.dir)
                    .map(|e| (e.path, e.size))
                    .collect();
            if remote.is_empty() {
                continue;
            }
            let digests = self.digests(t, &remote, &remote_dir).await?;
            let found = deduplicate(&t.files, &remote, |local, name| {
                digests.get(&(local, name.to_string())).cloned()
            });
            summary.versioned_bundles += found.versioned_bundles;
            if found.duplicates.is_empty() {
                continue;
            }
            let paths: Vec<String> = found
                .duplicates
                .iter()
                .map(|f| format!("{}/{f}", t.dir))
                .collect();
            for batch in paths.chunks(DELETE_BATCH) {
                client.delete_files(Root::Data, batch).await?;
            }
            t.files.retain(|f| !found.duplicates.contains(&f.0));
            let mut row = self.row(t);
            row.skipped += found.duplicate_bytes;
            row.files_skipped_count += found.duplicates.len() as u64;
            self.put_row(row).await;
            summary.files += found.duplicates.len() as u64;
            summary.bytes += found.duplicate_bytes;
        }
        Ok(summary)
    }

    /// The `Digest.crc32` contents, local and remote, of integer-generation bundles that exist
    /// on both sides: deduplication compares them.
    async fn digests(
        &self,
        t: &TableDir,
        remote: &[(String, u64)],
        remote_dir: &str,
    ) -> NodeResult<HashMap<(bool, String), String>> {
        let (client, host) = (self.client(), &self.setup.host);
        let mut out = HashMap::new();
        for (name, _) in &t.files {
            let integer = name
                .parse::<SSTableName>()
                .is_ok_and(|n| n.generation.is_integer());
            if !integer || !name.ends_with(DIGEST_COMPONENT) || !remote.iter().any(|r| r.0 == *name)
            {
                continue;
            }
            let local = client
                .read_file(Root::Data, &format!("{}/{name}", t.dir))
                .await?;
            let theirs = client
                .read_file(
                    Root::Backup(&host.location),
                    &format!("{remote_dir}/{name}"),
                )
                .await?;
            out.insert(
                (true, name.clone()),
                String::from_utf8_lossy(&local).into_owned(),
            );
            out.insert(
                (false, name.clone()),
                String::from_utf8_lossy(&theirs).into_owned(),
            );
        }
        Ok(out)
    }

    // ---- UPLOAD ----

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
                JobStatus::NotFound if restarts < JOB_RESTARTS => {
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
        let (client, run) = (self.client(), &self.setup.run);
        loop {
            let p = tokio::select! {
                p = client.job_progress(id, run.long_poll) => p?,
                () = self.setup.cancel.cancelled() => {
                    if let Err(e) = client.stop_job(id).await {
                        tracing::warn!(host = %self.host(), job = id, error = %e, "could not stop the agent job");
                    }
                    return Err(NodeError::Stopped { host: self.host().to_string() });
                }
            };
            if p.status != JobStatus::NotFound {
                row.uploaded = p.bytes_transferred;
                row.skipped = offsets.0 + p.bytes_skipped;
                row.failed = p.bytes_failed;
                row.files_skipped_count = offsets.1 + p.files_skipped;
            }
            if p.status != JobStatus::Running {
                return Ok(p);
            }
            self.put_row(row.clone()).await;
        }
    }

    // ---- MOVE_MANIFEST ----

    async fn commit_manifest(&self, rollback: bool) -> NodeResult<()> {
        let (client, host) = (self.client(), &self.setup.host);
        let final_path = self.manifest_path();
        let tmp_path = temp_file(&final_path);
        if !rollback {
            self.verify_manifest(&tmp_path, &final_path).await?;
        }
        let (from, to) = if rollback {
            (&final_path, &tmp_path)
        } else {
            (&tmp_path, &final_path)
        };
        match client
            .move_file(Root::Backup(&host.location), from, to, false)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => {
                let dir = to.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
                let there = list_dir(client, Root::Backup(&host.location), dir, false)
                    .await?
                    .iter()
                    .any(|e| format!("{dir}/{}", e.path) == *to);
                if there || rollback {
                    Ok(())
                } else {
                    Err(NodeError::Manifest {
                        host: host.address.clone(),
                        reason: format!("neither {from} nor {to} is in {}", host.location),
                    })
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks, before the manifest becomes final, that every file it lists is in the location
    /// with the listed total size per table: a final manifest never refers to a missing file.
    async fn verify_manifest(&self, tmp_path: &str, final_path: &str) -> NodeResult<()> {
        let (client, host) = (self.client(), &self.setup.host);
        let body = match client
            .read_file(Root::Backup(&host.location), tmp_path)
            .await
        {
            Ok(b) => b,
            // Committed already (a resumed run): it was checked then.
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let manifest_error = |reason: String| NodeError::Manifest {
            host: host.address.clone(),
            reason,
        };
        let manifest = Manifest::read_gzip(&body[..])
            .map_err(|e| manifest_error(format!("{tmp_path}: {e}")))?;
        let run = &self.setup.run;
        if !manifest.content.schema.is_empty() {
            let schema = &manifest.content.schema;
            let dir = schema.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
            let there = list_dir(client, Root::Backup(&host.location), dir, false)
                .await?
                .iter()
                .any(|e| format!("{dir}/{}", e.path) == *schema);
            if !there {
                return Err(manifest_error(format!(
                    "the schema file {schema} it names is not in {}; {final_path} is not committed",
                    host.location
                )));
            }
        }
        for f in &manifest.index {
            self.check_stop()?;
            let dir = remote_sstable_version_dir(
                run.key.cluster_id,
                &host.dc,
                &host.host_id,
                &f.keyspace,
                &f.table,
                &f.version,
            );
            let present: HashMap<String, u64> =
                list_dir(client, Root::Backup(&host.location), &dir, false)
                    .await?
                    .into_iter()
                    .filter(|e| !e.dir)
                    .map(|e| (e.path, e.size))
                    .collect();
            let missing: Vec<&String> = f
                .files
                .iter()
                .chain(&f.scylla_manifests)
                .filter(|n| !present.contains_key(*n))
                .collect();
            let size: i64 = f
                .files
                .iter()
                .filter_map(|n| present.get(n))
                .map(|s| *s as i64)
                .sum();
            if !missing.is_empty() || size != f.size {
                return Err(manifest_error(format!(
                    "{}.{}: {} of its {} files are not in {} ({}), {size} of {} bytes found; {final_path} is not committed (start a new run without resume)",
                    f.keyspace,
                    f.table,
                    missing.len(),
                    f.files.len(),
                    host.location,
                    missing
                        .iter()
                        .take(3)
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    f.size
                )));
            }
        }
        Ok(())
    }
}
