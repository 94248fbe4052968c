//! `cairn tasks` (a cluster's tasks with their schedule, next run, last status and ID, as
//! `sctool tasks` shows them) and `cairn start|stop [--disable|--delete]` of one task.
//!
//! A task is named as `TYPE/NAME`, `TYPE/ID`, `NAME` or `ID` (the way sctool takes `type/id`);
//! without a type, the name or id must be unique among the cluster's tasks. A bare `TYPE` (e.g.
//! `backup`) names the cluster's only task of that type, as in sctool, when no task is named so.
//!
//! | module | owns |
//! |---|---|
//! | [`labels`] | `--label k=v,k2-` of task creation and update, and labels as the tables print them |
//! | [`properties`] | a task's properties as `tasks --show-properties` and `info` print them |
//! | [`settings`] | the settings every task type shares (schedule, name, enabled, labels), and creating or updating a task of any type |

pub mod labels;
pub mod properties;
pub mod settings;

pub use settings::TaskSettings;
pub(crate) use settings::{create_task, update_task};

use chrono::Utc;
use clap::Args;
use reqwest::Method;
use serde_json::Value;

use super::client::{
    ClientError, Connection, ManagerClient, duration, parse, print, print_text, segment, time,
};
use super::cluster::ClusterRef;
use super::output::Format;
use crate::manager::api::runs::Started;
use crate::manager::api::tasks::{TaskInfo, parse_status};
use crate::manager::backup::progress::skipped_summary;
use crate::manager::store::{RunStatus, Schedule, TaskType};

/// Arguments of `cairn tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterRef,
    /// List disabled tasks too.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only tasks of this type (backup, restore or validate_backup).
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    pub task_type: Option<String>,
    /// Only tasks whose last run has this status: NEW (never run), RUNNING, STOPPING, STOPPED,
    /// WAITING, DONE, ERROR or ABORTED.
    #[arg(short = 's', long, value_name = "STATUS", value_parser = parse_status)]
    pub status: Option<RunStatus>,
    /// Order the tasks by their next run (those without one last) or by status (in the order
    /// of --status's values, as sctool).
    #[arg(long, value_enum, value_name = "KEY")]
    pub sort: Option<SortKey>,
    /// Add a PROPERTIES column: the properties set, e.g. `keyspace=ks1 location=s3:b retention=3`.
    #[arg(long)]
    pub show_properties: bool,
}

/// What `cairn tasks --sort` orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// The next run, soonest first; tasks without one (disabled, or done for good) last.
    NextActivation,
    /// The last run's status: NEW, RUNNING, STOPPING, STOPPED, WAITING, DONE, ERROR, ABORTED.
    Status,
}

/// A task of a cluster: `-c CLUSTER TASK`.
#[derive(Debug, Args)]
pub struct TaskRef {
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterRef,
    /// The task: `backup/NAME`, `backup/ID`, `NAME` or `ID`.
    #[arg(value_name = "TASK")]
    pub task: String,
}

/// Arguments of `cairn start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The task.
    #[command(flatten)]
    pub task: TaskRef,
    /// Start afresh instead of continuing the last run where it stopped.
    #[arg(long)]
    pub no_continue: bool,
}

/// Arguments of `cairn stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// The task.
    #[command(flatten)]
    pub task: TaskRef,
    /// Also disable the task, so that it does not run again until enabled
    /// (`cairn backup update ... --enabled true`).
    #[arg(long)]
    pub disable: bool,
    /// Also delete the task. Its runs' history stays, and so do its backups, until another
    /// task's purge removes them as those of an unknown task (after 30 days).
    #[arg(long, conflicts_with = "disable")]
    pub delete: bool,
}

/// What `cairn start|stop` does with the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a run now; `true` continues the last run where it stopped.
    Start(bool),
    /// Stop the run in progress.
    Stop,
    /// Stop the run in progress, if any, and disable the task.
    Disable,
    /// Stop the run in progress, if any, and delete the task.
    Delete,
}

