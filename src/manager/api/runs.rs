//! REST endpoints of a task's runs (start, stop, history, a run with its progress), and asking
//! the scheduler: how long an answer is waited for, stopping a run before its task or cluster is
//! deleted, the scheduler's refusals as answers.
//!
//! | method | path | answer |
//! |---|---|---|
//! | `PUT` | `/api/v1/cluster/{cluster}/task/{type}/{task}/start?continue=` | `{"run_id"}` of the new run |
//! | `PUT` | `/api/v1/cluster/{cluster}/task/{type}/{task}/stop` | 204 |
//! | `GET` | `/api/v1/cluster/{cluster}/task/{type}/{task}/history?limit=` | [`RunInfo`]s, newest first |
//! | `GET` | `/api/v1/cluster/{cluster}/task/backup/{task}/{run}` | [`RunDetails`] of a run id or `latest` |
//! | `GET` | `/api/v1/cluster/{cluster}/task/restore/{task}/{run}` | [`RestoreRunDetails`](super::restore::RestoreRunDetails) (see [`super::restore`]) |
//! | `GET` | `/api/v1/cluster/{cluster}/task/validate_backup/{task}/{run}` | [`ValidateRunDetails`](super::validate::ValidateRunDetails) (see [`super::validate`]) |

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::body::query_bool;
use super::error::{ApiError, scheduler_unavailable, store_error};
use super::{ApiState, find_cluster, find_task};
use crate::manager::backup::progress::{RunProgress, rollup, status_text};
use crate::manager::scheduler::{GetLiveRun, SchedulerError, StartTask, StopTask};
use crate::manager::store::{RunKey, RunStatus, TaskKey, TaskRun, TaskType};

/// How long a message to the scheduler may wait for its answer.
pub const SCHEDULER_TIMEOUT: Duration = Duration::from_secs(30);
/// Runs listed by the history when no limit is given.
const DEFAULT_HISTORY_LIMIT: usize = 10;
/// Most runs the history lists.
const MAX_HISTORY_LIMIT: usize = 1000;

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    let task = "/api/v1/cluster/{cluster}/task/{type}/{task}";
    Router::new()
        .route(&format!("{task}/start"), put(start))
        .route(&format!("{task}/stop"), put(stop))
        .route(&format!("{task}/history"), get(history))
        .route(&format!("{task}/{{run}}"), get(run_details))
}

/// One run of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run id.
    pub id: Uuid,
    /// The cluster.
    pub cluster_id: Uuid,
    /// The task.
    pub task_id: Uuid,
    /// The task type.
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// Its state.
    pub status: RunStatus,
    /// Why it ended as it did; empty if nothing to say.
    pub cause: String,
    /// Which manager instance runs it.
    pub owner: String,
    /// When it started.
    pub start_time: DateTime<Utc>,
    /// When it ended, if it did.
    pub end_time: Option<DateTime<Utc>>,
}

impl From<TaskRun> for RunInfo {
    fn from(r: TaskRun) -> Self {
        RunInfo {
            id: r.id,
            cluster_id: r.cluster_id,
            task_id: r.task_id,
            task_type: r.task_type,
            status: r.status,
            cause: r.cause,
            owner: r.owner,
            start_time: r.start_time,
            end_time: r.end_time,
        }
    }
}

/// A run with its progress (spec section 6).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetails {
    /// The run.
    pub run: RunInfo,
    /// The status as operators read it: `RUNNING (uploading data)` while a stage runs.
    pub status_text: String,
    /// The progress tree; absent when the run stopped before its backup run was recorded.
    pub progress: Option<RunProgress>,
    /// While the run is in progress: its supervisor's and node actors' live state (stage per
    /// host, agent job, restarts, errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::manager::backup::run::RunState>,
}

/// The answer of `PUT .../start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The new run.
    pub run_id: Uuid,
}

/// Stops the run of `task` if one is in progress (before the task or its cluster is deleted).
pub async fn stop_if_running(state: &ApiState, task: TaskKey) -> Result<(), ApiError> {
    let stopped = state
        .scheduler
        .send(StopTask { task })
        .timeout(SCHEDULER_TIMEOUT)
        .await
        .map_err(scheduler_unavailable)?;
    match stopped {
        Ok(()) | Err(SchedulerError::NotRunning(_) | SchedulerError::NotFound(_)) => Ok(()),
        Err(e) => Err(scheduler_error(e)),
    }
}

