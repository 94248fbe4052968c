//! `Scheduler`: decides when each task runs and starts its runs (one [`super::backup_supervisor`]
//! per backup run). Work in progress: the message types below are the interface the REST API
//! uses; the handlers are being built.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::store::{StoreError, TaskKey};

/// Why the scheduler refused a request.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// No such task (or it was deleted).
    #[error("task {0} not found")]
    NotFound(TaskKey),
    /// The task already has a run in progress; two runs of a task never overlap.
    #[error("task {task} is already running (run {run})")]
    AlreadyRunning {
        /// The task.
        task: TaskKey,
        /// Its run in progress.
        run: Uuid,
    },
    /// The task is not running, so there is nothing to stop.
    #[error("task {0} is not running")]
    NotRunning(TaskKey),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts a run of a task now, whatever its schedule; answers the new run's id.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Uuid, SchedulerError>")]
pub struct StartTask {
    /// The task.
    pub task: TaskKey,
    /// Whether the run may resume the task's interrupted run (false: `--no-continue`).
    pub resume: bool,
}

/// Stops a task's run in progress; its snapshots stay so the next run resumes.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), SchedulerError>")]
pub struct StopTask {
    /// The task.
    pub task: TaskKey,
}

/// Tells the scheduler a task was created, updated or deleted, so it recomputes its next run.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct TaskChanged {
    /// The task.
    pub task: TaskKey,
}

/// Asks for the scheduler's observable state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "SchedulerState")]
pub struct GetSchedulerState;

/// What the scheduler knows of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskState {
    /// The task's cluster.
    pub cluster_id: Uuid,
    /// The task.
    pub task_id: Uuid,
    /// When it runs next, if it will.
    pub next_activation: Option<DateTime<Utc>>,
    /// Its run in progress, if any.
    pub running: Option<Uuid>,
    /// Retries of a failed run already made in the current series.
    pub retries: u32,
}

/// The scheduler's observable state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerState {
    /// Every enabled or running task.
    pub tasks: Vec<TaskState>,
}

/// The scheduler of the manager.
#[derive(Debug, Default)]
pub struct Scheduler {
    /// Observable state.
    state: SchedulerState,
}

impl Actor for Scheduler {
    type Context = Context<Self>;
}

impl Handler<StartTask> for Scheduler {
    type Result = Result<Uuid, SchedulerError>;
    fn handle(&mut self, msg: StartTask, _: &mut Self::Context) -> Self::Result {
        Err(SchedulerError::NotFound(msg.task))
    }
}

impl Handler<StopTask> for Scheduler {
    type Result = Result<(), SchedulerError>;
    fn handle(&mut self, msg: StopTask, _: &mut Self::Context) -> Self::Result {
        Err(SchedulerError::NotRunning(msg.task))
    }
}

impl Handler<TaskChanged> for Scheduler {
    type Result = ();
    fn handle(&mut self, _: TaskChanged, _: &mut Self::Context) {}
}

impl Handler<GetSchedulerState> for Scheduler {
    type Result = MessageResult<GetSchedulerState>;
    fn handle(&mut self, _: GetSchedulerState, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.state.clone())
    }
}