impl StopArgs {
    /// What the flags ask for.
    pub fn action(&self) -> Action {
        match (self.disable, self.delete) {
            (_, true) => Action::Delete,
            (true, false) => Action::Disable,
            (false, false) => Action::Stop,
        }
    }
}

/// The columns of `cairn tasks` beyond TASK, SCHEDULE, NEXT RUN, LAST STATUS and ID.
#[derive(Debug, Clone, Copy, Default)]
struct Columns {
    /// LABELS, after TASK (shown when a task listed has labels).
    labels: bool,
    /// PROPERTIES, last (`--show-properties`).
    properties: bool,
}

impl Columns {
    /// The header row.
    fn header(self) -> Vec<&'static str> {
        let mut header = vec!["TASK"];
        if self.labels {
            header.push("LABELS");
        }
        header.extend(["SCHEDULE", "NEXT RUN", "LAST STATUS", "ID"]);
        if self.properties {
            header.push("PROPERTIES");
        }
        header
    }

    /// The row of `t`; an empty cell is `-`.
    fn row(self, t: &TaskInfo, now: chrono::DateTime<Utc>) -> Vec<String> {
        let or_dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
        let mut row = vec![format!("{}/{}", t.task_type, t.name)];
        if self.labels {
            row.push(or_dash(labels::labels_text(&t.labels)));
        }
        row.extend([
            schedule_cell(&t.schedule),
            next_cell(t, now),
            status_cell(t),
            t.id.to_string(),
        ]);
        if self.properties {
            row.push(or_dash(properties::properties_cell(&t.properties)));
        }
        row
    }
}

/// Orders `tasks` (each with its document) by `key`, keeping the manager's order among equals.
fn sort_tasks<D>(tasks: &mut [(TaskInfo, D)], key: SortKey) {
    match key {
        SortKey::NextActivation => tasks.sort_by_key(|(t, _)| {
            let next = t.next_activation.filter(|_| t.enabled);
            (next.is_none(), next)
        }),
        SortKey::Status => tasks.sort_by_key(|(t, _)| t.current_status()),
    }
}

/// Runs `cairn tasks` against the manager `manager` reaches.
pub async fn run_list(
    args: TasksArgs,
    manager: &Connection,
    format: Format,
) -> Result<(), ClientError> {
    let client = ManagerClient::new(manager)?;
    if let Some(t) = &args.task_type {
        task_type(t)?;
    }
    let mut path = format!(
        "/api/v1/cluster/{}/tasks?all={}",
        segment(&args.cluster.cluster),
        args.all
    );
    if let Some(t) = &args.task_type {
        path.push_str(&format!("&type={}", segment(t)));
    }
    if let Some(s) = args.status {
        path.push_str(&format!("&status={s}"));
    }
    let answer = client.get(&path).await?;
    let request = format!("GET {path}");
    let documents: Vec<Value> = parse(&answer, &request)?;
    let mut tasks = documents
        .into_iter()
        .map(|d| Ok((parse::<TaskInfo>(&d, &request)?, d)))
        .collect::<Result<Vec<_>, ClientError>>()?;
    if let Some(key) = args.sort {
        sort_tasks(&mut tasks, key);
    }
    let columns = Columns {
        labels: tasks.iter().any(|(t, _)| !t.labels.is_empty()),
        properties: args.show_properties,
    };
    let now = Utc::now();
    let rows: Vec<_> = tasks.iter().map(|(t, _)| columns.row(t, now)).collect();
    let document = Value::Array(tasks.into_iter().map(|(_, d)| d).collect());
    print(format, &document, &columns.header(), &rows);
    Ok(())
}

