//! `BackupSupervisor`: one backup run. It has the run planned ([`super::plan`]: target, resume,
//! hosts), then drives the stages in their order ([`BackupStage::RUN`]) over one [`NodeActor`]
//! per host through a [`Fleet`], under the per-DC parallelism limits. A host whose actor fails
//! with an error worth retrying gets a fresh actor (seeded with its progress rows) after a
//! backoff; a host that still fails fails the run once every other host has finished the stage.
//! Manifests become final only when every host has uploaded; if one commit fails, every commit
//! is rolled back. The run's task-run record is written at the start and at the end.
//!
//! This file holds the actor, its messages ([`StopRun`], [`GetRunState`], [`RunFinished`]) and
//! the run's course; what a run is given and shows is in [`super::run`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::node::commit::CommitManifest;
use super::node::dedup::Deduplicate;
use super::node::index::IndexSnapshot;
use super::node::manifest::WriteManifest;
use super::node::snapshot::{DropSnapshot, TakeSnapshot};
use super::node::upload::UploadData;
use super::node::{
    GetNodeRunState, GetRows, HostPlan, NodeActor, NodeResult, NodeSetup, RunContext,
};
use super::plan::{Plan, Scope};
use super::run::{RunDeps, RunError, RunRequest, RunState, update_state};
use super::stage::BackupStage;
use super::tablets::{BalancingOff, tablet_keyspaces};
use crate::format::dclimit::DcLimits;
use crate::format::paths::remote_schema_file;
use crate::manager::agent_client::error::RetryPolicy;
use crate::manager::fleet::{Fleet, Respawn, Restarts};
use crate::manager::lease::{self, Holder, Lease};
use crate::manager::progress_actor::FlushProgress;
use crate::manager::rate_limit_actor::DcKey;
use crate::manager::run_actor::{RunFinished, StopRun};
use crate::manager::run_record::{self, RunEnd};
use crate::manager::store::{BackupRunProgress, RunKey, RunStatus};

/// Most hosts writing manifests at once (bounds the manager's memory, as upstream).
const MANIFEST_PARALLEL: u64 = 12;

/// Asks for the run's observable state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "RunState")]
pub struct GetRunState;

