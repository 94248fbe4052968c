//! `RunActor`: the actor shell a restore or validate run lives in. It starts the run's flow when
//! started, passes on a stop (the status the run should end with, and a cancellation), reports
//! the flow's end to the scheduler ([`RunFinished`]) and stops. What a run does is its flow
//! ([`RunFlow`], implemented by the run kind's deps on its [`RunContext`]). The messages every
//! kind of run answers and sends ([`StopRun`], [`RunFinished`]) are written here, so the
//! scheduler treats every kind alike.

use std::future::Future;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::manager::backup::run::RunRequest;
use uuid::Uuid;

use crate::manager::store::{RunStatus, TaskKey};

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

/// Stops a run (a backup's in-flight jobs are stopped, its snapshots stay for the next run).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopRun {
    /// The status the run ends with: STOPPED (by a user), WAITING (its window closed) or
    /// ABORTED (the manager shuts down).
    pub status: RunStatus,
}

/// What one run owns while it runs; each kind of run implements its flow on its own
/// `RunContext<ItsDeps>`.
pub struct RunContext<D> {
    /// The manager's parts.
    pub deps: D,
    /// What to run.
    pub request: RunRequest,
    /// Cancelled to stop the run.
    pub cancel: CancellationToken,
    /// The status a stop ends the run with.
    pub stop_status: Arc<Mutex<RunStatus>>,
}

/// A kind of run, named by the manager-wide parts its runs get.
pub trait RunFlow: Clone + Unpin + Sized + 'static {
    /// Runs `run` to the end; answers what the scheduler is told.
    fn run(run: RunContext<Self>) -> impl Future<Output = RunFinished> + 'static;
}

/// The actor of one run whose manager-wide parts are `D`.
pub struct RunActor<D: RunFlow> {
    /// The manager's parts.
    deps: D,
    /// What to run (taken when the run starts).
    request: Option<RunRequest>,
    /// Whom to tell when the run ends.
    finished: Recipient<RunFinished>,
    /// Cancelled to stop the run.
    cancel: CancellationToken,
    /// The status a stop ends the run with.
    stop_status: Arc<Mutex<RunStatus>>,
}

impl<D: RunFlow> RunActor<D> {
    /// An actor that will run `request` and tell `finished` when it ends.
    pub fn new(deps: D, request: RunRequest, finished: Recipient<RunFinished>) -> Self {
        RunActor {
            deps,
            request: Some(request),
            finished,
            cancel: CancellationToken::new(),
            stop_status: Arc::new(Mutex::new(RunStatus::Stopped)),
        }
    }
}

impl<D: RunFlow> Actor for RunActor<D> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(request) = self.request.take() else {
            return;
        };
        let run = RunContext {
            deps: self.deps.clone(),
            request,
            cancel: self.cancel.clone(),
            stop_status: self.stop_status.clone(),
        };
        let finished = self.finished.clone();
        ctx.spawn(D::run(run).into_actor(self).map(move |report, _, ctx| {
            finished.do_send(report);
            ctx.stop();
        }));
    }
}

impl<D: RunFlow> Handler<StopRun> for RunActor<D> {
    type Result = ();

    fn handle(&mut self, msg: StopRun, _: &mut Self::Context) {
        if !self.cancel.is_cancelled()
            && let Ok(mut s) = self.stop_status.lock()
        {
            *s = msg.status;
        }
        self.cancel.cancel();
    }
}
