//! `BackupSupervisor`: one backup run. It builds the run's target, decides whether it resumes an
//! interrupted run (same snapshot tag, nodes and units), then drives the stages in upstream order
//! (spec 1.4) over one [`NodeActor`] per host, under the per-DC parallelism limits. A host whose
//! actor fails with an error worth retrying gets a fresh actor (seeded with its progress rows)
//! after a backoff; a host that still fails fails the run once every other host has finished the
//! stage. Manifests become final only when every host has uploaded; if one commit fails, every
//! commit is rolled back. The run's task-run record is written at the start and at the end.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::agent_client::{AgentClient, AgentError, RetryPolicy};
use super::backups::list_manifests;
use super::config::{BackupSettings, Checked};
use super::discovery::{DiscoveryError, discover};
use super::host_limits::run_limited;
use super::lease::{self, Holder, Lease, LeaseError};
use super::node_actor::{
    CommitManifest, Deduplicate, DropSnapshot, GetNodeState, GetRows, HostPlan, IndexSnapshot,
    NodeActor, NodeError, NodeSetup, NodeState, RunInfo, TakeSnapshot, UploadData, WriteManifest,
};
use super::progress_actor::{FlushProgress, ProgressActor};
use super::purge::{PurgeReport, assign_nodes, purge_node};
use super::rate_limit_actor::{DcKey, RateLimitActor, SetBudget};
use super::resume::{RESUME_LOOKBACK, carried_over, resumable_run};
use super::retention::{Policy, oldest_kept, stale_snapshots};
use super::schema_dump;
use super::store::{
    BackupRun, BackupRunProgress, BackupStage, Cluster, RunKey, RunStatus, SkippedHost, Store,
    StoreError, Task, TaskKey, TaskRun,
};
use super::target::{TargetError, TaskProperties, build_target};
use crate::spec::dclimit::DcLimits;
use crate::spec::location::Location;
use crate::spec::paths::ManifestInfo;
use crate::spec::paths::remote_schema_file;
use crate::spec::tag::SnapshotTag;

/// Bytes in a MiB.
const MIB: u64 = 1 << 20;
/// How many of a task's newest runs are looked at for stale snapshots on the nodes.
const STALE_TAG_LOOKBACK: usize = 1000;
/// Most hosts writing manifests at once (bounds the manager's memory, as upstream).
const MANIFEST_PARALLEL: u64 = 12;

/// Run settings from the manager's configuration.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Minimum free disk (percent) to snapshot a host.
    pub disk_free_min_percent: u8,
    /// One long poll of an agent job.
    pub long_poll: Duration,
    /// Oldest interrupted run that is resumed (`None`: any).
    pub age_max: Option<Duration>,
    /// Fresh node actors a failing host gets within one stage before it fails.
    pub host_restarts: u32,
    /// The pause before a host's first restart (doubled for each next one).
    pub host_restart_backoff: Duration,
    /// The manager instance running the run (`scheduler_task_run.owner`).
    pub owner: String,
}

impl RunSettings {
    /// The settings of a checked configuration.
    pub fn from_config(backup: &BackupSettings, checked: &Checked) -> Self {
        RunSettings {
            disk_free_min_percent: backup.disk_space_free_min_percent,
            long_poll: checked.long_poll,
            age_max: checked.age_max,
            ..RunSettings::default()
        }
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            disk_free_min_percent: 10,
            long_poll: Duration::from_secs(10),
            age_max: Some(Duration::from_secs(24 * 3600)),
            host_restarts: 2,
            host_restart_backoff: Duration::from_secs(2),
            owner: hostname(),
        }
    }
}

/// This machine's name, for `owner`.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "cairn-manager".to_string())
}

/// The manager-wide parts every run uses.
#[derive(Clone)]
pub struct RunDeps {
    /// The state store.
    pub store: Arc<dyn Store>,
    /// Progress writes.
    pub progress: Addr<ProgressActor<BackupRunProgress>>,
    /// Bandwidth budgets.
    pub rates: Addr<RateLimitActor>,
    /// Settings.
    pub settings: Arc<RunSettings>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The cluster.
    pub cluster: Cluster,
    /// The backup task.
    pub task: Task,
    /// The new run's id (a time UUID).
    pub run_id: Uuid,
    /// Whether the run may resume the task's interrupted run.
    pub resume: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The cluster's nodes could not be found.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The task's properties are not valid JSON for a backup task.
    #[error("task properties: {0}")]
    Properties(String),
    /// The target could not be built.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A node of the run to resume is not live now.
    #[error(
        "missing hosts to resume backup: {} (the run resumes once they are back, or a new run starts after age_max)",
        .0.join(", ")
    )]
    MissingHosts(Vec<String>),
    /// A stage failed on at least one host (the first error; the others are logged).
    #[error("{stage}: {error}{}", if *.others > 0 { format!(" (and {} more hosts failed)", .others) } else { String::new() })]
    Hosts {
        /// The stage.
        stage: BackupStage,
        /// The first host error.
        error: NodeError,
        /// How many other hosts failed.
        others: usize,
    },
    /// The schema could not be dumped or uploaded.
    #[error(transparent)]
    Schema(#[from] schema_dump::SchemaError),
    /// An agent call outside a node's stage failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// Progress could not be stored.
    #[error("progress could not be stored: {0}")]
    Progress(String),
    /// Retention could not be applied.
    #[error("purge: {0}")]
    Purge(String),
    /// Another manager holds a location's lease (DESIGN.md invariant 9).
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// A location's lease was lost while the run held it.
    #[error("{0}")]
    LeaseLost(String),
    /// The run was stopped.
    #[error("stopped")]
    Stopped,
}

