//! REST endpoints of tasks and the backup dry run (their runs: [`super::runs`]; the restore dry
//! run: [`super::restore`]).
//!
//! | method | path | answer |
//! |---|---|---|
//! | `POST` | `/api/v1/cluster/{cluster}/tasks` | 201, the [`TaskInfo`] stored |
//! | `GET` | `/api/v1/cluster/{cluster}/tasks?type=&all=&status=` | [`TaskInfo`]s (enabled ones; `all=true` adds disabled ones; `status=` keeps those whose [`TaskInfo::current_status`] it is) |
//! | `GET` | `/api/v1/cluster/{cluster}/task/{type}/{task}` | the [`TaskInfo`] |
//! | `PUT` | `/api/v1/cluster/{cluster}/task/{type}/{task}` | the [`TaskInfo`] after the change |
//! | `DELETE` | `/api/v1/cluster/{cluster}/task/{type}/{task}` | 204; its runs stay for history |
//! | `POST` | `/api/v1/cluster/{cluster}/backups/target` | the [`Target`] of the properties given (dry run) |
//!
//! `{task}` is the task's id or its name. A restore task's `PUT` refuses to change its location,
//! keyspace, snapshot_tag, type or dc_mapping, naming the field; a validate task's may change
//! everything (an empty `location` is filled, at creation and update, with the locations of the
//! cluster's enabled backup tasks). Every bad input is a 400 naming its field
//! (`schedule.cron`, `properties.location[0]`, ...) and nothing is stored.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::body::{parse_body, parse_value, query_bool};
use super::error::{ApiError, store_error};
use super::runs::{SCHEDULER_TIMEOUT, stop_if_running};
use super::task_body::{
    DEFAULT_NUM_RETRIES, DEFAULT_RETRY_WAIT_SECONDS, TaskBody, apply_schedule, body_type,
    check_labels, check_properties, check_task_name, cluster_view, contact_client,
    locations_usable, properties_problem,
};
use super::{ApiState, find_cluster, find_task};
use crate::manager::backup::properties::TaskProperties;
use crate::manager::backup::target::{Target, TargetError, build_target};
use crate::manager::restore::properties::RestoreProperties;
use crate::manager::scheduler::{GetSchedulerState, SchedulerState, TaskChanged};
use crate::manager::store::{RunStatus, Schedule, SkippedHost, Store, Task, TaskKey, TaskType};

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    let task = "/api/v1/cluster/{cluster}/task/{type}/{task}";
    Router::new()
        .route("/api/v1/cluster/{cluster}/tasks", post(create).get(list))
        .route(task, get(read).put(update).delete(remove))
        .route("/api/v1/cluster/{cluster}/backups/target", post(dry_run))
}

