//! A task body read and checked: the request body of `POST .../tasks` and `PUT .../task/...`,
//! the schedule's fields one by one, the name, the labels, and the backup or restore properties
//! checked against the cluster (its DCs, and whether the agents can use the locations). Every refusal is
//! a 400 (a taken name a 409) naming the field at fault.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::ApiState;
use super::body::parse_value;
use super::error::{ApiError, store_error};
use crate::format::location::Location;
use crate::manager::agent_client::AgentClient;
use crate::manager::backup::properties::{CheckedProperties, PropertiesError, TaskProperties};
use crate::manager::discovery::{ClusterView, discover};
use crate::manager::location::check::{check_locations, check_readable};
use crate::manager::restore::properties::RestoreProperties;
use crate::manager::schedule::{ScheduleError, check as check_schedule, check_start_date};
use crate::manager::store::{Cluster, Schedule, TaskType};
use crate::manager::validate::properties::ValidateProperties;
use crate::manager::validate::targets::{NO_DEFAULT_LOCATION, default_locations, unknown_dcs};
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

/// The body of `POST .../tasks` and `PUT .../task/{type}/{task}`; on update, absent fields keep
/// their value.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct TaskBody {
    /// The task type: `backup`, `restore` or `validate_backup`.
    #[serde(rename = "type")]
    pub(super) task_type: Option<String>,
    /// The name, unique per cluster and type.
    pub(super) name: Option<String>,
    /// Whether the scheduler runs it.
    pub(super) enabled: Option<bool>,
    /// User labels.
    pub(super) labels: Option<BTreeMap<String, String>>,
    /// When it runs ([`ScheduleBody`]).
    pub(super) schedule: Option<Value>,
    /// The task properties ([`TaskProperties`], [`RestoreProperties`] or [`ValidateProperties`]).
    pub(super) properties: Option<Value>,
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

/// The type of a task body: every task type (backup, restore, validate_backup).
pub(super) fn body_type(text: &str) -> Result<TaskType, ApiError> {
    text.parse::<TaskType>().map_err(|_| {
        ApiError::bad_field(
            "type",
            format!("unknown task type {text:?} (expected backup, restore or validate_backup)"),
        )
    })
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
    if text.starts_with("now-") {
        return Err(ApiError::bad_field(
            field,
            format!("{text:?} is in the past (use now or now+DURATION)"),
        ));
    }
    let date = crate::units::parse_time(text, now).map_err(|e| ApiError::bad_field(field, e))?;
    check_start_date(date, now).map_err(|_| out_of_range())?;
    Ok(Some(date))
}