/// Tells the scheduler a run ended.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RunFinished {
    /// The task.
    pub task: TaskKey,
    /// The run.
    pub run_id: Uuid,
    /// How it ended.
    pub status: RunStatus,
    /// Why, when it did not succeed.
    pub cause: String,
}

/// Stops the run: the in-flight jobs are stopped, the snapshots stay for the next run.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopRun {
    /// The status the run ends with: STOPPED (by a user), WAITING (its window closed) or
    /// ABORTED (the manager shuts down).
    pub status: RunStatus,
}

/// Asks for the run's observable state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "RunState")]
pub struct GetRunState;

/// One host as the supervisor sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostState {
    /// Its DC.
    pub dc: String,
    /// Fresh node actors it got.
    pub restarts: u32,
    /// The error that failed it, if one did.
    pub error: Option<String>,
    /// Its node actor's state.
    pub node: Option<NodeState>,
}

/// The supervisor's observable state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunState {
    /// The run.
    pub run_id: Uuid,
    /// The run it resumes, if any.
    pub resumed_from: Option<Uuid>,
    /// Its snapshot tag, once chosen.
    pub snapshot_tag: Option<String>,
    /// The stage being run.
    pub stage: Option<BackupStage>,
    /// The hosts by address.
    pub hosts: BTreeMap<String, HostState>,
    /// Nodes the run leaves out, and why.
    pub skipped_hosts: Vec<SkippedHost>,
    /// How the run ended, once it has.
    pub status: Option<RunStatus>,
}

/// What the run's future shares with the actor.
struct Shared {
    /// Observable state.
    state: Mutex<RunState>,
    /// The node actors by host.
    nodes: Mutex<HashMap<String, Addr<NodeActor>>>,
    /// Cancelled to stop the run.
    cancel: CancellationToken,
    /// The status a stop ends the run with.
    stop_status: Mutex<RunStatus>,
}

/// The supervisor of one backup run.
pub struct BackupSupervisor {
    /// The manager's parts.
    deps: RunDeps,
    /// What to run (taken when the run starts).
    request: Option<RunRequest>,
    /// Whom to tell when the run ends.
    finished: Recipient<RunFinished>,
    /// Shared with the run's future.
    shared: Arc<Shared>,
}

impl BackupSupervisor {
    /// A supervisor that will run `request` and tell `finished` when it ends.
    pub fn new(deps: RunDeps, request: RunRequest, finished: Recipient<RunFinished>) -> Self {
        let state = RunState {
            run_id: request.run_id,
            ..RunState::default()
        };
        BackupSupervisor {
            deps,
            request: Some(request),
            finished,
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                nodes: Mutex::new(HashMap::new()),
                cancel: CancellationToken::new(),
                stop_status: Mutex::new(RunStatus::Stopped),
            }),
        }
    }
}

impl Actor for BackupSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(request) = self.request.take() else {
            return;
        };
        let flow = Flow {
            deps: self.deps.clone(),
            shared: self.shared.clone(),
            request,
        };
        let finished = self.finished.clone();
        ctx.spawn(
            async move { flow.run().await }
                .into_actor(self)
                .map(move |report, _, ctx| {
                    finished.do_send(report);
                    ctx.stop();
                }),
        );
    }
}

impl Handler<StopRun> for BackupSupervisor {
    type Result = ();
    fn handle(&mut self, msg: StopRun, _: &mut Self::Context) {
        // The first stop decides how the run ends (a window closing later does not turn a
        // user's stop into WAITING).
        if !self.shared.cancel.is_cancelled()
            && let Ok(mut s) = self.shared.stop_status.lock()
        {
            *s = msg.status;
        }
        self.shared.cancel.cancel();
    }
}

impl Handler<GetRunState> for BackupSupervisor {
    type Result = ResponseFuture<RunState>;
    fn handle(&mut self, _: GetRunState, _: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move {
            let nodes: Vec<(String, Addr<NodeActor>)> = shared
                .nodes
                .lock()
                .map(|n| n.iter().map(|(h, a)| (h.clone(), a.clone())).collect())
                .unwrap_or_default();
            let mut states = Vec::new();
            for (host, addr) in nodes {
                if let Ok(s) = addr.send(GetNodeState).await {
                    states.push((host, s));
                }
            }
            let mut state = shared.state.lock().map(|s| s.clone()).unwrap_or_default();
            for (host, s) in states {
                state.hosts.entry(host).or_default().node = Some(s);
            }
            state
        })
    }
}

