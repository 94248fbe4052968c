//! `cairn info -c C TASK [--limit N] [--cause]`: a task's settings and properties, then its run
//! history, newest first, as `sctool info` shows them (`-o json`: `{task, runs}`).

use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::json;

use super::client::{
    ClientError, Connection, ManagerClient, duration, parse, print, print_text, time,
};
use super::output::{Format, table};
use super::run_header::header_text;
use super::tasks::labels::labels_text;
use super::tasks::properties::properties;
use super::tasks::{TaskRef, find_task, next_cell, schedule_cell, status_cell};
use crate::manager::api::runs::RunInfo;
use crate::manager::api::tasks::TaskInfo;

/// How much of a cause the history shows without `--cause`.
const CAUSE_CHARS: usize = 60;
/// The most runs `--limit` may ask for (the manager's limit).
const MAX_LIMIT: i64 = 1000;

/// Arguments of `cairn info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The task.
    #[command(flatten)]
    pub task: TaskRef,
    /// How many runs to list, newest first (1 to 1000).
    #[arg(long, default_value_t = 10, value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=MAX_LIMIT))]
    pub limit: u32,
    /// Print the causes of failed runs in full (cut to 60 characters otherwise).
    #[arg(long)]
    pub cause: bool,
}

/// Runs `cairn info` against the manager `manager` reaches.
pub async fn run(args: InfoArgs, manager: &Connection, format: Format) -> Result<(), ClientError> {
    let client = ManagerClient::new(manager)?;
    let task = find_task(&client, &args.task.cluster.cluster, &args.task.task).await?;
    let path = format!(
        "/api/v1/cluster/{}/task/{}/{}/history?limit={}",
        task.cluster_id, task.task_type, task.id, args.limit
    );
    let answer = client.get(&path).await?;
    let runs: Vec<RunInfo> = parse(&answer, &format!("GET {path}"))?;
    match format {
        Format::Json => print(format, &json!({"task": task, "runs": answer}), &[], &[]),
        Format::Table => print_text(&info_text(&task, &runs, args.cause, Utc::now())),
    }
    Ok(())
}

/// The task's lines, its properties, then the history table (or `No runs yet.`).
fn info_text(task: &TaskInfo, runs: &[RunInfo], full_cause: bool, now: DateTime<Utc>) -> String {
    let s = &task.schedule;
    let labels = labels_text(&task.labels);
    let mut header = vec![
        ("Task", format!("{}/{}", task.task_type, task.name)),
        ("ID", task.id.to_string()),
        ("Enabled", task.enabled.to_string()),
        ("Schedule", schedule_cell(s)),
        ("Retries", retries_text(s.num_retries, s.retry_wait_seconds)),
        ("Next run", next_cell(task, now)),
        ("Last status", status_cell(task)),
        (
            "Labels",
            if labels.is_empty() {
                "-".into()
            } else {
                labels
            },
        ),
    ];
    let props = properties(&task.properties);
    if props.is_empty() {
        header.push(("Properties", "-".into()));
    }
    let mut out = header_text(&header);
    if !props.is_empty() {
        out.push_str("Properties:\n");
        let width = props
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0)
            + 1;
        for (key, value) in &props {
            out.push_str(&format!("  {:<width$} {value}\n", format!("{key}:")));
        }
    }
    out.push('\n');
    if runs.is_empty() {
        out.push_str("No runs yet.\n");
    } else {
        out.push_str(&history_table(runs, full_cause, now));
    }
    out
}

/// The retries of a failed run: `3 (first after 10m)`, or `none`.
fn retries_text(retries: u32, wait_seconds: u64) -> String {
    if retries == 0 {
        return "none".into();
    }
    format!("{retries} (first after {})", duration(wait_seconds))
}

