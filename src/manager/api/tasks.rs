//! REST endpoints of tasks, their runs and progress, and the backup dry run.
//!
//! | method | path | answer |
//! |---|---|---|
//! | `POST` | `/api/v1/cluster/{cluster}/tasks` | 201, the [`TaskInfo`] stored |
//! | `GET` | `/api/v1/cluster/{cluster}/tasks?type=&all=` | [`TaskInfo`]s (enabled ones; `all=true` adds disabled ones) |
//! | `GET` | `/api/v1/cluster/{cluster}/task/{type}/{task}` | the [`TaskInfo`] |
//! | `PUT` | `/api/v1/cluster/{cluster}/task/{type}/{task}` | the [`TaskInfo`] after the change |
//! | `DELETE` | `/api/v1/cluster/{cluster}/task/{type}/{task}` | 204; its runs stay for history |
//! | `PUT` | `/api/v1/cluster/{cluster}/task/{type}/{task}/start?continue=` | `{"run_id"}` of the new run |
//! | `PUT` | `/api/v1/cluster/{cluster}/task/{type}/{task}/stop` | 204 |
//! | `GET` | `/api/v1/cluster/{cluster}/task/{type}/{task}/history?limit=` | [`RunInfo`]s, newest first |
//! | `GET` | `/api/v1/cluster/{cluster}/task/backup/{task}/{run}` | [`RunDetails`] of a run id or `latest` |
//! | `POST` | `/api/v1/cluster/{cluster}/backups/target` | the [`Target`] of the properties given (dry run) |
//!
//! `{task}` is the task's id or its name. Every bad input is a 400 naming its field
//! (`schedule.cron`, `properties.location[0]`, ...) and nothing is stored.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::clusters::{
    SCHEDULER_TIMEOUT, parse_body, parse_value, scheduler_unavailable, store_error,
};
use super::error::ApiError;
use super::{ApiState, find_cluster};
use crate::manager::agent_client::AgentClient;
use crate::manager::backup::progress::{RunProgress, rollup, status_text};
use crate::manager::backup::properties::{CheckedProperties, PropertiesError, TaskProperties};
use crate::manager::backup::target::{Target, TargetError, build_target};
use crate::manager::discovery::{ClusterView, discover};
use crate::manager::location_check::check_locations;
use crate::manager::schedule::{ScheduleError, check as check_schedule, check_start_date};
use crate::manager::scheduler::{
    GetLiveRun, GetSchedulerState, SchedulerError, SchedulerState, StartTask, StopTask, TaskChanged,
};
use crate::manager::store::{
    Cluster, RunKey, RunStatus, Schedule, SkippedHost, Store, Task, TaskKey, TaskRun, TaskType,
};
use crate::units::parse_duration;

/// Retries of a failed run when the schedule does not say (upstream's `--num-retries`).
pub const DEFAULT_NUM_RETRIES: u32 = 3;
/// First wait before a retry when the schedule does not say (upstream's `--retry-wait`), seconds.
pub const DEFAULT_RETRY_WAIT_SECONDS: u64 = 600;
/// Longest task name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Most labels of a task.
const MAX_LABELS: usize = 64;
/// Longest label key or value, in characters.
const MAX_LABEL_CHARS: usize = 256;
/// Runs listed by the history when no limit is given.
const DEFAULT_HISTORY_LIMIT: usize = 10;
/// Most runs the history lists.
const MAX_HISTORY_LIMIT: usize = 1000;

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    let task = "/api/v1/cluster/{cluster}/task/{type}/{task}";
    Router::new()
        .route("/api/v1/cluster/{cluster}/tasks", post(create).get(list))
        .route(task, get(read).put(update).delete(remove))
        .route(&format!("{task}/start"), put(start))
        .route(&format!("{task}/stop"), put(stop))
        .route(&format!("{task}/history"), get(history))
        .route(&format!("{task}/{{run}}"), get(run_details))
        .route("/api/v1/cluster/{cluster}/backups/target", post(dry_run))
}