/// Chooses a new snapshot tag, never the same as the previous one taken by this process (two
/// runs started within one second would otherwise share a tag).
async fn new_tag() -> SnapshotTag {
    static LAST: Mutex<Option<SnapshotTag>> = Mutex::new(None);
    loop {
        let tag = SnapshotTag::now();
        {
            let Ok(mut last) = LAST.lock() else {
                return tag;
            };
            if last.as_ref() != Some(&tag) {
                *last = Some(tag.clone());
                return tag;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The retention policy of a task (upstream defaults: 3 snapshots when neither field is given;
/// a deleted task keeps its snapshots by age only, at least 30 days).
pub fn policy_of(task: &Task) -> Policy {
    let props: TaskProperties = serde_json::from_value(task.properties.clone()).unwrap_or_default();
    let days = u32::try_from(props.retention_days.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
    let count = match (props.retention, props.retention_days) {
        (Some(r), _) => u32::try_from(r.max(0)).unwrap_or(u32::MAX),
        (None, None) => 3,
        (None, Some(_)) => 0,
    };
    if task.deleted {
        return Policy {
            retention: 0,
            retention_days: days.max(super::retention::UNKNOWN_TASK_DAYS),
        };
    }
    Policy {
        retention: count,
        retention_days: days,
    }
}

/// The location a DC's hosts use: its own, else the default.
fn location_for(locations: &[Location], dc: &str) -> Option<Location> {
    locations
        .iter()
        .find(|l| l.dc.as_deref() == Some(dc))
        .or_else(|| locations.iter().find(|l| l.dc.is_none()))
        .cloned()
}

/// The run in progress: what its future owns.
struct Flow {
    /// The manager's parts.
    deps: RunDeps,
    /// Shared with the actor.
    shared: Arc<Shared>,
    /// What to run.
    request: RunRequest,
}

/// The plan of a run once initialised.
struct Plan {
    /// The stored run.
    run: BackupRun,
    /// The hosts.
    hosts: Vec<HostPlan>,
    /// The stage to resume at (INIT for a new run).
    resume_at: BackupStage,
    /// Rows of the resumed run, by host.
    prev_rows: HashMap<String, Vec<BackupRunProgress>>,
    /// Per-DC host limits.
    snapshot_parallel: DcLimits,
    /// Per-DC host limits of INDEX, DEDUPLICATE and UPLOAD.
    upload_parallel: DcLimits,
    /// Whether the schema is backed up.
    skip_schema: bool,
    /// Only the purge runs.
    purge_only: bool,
    /// Files in parallel per job.
    transfers: Option<usize>,
    /// An agent client (any host's) to derive others from.
    client: AgentClient,
}

impl Flow {
    /// The task this run belongs to.
    fn task_key(&self) -> TaskKey {
        self.request.task.key()
    }

    /// The run's key.
    fn key(&self) -> RunKey {
        RunKey {
            cluster_id: self.request.cluster.id,
            task_id: self.request.task.id,
            run_id: self.request.run_id,
        }
    }

    /// Changes the observable state.
    fn with_state(&self, f: impl FnOnce(&mut RunState)) {
        if let Ok(mut s) = self.shared.state.lock() {
            f(&mut s);
        }
    }

    /// Runs the whole run and records how it ended.
    async fn run(self) -> RunFinished {
        let store = self.deps.store.clone();
        let req = &self.request;
        let start = TaskRun {
            cluster_id: req.cluster.id,
            task_type: req.task.task_type,
            task_id: req.task.id,
            id: req.run_id,
            status: RunStatus::Running,
            cause: String::new(),
            owner: self.deps.settings.owner.clone(),
            start_time: Utc::now(),
            end_time: None,
        };
        let task_label = req.task.id.to_string();
        super::metrics::task_run(&req.cluster.name, "backup", &task_label, true, None);
        let mut result = match store.put_task_run(&start).await {
            Ok(()) => match self.record_on_task(RunStatus::Running).await {
                Ok(()) => self.stages().await,
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        };
        if self.shared.cancel.is_cancelled()
            && result.is_err()
            && !matches!(result, Err(RunError::LeaseLost(_)))
        {
            result = Err(RunError::Stopped);
        }
        let _ = self.deps.progress.send(FlushProgress).await;
        let (status, cause) = match &result {
            Ok(()) => (RunStatus::Done, String::new()),
            Err(RunError::Stopped) => (
                self.shared
                    .stop_status
                    .lock()
                    .map(|s| *s)
                    .unwrap_or(RunStatus::Stopped),
                "stopped".to_string(),
            ),
            Err(e) => (RunStatus::Error, e.to_string()),
        };
        match &result {
            Ok(()) => tracing::info!(run = %self.key(), "backup run done"),
            Err(e) => tracing::warn!(run = %self.key(), error = %e, ?status, "backup run ended"),
        }
        let end = TaskRun {
            status,
            cause: cause.clone(),
            end_time: Some(Utc::now()),
            ..start
        };
        if let Err(e) = store.put_task_run(&end).await {
            tracing::error!(run = %self.key(), error = %e, "could not record the end of the run");
        }
        if let Err(e) = self.record_on_task(status).await {
            tracing::error!(run = %self.key(), error = %e, "could not update the task");
        }
        super::metrics::task_run(
            &req.cluster.name,
            "backup",
            &task_label,
            false,
            Some(status.as_str()),
        );
        self.with_state(|s| s.status = Some(status));
        RunFinished {
            task: self.task_key(),
            run_id: req.run_id,
            status,
            cause,
        }
    }

    /// Records the run's outcome on the task row.
    async fn record_on_task(&self, status: RunStatus) -> Result<(), StoreError> {
        let store = &self.deps.store;
        let Some(mut task) = store.get_task(self.task_key()).await? else {
            return Ok(());
        };
        task.status = Some(status);
        let now = Utc::now();
        match status {
            RunStatus::Done => {
                task.success_count += 1;
                task.last_success = Some(now);
            }
            RunStatus::Error => {
                task.error_count += 1;
                task.last_error = Some(now);
            }
            _ => {}
        }
        store.put_task(&task).await
    }

    /// Initialises the run and runs its stages holding the lease of its locations: taken before
    /// any node is touched (another manager's run is refused there, before its snapshots could
    /// be cleaned up as stale); if the store cannot be reached then, taken again before the first
    /// stage that writes to the location, where failing fails the run.
    async fn stages(&self) -> Result<(), RunError> {
        let plan = self.init().await?;
        let mut lease = match self.take_lease(&plan).await {
            Ok(l) => Some(l),
            Err(RunError::Lease(e)) if e.unreachable() => {
                tracing::warn!(run = %self.key(), error = %e, "lease not taken yet; trying again before writing to the location");
                None
            }
            Err(e) => return Err(e),
        };
        let result = self.held_stages(plan, &mut lease).await;
        let Some(lease) = lease else {
            return result;
        };
        let lost = lease.lost();
        lease.release().await;
        match lost {
            Some(reason) => Err(RunError::LeaseLost(reason)),
            None => result,
        }
    }

    /// Takes the lease of the run's locations (DESIGN.md invariant 9).
    async fn take_lease(&self, plan: &Plan) -> Result<Lease, RunError> {
        let locations = plan
            .hosts
            .iter()
            .map(|h| (h.location.clone(), vec![plan.client.for_host(&h.address)]));
        let holder = Holder {
            task: Some(self.request.task.id),
            run: self.request.run_id,
            purpose: "backup",
        };
        let (settings, cancel) = (lease::settings(), self.shared.cancel.clone());
        let cluster = self.key().cluster_id;
        Ok(Lease::take(settings, locations.collect(), cluster, holder, cancel).await?)
    }

    /// Runs the stages of an initialised run, taking the lease into `lease` before the first
    /// stage that writes to the locations.
    async fn held_stages(&self, plan: Plan, lease: &mut Option<Lease>) -> Result<(), RunError> {
        let key = self.key();
        let info = Arc::new(RunInfo {
            key,
            cluster_name: self.request.cluster.name.clone(),
            tag: plan.run.snapshot_tag.clone(),
            units: plan.run.units.clone(),
            transfers: plan.transfers,
            long_poll: self.deps.settings.long_poll,
            disk_free_min_percent: self.deps.settings.disk_free_min_percent,
            stale_tags: self.stale_tags(&plan.run).await?,
        });
        for h in &plan.hosts {
            let setup = self.node_setup(&plan, &info, h, plan.prev_rows.get(&h.host_id).cloned());
            let addr = NodeActor::new(setup).start();
            if let Ok(mut n) = self.shared.nodes.lock() {
                n.insert(h.address.clone(), addr);
            }
        }
        let mut schema_blob: Option<Bytes> = None;
        let schema_path = remote_schema_file(key.cluster_id, key.task_id, &plan.run.snapshot_tag);
        for stage in BackupStage::ALL.iter().copied() {
            if stage == BackupStage::Init || stage == BackupStage::Done {
                continue;
            }
            // A resumed run re-runs its interrupted stage and what follows; the schema dump is
            // kept only in memory, so it runs again unless the schema was already uploaded.
            let skip = (plan.purge_only && stage < BackupStage::Purge)
                || if stage == BackupStage::AwaitSchema {
                    plan.resume_at > BackupStage::Schema
                } else {
                    stage < plan.resume_at
                };
            if skip {
                continue;
            }
            if self.shared.cancel.is_cancelled() {
                return Err(RunError::Stopped);
            }
            self.deps.store.update_backup_stage(key, stage).await?;
            if stage >= BackupStage::Manifest && lease.is_none() {
                *lease = Some(self.take_lease(&plan).await?);
            }
            self.with_state(|s| s.stage = Some(stage));
            tracing::info!(run = %key, ?stage, "stage");
            let all = DcLimits::default();
            let manifest_limit =
                DcLimits::parse(&[MANIFEST_PARALLEL.to_string()]).unwrap_or_default();
            match stage {
                BackupStage::Snapshot => {
                    self.on_hosts(&plan, &info, stage, &plan.snapshot_parallel, TakeSnapshot)
                        .await?;
                }
                BackupStage::AwaitSchema => {
                    schema_blob = self.dump_schema(&plan).await?;
                }
                BackupStage::Index => {
                    self.on_hosts(&plan, &info, stage, &plan.upload_parallel, IndexSnapshot)
                        .await?;
                }
                BackupStage::Manifest => {
                    let schema = if schema_blob.is_some() {
                        schema_path.clone()
                    } else {
                        String::new()
                    };
                    let msg = WriteManifest { schema };
                    self.on_hosts(&plan, &info, stage, &manifest_limit, msg)
                        .await?;
                }
                BackupStage::Schema => {
                    if let Some(blob) = &schema_blob {
                        self.upload_schema(&plan, &schema_path, blob).await?;
                    }
                }
                BackupStage::Deduplicate => {
                    self.on_hosts(&plan, &info, stage, &plan.upload_parallel, Deduplicate)
                        .await?;
                }
                BackupStage::Upload => {
                    self.on_hosts(&plan, &info, stage, &plan.upload_parallel, UploadData)
                        .await?;
                }
                BackupStage::MoveManifest => self.commit_manifests(&plan, &info).await?,
                BackupStage::Purge => {
                    if !plan.purge_only {
                        // Leftovers of the snapshot go; a failure is only logged.
                        let _ = self.on_hosts(&plan, &info, stage, &all, DropSnapshot).await;
                    }
                    self.apply_retention(&plan).await?;
                }
                BackupStage::Init | BackupStage::Done => {}
            }
            self.flush_progress().await?;
        }
        self.deps
            .store
            .update_backup_stage(key, BackupStage::Done)
            .await?;
        self.with_state(|s| s.stage = Some(BackupStage::Done));
        Ok(())
    }

    /// The setup of a host's node actor.
    fn node_setup(
        &self,
        plan: &Plan,
        info: &Arc<RunInfo>,
        host: &HostPlan,
        prev_rows: Option<Vec<BackupRunProgress>>,
    ) -> NodeSetup {
        NodeSetup {
            run: info.clone(),
            host: host.clone(),
            client: plan.client.for_host(&host.address),
            progress: self.deps.progress.clone(),
            rates: self.deps.rates.clone(),
            rate_dc: DcKey::new(self.request.cluster.id, &host.dc),
            prev_rows: prev_rows.unwrap_or_default(),
            cancel: self.shared.cancel.clone(),
        }
    }

    /// Discovers the cluster, builds the target, resumes or starts a run, stores it.
    async fn init(&self) -> Result<Plan, RunError> {
        let (cluster, task) = (&self.request.cluster, &self.request.task);
        let view = discover(
            &cluster.hosts,
            cluster.agent_port,
            &cluster.auth_token,
            &cluster.agent_pins,
        )
        .await?;
        let props: TaskProperties = serde_json::from_value(task.properties.clone())
            .map_err(|e| RunError::Properties(e.to_string()))?;
        let contact = view
            .live_nodes()
            .next()
            .map(|n| n.address.clone())
            .ok_or(DiscoveryError::NoHosts)?;
        let client = AgentClient::new(
            &contact,
            cluster.agent_port,
            &cluster.auth_token,
            &cluster.agent_pins,
        )
        .map_err(RunError::Agent)?;
        let mut target = build_target(&props, &view, &client).await?;
        schema_dump::exclude_views(&mut target, cluster).await;

        let key = self.key();
        let mut run = BackupRun {
            cluster_id: key.cluster_id,
            task_id: key.task_id,
            id: key.run_id,
            prev_id: None,
            snapshot_tag: SnapshotTag::now(),
            units: target.units.clone(),
            dc: target.dc.clone(),
            location: target.location.clone(),
            nodes: target.hosts.iter().map(|h| h.host_id.clone()).collect(),
            start_time: Utc::now(),
            stage: BackupStage::Init,
            // Live nodes only are backed up (as upstream); the others are recorded with why.
            skipped_hosts: target
                .ignored_hosts
                .iter()
                .map(|h| SkippedHost {
                    host: h.address.clone(),
                    reason: h.reason.clone(),
                })
                .collect(),
        };
        let mut resume_at = BackupStage::Init;
        let mut prev_rows: HashMap<String, Vec<BackupRunProgress>> = HashMap::new();
        let store = &self.deps.store;
        let prev = if target.continue_ && self.request.resume {
            let runs = store
                .list_backup_runs(key.cluster_id, key.task_id, RESUME_LOOKBACK)
                .await?;
            resumable_run(&runs, Utc::now(), self.deps.settings.age_max).cloned()
        } else {
            None
        };
        if let Some(prev) = prev {
            tracing::info!(run = %key, resumes = %prev.id, tag = %prev.snapshot_tag, stage = ?prev.stage, "resuming an interrupted run");
            run.prev_id = Some(prev.id);
            run.snapshot_tag = prev.snapshot_tag.clone();
            run.units = prev.units.clone();
            run.dc = prev.dc.clone();
            run.nodes = prev.nodes.clone();
            run.skipped_hosts = prev.skipped_hosts.clone();
            resume_at = prev.stage;
            let rows = store.list_progress(prev.key()).await?;
            let by_address: HashMap<&str, &str> = view
                .nodes
                .iter()
                .map(|n| (n.address.as_str(), n.host_id.as_str()))
                .collect();
            let cloned: Vec<BackupRunProgress> = rows
                .into_iter()
                .map(|r| carried_over(&r, key.run_id))
                .collect();
            if !cloned.is_empty() {
                store.put_progress(&cloned).await?;
            }
            for r in cloned {
                let id = by_address.get(r.host.as_str()).copied().unwrap_or_default();
                prev_rows.entry(id.to_string()).or_default().push(r);
            }
            self.with_state(|s| s.resumed_from = Some(prev.id));
        } else {
            run.snapshot_tag = new_tag().await;
        }

        let live: HashMap<&str, _> = view.live_nodes().map(|n| (n.host_id.as_str(), n)).collect();
        let missing: Vec<String> = run
            .nodes
            .iter()
            .filter(|id| !live.contains_key(id.as_str()))
            .map(|id| {
                view.nodes
                    .iter()
                    .find(|n| n.host_id == *id)
                    .map(|n| format!("{} ({id})", n.address))
                    .unwrap_or_else(|| id.clone())
            })
            .collect();
        if !missing.is_empty() {
            return Err(RunError::MissingHosts(missing));
        }
        let mut hosts = Vec::new();
        for id in &run.nodes {
            let n = live[id.as_str()];
            let location = location_for(&target.location, &n.dc).ok_or_else(|| {
                RunError::Properties(format!("location: no location for DC {}", n.dc))
            })?;
            hosts.push(HostPlan {
                address: n.address.clone(),
                host_id: n.host_id.clone(),
                dc: n.dc.clone(),
                location,
            });
        }
        store.put_backup_run(&run).await?;
        if !run.skipped_hosts.is_empty() {
            tracing::warn!(run = %key, hosts = ?run.skipped_hosts, "nodes left out of the run");
        }
        super::metrics::nodes_skipped(
            &cluster.name,
            &key.task_id.to_string(),
            run.skipped_hosts.len(),
        );
        self.with_state(|s| {
            s.skipped_hosts = run.skipped_hosts.clone();
            s.snapshot_tag = Some(run.snapshot_tag.to_string());
            for h in &hosts {
                s.hosts.insert(
                    h.address.clone(),
                    HostState {
                        dc: h.dc.clone(),
                        ..HostState::default()
                    },
                );
            }
        });
        for dc in hosts.iter().map(|h| h.dc.clone()).collect::<BTreeSet<_>>() {
            let per_host = target
                .rate_limit
                .for_dc(&dc)
                .unwrap_or(0)
                .saturating_mul(MIB);
            let total = target
                .rate_limit_total
                .for_dc(&dc)
                .unwrap_or(0)
                .saturating_mul(MIB);
            let _ = self
                .deps
                .rates
                .send(SetBudget {
                    dc: DcKey::new(key.cluster_id, dc),
                    per_host,
                    total,
                })
                .await;
        }
        Ok(Plan {
            run,
            hosts,
            resume_at,
            prev_rows,
            snapshot_parallel: target.snapshot_parallel.clone(),
            upload_parallel: target.upload_parallel.clone(),
            skip_schema: target.skip_schema,
            purge_only: target.purge_only,
            transfers: usize::try_from(target.transfers).ok(),
            client,
        })
    }

    /// Sends `msg` to every host's actor under `limits`; fails with the first host error once
    /// every host has finished.
    async fn on_hosts<M, T>(
        &self,
        plan: &Plan,
        info: &Arc<RunInfo>,
        stage: BackupStage,
        limits: &DcLimits,
        msg: M,
    ) -> Result<Vec<T>, RunError>
    where
        M: Message<Result = Result<T, NodeError>> + Clone + Send + 'static,
        NodeActor: Handler<M>,
        T: Send + 'static,
    {
        let hosts: Vec<(String, &HostPlan)> =
            plan.hosts.iter().map(|h| (h.dc.clone(), h)).collect();
        let results = run_limited(hosts, limits, |h| {
            let msg = msg.clone();
            async move { (h.address.clone(), self.supervised(plan, info, h, msg).await) }
        })
        .await;
        let mut oks = Vec::new();
        let mut errors = Vec::new();
        for (host, r) in results {
            match r {
                Ok(v) => oks.push(v),
                Err(e) => {
                    tracing::warn!(%host, ?stage, error = %e, "host failed");
                    self.with_state(|s| {
                        s.hosts.entry(host.clone()).or_default().error = Some(e.to_string());
                    });
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            return Ok(oks);
        }
        if self.shared.cancel.is_cancelled() {
            return Err(RunError::Stopped);
        }
        let others = errors.len() - 1;
        Err(RunError::Hosts {
            stage,
            error: errors.swap_remove(0),
            others,
        })
    }

    /// Sends `msg` to `host`'s actor; on an error worth retrying, replaces the actor with a
    /// fresh one (seeded with the host's rows) after a backoff, a few times.
    async fn supervised<M, T>(
        &self,
        plan: &Plan,
        info: &Arc<RunInfo>,
        host: &HostPlan,
        msg: M,
    ) -> Result<T, NodeError>
    where
        M: Message<Result = Result<T, NodeError>> + Clone + Send + 'static,
        NodeActor: Handler<M>,
        T: Send + 'static,
    {
        let settings = &self.deps.settings;
        let mut restarts = 0;
        loop {
            let addr = self
                .shared
                .nodes
                .lock()
                .ok()
                .and_then(|n| n.get(&host.address).cloned());
            let Some(addr) = addr else {
                return Err(NodeError::Stopped {
                    host: host.address.clone(),
                });
            };
            let result = match addr.send(msg.clone()).await {
                Ok(r) => r,
                Err(e) => Err(NodeError::Actor {
                    host: host.address.clone(),
                    reason: e.to_string(),
                }),
            };
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) if e.retryable() && !self.shared.cancel.is_cancelled() => e,
                Err(e) => return Err(e),
            };
            let rows: Vec<BackupRunProgress> =
                addr.send::<GetRows>(GetRows).await.unwrap_or_default();
            // A fresh actor only once the agent answers again: while it is down, each restart
            // attempt costs a backoff pause and one quick ping, not a full stage of retries.
            let quick = plan
                .client
                .for_host(&host.address)
                .with_retry(RetryPolicy::none());
            let mut reachable = false;
            while !reachable && restarts < settings.host_restarts {
                restarts += 1;
                let pause = settings.host_restart_backoff * 2u32.pow(restarts - 1);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = self.shared.cancel.cancelled() => return Err(error),
                }
                reachable = quick.ping().await.is_ok();
                tracing::warn!(host = %host.address, %error, restart = restarts, ?pause, reachable, "restarting the host's node actor");
            }
            if !reachable {
                return Err(error);
            }
            self.with_state(|s| {
                s.hosts.entry(host.address.clone()).or_default().restarts += 1;
            });
            let fresh = NodeActor::new(self.node_setup(plan, info, host, Some(rows))).start();
            if let Ok(mut n) = self.shared.nodes.lock() {
                n.insert(host.address.clone(), fresh);
            }
        }
    }

    /// AWAIT_SCHEMA: the CQL schema when the cluster has CQL credentials and the task backs up
    /// the schema; none otherwise.
    async fn dump_schema(&self, plan: &Plan) -> Result<Option<Bytes>, RunError> {
        let cluster = &self.request.cluster;
        let (Some(user), Some(password)) = (&cluster.cql_username, &cluster.cql_password) else {
            if !plan.skip_schema {
                tracing::info!(cluster = %cluster.name, "no CQL credentials: the schema is not backed up");
            }
            return Ok(None);
        };
        if plan.skip_schema {
            return Ok(None);
        }
        let mut last = None;
        for h in &plan.hosts {
            match schema_dump::dump(&h.address, user, password).await {
                Ok(blob) => return Ok(Some(Bytes::from(blob))),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map(RunError::Schema).unwrap_or(RunError::Stopped))
    }

    /// SCHEMA: writes the schema file once per distinct location.
    async fn upload_schema(&self, plan: &Plan, path: &str, blob: &Bytes) -> Result<(), RunError> {
        let mut done = HashSet::new();
        for h in &plan.hosts {
            if done.insert(h.location.without_dc()) {
                plan.client
                    .for_host(&h.address)
                    .write_file(&h.location, path, blob.clone())
                    .await?;
            }
        }
        Ok(())
    }

    /// Stores every progress update received so far (a stage's progress is stored before the
    /// next stage is recorded); a store that keeps failing fails the run.
    async fn flush_progress(&self) -> Result<(), RunError> {
        let mut last = String::new();
        for attempt in 0..5u32 {
            match self.deps.progress.send(FlushProgress).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => last = e,
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(500) * 2u32.pow(attempt)).await;
        }
        Err(RunError::Progress(last))
    }

    /// MOVE_MANIFEST: commits every host's manifest; if any fails, rolls back the others.
    async fn commit_manifests(&self, plan: &Plan, info: &Arc<RunInfo>) -> Result<(), RunError> {
        let stage = BackupStage::MoveManifest;
        let all = DcLimits::default();
        let result = self
            .on_hosts(plan, info, stage, &all, CommitManifest { rollback: false })
            .await;
        if result.is_err() {
            tracing::warn!(run = %self.key(), "a manifest could not be committed; rolling back");
            // The rollback must not leave a partly final snapshot: it is tried a few times.
            for attempt in 0..4u32 {
                match self
                    .on_hosts(plan, info, stage, &all, CommitManifest { rollback: true })
                    .await
                {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(run = %self.key(), error = %e, attempt, "rolling back the manifests failed");
                        tokio::time::sleep(Duration::from_secs(1) * 2u32.pow(attempt)).await;
                    }
                }
            }
        }
        result.map(|_| ())
    }

    /// The snapshot tags of this task's earlier runs that `run` does not resume: stale on any
    /// node still holding them (a tag another task's run uses is never among them).
    async fn stale_tags(&self, run: &BackupRun) -> Result<BTreeSet<String>, RunError> {
        let key = self.key();
        let others: HashSet<String> = self
            .protected_snapshots()
            .await?
            .into_iter()
            .map(|(_, tag)| tag.to_string())
            .collect();
        Ok(self
            .deps
            .store
            .list_backup_runs(key.cluster_id, key.task_id, STALE_TAG_LOOKBACK)
            .await?
            .into_iter()
            .map(|r| r.snapshot_tag.to_string())
            .filter(|t| *t != run.snapshot_tag.as_str() && !others.contains(t))
            .collect())
    }

    /// The snapshots of the cluster's other tasks that a run must not touch: those of runs in
    /// progress and of interrupted runs their next run will resume.
    async fn protected_snapshots(&self) -> Result<HashSet<(Uuid, SnapshotTag)>, RunError> {
        let key = self.key();
        let store = &self.deps.store;
        let now = Utc::now();
        let mut out = HashSet::new();
        for t in store.list_tasks(key.cluster_id, false).await? {
            if t.id == key.task_id {
                continue;
            }
            let runs = store
                .list_backup_runs(key.cluster_id, t.id, RESUME_LOOKBACK)
                .await?;
            let running = t.status == Some(RunStatus::Running);
            if let Some(r) = runs
                .first()
                .filter(|r| running && r.stage != BackupStage::Done)
            {
                out.insert((t.id, r.snapshot_tag.clone()));
            }
            if let Some(r) = resumable_run(&runs, now, self.deps.settings.age_max) {
                out.insert((t.id, r.snapshot_tag.clone()));
            }
        }
        Ok(out)
    }

    /// PURGE: applies the retention of every task of the cluster to the run's locations: stale
    /// snapshots (by each task's policy) are purged node by node, each by a host of the run
    /// (nodes no host of the run owns are dealt out among them). Snapshots of runs that are in
    /// progress or will be resumed are never stale.
    async fn apply_retention(&self, plan: &Plan) -> Result<(), RunError> {
        let key = self.key();
        let store = &self.deps.store;
        let now = Utc::now();
        let tasks = store.list_tasks(key.cluster_id, true).await?;
        let policies: HashMap<Uuid, Policy> = tasks.iter().map(|t| (t.id, policy_of(t))).collect();
        let in_progress = self.protected_snapshots().await?;
        let mut seen = HashSet::new();
        for h in &plan.hosts {
            let location = h.location.without_dc();
            if !seen.insert(location.clone()) {
                continue;
            }
            let client = plan.client.for_host(&h.address);
            let manifests = list_manifests(&client, &location, Some(key.cluster_id))
                .await
                .map_err(|e| RunError::Purge(e.to_string()))?;
            // A temporary manifest younger than age_max may belong to a run that started after
            // the runs in progress were read: it is kept, and purged once older than age_max.
            let mut in_progress = in_progress.clone();
            let young = |m: &&ManifestInfo| {
                self.deps.settings.age_max.is_none_or(|max| {
                    chrono::Duration::from_std(max)
                        .is_ok_and(|max| now - m.snapshot_tag.time() <= max)
                })
            };
            in_progress.extend(
                manifests
                    .iter()
                    .filter(|m| m.temporary)
                    .filter(young)
                    .filter(|m| m.task_id != key.task_id)
                    .map(|m| (m.task_id, m.snapshot_tag.clone())),
            );
            let stale = stale_snapshots(&manifests, &policies, &in_progress, now);
            if stale.is_empty() {
                continue;
            }
            let oldest = oldest_kept(&manifests, &stale);
            let hosts: Vec<&HostPlan> = plan
                .hosts
                .iter()
                .filter(|o| o.location.without_dc() == location)
                .collect();
            let ids: Vec<String> = hosts.iter().map(|o| o.host_id.clone()).collect();
            let work = assign_nodes(&manifests, &ids)
                .into_iter()
                .map(|(id, nodes)| {
                    let address = hosts
                        .iter()
                        .find(|o| o.host_id == id)
                        .map(|o| o.address.clone())
                        .unwrap_or_default();
                    let client = plan.client.for_host(&address);
                    let (location, stale, oldest) = (&location, &stale, oldest.as_ref());
                    async move {
                        let mut report = PurgeReport::default();
                        for n in &nodes {
                            report +=
                                purge_node(&client, location, &n.node, &n.manifests, stale, oldest)
                                    .await?;
                        }
                        super::metrics::purge(
                            &self.request.cluster.name,
                            &address,
                            report.files_to_delete,
                            report.files_deleted,
                        );
                        Ok::<_, super::purge::PurgeError>(report)
                    }
                });
            let reports = futures::future::join_all(work).await;
            let mut total = PurgeReport::default();
            for r in reports {
                total += r.map_err(|e| RunError::Purge(e.to_string()))?;
            }
            tracing::info!(run = %key, %location, stale = stale.len(), files = total.files_deleted, manifests = total.manifests_deleted, "retention applied");
        }
        Ok(())
    }
}