/// A task as the API answers it, with what the scheduler knows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The task id.
    pub id: Uuid,
    /// The task type.
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// Its name.
    pub name: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Whether the scheduler runs it.
    pub enabled: bool,
    /// When it runs.
    pub schedule: Schedule,
    /// The task properties, as given.
    pub properties: Value,
    /// Status of its latest run.
    pub status: Option<RunStatus>,
    /// Runs that succeeded.
    pub success_count: u64,
    /// Runs that failed.
    pub error_count: u64,
    /// When a run last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// When a run last failed.
    pub last_error: Option<DateTime<Utc>>,
    /// When it runs next, if it will.
    pub next_activation: Option<DateTime<Utc>>,
    /// Its run in progress, if any.
    pub running_run_id: Option<Uuid>,
    /// Retries of a failed run made in the current series.
    pub retries: u32,
    /// Nodes its latest run leaves out (backup tasks), and why.
    #[serde(default)]
    pub skipped_hosts: Vec<SkippedHost>,
    /// Why the scheduler does not run the task (a stored schedule it cannot use, or a run the
    /// manager aborted that is past `num_retries`); absent when nothing is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl TaskInfo {
    /// The task's status as sctool names it: its latest run's, `RUNNING` while a run is in
    /// progress that has not recorded one yet, `NEW` when it never ran.
    pub fn current_status(&self) -> RunStatus {
        match (self.status, self.running_run_id) {
            (Some(s), _) => s,
            (None, Some(_)) => RunStatus::Running,
            (None, None) => RunStatus::New,
        }
    }

    /// The answer for `task`, with the scheduler's view of it.
    fn new(task: Task, scheduler: &SchedulerState) -> Self {
        let known = scheduler.tasks.iter().find(|t| t.task_id == task.id);
        TaskInfo {
            cluster_id: task.cluster_id,
            id: task.id,
            task_type: task.task_type,
            name: task.name,
            labels: task.labels,
            enabled: task.enabled,
            schedule: task.schedule,
            properties: task.properties,
            status: task.status,
            success_count: task.success_count,
            error_count: task.error_count,
            last_success: task.last_success,
            last_error: task.last_error,
            next_activation: known.and_then(|t| t.next_activation),
            running_run_id: known.and_then(|t| t.running),
            retries: known.map_or(0, |t| t.retries),
            skipped_hosts: Vec::new(),
            problem: known.and_then(|t| t.problem.clone()),
        }
    }

    /// Adds what the task's latest run left out (a backup run's skipped nodes).
    async fn with_latest_run(mut self, store: &dyn Store) -> Result<Self, ApiError> {
        if self.task_type != TaskType::Backup {
            return Ok(self);
        }
        let key = TaskKey {
            cluster_id: self.cluster_id,
            task_type: self.task_type,
            task_id: self.id,
        };
        let latest = store.list_task_runs(key, 1).await.map_err(store_error)?;
        if let Some(run) = latest.first()
            && let Some(b) = store
                .get_backup_run(run.run_key())
                .await
                .map_err(store_error)?
        {
            self.skipped_hosts = b.skipped_hosts;
        }
        Ok(self)
    }
}

/// The scheduler's state; empty (with a warning) when it does not answer, so that reading tasks
/// never depends on it.
async fn scheduler_state(state: &ApiState) -> SchedulerState {
    match state
        .scheduler
        .send(GetSchedulerState)
        .timeout(SCHEDULER_TIMEOUT)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "the scheduler did not answer; tasks are listed without their next activation");
            SchedulerState::default()
        }
    }
}

/// Tells the scheduler a task changed; a scheduler that does not answer is logged, as the task is
/// stored already and the scheduler reads the store when it starts.
async fn tell_scheduler(state: &ApiState, task: TaskKey) {
    if let Err(e) = state
        .scheduler
        .send(TaskChanged { task })
        .timeout(SCHEDULER_TIMEOUT)
        .await
    {
        tracing::warn!(%task, error = %e, "the scheduler was not told of a task change");
    }
}

/// `POST /api/v1/cluster/{cluster}/tasks`.
async fn create(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let body: TaskBody = parse_body(&body)?;
    let task_type = body_type(body.task_type.as_deref().ok_or_else(|| {
        ApiError::bad_field("type", "required (backup, restore or validate_backup)")
    })?)?;
    let id = Uuid::new_v4();
    let name = body
        .name
        .unwrap_or_else(|| format!("{task_type}-{}", &id.simple().to_string()[..8]));
    check_task_name(&state, cluster.id, task_type, &name, None).await?;
    let defaults = Schedule {
        num_retries: DEFAULT_NUM_RETRIES,
        retry_wait_seconds: DEFAULT_RETRY_WAIT_SECONDS,
        ..Schedule::default()
    };
    let schedule = apply_schedule(defaults, body.schedule)?;
    let labels = body.labels.unwrap_or_default();
    check_labels(&labels)?;
    let properties = body
        .properties
        .unwrap_or_else(|| Value::Object(Default::default()));
    let properties =
        check_properties(&state, &cluster, task_type, properties, "properties.").await?;
    let task = Task {
        cluster_id: cluster.id,
        task_type,
        id,
        name,
        labels,
        enabled: body.enabled.unwrap_or(true),
        deleted: false,
        schedule,
        properties,
        status: None,
        success_count: 0,
        error_count: 0,
        last_success: None,
        last_error: None,
    };
    check_task_name(&state, cluster.id, task_type, &task.name, None).await?;
    state.store.put_task(&task).await.map_err(store_error)?;
    tracing::info!(cluster = %cluster.name, task = %task.key(), name = %task.name, "task created");
    tell_scheduler(&state, task.key()).await;
    let info = TaskInfo::new(task, &scheduler_state(&state).await);
    Ok((StatusCode::CREATED, Json(info)))
}

