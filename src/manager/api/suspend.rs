//! REST endpoints of a cluster's suspension (upstream's `/suspended`; see
//! [`crate::manager::scheduler::suspension`]).
//!
//! | method | path | answer |
//! |---|---|---|
//! | `GET` | `/api/v1/cluster/{cluster}/suspended` | `true` or `false`, as upstream |
//! | `GET` | `/api/v1/cluster/{cluster}/suspended/details` | [`SuspendDetails`] |
//! | `PUT` | `/api/v1/cluster/{cluster}/suspended?duration=&on_resume_start_tasks=` with body `true` | [`SuspendAnswer`] |
//! | `PUT` | `/api/v1/cluster/{cluster}/suspended?start_tasks=` with body `false` | [`ResumeAnswer`] |
//!
//! A query parameter the request does not take (upstream's `allow_task_type`, `suspend_policy`,
//! `no_continue`, `start_tasks_missed_activation`, or one of the other direction's) is a 400
//! naming it, and so is `on_resume_start_tasks` without a `duration`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::body::query_bool;
use super::error::{ApiError, scheduler_unavailable, store_error};
use super::runs::SCHEDULER_TIMEOUT;
use super::{ApiState, find_cluster};
use crate::manager::scheduler::{GetSuspension, Resume, SchedulerError, Suspend};
use crate::manager::store::{Cluster, Suspension, TaskType};
use crate::units::parse_duration;

/// The longest `duration` taken: ten years.
const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 86_400);

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    let path = "/api/v1/cluster/{cluster}/suspended";
    Router::new()
        .route(path, get(suspended).put(update))
        .route(&format!("{path}/details"), get(details))
}

/// A task named as users know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskName {
    /// The task id.
    pub id: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for TaskName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.task_type, self.name)
    }
}

/// A cluster's suspension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspendDetails {
    /// Whether the cluster is suspended.
    pub suspended: bool,
    /// Since when.
    pub started_at: Option<DateTime<Utc>>,
    /// When it resumes by itself, if it does.
    pub resume_at: Option<DateTime<Utc>>,
    /// Whether resuming by itself starts the tasks the suspension stopped.
    pub on_resume_start_tasks: bool,
    /// The tasks the suspension stopped.
    pub stopped_tasks: Vec<TaskName>,
}

/// The answer of suspending a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspendAnswer {
    /// The cluster's name.
    pub cluster: String,
    /// It was suspended already; nothing was done.
    pub already_suspended: bool,
    /// Its suspension.
    pub details: SuspendDetails,
}

/// A task started by a resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumedTask {
    /// The task.
    pub task: TaskName,
    /// Its new run; `None` when it starts as soon as its stopped run has ended.
    pub run_id: Option<Uuid>,
}

/// A task stopped by the suspension that the resume did not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotResumed {
    /// The task.
    pub task: TaskName,
    /// Why.
    pub reason: String,
}

/// The answer of resuming a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeAnswer {
    /// The cluster's name.
    pub cluster: String,
    /// It was suspended (false: nothing was done).
    pub was_suspended: bool,
    /// The tasks started.
    pub started: Vec<ResumedTask>,
    /// The stopped tasks not started, with the reason.
    pub not_started: Vec<NotResumed>,
}

/// The cluster's tasks (deleted ones too) by id, as users name them; an id not found is named
/// by itself.
async fn task_names(
    state: &ApiState,
    cluster: &Cluster,
) -> Result<impl Fn(Uuid) -> TaskName + use<>, ApiError> {
    let tasks: BTreeMap<Uuid, (TaskType, String)> = state
        .store
        .list_tasks(cluster.id, true)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|t| (t.id, (t.task_type, t.name)))
        .collect();
    Ok(move |id: Uuid| {
        let (task_type, name) = tasks
            .get(&id)
            .cloned()
            .unwrap_or((TaskType::Backup, id.to_string()));
        TaskName {
            id,
            task_type,
            name,
        }
    })
}

/// The details of `suspension` (none: not suspended).
async fn details_of(
    state: &ApiState,
    cluster: &Cluster,
    suspension: Option<Suspension>,
) -> Result<SuspendDetails, ApiError> {
    let Some(s) = suspension else {
        return Ok(SuspendDetails {
            suspended: false,
            started_at: None,
            resume_at: None,
            on_resume_start_tasks: false,
            stopped_tasks: Vec::new(),
        });
    };
    let name = task_names(state, cluster).await?;
    Ok(SuspendDetails {
        suspended: true,
        started_at: Some(s.started_at),
        resume_at: s.resume_at,
        on_resume_start_tasks: s.start_tasks,
        stopped_tasks: s.stopped_tasks.into_iter().map(name).collect(),
    })
}

