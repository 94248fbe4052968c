//! What a backup run works from, computed before its first stage: the cluster discovered, the
//! [`Target`] built, the interrupted run it resumes (if any) with its progress rows carried over,
//! the stored run, each host with its location, and the DCs' bandwidth budgets; also which
//! snapshot tags on the nodes are stale and which snapshots other tasks' runs still need.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::node::HostPlan;
use super::properties::TaskProperties;
use super::resume::{RESUME_LOOKBACK, carried_over, resumable_run};
use super::run::{HostState, RunDeps, RunError, RunRequest, RunState, update_state};
use super::schema;
use super::stage::BackupStage;
use super::target::{Target, build_target};
use crate::format::tag::SnapshotTag;
use crate::manager::agent_client::AgentClient;
use crate::manager::discovery::{DiscoveryError, discover};
use crate::manager::rate_limit_actor::{DcKey, SetBudget};
use crate::manager::store::{
    BackupRun, BackupRunProgress, RunKey, RunStatus, SkippedHost, TaskKey,
};

/// Bytes in a MiB (the target's rates are in MiB/s).
const MIB: u64 = 1 << 20;
/// How many of a task's newest runs are looked at for stale snapshots on the nodes.
const STALE_TAG_LOOKBACK: usize = 1000;

/// The plan of a run once initialised.
pub struct Plan {
    /// The stored run.
    pub run: BackupRun,
    /// What the task's properties select on the cluster now (a resumed run keeps the stored
    /// run's units, DCs and nodes).
    pub target: Target,
    /// The hosts.
    pub hosts: Vec<HostPlan>,
    /// The stage to resume at (INIT for a new run).
    pub resume_at: BackupStage,
    /// Rows of the resumed run, by host ID.
    pub prev_rows: HashMap<String, Vec<BackupRunProgress>>,
    /// An agent client (any host's) to derive others from.
    pub client: AgentClient,
}

impl Plan {
    /// Files in parallel per upload job; the agent's setting when `None`.
    pub fn transfers(&self) -> Option<usize> {
        usize::try_from(self.target.transfers).ok()
    }
}

/// A run in progress as the parts outside the supervisor see it: what it was given and where
/// its observable state goes.
pub struct Scope<'a> {
    /// The manager's parts.
    pub deps: &'a RunDeps,
    /// What to run.
    pub request: &'a RunRequest,
    /// The run's observable state.
    pub state: &'a Mutex<RunState>,
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

impl Scope<'_> {
    /// The task this run belongs to.
    pub fn task_key(&self) -> TaskKey {
        self.request.task_key()
    }

    /// The run's key.
    pub fn key(&self) -> RunKey {
        self.request.key()
    }

    /// Changes the observable state.
    pub fn with_state(&self, f: impl FnOnce(&mut RunState)) {
        update_state(self.state, f);
    }

    /// Discovers the cluster, builds the target, resumes or starts a run, stores it.
    pub async fn init(&self) -> Result<Plan, RunError> {
        let (cluster, task) = (&self.request.cluster, &self.request.task);
        let props: TaskProperties = serde_json::from_value(task.properties.clone())
            .map_err(|e| RunError::Properties(e.to_string()))?;
        // Refused before any node is touched: a run that could not back its schema up.
        if !props.purge_only {
            schema::credentials(cluster, props.skip_schema)?;
        }
        let view = discover(
            &cluster.hosts,
            cluster.agent_port,
            &cluster.auth_token,
            &cluster.agent_pins,
        )
        .await?;
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
        schema::exclude_views(&mut target, cluster, &client).await;

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
            let location = target.location_for(&n.dc).cloned().ok_or_else(|| {
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
        crate::manager::metrics::nodes_skipped(
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
            target,
            hosts,
            resume_at,
            prev_rows,
            client,
        })
    }

    /// The snapshot tags of this task's earlier runs that `run` does not resume: stale on any
    /// node still holding them (a tag another task's run uses is never among them).
    pub async fn stale_tags(&self, run: &BackupRun) -> Result<BTreeSet<String>, RunError> {
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
    pub async fn protected_snapshots(&self) -> Result<HashSet<(Uuid, SnapshotTag)>, RunError> {
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
}