/// The body of `POST .../tasks` and `PUT .../task/{type}/{task}`; on update, absent fields keep
/// their value.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TaskBody {
    /// The task type; only `backup` for now.
    #[serde(rename = "type")]
    task_type: Option<String>,
    /// The name, unique per cluster and type.
    name: Option<String>,
    /// Whether the scheduler runs it.
    enabled: Option<bool>,
    /// User labels.
    labels: Option<BTreeMap<String, String>>,
    /// When it runs ([`ScheduleBody`]).
    schedule: Option<Value>,
    /// The task properties ([`TaskProperties`]).
    properties: Option<Value>,
}

/// The `schedule` of a task body; on update, absent fields keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ScheduleBody {
    /// First activation: RFC 3339, `now`, or `now+DURATION`; empty for none.
    start_date: Option<String>,
    /// Time between activations: seconds, or a duration such as `12h`; 0 for none.
    interval: Option<Value>,
    /// A 5-field cron line; empty for none.
    cron: Option<String>,
    /// Weekly windows as start/end pairs of `[weekday-]HH:MM[:SS]`.
    window: Option<Vec<String>>,
    /// Time zone of `cron` and `window`: UTC or a fixed offset.
    timezone: Option<String>,
    /// Retries of a failed run.
    num_retries: Option<u32>,
    /// First wait before a retry: seconds, or a duration such as `10m`.
    retry_wait: Option<Value>,
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
        if let Some(run) = latest.first() {
            let run_key = RunKey {
                cluster_id: self.cluster_id,
                task_id: self.id,
                run_id: run.id,
            };
            if let Some(b) = store.get_backup_run(run_key).await.map_err(store_error)? {
                self.skipped_hosts = b.skipped_hosts;
            }
        }
        Ok(self)
    }
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

/// A bool query parameter: `true`/`false` (or `1`/`0`), `default` when absent.
fn query_bool(query: &HashMap<String, String>, key: &str, default: bool) -> Result<bool, ApiError> {
    match query.get(key).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => Err(ApiError::bad_field(
            key,
            format!("{v:?} is not true or false"),
        )),
    }
}

/// The type of a task body: only backup tasks are accepted for now.
fn body_type(text: &str) -> Result<TaskType, ApiError> {
    match text.parse::<TaskType>() {
        Ok(TaskType::Backup) => Ok(TaskType::Backup),
        Ok(other) => Err(ApiError::bad_field(
            "type",
            format!("{other} tasks are not supported yet (only backup)"),
        )),
        Err(_) => Err(ApiError::bad_field(
            "type",
            format!("unknown task type {text:?} (expected backup)"),
        )),
    }
}

/// The task a path names: its type, then its id or name among the cluster's tasks.
async fn find_task(
    state: &ApiState,
    cluster: &Cluster,
    task_type: &str,
    task: &str,
) -> Result<Task, ApiError> {
    let not_found = || ApiError::not_found(format!("task {task_type}/{task}"));
    let task_type: TaskType = task_type.parse().map_err(|_| not_found())?;
    if let Ok(id) = task.parse::<Uuid>() {
        let key = TaskKey {
            cluster_id: cluster.id,
            task_type,
            task_id: id,
        };
        if let Some(t) = state.store.get_task(key).await.map_err(store_error)?
            && !t.deleted
        {
            return Ok(t);
        }
    }
    state
        .store
        .list_tasks(cluster.id, false)
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|t| t.task_type == task_type && t.name == task)
        .ok_or_else(not_found)
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