/// The scheduler's suspension of `cluster`.
async fn suspension_of(
    state: &ApiState,
    cluster: &Cluster,
) -> Result<Option<Suspension>, ApiError> {
    state
        .scheduler
        .send(GetSuspension {
            cluster_id: cluster.id,
        })
        .timeout(SCHEDULER_TIMEOUT)
        .await
        .map_err(scheduler_unavailable)
}

/// A suspend or resume the scheduler refused (only the store can fail them).
fn refused(e: SchedulerError) -> ApiError {
    match e {
        SchedulerError::Store(e) => store_error(e),
        other => ApiError::new(StatusCode::CONFLICT, other.to_string()),
    }
}

/// Refuses the query parameters not in `known`, naming them.
fn only(query: &HashMap<String, String>, known: &[&str], what: &str) -> Result<(), ApiError> {
    let mut unknown: Vec<&String> = query
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(first) => Err(ApiError::bad_field(
            first.as_str(),
            format!(
                "not a parameter of {what} (it takes {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )),
    }
}

/// `GET /api/v1/cluster/{cluster}/suspended`.
async fn suspended(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
) -> Result<Json<bool>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    Ok(Json(suspension_of(&state, &cluster).await?.is_some()))
}

/// `GET /api/v1/cluster/{cluster}/suspended/details`.
async fn details(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
) -> Result<Json<SuspendDetails>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let suspension = suspension_of(&state, &cluster).await?;
    Ok(Json(details_of(&state, &cluster, suspension).await?))
}

/// `PUT /api/v1/cluster/{cluster}/suspended` with body `true` (suspend) or `false` (resume).
async fn update(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let suspend: bool = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_field(
            "body",
            format!("must be true (suspend) or false (resume): {e}"),
        )
    })?;
    if suspend {
        only(&query, &["duration", "on_resume_start_tasks"], "a suspend")?;
        let duration = match query.get("duration").map(String::as_str) {
            None | Some("") => None,
            Some(text) => Some(
                parse_duration(text)
                    .filter(|d| !d.is_zero() && *d <= MAX_DURATION)
                    .ok_or_else(|| {
                        ApiError::bad_field(
                            "duration",
                            format!("{text:?} is not a duration such as 30m or 1h30m, from 1s to ten years"),
                        )
                    })?,
            ),
        };
        let start_tasks = query_bool(&query, "on_resume_start_tasks", false)?;
        if start_tasks && duration.is_none() {
            return Err(ApiError::bad_field(
                "on_resume_start_tasks",
                "takes a duration: only a suspension that resumes by itself starts the tasks then (`cairn resume --start-tasks` does otherwise)",
            ));
        }
        let cluster = find_cluster(&state, &cluster).await?;
        let outcome = state
            .scheduler
            .send(Suspend {
                cluster_id: cluster.id,
                cluster_name: cluster.name.clone(),
                duration,
                start_tasks_on_resume: start_tasks,
            })
            .timeout(SCHEDULER_TIMEOUT)
            .await
            .map_err(scheduler_unavailable)?
            .map_err(refused)?;
        tracing::info!(cluster = %cluster.name, already = outcome.already, "suspend requested");
        let details = details_of(&state, &cluster, Some(outcome.suspension)).await?;
        Ok(Json(SuspendAnswer {
            cluster: cluster.name,
            already_suspended: outcome.already,
            details,
        })
        .into_response())
    } else {
        only(&query, &["start_tasks"], "a resume")?;
        let start_tasks = query_bool(&query, "start_tasks", false)?;
        let cluster = find_cluster(&state, &cluster).await?;
        let outcome = state
            .scheduler
            .send(Resume {
                cluster_id: cluster.id,
                start_tasks,
            })
            .timeout(SCHEDULER_TIMEOUT)
            .await
            .map_err(scheduler_unavailable)?
            .map_err(refused)?;
        tracing::info!(cluster = %cluster.name, was_suspended = outcome.was_suspended, "resume requested");
        let name = task_names(&state, &cluster).await?;
        Ok(Json(ResumeAnswer {
            cluster: cluster.name,
            was_suspended: outcome.was_suspended,
            started: outcome
                .started
                .into_iter()
                .map(|(task, run_id)| ResumedTask {
                    task: name(task),
                    run_id,
                })
                .collect(),
            not_started: outcome
                .not_started
                .into_iter()
                .map(|(task, reason)| NotResumed {
                    task: name(task),
                    reason,
                })
                .collect(),
        })
        .into_response())
    }
}