/// A scheduler refusal as an answer: 404 for an unknown task, 409 for a state conflict.
fn scheduler_error(e: SchedulerError) -> ApiError {
    let status = match &e {
        SchedulerError::NotFound(_) => StatusCode::NOT_FOUND,
        SchedulerError::AlreadyRunning { .. }
        | SchedulerError::NotRunning(_)
        | SchedulerError::Excluded(_)
        | SchedulerError::Suspended { .. } => StatusCode::CONFLICT,
        SchedulerError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

/// `PUT /api/v1/cluster/{cluster}/task/{type}/{task}/start?continue=true|false`.
async fn start(
    State(state): State<ApiState>,
    Path((cluster, task_type, task)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Started>, ApiError> {
    let resume = query_bool(&query, "continue", true)?;
    let cluster = find_cluster(&state, &cluster).await?;
    let task = find_task(&state, &cluster, &task_type, &task).await?;
    let run_id = state
        .scheduler
        .send(StartTask {
            task: task.key(),
            resume,
        })
        .timeout(SCHEDULER_TIMEOUT)
        .await
        .map_err(scheduler_unavailable)?
        .map_err(scheduler_error)?;
    tracing::info!(cluster = %cluster.name, task = %task.key(), run = %run_id, resume, "run started by request");
    Ok(Json(Started { run_id }))
}

/// `PUT /api/v1/cluster/{cluster}/task/{type}/{task}/stop`.
async fn stop(
    State(state): State<ApiState>,
    Path((cluster, task_type, task)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let task = find_task(&state, &cluster, &task_type, &task).await?;
    state
        .scheduler
        .send(StopTask { task: task.key() })
        .timeout(SCHEDULER_TIMEOUT)
        .await
        .map_err(scheduler_unavailable)?
        .map_err(scheduler_error)?;
    tracing::info!(cluster = %cluster.name, task = %task.key(), "run stopped by request");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/cluster/{cluster}/task/{type}/{task}/history?limit=`.
async fn history(
    State(state): State<ApiState>,
    Path((cluster, task_type, task)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<RunInfo>>, ApiError> {
    let limit = match query.get("limit").map(String::as_str) {
        None | Some("") => DEFAULT_HISTORY_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_HISTORY_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "limit",
                    format!("{l:?} is not a number from 1 to {MAX_HISTORY_LIMIT}"),
                )
            })?,
    };
    let cluster = find_cluster(&state, &cluster).await?;
    let task = find_task(&state, &cluster, &task_type, &task).await?;
    let runs = state
        .store
        .list_task_runs(task.key(), limit)
        .await
        .map_err(store_error)?;
    Ok(Json(runs.into_iter().map(RunInfo::from).collect()))
}

/// `GET /api/v1/cluster/{cluster}/task/{backup|restore|validate_backup}/{task}/{run}`: a run (its
/// id, or `latest`) with its progress: [`RunDetails`] for a backup,
/// [`RestoreRunDetails`](super::restore::RestoreRunDetails) for a restore,
/// [`ValidateRunDetails`](super::validate::ValidateRunDetails) for a validate.
async fn run_details(
    State(state): State<ApiState>,
    Path((cluster, task_type, task, run)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    if ![
        TaskType::Backup,
        TaskType::Restore,
        TaskType::ValidateBackup,
    ]
    .iter()
    .any(|t| t.as_str() == task_type)
    {
        return Err(ApiError::not_found(format!(
            "progress of {task_type} runs (only backup, restore and validate_backup runs have progress)"
        )));
    }
    let task = find_task(&state, &cluster, &task_type, &task).await?;
    let not_found = || ApiError::not_found(format!("run {run:?} of task {}", task.name));
    let task_run = if run == "latest" {
        state
            .store
            .list_task_runs(task.key(), 1)
            .await
            .map_err(store_error)?
            .into_iter()
            .next()
    } else {
        let id = run.parse::<Uuid>().map_err(|_| not_found())?;
        state
            .store
            .get_task_run(task.key(), id)
            .await
            .map_err(store_error)?
    }
    .ok_or_else(not_found)?;
    if task.task_type == TaskType::Restore {
        let details = super::restore::run_details(&state, &task, task_run).await?;
        return Ok(Json(details).into_response());
    }
    if task.task_type == TaskType::ValidateBackup {
        let details = super::validate::run_details(&state, &task, task_run).await?;
        return Ok(Json(details).into_response());
    }
    let key = RunKey {
        cluster_id: cluster.id,
        task_id: task.id,
        run_id: task_run.id,
    };
    let progress = match state.store.get_backup_run(key).await.map_err(store_error)? {
        Some(backup_run) => {
            let rows = state.store.list_progress(key).await.map_err(store_error)?;
            Some(rollup(&backup_run, &rows))
        }
        None => None,
    };
    let status_text = status_text(task_run.status, progress.as_ref());
    let live = if task_run.status == RunStatus::Running {
        state
            .scheduler
            .send(GetLiveRun { task: task.key() })
            .timeout(SCHEDULER_TIMEOUT)
            .await
            .ok()
            .flatten()
            .filter(|l| l.run_id == task_run.id)
    } else {
        None
    };
    Ok(Json(RunDetails {
        run: task_run.into(),
        status_text,
        progress,
        live,
    })
    .into_response())
}
