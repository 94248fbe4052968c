//! The settings every task type shares, as sctool's flags (schedule, name, enabled state,
//! labels), and creating or updating a task of any type from them: `cairn backup|restore|backup
//! validate` and their `update` all go through here.

use clap::Args;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::find_task;
use super::labels::{self, LabelEdit};
use crate::cli::client::{ClientError, ManagerClient, parse, print, print_text, segment};
use crate::cli::output::Format;
use crate::manager::api::tasks::TaskInfo;
use crate::manager::store::TaskType;

/// The settings every task type shares, as sctool's flags: its schedule, name, enabled state and
/// labels; each is sent only when given.
#[derive(Debug, Args, Default)]
pub struct TaskSettings {
    /// A 5-field cron line for the runs.
    #[arg(long, value_name = "CRON")]
    pub cron: Option<String>,
    /// Time between runs, e.g. 12h (0: none).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// First run: RFC 3339, now, or now+DURATION.
    #[arg(long, value_name = "TIME")]
    pub start_date: Option<String>,
    /// Weekly window bounds `[weekday-]HH:MM`, in start/end pairs (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "POINT")]
    pub window: Vec<String>,
    /// Time zone of the cron line and windows.
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// Retries of a failed run.
    #[arg(long, value_name = "N")]
    pub num_retries: Option<u32>,
    /// First wait before a retry, e.g. 10m.
    #[arg(long, value_name = "DURATION")]
    pub retry_wait: Option<String>,
    /// Whether the scheduler runs the task (`--enabled false` to disable).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub enabled: Option<bool>,
    /// The task's name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Label changes, comma-separated or repeated: `KEY=VALUE` sets a label, `KEY-` removes one
    /// (on update; the other labels are kept).
    #[arg(long = "label", value_delimiter = ',', value_name = "K=V,K-", value_parser = labels::parse_label_edit)]
    pub label: Vec<LabelEdit>,
}

impl TaskSettings {
    /// The schedule fields given, as JSON keys.
    pub fn schedule(&self) -> Map<String, Value> {
        let mut s = Map::new();
        for (key, value) in [
            ("cron", &self.cron),
            ("interval", &self.interval),
            ("start_date", &self.start_date),
            ("timezone", &self.timezone),
            ("retry_wait", &self.retry_wait),
        ] {
            if let Some(v) = value {
                s.insert(key.into(), json!(v));
            }
        }
        if !self.window.is_empty() {
            s.insert("window".into(), json!(self.window));
        }
        if let Some(n) = self.num_retries {
            s.insert("num_retries".into(), json!(n));
        }
        s
    }

    /// The task body with the fields given, and `properties` when set; the labels are those
    /// `--label` sets (a new task's: an update merges them with the task's, see `update_task`).
    pub fn body(&self, properties: Option<Map<String, Value>>) -> Map<String, Value> {
        let mut body = Map::new();
        if let Some(name) = &self.name {
            body.insert("name".into(), json!(name));
        }
        let labels = labels::new_labels(&self.label);
        if !labels.is_empty() {
            body.insert("labels".into(), json!(labels));
        }
        if let Some(enabled) = self.enabled {
            body.insert("enabled".into(), json!(enabled));
        }
        let schedule = self.schedule();
        if !schedule.is_empty() {
            body.insert("schedule".into(), Value::Object(schedule));
        }
        if let Some(p) = properties {
            body.insert("properties".into(), Value::Object(p));
        }
        body
    }
}

/// Prints a task as `TYPE/NAME`, or its document with `-o json`.
pub(crate) fn print_task(answer: &Value, request: &str, format: Format) -> Result<(), ClientError> {
    let task: TaskInfo = parse(answer, request)?;
    match format {
        Format::Json => print(format, answer, &[], &[]),
        Format::Table => print_text(&format!("{}/{}\n", task.task_type, task.name)),
    }
    Ok(())
}

/// `cairn backup|restore|backup validate -c C ...`: creates a task of `task_type` from `body`
/// (settings and properties) and prints it.
pub(crate) async fn create_task(
    client: &ManagerClient,
    cluster: &str,
    task_type: TaskType,
    mut body: Map<String, Value>,
    format: Format,
) -> Result<(), ClientError> {
    body.insert("type".into(), json!(task_type.as_str()));
    let path = format!("/api/v1/cluster/{}/tasks", segment(cluster));
    let answer = client
        .call(Method::POST, &path, Some(&Value::Object(body)))
        .await?;
    print_task(&answer, &format!("POST {path}"), format)
}

/// `cairn backup|restore update -c C TASK ...`: changes the settings and the properties given
/// (`given`), keeping the other properties and labels (the manager replaces each as a whole).
pub(crate) async fn update_task(
    client: &ManagerClient,
    cluster: &str,
    task_type: TaskType,
    spec: &str,
    given: Map<String, Value>,
    settings: &TaskSettings,
    format: Format,
) -> Result<(), ClientError> {
    let spec = if spec.contains('/') {
        spec.to_string()
    } else {
        format!("{task_type}/{spec}")
    };
    let task = find_task(client, cluster, &spec).await?;
    if task.task_type != task_type {
        return Err(ClientError::Usage(format!(
            "{spec} is a {} task: use cairn {} update",
            task.task_type, task.task_type
        )));
    }
    let properties = if given.is_empty() {
        None
    } else {
        let mut p = task.properties.as_object().cloned().unwrap_or_default();
        p.extend(given);
        Some(p)
    };
    let mut body = settings.body(properties);
    if !settings.label.is_empty() {
        let labels = labels::merged_labels(&task.labels, &settings.label)?;
        body.insert("labels".into(), json!(labels));
    }
    if body.is_empty() {
        return Err(ClientError::Usage(format!(
            "nothing to change: give at least one flag (see cairn {task_type} update --help)"
        )));
    }
    let path = format!(
        "/api/v1/cluster/{}/task/{task_type}/{}",
        task.cluster_id, task.id
    );
    let answer = client
        .call(Method::PUT, &path, Some(&Value::Object(body)))
        .await?;
    print_task(&answer, &format!("PUT {path}"), format)
}