/// A duration given as seconds or as text such as `12h`.
fn duration_seconds(field: &str, value: &Value) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::bad_field(
            field,
            format!("{value} is not a duration (seconds, or text such as 12h, 10m or 1h30m)"),
        )
    };
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => parse_duration(s).map(|d| d.as_secs()).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A start date: RFC 3339, `now`, or `now+DURATION`; empty for none.
fn start_date(text: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let field = "schedule.start_date";
    let now = Utc::now();
    let out_of_range = || {
        ApiError::bad_field(
            field,
            format!("{text:?} is out of range (from 1970 to ten years from now)"),
        )
    };
    if let Some(rest) = text.strip_prefix("now") {
        let after = match rest.strip_prefix('+') {
            None if rest.is_empty() => Some(std::time::Duration::ZERO),
            Some(d) => parse_duration(d),
            None => None,
        };
        if let Some(after) = after {
            let date = chrono::Duration::from_std(after)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(out_of_range)?;
            check_start_date(date, now).map_err(|_| out_of_range())?;
            return Ok(Some(date));
        }
    }
    let date = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_field(
                field,
                format!("{text:?} is not a time such as 2025-06-01T02:00:00Z, now or now+1h ({e})"),
            )
        })?;
    check_start_date(date, now).map_err(|_| out_of_range())?;
    Ok(Some(date))
}

/// `base` with the changes of a `schedule` body, checked with the scheduler's rules.
fn apply_schedule(mut base: Schedule, body: Option<Value>) -> Result<Schedule, ApiError> {
    let body: ScheduleBody = match body {
        Some(v) => parse_value(v, "schedule.")?,
        None => ScheduleBody::default(),
    };
    if let Some(s) = &body.start_date {
        base.start_date = start_date(s)?;
    }
    if let Some(v) = &body.interval {
        base.interval_seconds = duration_seconds("schedule.interval", v)?;
    }
    if let Some(c) = body.cron {
        if c.trim().is_empty() {
            // An empty cron only clears the cron beside an interval given with it.
            if body.interval.is_none() {
                return Err(ApiError::bad_field(
                    "schedule.cron",
                    ScheduleError::EmptyCron,
                ));
            }
            base.cron = None;
        } else {
            base.cron = Some(c.trim().to_string());
            // A trigger given replaces the other one.
            if body.interval.is_none() {
                base.interval_seconds = 0;
            }
        }
    } else if body.interval.is_some() && base.interval_seconds > 0 {
        base.cron = None;
    }
    if let Some(w) = body.window {
        base.window = w;
    }
    if let Some(tz) = body.timezone {
        base.timezone = Some(tz.trim().to_string()).filter(|t| !t.is_empty());
    }
    if let Some(n) = body.num_retries {
        base.num_retries = n;
    }
    if let Some(v) = &body.retry_wait {
        base.retry_wait_seconds = duration_seconds("schedule.retry_wait", v)?;
    }
    check_schedule(&base, Utc::now()).map_err(|e| ApiError::bad_field(e.field(), &e))?;
    Ok(base)
}

/// A properties error as a 400 naming the first field at fault, under `prefix`, and listing every
/// problem.
fn properties_problem(e: &PropertiesError, prefix: &str) -> ApiError {
    let all = e
        .problems
        .iter()
        .map(|p| format!("{prefix}{}: {}", p.field, p.reason))
        .collect::<Vec<_>>()
        .join("; ");
    let first = e.problems.first().map_or_else(
        || "properties".to_string(),
        |p| format!("{prefix}{}", p.field),
    );
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: all,
        field: Some(first),
    }
}

/// The cluster's membership, needed to check properties against its DCs.
async fn cluster_view(cluster: &Cluster) -> Result<ClusterView, ApiError> {
    discover(
        &cluster.hosts,
        cluster.agent_port,
        &cluster.auth_token,
        &cluster.agent_pins,
    )
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "cluster {}: its nodes could not be asked: {e}",
                cluster.name
            ),
        )
    })
}

/// Parses backup task properties (fields named under `prefix`) and validates them against the
/// cluster's DCs.
async fn check_properties(
    cluster: &Cluster,
    value: Value,
    prefix: &str,
) -> Result<TaskProperties, ApiError> {
    let props: TaskProperties = parse_value(value, prefix)?;
    if props.retention_map.is_some() {
        return Err(ApiError::bad_field(
            format!("{prefix}retention_map"),
            "set by the manager at run time; give retention and retention_days instead",
        ));
    }
    let view = cluster_view(cluster).await?;
    let checked = props
        .validate(&view.dcs())
        .map_err(|e| properties_problem(&e, prefix))?;
    locations_usable(cluster, &view, &checked, prefix).await?;
    Ok(props)
}