/// Runs `cairn start|stop` of `task` against the manager `manager` reaches; `start` prints the new
/// run's id.
pub async fn run_action(
    task: TaskRef,
    action: Action,
    manager: &Connection,
    format: Format,
) -> Result<(), ClientError> {
    let client = ManagerClient::new(manager)?;
    let found = find_task(&client, &task.cluster.cluster, &task.task).await?;
    let base = format!(
        "/api/v1/cluster/{}/task/{}/{}",
        found.cluster_id, found.task_type, found.id
    );
    let shown = format!("{}/{}", found.task_type, found.name);
    // The scheduler names tasks by their key; users know them by type and name.
    let key = format!("{}/{}/{}", found.cluster_id, found.task_type, found.id);
    let named = |e: ClientError| match e {
        ClientError::Api { status, message } => ClientError::Api {
            status,
            message: message.replace(&key, &shown),
        },
        e => e,
    };
    match action {
        Action::Start(resume) => {
            let path = format!("{base}/start?continue={resume}");
            let answer = client.call(Method::PUT, &path, None).await.map_err(named)?;
            let started: Started = parse(&answer, &format!("PUT {path}"))?;
            match format {
                Format::Json => print(format, &answer, &[], &[]),
                Format::Table => print_text(&format!("{}\n", started.run_id)),
            }
        }
        Action::Stop => {
            client
                .call(Method::PUT, &format!("{base}/stop"), None)
                .await
                .map_err(named)?;
        }
        Action::Disable => {
            // Disabled first, so that no new run starts between the two calls.
            let body = serde_json::json!({ "enabled": false });
            client
                .call(Method::PUT, &base, Some(&body))
                .await
                .map_err(named)?;
            let stopped = stop_if_running(&client, &base).await.map_err(named)?;
            print_done(format, &shown, "disabled", Some(stopped));
        }
        Action::Delete => {
            // The manager stops a run in progress before it deletes the task.
            client
                .call(Method::DELETE, &base, None)
                .await
                .map_err(named)?;
            print_done(format, &shown, "deleted", None);
        }
    }
    Ok(())
}

/// Stops the task at `base` if it is running; whether it was (an idle task is no error here).
async fn stop_if_running(client: &ManagerClient, base: &str) -> Result<bool, ClientError> {
    match client
        .call(Method::PUT, &format!("{base}/stop"), None)
        .await
    {
        Err(ClientError::Api { status: 409, .. }) => Ok(false),
        other => other.map(|_| true),
    }
}

/// Prints what `stop --disable|--delete` did to `task`: `backup/NAME disabled` (and whether a
/// run was stopped, when known), or `{"task", "done", "run_stopped"}` with `-o json`.
fn print_done(format: Format, task: &str, done: &str, stopped: Option<bool>) {
    let doc = serde_json::json!({"task": task, "done": done, "run_stopped": stopped});
    let text = match stopped {
        Some(true) => format!("{task} {done}; its run was stopped\n"),
        _ => format!("{task} {done}\n"),
    };
    match format {
        Format::Json => print(format, &doc, &[], &[]),
        Format::Table => print_text(&text),
    }
}

/// A task type as users write it.
fn task_type(text: &str) -> Result<TaskType, ClientError> {
    text.parse().map_err(|_| {
        let known: Vec<_> = TaskType::ALL.iter().map(|t| t.as_str()).collect();
        ClientError::Usage(format!(
            "unknown task type {text:?} (expected {})",
            known.join(" or ")
        ))
    })
}

/// The task `spec` names among the cluster's tasks (disabled ones included).
pub(crate) async fn find_task(
    client: &ManagerClient,
    cluster: &str,
    spec: &str,
) -> Result<TaskInfo, ClientError> {
    let (kind, name) = match spec.split_once('/') {
        Some((t, n)) => (Some(task_type(t)?), n),
        None => (None, spec),
    };
    let path = format!("/api/v1/cluster/{}/tasks?all=true", segment(cluster));
    let answer = client.get(&path).await?;
    let tasks: Vec<TaskInfo> = parse(&answer, &format!("GET {path}"))?;
    let named: Vec<_> = tasks
        .iter()
        .filter(|t| kind.is_none_or(|k| t.task_type == k))
        .filter(|t| t.id.to_string() == name || t.name == name)
        .cloned()
        .collect();
    // A bare type names the only task of that type, as in sctool.
    let matches = match spec.parse::<TaskType>() {
        Ok(alone) if named.is_empty() && kind.is_none() => {
            tasks.into_iter().filter(|t| t.task_type == alone).collect()
        }
        _ => named,
    };
    match <[TaskInfo; 1]>::try_from(matches) {
        Ok([t]) => Ok(t),
        Err(m) if m.is_empty() => Err(ClientError::NotFound(format!(
            "cluster {cluster} has no task {spec:?} (`cairn tasks -c {cluster} --all` lists them)"
        ))),
        Err(m) => {
            let names: Vec<_> = m
                .iter()
                .map(|t| format!("{}/{}", t.task_type, t.name))
                .collect();
            Err(ClientError::Usage(format!(
                "{spec:?} names several tasks ({}); give TYPE/NAME",
                names.join(", ")
            )))
        }
    }
}

