//! What one backup run is given and what it shows: the manager-wide parts it uses ([`RunDeps`]), the request to run
//! ([`RunRequest`]), why a run fails ([`RunError`]) and its observable state ([`RunState`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::node::{NodeError, NodeRunState};
use super::schema;
use super::settings::RunSettings;
use super::stage::BackupStage;
use super::target::TargetError;
use crate::manager::agent_client::error::AgentError;
use crate::manager::discovery::DiscoveryError;
use crate::manager::lease::LeaseError;
use crate::manager::progress_actor::ProgressActor;
use crate::manager::rate_limit_actor::RateLimitActor;
use crate::manager::store::{
    BackupRunProgress, Cluster, RunKey, RunStatus, SkippedHost, Store, StoreError, Task, TaskKey,
};

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
    /// The schema cannot be backed up: no CQL credentials, or the dump failed.
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
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
    pub node: Option<NodeRunState>,
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

impl RunRequest {
    /// The task this run belongs to.
    pub fn task_key(&self) -> TaskKey {
        self.task.key()
    }

    /// The run's key.
    pub fn key(&self) -> RunKey {
        RunKey {
            cluster_id: self.cluster.id,
            task_id: self.task.id,
            run_id: self.run_id,
        }
    }
}

/// Changes the observable state `state`.
pub fn update_state(state: &Mutex<RunState>, f: impl FnOnce(&mut RunState)) {
    if let Ok(mut s) = state.lock() {
        f(&mut s);
    }
}