/// `GET /api/v1/cluster/{cluster}/tasks?type=&all=&status=`.
async fn list(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TaskInfo>>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let task_type = match query.get("type").map(String::as_str) {
        None | Some("") => None,
        Some(t) => Some(
            t.parse::<TaskType>()
                .map_err(|e| ApiError::bad_field("type", e))?,
        ),
    };
    let all = query_bool(&query, "all", false)?;
    let status = match query.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(parse_status(s).map_err(|e| ApiError::bad_field("status", e))?),
    };
    let tasks = state
        .store
        .list_tasks(cluster.id, false)
        .await
        .map_err(store_error)?;
    let scheduler = scheduler_state(&state).await;
    let mut infos = Vec::new();
    for t in tasks
        .into_iter()
        .filter(|t| task_type.is_none_or(|k| t.task_type == k) && (all || t.enabled))
    {
        let info = TaskInfo::new(t, &scheduler);
        if status.is_some_and(|s| info.current_status() != s) {
            continue;
        }
        infos.push(info.with_latest_run(state.store.as_ref()).await?);
    }
    Ok(Json(infos))
}

/// A task status as sctool's `--status` takes it (any case), or why not, with the accepted
/// values.
pub fn parse_status(text: &str) -> Result<RunStatus, String> {
    text.to_ascii_uppercase().parse().map_err(|_| {
        let known: Vec<_> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "unknown status {text:?} (accepted values: {})",
            known.join(", ")
        )
    })
}

/// `GET /api/v1/cluster/{cluster}/task/{type}/{task}`.
async fn read(
    State(state): State<ApiState>,
    Path((cluster, task_type, task)): Path<(String, String, String)>,
) -> Result<Json<TaskInfo>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let task = find_task(&state, &cluster, &task_type, &task).await?;
    let info = TaskInfo::new(task, &scheduler_state(&state).await);
    Ok(Json(info.with_latest_run(state.store.as_ref()).await?))
}

