//! The bookkeeping around one run of any kind (backup, restore, validate): its `scheduler_task_run`
//! row and its task's outcome, written when it starts and when it ends, the scheduler's run
//! metrics, the log line of its end, and what the scheduler is told ([`RunFinished`]).

use std::sync::Mutex;

use chrono::Utc;

use crate::manager::backup::run::RunRequest;
use crate::manager::metrics;
use crate::manager::run_actor::RunFinished;
use crate::manager::store::{RunStatus, Store, StoreError, TaskRun};

/// How a run's work ended, as its flow saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Everything was done.
    Done,
    /// It was stopped (the status comes from the stop request).
    Stopped,
    /// It failed, for this reason.
    Failed(String),
}

/// The run row of `request` starting now, owned by `owner`.
pub fn start_row(request: &RunRequest, owner: &str) -> TaskRun {
    TaskRun {
        cluster_id: request.cluster.id,
        task_type: request.task.task_type,
        task_id: request.task.id,
        id: request.run_id,
        status: RunStatus::Running,
        cause: String::new(),
        owner: owner.to_string(),
        start_time: Utc::now(),
        end_time: None,
    }
}

/// Records that `start` (of cluster `cluster`, by name) began: its row, RUNNING on its task, and
/// the run metrics.
pub async fn begin(store: &dyn Store, cluster: &str, start: &TaskRun) -> Result<(), StoreError> {
    let kind = start.task_type.as_str();
    metrics::task_run(cluster, kind, &start.task_id.to_string(), true, None);
    store.put_task_run(start).await?;
    store
        .record_task_outcome(start.task_key(), RunStatus::Running)
        .await
}

/// Records how `start` ended (a stop ends with the status in `stop_status`) on its row and its
/// task, logs it and sets the run metrics; answers what the scheduler is told. A store that
/// fails here is logged: the run has ended either way.
pub async fn end(
    store: &dyn Store,
    cluster: &str,
    start: TaskRun,
    end: RunEnd,
    stop_status: &Mutex<RunStatus>,
) -> RunFinished {
    let kind = start.task_type.as_str();
    let run = start.run_key();
    let (status, cause) = match end {
        RunEnd::Done => (RunStatus::Done, String::new()),
        RunEnd::Stopped => (
            stop_status.lock().map(|s| *s).unwrap_or(RunStatus::Stopped),
            "stopped".to_string(),
        ),
        RunEnd::Failed(cause) => (RunStatus::Error, cause),
    };
    if status == RunStatus::Done {
        tracing::info!(%run, "{kind} run done");
    } else {
        tracing::warn!(%run, error = %cause, ?status, "{kind} run ended");
    }
    let task = start.task_key();
    let task_label = start.task_id.to_string();
    let row = TaskRun {
        status,
        cause: cause.clone(),
        end_time: Some(Utc::now()),
        ..start
    };
    if let Err(e) = store.put_task_run(&row).await {
        tracing::error!(%run, error = %e, "could not record the end of the run");
    }
    if let Err(e) = store.record_task_outcome(task, status).await {
        tracing::error!(%run, error = %e, "could not update the task");
    }
    metrics::task_run(cluster, kind, &task_label, false, Some(status.as_str()));
    RunFinished {
        task,
        run_id: row.id,
        status,
        cause,
    }
}