/// `base` with the changes of a `schedule` body, checked with the scheduler's rules.
pub(super) fn apply_schedule(
    mut base: Schedule,
    body: Option<Value>,
) -> Result<Schedule, ApiError> {
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
pub(super) fn properties_problem(e: &PropertiesError, prefix: &str) -> ApiError {
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
pub(super) async fn cluster_view(cluster: &Cluster) -> Result<ClusterView, ApiError> {
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

/// Parses the properties of a `task_type` task (fields named under `prefix`) and validates them
/// against the cluster's DCs and agents; returns the properties to store (a validate task's
/// empty `location` filled with the backup tasks' locations, other documents as given).
pub(super) async fn check_properties(
    state: &ApiState,
    cluster: &Cluster,
    task_type: TaskType,
    value: Value,
    prefix: &str,
) -> Result<Value, ApiError> {
    match task_type {
        TaskType::Restore => check_restore_properties(cluster, value.clone(), prefix)
            .await
            .map(|_| value),
        TaskType::ValidateBackup => {
            let (props, _) =
                check_validate_properties(state, cluster, value.clone(), prefix).await?;
            let mut value = value;
            if let Value::Object(map) = &mut value {
                map.insert("location".into(), Value::from(props.location));
            }
            Ok(value)
        }
        _ => check_backup_properties(cluster, value.clone(), prefix)
            .await
            .map(|_| value),
    }
}

/// Parses validate task properties (fields named under `prefix`) and validates them: values,
/// locations (an empty list takes the cluster's enabled backup tasks' locations), their DCs
/// against the cluster's, and whether the agents can read them.
pub(super) async fn check_validate_properties(
    state: &ApiState,
    cluster: &Cluster,
    value: Value,
    prefix: &str,
) -> Result<(ValidateProperties, ClusterView), ApiError> {
    let mut props: ValidateProperties = parse_value(value, prefix)?;
    props
        .validate()
        .map_err(|e| properties_problem(&e, prefix))?;
    if props.location.is_empty() {
        props.location = default_locations(state.store.as_ref(), cluster.id)
            .await
            .map_err(store_error)?;
        if props.location.is_empty() {
            return Err(ApiError::bad_field(
                format!("{prefix}location"),
                NO_DEFAULT_LOCATION,
            ));
        }
    }
    let mut locations = Vec::new();
    for (i, l) in props.location.iter().enumerate() {
        locations.push(l.parse::<Location>().map_err(|e| {
            ApiError::bad_field(format!("{prefix}location[{i}]"), format!("{l}: {e}"))
        })?);
    }
    let view = cluster_view(cluster).await?;
    let dcs = view.dcs();
    if let Some((i, dc)) = unknown_dcs(&locations, &dcs).into_iter().next() {
        return Err(ApiError::bad_field(
            format!("{prefix}location[{i}]"),
            format!(
                "DC {dc:?} is not a DC of cluster {} (its DCs: {})",
                cluster.name,
                dcs.join(", ")
            ),
        ));
    }
    check_readable(&contact_client(cluster, &view)?, &view, &locations)
        .await
        .map_err(|e| ApiError::bad_field(format!("{prefix}location[{}]", e.index), e))?;
    Ok((props, view))
}

/// Parses restore task properties (fields named under `prefix`), validates them against the
/// cluster's DCs, and asks the agents whether they can read the locations.
pub(super) async fn check_restore_properties(
    cluster: &Cluster,
    value: Value,
    prefix: &str,
) -> Result<(RestoreProperties, ClusterView), ApiError> {
    let props: RestoreProperties = parse_value(value, prefix)?;
    let view = cluster_view(cluster).await?;
    let checked = props
        .validate(&view.dcs())
        .map_err(|e| properties_problem(&e, prefix))?;
    check_readable(&contact_client(cluster, &view)?, &view, &checked.location)
        .await
        .map_err(|e| ApiError::bad_field(format!("{prefix}location[{}]", e.index), e))?;
    Ok((props, view))
}

/// Parses backup task properties (fields named under `prefix`) and validates them against the
/// cluster's DCs.
pub(super) async fn check_backup_properties(
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
pub(super) fn contact_client(
    cluster: &Cluster,
    view: &ClusterView,
) -> Result<AgentClient, ApiError> {
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
pub(super) async fn locations_usable(
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
pub(super) async fn check_task_name(
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
pub(super) fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), ApiError> {
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

/// The properties a dry run checks, with the prefix its refusals name fields with: `body` is a
/// whole task body of type `task_type` (its type, name, schedule and labels checked as creation
/// checks them, `properties.` prefixed) or the properties alone.
pub(super) async fn dry_run_properties(
    state: &ApiState,
    cluster: &Cluster,
    body: &[u8],
    task_type: TaskType,
) -> Result<(Value, &'static str), ApiError> {
    let body: Value = super::body::parse_body(body)?;
    if body.get("properties").is_none() {
        return Ok((body, ""));
    }
    let task: TaskBody = parse_value(body, "")?;
    if let Some(t) = &task.task_type
        && t != task_type.as_str()
    {
        return Err(ApiError::bad_field(
            "type",
            format!("{t:?}: expected {task_type}"),
        ));
    }
    if let Some(name) = &task.name {
        check_task_name(state, cluster.id, task_type, name, None).await?;
    }
    apply_schedule(Schedule::default(), task.schedule)?;
    check_labels(&task.labels.unwrap_or_default())?;
    let props = task
        .properties
        .unwrap_or_else(|| Value::Object(Default::default()));
    Ok((props, "properties."))
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