/// `PUT /api/v1/cluster/{cluster}/task/{type}/{task}`: changes the fields given; the schedule's
/// fields are changed one by one, the properties replaced as a whole.
async fn update(
    State(state): State<ApiState>,
    Path((cluster, task_type, task)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<TaskInfo>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let mut task = find_task(&state, &cluster, &task_type, &task).await?;
    let body: TaskBody = parse_body(&body)?;
    if let Some(t) = &body.task_type
        && t.parse::<TaskType>().ok() != Some(task.task_type)
    {
        return Err(ApiError::bad_field(
            "type",
            format!("a task's type cannot change (it is {})", task.task_type),
        ));
    }
    if let Some(name) = body.name {
        check_task_name(&state, cluster.id, task.task_type, &name, Some(task.id)).await?;
        task.name = name;
    }
    if let Some(enabled) = body.enabled {
        task.enabled = enabled;
    }
    if let Some(labels) = body.labels {
        check_labels(&labels)?;
        task.labels = labels;
    }
    task.schedule = apply_schedule(task.schedule, body.schedule)?;
    if let Some(properties) = body.properties {
        if task.task_type == TaskType::Restore {
            check_restore_update(&task.properties, &properties)?;
        }
        task.properties =
            check_properties(&state, &cluster, task.task_type, properties, "properties.").await?;
    }
    state.store.put_task(&task).await.map_err(store_error)?;
    tracing::info!(cluster = %cluster.name, task = %task.key(), "task updated");
    tell_scheduler(&state, task.key()).await;
    let info = TaskInfo::new(task, &scheduler_state(&state).await);
    Ok(Json(info.with_latest_run(state.store.as_ref()).await?))
}

/// `DELETE /api/v1/cluster/{cluster}/task/{type}/{task}`: stops its run if one is in progress,
/// then marks it deleted (its runs stay for history).
async fn remove(
    State(state): State<ApiState>,
    Path((cluster, task_type, task)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let task = find_task(&state, &cluster, &task_type, &task).await?;
    stop_if_running(&state, task.key()).await?;
    state
        .store
        .delete_task(task.key())
        .await
        .map_err(store_error)?;
    tracing::info!(cluster = %cluster.name, task = %task.key(), "task deleted");
    tell_scheduler(&state, task.key()).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses new restore properties that change what `restore update` may not change (location,
/// keyspace, snapshot_tag, the restore type, dc_mapping), naming the field.
fn check_restore_update(old: &Value, new: &Value) -> Result<(), ApiError> {
    let new: RestoreProperties = parse_value(new.clone(), "properties.")?;
    // A stored document that no longer parses is replaced by a valid one.
    let Ok(old) = serde_json::from_value::<RestoreProperties>(old.clone()) else {
        return Ok(());
    };
    new.check_update(&old)
        .map_err(|e| properties_problem(&e, "properties."))
}

/// A target error as an answer: the field at fault for what the properties can fix, 503 for what
/// may pass once nodes are back, 502 for a failing agent.
fn target_problem(e: TargetError) -> ApiError {
    match e {
        TargetError::Properties(p) => properties_problem(&p, ""),
        TargetError::NoTables(f) => ApiError::bad_field("keyspace", f),
        e @ TargetError::Uncovered {
            replica_down: false,
            ..
        } => ApiError::bad_field("keyspace", e),
        e @ (TargetError::NoLiveNodes { .. } | TargetError::Uncovered { .. }) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        e @ TargetError::Agent(_) => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

/// `POST /api/v1/cluster/{cluster}/backups/target`: what a backup task with these properties
/// would do now, without doing it. The body is the properties alone, or a whole task body
/// (`name`, `schedule`, `labels`, `properties`), whose every field is then checked as creation
/// checks it, so a dry run refuses what creating the task would refuse.
async fn dry_run(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<Target>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let body: Value = parse_body(&body)?;
    let (props, prefix): (TaskProperties, &str) = if body.get("properties").is_some() {
        let task: TaskBody = parse_value(body, "")?;
        if let Some(name) = &task.name {
            check_task_name(&state, cluster.id, TaskType::Backup, name, None).await?;
        }
        apply_schedule(Schedule::default(), task.schedule)?;
        check_labels(&task.labels.unwrap_or_default())?;
        let props = task
            .properties
            .unwrap_or_else(|| Value::Object(Default::default()));
        (parse_value(props, "properties.")?, "properties.")
    } else {
        (parse_value(body, "")?, "")
    };
    if !props.purge_only {
        crate::manager::backup::schema::credentials(&cluster, props.skip_schema)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    }
    let view = cluster_view(&cluster).await?;
    let checked = props
        .validate(&view.dcs())
        .map_err(|e| properties_problem(&e, prefix))?;
    locations_usable(&cluster, &view, &checked, prefix).await?;
    let client = contact_client(&cluster, &view)?;
    let mut target = build_target(&props, &view, &client)
        .await
        .map_err(target_problem)?;
    crate::manager::backup::schema::exclude_views(&mut target, &cluster, &client).await;
    Ok(Json(target))
}
