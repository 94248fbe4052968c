//! One runner per task type: how the scheduler starts a run of a task, and the live run it gets
//! back (stop it, ask its state). The scheduler decides when; a runner decides how. Backup,
//! restore and validate have runners; a new task type adds a [`Runner`] variant and a [`LiveRun`] variant
//! here, and the scheduler's timing logic stays as it is. Tasks of a type with no runner are not
//! scheduled (and cannot be started).

use actix::prelude::*;
use futures::future::BoxFuture;

use crate::manager::backup::run::{RunDeps, RunRequest, RunState};
use crate::manager::backup::supervisor::{BackupSupervisor, GetRunState};
use crate::manager::restore::run::RestoreDeps;
use crate::manager::restore::supervisor::RestoreSupervisor;
use crate::manager::run_actor::{RunFinished, StopRun};
use crate::manager::store::{RunStatus, TaskType};
use crate::manager::validate::run::ValidateDeps;
use crate::manager::validate::supervisor::ValidateSupervisor;

/// Starts the runs of one task type.
#[derive(Clone)]
pub enum Runner {
    /// Backup runs: one `BackupSupervisor` each, made with these parts.
    Backup(RunDeps),
    /// Restore runs: one `RestoreSupervisor` each, made with these parts.
    Restore(RestoreDeps),
    /// Validate runs: one `ValidateSupervisor` each, made with these parts.
    Validate(ValidateDeps),
}

impl Runner {
    /// The task type whose runs this runner starts.
    pub fn task_type(&self) -> TaskType {
        match self {
            Runner::Backup(_) => TaskType::Backup,
            Runner::Restore(_) => TaskType::Restore,
            Runner::Validate(_) => TaskType::ValidateBackup,
        }
    }

    /// Who the runs are made by (a run's `owner`), for a run that fails before it starts.
    pub fn owner(&self) -> String {
        match self {
            Runner::Backup(deps) => deps.settings.owner.clone(),
            Runner::Restore(deps) => deps.settings.owner.clone(),
            Runner::Validate(deps) => deps.settings.owner.clone(),
        }
    }

    /// Starts a run of `request`; its end is reported to `finished`.
    pub fn start(&self, request: RunRequest, finished: Recipient<RunFinished>) -> LiveRun {
        match self {
            Runner::Backup(deps) => {
                LiveRun::Backup(BackupSupervisor::new(deps.clone(), request, finished).start())
            }
            Runner::Restore(deps) => {
                LiveRun::Restore(RestoreSupervisor::new(deps.clone(), request, finished).start())
            }
            Runner::Validate(deps) => {
                LiveRun::Validate(ValidateSupervisor::new(deps.clone(), request, finished).start())
            }
        }
    }
}

/// A run in progress, as its runner started it.
#[derive(Clone)]
pub enum LiveRun {
    /// A backup run's supervisor.
    Backup(Addr<BackupSupervisor>),
    /// A restore run's supervisor.
    Restore(Addr<RestoreSupervisor>),
    /// A validate run's supervisor.
    Validate(Addr<ValidateSupervisor>),
}

impl LiveRun {
    /// Whether the run is still there to be told things.
    pub fn connected(&self) -> bool {
        match self {
            LiveRun::Backup(addr) => addr.connected(),
            LiveRun::Restore(addr) => addr.connected(),
            LiveRun::Validate(addr) => addr.connected(),
        }
    }

    /// Stops the run; it ends with `status` (STOPPED, WAITING or ABORTED).
    pub fn stop(&self, status: RunStatus) {
        match self {
            LiveRun::Backup(addr) => addr.do_send(StopRun { status }),
            LiveRun::Restore(addr) => addr.do_send(StopRun { status }),
            LiveRun::Validate(addr) => addr.do_send(StopRun { status }),
        }
    }

    /// The run's observable state; `None` when it did not answer, and for a restore or a
    /// validate (whose progress is read from the store: `restore::progress::rollup`,
    /// `validate::progress::report_from_rows`).
    pub fn state(&self) -> BoxFuture<'static, Option<RunState>> {
        match self {
            LiveRun::Backup(addr) => {
                let addr = addr.clone();
                Box::pin(async move { addr.send(GetRunState).await.ok() })
            }
            LiveRun::Restore(_) | LiveRun::Validate(_) => Box::pin(async { None }),
        }
    }
}