/// The runs as a table: ID, START, END, DURATION, STATUS, and CAUSE when a run has one.
fn history_table(runs: &[RunInfo], full_cause: bool, now: DateTime<Utc>) -> String {
    let causes = runs.iter().any(|r| !r.cause.is_empty());
    let mut header = vec!["ID", "START", "END", "DURATION", "STATUS"];
    if causes {
        header.push("CAUSE");
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let secs = (r.end_time.unwrap_or(now) - r.start_time)
                .num_seconds()
                .max(0);
            let mut row = vec![
                r.id.to_string(),
                time(r.start_time),
                r.end_time.map_or("-".into(), time),
                duration(secs as u64),
                r.status.to_string(),
            ];
            if causes {
                row.push(cause_cell(&r.cause, full_cause));
            }
            row
        })
        .collect();
    table(&header, &rows)
}

/// A run's cause on one line, cut to [`CAUSE_CHARS`] unless `full`; `-` when none.
fn cause_cell(cause: &str, full: bool) -> String {
    let line = cause.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "-".into();
    }
    if full || line.chars().count() <= CAUSE_CHARS {
        return line;
    }
    let cut: String = line.chars().take(CAUSE_CHARS - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::manager::store::{RunStatus, Schedule, TaskType};

    fn task() -> TaskInfo {
        TaskInfo {
            cluster_id: Uuid::nil(),
            id: Uuid::nil(),
            task_type: TaskType::Backup,
            name: "nightly".into(),
            labels: [("team".to_string(), "db".to_string())].into(),
            enabled: true,
            schedule: Schedule {
                interval_seconds: 12 * 3600,
                num_retries: 3,
                retry_wait_seconds: 600,
                ..Schedule::default()
            },
            properties: json!({"location": ["s3:b"], "retention_days": 7}),
            status: Some(RunStatus::Error),
            success_count: 1,
            error_count: 1,
            last_success: None,
            last_error: None,
            next_activation: None,
            running_run_id: None,
            retries: 0,
            skipped_hosts: Vec::new(),
            problem: None,
        }
    }

    fn run(status: RunStatus, cause: &str, minute: u32) -> RunInfo {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).unwrap();
        RunInfo {
            id: Uuid::nil(),
            cluster_id: Uuid::nil(),
            task_id: Uuid::nil(),
            task_type: TaskType::Backup,
            status,
            cause: cause.into(),
            owner: String::new(),
            start_time: start,
            end_time: Some(start + chrono::Duration::seconds(90)),
        }
    }

    #[test]
    fn the_task_then_its_runs_with_causes_cut_unless_asked() {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let long = "x".repeat(100);
        let runs = [
            run(RunStatus::Error, &long, 10),
            run(RunStatus::Done, "", 0),
        ];
        let text = info_text(&task(), &runs, false, now);
        let expected_start = "Task:         backup/nightly\n\
            ID:           00000000-0000-0000-0000-000000000000\n\
            Enabled:      true\n\
            Schedule:     every 12h\n\
            Retries:      3 (first after 10m)\n\
            Next run:     -\n\
            Last status:  ERROR (1 ok, 1 failed)\n\
            Labels:       team=db\n\
            Properties:\n  \
              location:       s3:b\n  \
              retention-days: 7\n\n\
            ID";
        assert!(text.starts_with(expected_start), "{text}");
        let cells = |line: &str| -> Vec<String> {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        };
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            cells(lines[lines.len() - 3]),
            ["ID", "START", "END", "DURATION", "STATUS", "CAUSE"]
        );
        assert_eq!(
            cells(lines[lines.len() - 2])[1..],
            [
                "2026-01-01 00:10:00 UTC".to_string(),
                "2026-01-01 00:11:30 UTC".into(),
                "1m30s".into(),
                "ERROR".into(),
                format!("{}…", "x".repeat(59))
            ]
        );
        assert_eq!(cells(lines[lines.len() - 1])[4..], ["DONE", "-"]);
        let text = info_text(&task(), &runs, true, now);
        assert!(text.contains(&long), "{text}");
        let text = info_text(&task(), &[], false, now);
        assert!(text.ends_with("\n\nNo runs yet.\n"), "{text}");
        assert_eq!(retries_text(0, 600), "none");
    }
}
