//! `NodeActor`: one host's part of a backup run. The [`super::supervisor`] sends it one message
//! per stage; each stage is idempotent, so a restarted actor (or the next run of the task) can
//! run it again: it re-indexes what is still in the snapshot and counts what is gone as uploaded
//! earlier.
//!
//! The actor keeps the host's snapshot index (which table dirs and files the snapshot holds) and
//! the progress row of each table; every row change goes to the [`ProgressActor`] and to the
//! metrics. Agent calls and transfer jobs run as futures beside the actor's mailbox, so
//! [`GetNodeRunState`] answers while a stage runs.
//!
//! This file holds the actor, what it is made from ([`NodeSetup`], [`RunContext`], [`HostPlan`]),
//! its errors, the state its stages share (the index, the rows) and the two questions it answers
//! any time; each stage's message, handler and work is a file of its own:
//!
//! | module | stage |
//! |---|---|
//! | [`snapshot`] | SNAPSHOT ([`snapshot::TakeSnapshot`]) and the node part of PURGE ([`snapshot::DropSnapshot`]) |
//! | [`index`] | INDEX ([`index::IndexSnapshot`]): the snapshot's table dirs and files, each table's first row |
//! | [`manifest`] | MANIFEST ([`manifest::WriteManifest`]): the `.tmp` node manifest, Scylla's table manifests |
//! | [`dedup`] | DEDUPLICATE ([`dedup::Deduplicate`]): files the location holds already leave the snapshot |
//! | [`upload`] | UPLOAD ([`upload::UploadData`]): one agent job per table, a few tables at a time |
//! | [`commit`] | MOVE_MANIFEST ([`commit::CommitManifest`]): the manifest made final once its files are checked, or rolled back |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::settings::RunSettings;
use crate::format::filter::Unit;
use crate::format::location::Location;
use crate::format::paths::{remote_manifest_file, remote_sstable_version_dir};
use crate::format::tag::SnapshotTag;
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::error::AgentError;
use crate::manager::agent_jobs::JobError;
use crate::manager::backup::stage::BackupStage;
use crate::manager::fleet::MemberError;
use crate::manager::metrics;
use crate::manager::progress_actor::{ProgressActor, ProgressUpdate};
use crate::manager::rate_limit_actor::{DcKey, RateLimitActor};
use crate::manager::store::{BackupRunProgress, RunKey};

pub mod commit;
pub mod dedup;
pub mod index;
pub mod manifest;
pub mod snapshot;
pub mod upload;

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
pub struct RunContext {
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
    /// The manager's settings for runs (long poll, minimum free disk).
    pub settings: Arc<RunSettings>,
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
    pub run: Arc<RunContext>,
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

impl MemberError for NodeError {
    fn retryable(&self) -> bool {
        NodeError::retryable(self)
    }

    fn gone(host: &str, reason: String) -> Self {
        NodeError::Actor {
            host: host.to_string(),
            reason,
        }
    }

    fn stopped(host: &str) -> Self {
        NodeError::Stopped {
            host: host.to_string(),
        }
    }
}

/// Result of a stage on a host.
pub type NodeResult<T> = Result<T, NodeError>;

/// Asks for the host's progress rows (to seed a replacement actor).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<BackupRunProgress>")]
pub struct GetRows;

/// Asks for the actor's observable state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeRunState")]
pub struct GetNodeRunState;

/// The node actor's observable state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeRunState {
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
    state: Mutex<NodeRunState>,
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
        let state = NodeRunState {
            host: setup.host.address.clone(),
            ..NodeRunState::default()
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

impl Handler<GetRows> for NodeActor {
    type Result = MessageResult<GetRows>;
    fn handle(&mut self, _: GetRows, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.inner.rows_snapshot())
    }
}

impl Handler<GetNodeRunState> for NodeActor {
    type Result = MessageResult<GetNodeRunState>;
    fn handle(&mut self, _: GetNodeRunState, _: &mut Self::Context) -> Self::Result {
        MessageResult(
            self.inner
                .state
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default(),
        )
    }
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
    fn with_state(&self, f: impl FnOnce(&mut NodeRunState)) {
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

    /// The node error of a failed agent job call.
    fn job_error(&self, e: JobError) -> NodeError {
        match e {
            JobError::Agent(e) => e.into(),
            JobError::Stopped => NodeError::Stopped {
                host: self.host().to_string(),
            },
            JobError::StillRunning { job } => NodeError::Busy {
                host: self.host().to_string(),
                job,
            },
        }
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
}