/// A client of the agent of the node discovery reached first, trusting the cluster's pins.
fn contact_client(cluster: &Cluster, view: &ClusterView) -> Result<AgentClient, ApiError> {
    AgentClient::new(
        &view.contact,
        cluster.agent_port,
        &cluster.auth_token,
        &cluster.agent_pins,
    )
    .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))
}

/// Asks the agents whether they can use the locations (see [`check_locations`]); a refusal is a
/// 400 naming the location's field under `prefix`.
async fn locations_usable(
    cluster: &Cluster,
    view: &ClusterView,
    checked: &CheckedProperties,
    prefix: &str,
) -> Result<(), ApiError> {
    check_locations(&contact_client(cluster, view)?, view, checked)
        .await
        .map_err(|e| ApiError::bad_field(format!("{prefix}location[{}]", e.index), e))
}

/// Checks a task name: not empty, not an id, usable as a path segment, unique among the cluster's
/// tasks of its type (other than `except`).
async fn check_task_name(
    state: &ApiState,
    cluster_id: Uuid,
    task_type: TaskType,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::bad_field("name", "must not be empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(ApiError::bad_field(
            "name",
            format!("{chars} characters is too long (at most {MAX_NAME_CHARS})"),
        ));
    }
    if name.trim() != name {
        return Err(ApiError::bad_field(
            "name",
            "must not start or end with white space",
        ));
    }
    if name.parse::<Uuid>().is_ok() {
        return Err(ApiError::bad_field(
            "name",
            "must not look like an id (tasks are looked up by id or name)",
        ));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(ApiError::bad_field(
            "name",
            "must not contain '/', '\\' or control characters",
        ));
    }
    let tasks = state
        .store
        .list_tasks(cluster_id, false)
        .await
        .map_err(store_error)?;
    if let Some(other) = tasks
        .iter()
        .find(|t| t.task_type == task_type && t.name == name && Some(t.id) != except)
    {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!(
                "name: the cluster has a {task_type} task named {name:?} already (id {})",
                other.id
            ),
            field: Some("name".into()),
        });
    }
    Ok(())
}

/// Checks task labels: at most [`MAX_LABELS`], keys not empty, keys and values at most
/// [`MAX_LABEL_CHARS`] characters without control characters.
fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if labels.len() > MAX_LABELS {
        return Err(ApiError::bad_field(
            "labels",
            format!("{} labels is too many (at most {MAX_LABELS})", labels.len()),
        ));
    }
    for (key, value) in labels {
        let field = format!(
            "labels.{}",
            key.chars().take(MAX_LABEL_CHARS).collect::<String>()
        );
        if key.trim().is_empty() {
            return Err(ApiError::bad_field("labels", "a label key is empty"));
        }
        for text in [key, value] {
            if text.chars().count() > MAX_LABEL_CHARS {
                return Err(ApiError::bad_field(
                    field,
                    format!("longer than {MAX_LABEL_CHARS} characters"),
                ));
            }
            if text.chars().any(char::is_control) {
                return Err(ApiError::bad_field(field, "contains control characters"));
            }
        }
    }
    Ok(())
}

/// `POST /api/v1/cluster/{cluster}/tasks`.
async fn create(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let body: TaskBody = parse_body(&body)?;
    let task_type = body_type(
        body.task_type
            .as_deref()
            .ok_or_else(|| ApiError::bad_field("type", "required (backup)"))?,
    )?;
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
    check_properties(&cluster, properties.clone(), "properties.").await?;
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

/// `GET /api/v1/cluster/{cluster}/tasks?type=&all=`.
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
        infos.push(
            TaskInfo::new(t, &scheduler)
                .with_latest_run(state.store.as_ref())
                .await?,
        );
    }
    Ok(Json(infos))
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
        check_properties(&cluster, properties.clone(), "properties.").await?;
        task.properties = properties;
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