/// The SCHEDULE cell: the cron line, `every INTERVAL`, or `once`; then the time zone, the start
/// date and the windows when set.
pub(crate) fn schedule_cell(s: &Schedule) -> String {
    let mut text = match (&s.cron, s.interval_seconds) {
        (Some(cron), _) => cron.clone(),
        (None, 0) => "once".to_string(),
        (None, i) => format!("every {}", duration(i)),
    };
    if let Some(tz) = s.timezone.as_deref().filter(|tz| *tz != "UTC") {
        text.push_str(&format!(" {tz}"));
    }
    if let Some(start) = s.start_date {
        text.push_str(&format!(" from {}", time(start)));
    }
    if !s.window.is_empty() {
        text.push_str(&format!(" in windows {}", s.window.join(",")));
    }
    text
}

/// The NEXT RUN cell: the time and how far it is, `disabled`, or `-`.
pub(crate) fn next_cell(t: &TaskInfo, now: chrono::DateTime<Utc>) -> String {
    match t.next_activation {
        _ if !t.enabled => "disabled".into(),
        Some(next) => {
            let secs = (next - now).num_seconds();
            if secs > 0 {
                // Seconds only matter in the last minute.
                let secs = if secs >= 60 { secs / 60 * 60 } else { secs };
                format!("{} (in {})", time(next), duration(secs as u64))
            } else {
                format!("{} (now)", time(next))
            }
        }
        None => "-".into(),
    }
}