/// What the run's future shares with the actor.
struct Shared {
    /// Observable state.
    state: Mutex<RunState>,
    /// The node actors by host.
    fleet: Fleet<NodeActor>,
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
        let cancel = CancellationToken::new();
        let restarts = Restarts {
            max: deps.settings.host_restarts,
            backoff: deps.settings.host_restart_backoff,
        };
        BackupSupervisor {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                fleet: Fleet::new(cancel.clone(), restarts),
                cancel,
                stop_status: Mutex::new(RunStatus::Stopped),
            }),
            deps,
            request: Some(request),
            finished,
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
            let nodes = shared.fleet.members();
            let mut states = Vec::new();
            for (host, addr) in nodes {
                if let Ok(s) = addr.send(GetNodeRunState).await {
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

/// The run in progress: what its future owns.
struct Flow {
    /// The manager's parts.
    deps: RunDeps,
    /// Shared with the actor.
    shared: Arc<Shared>,
    /// What to run.
    request: RunRequest,
}

impl Flow {
    /// The run's key.
    fn key(&self) -> RunKey {
        self.request.key()
    }

    /// Changes the observable state.
    fn with_state(&self, f: impl FnOnce(&mut RunState)) {
        update_state(&self.shared.state, f);
    }

    /// The run as the planning and purging parts see it.
    fn scope(&self) -> Scope<'_> {
        Scope {
            deps: &self.deps,
            request: &self.request,
            state: &self.shared.state,
        }
    }

    /// Runs the whole run and records how it ended.
    async fn run(self) -> RunFinished {
        let store = self.deps.store.clone();
        let req = &self.request;
        let start = run_record::start_row(req, &self.deps.settings.owner);
        let mut result = match run_record::begin(&*store, &req.cluster.name, &start).await {
            Ok(()) => self.stages().await,
            Err(e) => Err(e.into()),
        };
        if self.shared.cancel.is_cancelled()
            && !matches!(result, Err(RunError::LeaseLost(_)))
            && result.is_err()
        {
            result = Err(RunError::Stopped);
        }
        let _ = self.deps.progress.send(FlushProgress).await;
        let end = match result {
            Ok(()) => RunEnd::Done,
            Err(RunError::Stopped) => RunEnd::Stopped,
            Err(e) => RunEnd::Failed(e.to_string()),
        };
        let stop_status = &self.shared.stop_status;
        let finished = run_record::end(&*store, &req.cluster.name, start, end, stop_status).await;
        self.with_state(|s| s.status = Some(finished.status));
        finished
    }

    /// Initialises the run and runs its stages holding the lease of its locations: taken before
    /// any node is touched (another manager's run is refused there, before its snapshots could
    /// be cleaned up as stale); if the store cannot be reached then, taken again before the first
    /// stage that writes to the location, where failing fails the run.
    async fn stages(&self) -> Result<(), RunError> {
        let plan = self.scope().init().await?;
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
        let info = Arc::new(RunContext {
            key,
            cluster_name: self.request.cluster.name.clone(),
            tag: plan.run.snapshot_tag.clone(),
            units: plan.run.units.clone(),
            transfers: plan.transfers(),
            settings: self.deps.settings.clone(),
            stale_tags: self.scope().stale_tags(&plan.run).await?,
        });
        for h in &plan.hosts {
            let setup = self.node_setup(&plan, &info, h, plan.prev_rows.get(&h.host_id).cloned());
            self.shared
                .fleet
                .insert(&h.address, NodeActor::new(setup).start());
        }
        let mut schema_blob: Option<Bytes> = None;
        let schema_path = remote_schema_file(key.cluster_id, key.task_id, &plan.run.snapshot_tag);
        for stage in BackupStage::RUN.iter().copied() {
            if stage.skipped(plan.resume_at, plan.target.purge_only) {
                continue;
            }
            if self.shared.cancel.is_cancelled() {
                return Err(RunError::Stopped);
            }
            self.deps.store.update_backup_stage(key, stage).await?;
            if stage.writes_location() && lease.is_none() {
                *lease = Some(self.take_lease(&plan).await?);
            }
            self.with_state(|s| s.stage = Some(stage));
            tracing::info!(run = %key, ?stage, "stage");
            let all = DcLimits::default();
            let manifest_limit =
                DcLimits::parse(&[MANIFEST_PARALLEL.to_string()]).unwrap_or_default();
            match stage {
                BackupStage::Snapshot => self.snapshot(&plan, &info).await?,
                BackupStage::AwaitSchema => {
                    schema_blob = self.scope().dump_schema(&plan).await?;
                }
                BackupStage::Index => {
                    self.on_hosts(
                        &plan,
                        &info,
                        stage,
                        &plan.target.upload_parallel,
                        IndexSnapshot,
                    )
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
                        self.scope()
                            .upload_schema(&plan, &schema_path, blob)
                            .await?;
                    }
                }
                BackupStage::Deduplicate => {
                    self.on_hosts(
                        &plan,
                        &info,
                        stage,
                        &plan.target.upload_parallel,
                        Deduplicate,
                    )
                    .await?;
                }
                BackupStage::Upload => {
                    self.on_hosts(
                        &plan,
                        &info,
                        stage,
                        &plan.target.upload_parallel,
                        UploadData,
                    )
                    .await?;
                }
                BackupStage::MoveManifest => self.commit_manifests(&plan, &info).await?,
                BackupStage::Purge => {
                    if !plan.target.purge_only {
                        // Leftovers of the snapshot go; a failure is only logged.
                        let _ = self.on_hosts(&plan, &info, stage, &all, DropSnapshot).await;
                    }
                    self.scope().apply_retention(&plan).await?;
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

    /// SNAPSHOT on every host; with tablet balancing off meanwhile when a keyspace of the run
    /// uses tablets, and on again however the stage ends.
    async fn snapshot(&self, plan: &Plan, info: &Arc<RunContext>) -> Result<(), RunError> {
        let stage = BackupStage::Snapshot;
        let limits = &plan.target.snapshot_parallel;
        let tablets = tablet_keyspaces(&plan.client).await?;
        if !plan.run.units.iter().any(|u| tablets.contains(&u.keyspace)) {
            return self.on_hosts(plan, info, stage, limits, TakeSnapshot).await;
        }
        let mut hosts = vec![plan.client.clone()];
        hosts.extend(
            plan.hosts
                .iter()
                .filter(|h| h.address != plan.client.host())
                .map(|h| plan.client.for_host(&h.address)),
        );
        let off = BalancingOff::disable(hosts).await?;
        let result = self.on_hosts(plan, info, stage, limits, TakeSnapshot).await;
        off.restore().await;
        result
    }

    /// The setup of a host's node actor.
    fn node_setup(
        &self,
        plan: &Plan,
        info: &Arc<RunContext>,
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

    /// Sends `msg` to every host's actor under `limits` (a failing host gets fresh actors, see
    /// [`Fleet::supervised`]); fails with the first host error once every host has finished.
    async fn on_hosts<M>(
        &self,
        plan: &Plan,
        info: &Arc<RunContext>,
        stage: BackupStage,
        limits: &DcLimits,
        msg: M,
    ) -> Result<(), RunError>
    where
        M: Message<Result = NodeResult<()>> + Clone + Send + 'static,
        NodeActor: Handler<M>,
    {
        let hosts = plan
            .hosts
            .iter()
            .map(|h| (h.dc.clone(), h.address.clone()))
            .collect();
        let respawn = NodeRespawn {
            flow: self,
            plan,
            info,
        };
        let results = self
            .shared
            .fleet
            .on_hosts(hosts, limits, &respawn, msg)
            .await;
        let mut errors = Vec::new();
        for (host, r) in results {
            if let Err(e) = r {
                tracing::warn!(%host, ?stage, error = %e, "host failed");
                self.with_state(|s| {
                    s.hosts.entry(host.clone()).or_default().error = Some(e.to_string());
                });
                errors.push(e);
            }
        }
        if errors.is_empty() {
            return Ok(());
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
    async fn commit_manifests(&self, plan: &Plan, info: &Arc<RunContext>) -> Result<(), RunError> {
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
        result
    }
}

/// How a run replaces a host's failed node actor: the fresh one starts from the failed one's
/// progress rows, once the host's agent answers a quick ping.
struct NodeRespawn<'a> {
    /// The run.
    flow: &'a Flow,
    /// Its plan.
    plan: &'a Plan,
    /// What every node of the run shares.
    info: &'a Arc<RunContext>,
}

impl Respawn<NodeActor> for NodeRespawn<'_> {
    type Carry = Vec<BackupRunProgress>;

    async fn carry(&self, old: &Addr<NodeActor>) -> Self::Carry {
        old.send::<GetRows>(GetRows).await.unwrap_or_default()
    }

    async fn reachable(&self, host: &str) -> bool {
        let quick = self
            .plan
            .client
            .for_host(host)
            .with_retry(RetryPolicy::none());
        quick.ping().await.is_ok()
    }

    fn respawn(&self, host: &str, rows: Self::Carry) -> Option<Addr<NodeActor>> {
        let plan = self.plan.hosts.iter().find(|h| h.address == host)?;
        self.flow.with_state(|s| {
            s.hosts.entry(host.to_string()).or_default().restarts += 1;
        });
        let setup = self.flow.node_setup(self.plan, self.info, plan, Some(rows));
        Some(NodeActor::new(setup).start())
    }
}