/// Stops the run of `task` if one is in progress (before the task or its cluster is deleted).
pub(super) async fn stop_if_running(state: &ApiState, task: TaskKey) -> Result<(), ApiError> {
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
        SchedulerError::AlreadyRunning { .. } | SchedulerError::NotRunning(_) => {
            StatusCode::CONFLICT
        }
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

/// `GET /api/v1/cluster/{cluster}/task/backup/{task}/{run}`: a run (its id, or `latest`) with its
/// progress tree.
async fn run_details(
    State(state): State<ApiState>,
    Path((cluster, task_type, task, run)): Path<(String, String, String, String)>,
) -> Result<Json<RunDetails>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    if task_type != TaskType::Backup.as_str() {
        return Err(ApiError::not_found(format!(
            "progress of {task_type} runs (only backup runs have progress)"
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
    }))
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
    let view = cluster_view(&cluster).await?;
    let checked = props
        .validate(&view.dcs())
        .map_err(|e| properties_problem(&e, prefix))?;
    locations_usable(&cluster, &view, &checked, prefix).await?;
    let client = contact_client(&cluster, &view)?;
    let mut target = build_target(&props, &view, &client)
        .await
        .map_err(target_problem)?;
    crate::manager::backup::schema::exclude_views(&mut target, &cluster).await;
    Ok(Json(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_checked_field_by_field() {
        let base = Schedule {
            num_retries: DEFAULT_NUM_RETRIES,
            retry_wait_seconds: DEFAULT_RETRY_WAIT_SECONDS,
            ..Schedule::default()
        };
        let s = apply_schedule(
            base.clone(),
            Some(serde_json::json!({"interval": "12h", "window": ["*-22:00", "*-06:00"]})),
        )
        .unwrap();
        assert_eq!(s.interval_seconds, 12 * 3600);
        assert_eq!((s.num_retries, s.retry_wait_seconds), (3, 600));
        let s = apply_schedule(
            s,
            Some(serde_json::json!({"interval": 60, "retry_wait": "1m"})),
        )
        .unwrap();
        assert_eq!((s.interval_seconds, s.retry_wait_seconds), (60, 60));
        for (body, field) in [
            (serde_json::json!({"cron": "* * *"}), "schedule.cron"),
            (
                serde_json::json!({"cron": "0 2 * * *", "interval": "1h"}),
                "schedule.interval",
            ),
            (serde_json::json!({"interval": "soon"}), "schedule.interval"),
            (serde_json::json!({"interval": -5}), "schedule.interval"),
            (
                serde_json::json!({"window": ["*-22:00"]}),
                "schedule.window",
            ),
            (
                serde_json::json!({"timezone": "Mars/Olympus"}),
                "schedule.timezone",
            ),
            (
                serde_json::json!({"start_date": "tomorrow"}),
                "schedule.start_date",
            ),
            (
                serde_json::json!({"num_retries": "three"}),
                "schedule.num_retries",
            ),
            (serde_json::json!({"every": "1h"}), "schedule.every"),
        ] {
            let e = apply_schedule(base.clone(), Some(body.clone())).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{body}: {e}");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn start_dates_accept_now_and_rfc3339() {
        let now = Utc::now();
        let later = start_date("now+1h").unwrap().unwrap();
        assert!(
            (later - now - chrono::Duration::hours(1))
                .num_seconds()
                .abs()
                < 5
        );
        assert_eq!(
            start_date("2030-01-02T03:04:05Z").unwrap(),
            DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
                .ok()
                .map(|t| t.with_timezone(&Utc))
        );
        assert_eq!(start_date("").unwrap(), None);
        assert!(start_date("now-1h").is_err());
    }

    #[test]
    fn property_type_errors_name_the_key() {
        let e = parse_value::<TaskProperties>(
            serde_json::json!({"location": ["s3:b"], "retention": "three"}),
            "properties.",
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("properties.retention"), "{e}");
        let e = parse_value::<TaskProperties>(serde_json::json!({"locations": []}), "properties.")
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("properties.locations"), "{e}");
        let e = parse_value::<TaskProperties>(serde_json::json!([1]), "properties.").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("properties"), "{e}");
    }
}