/// The LAST STATUS cell: the latest run's status with the success and error counts, and the
/// nodes the latest run left out.
pub(crate) fn status_cell(t: &TaskInfo) -> String {
    let status = match (t.status, t.running_run_id) {
        (Some(s), _) => s.to_string(),
        (None, Some(_)) => "RUNNING".into(),
        (None, None) => "never run".into(),
    };
    let mut text = format!("{status} ({} ok, {} failed", t.success_count, t.error_count);
    if t.retries > 0 {
        text.push_str(&format!(", retry {}", t.retries));
    }
    if let Some(skipped) = skipped_summary(&t.skipped_hosts) {
        text.push_str(&format!("; {skipped}"));
    }
    text.push(')');
    // Why the scheduler does not run it: a stored schedule it cannot use, or a run not resumed.
    if let Some(problem) = &t.problem {
        text.push_str(&format!(" NOT SCHEDULED: {problem}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::Value;

    use super::*;
    use crate::manager::store::RunStatus;

    fn task() -> TaskInfo {
        TaskInfo {
            cluster_id: uuid::Uuid::nil(),
            id: uuid::Uuid::nil(),
            task_type: TaskType::Backup,
            name: "nightly".into(),
            labels: Default::default(),
            enabled: true,
            schedule: Schedule {
                cron: Some("0 2 * * *".into()),
                ..Schedule::default()
            },
            properties: Value::Null,
            status: None,
            success_count: 0,
            error_count: 0,
            last_success: None,
            last_error: None,
            next_activation: None,
            running_run_id: None,
            retries: 0,
            skipped_hosts: Vec::new(),
            problem: None,
        }
    }

    #[test]
    fn rows_show_schedule_next_run_and_last_status() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut t = task();
        t.next_activation = Some(Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap());
        assert_eq!(
            Columns::default().row(&t, now),
            [
                "backup/nightly",
                "0 2 * * *",
                "2026-01-01 02:00:00 UTC (in 2h)",
                "never run (0 ok, 0 failed)",
                "00000000-0000-0000-0000-000000000000"
            ]
        );
        t.schedule = Schedule {
            interval_seconds: 12 * 3600,
            window: vec!["*-22:00".into(), "*-06:00".into()],
            ..Schedule::default()
        };
        t.status = Some(RunStatus::Error);
        t.success_count = 3;
        t.error_count = 1;
        t.retries = 2;
        t.enabled = false;
        assert_eq!(
            Columns::default().row(&t, now)[1..4],
            [
                "every 12h in windows *-22:00,*-06:00",
                "disabled",
                "ERROR (3 ok, 1 failed, retry 2)"
            ]
        );
        t.schedule = Schedule::default();
        assert_eq!(schedule_cell(&t.schedule), "once");
    }

    #[test]
    fn labels_and_properties_have_their_columns_and_tasks_sort() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut t = task();
        t.labels = [("team".to_string(), "db".to_string())].into();
        t.properties = serde_json::json!({"location": ["s3:b"], "retention": 3});
        let columns = Columns {
            labels: true,
            properties: true,
        };
        assert_eq!(
            columns.header(),
            [
                "TASK",
                "LABELS",
                "SCHEDULE",
                "NEXT RUN",
                "LAST STATUS",
                "ID",
                "PROPERTIES"
            ]
        );
        let row = columns.row(&t, now);
        assert_eq!(row[1], "team=db");
        assert_eq!(row[6], "location=s3:b retention=3");
        t.labels.clear();
        t.properties = Value::Null;
        let row = columns.row(&t, now);
        assert_eq!((row[1].as_str(), row[6].as_str()), ("-", "-"));

        let at = |h| Some(Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap());
        let with = |name: &str, status, next| {
            let mut t = task();
            t.name = name.into();
            t.status = status;
            t.next_activation = next;
            (t, ())
        };
        let mut tasks = vec![
            with("none", Some(RunStatus::Error), None),
            with("late", Some(RunStatus::Done), at(5)),
            with("new", None, at(3)),
            with("aborted", Some(RunStatus::Aborted), at(1)),
        ];
        let names = |tasks: &[(TaskInfo, ())]| -> Vec<String> {
            tasks.iter().map(|(t, _)| t.name.clone()).collect()
        };
        sort_tasks(&mut tasks, SortKey::NextActivation);
        assert_eq!(names(&tasks), ["aborted", "new", "late", "none"]);
        sort_tasks(&mut tasks, SortKey::Status);
        assert_eq!(names(&tasks), ["new", "late", "none", "aborted"]);
    }

    #[test]
    fn every_task_command_takes_label() {
        use clap::Parser;
        for args in [
            &["backup", "-c", "x", "-L", "s3:b"][..],
            &["backup", "update", "-c", "x", "t"],
            &[
                "restore",
                "-c",
                "x",
                "-L",
                "s3:b",
                "-T",
                "sm_20260101000000UTC",
            ],
            &["restore", "update", "-c", "x", "t"],
            &["backup", "validate", "-c", "x"],
            &["backup", "validate", "update", "-c", "x", "t"],
        ] {
            let with = |label: &str| {
                let mut all = vec!["cairn"];
                all.extend_from_slice(args);
                all.extend(["--label", label]);
                crate::cli::Cli::try_parse_from(all)
            };
            assert!(with("team=db,env-").is_ok(), "{args:?}");
            let e = with("team").unwrap_err().to_string();
            assert!(e.contains("--label"), "{args:?}: {e}");
        }
    }

    #[test]
    fn task_types_are_checked() {
        assert_eq!(task_type("backup"), Ok(TaskType::Backup));
        assert_eq!(task_type("restore"), Ok(TaskType::Restore));
        let e = task_type("repair").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown task type \"repair\" (expected backup or restore or validate_backup)"
        );
    }
}
