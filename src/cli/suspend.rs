//! `cairn suspend -c C [--duration D] [--on-resume-start-tasks]` and `cairn resume -c C
//! [--start-tasks]`, as sctool's: stop every task of a cluster and start none until it is
//! resumed, and resume it. Each prints what it did (plain lines; `-o json` the manager's
//! answer).
//!
//! `cairn resume` is the cluster's resume, as in sctool; given a task it refuses, pointing to
//! `cairn start -c C TASK`, which starts one task again continuing its last run.

use clap::Args;
use reqwest::Method;
use serde_json::Value;

use super::client::{
    ClientError, Connection, ManagerClient, parse, print, print_text, segment, time,
};
use super::cluster::ClusterRef;
use super::output::Format;
use crate::manager::api::suspend::{ResumeAnswer, SuspendAnswer, TaskName};

/// Arguments of `cairn suspend`.
#[derive(Debug, Args)]
pub struct SuspendArgs {
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterRef,
    /// Resume by itself after this long, e.g. 2h or 1h30m.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// When resuming by itself (--duration), start the tasks the suspension stopped.
    #[arg(long)]
    pub on_resume_start_tasks: bool,
}

/// Arguments of `cairn resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterRef,
    /// Start the tasks the suspension stopped, each continuing its run.
    #[arg(long)]
    pub start_tasks: bool,
    /// Not taken: `cairn resume` resumes the whole cluster (use `cairn start -c C TASK`).
    #[arg(value_name = "TASK", hide = true)]
    pub task: Option<String>,
}

/// The path of the cluster's suspension.
fn path(cluster: &ClusterRef) -> String {
    format!("/api/v1/cluster/{}/suspended", segment(&cluster.cluster))
}

/// Tasks as a list for a sentence: `backup/a, backup/b`.
fn listed<'a>(tasks: impl IntoIterator<Item = &'a TaskName>) -> String {
    tasks
        .into_iter()
        .map(TaskName::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `N task(s)`.
fn tasks_count(n: usize) -> String {
    format!("{n} task{}", if n == 1 { "" } else { "s" })
}

/// Runs `cairn suspend`.
pub async fn run_suspend(
    args: SuspendArgs,
    manager: &Connection,
    format: Format,
) -> Result<(), ClientError> {
    if args.on_resume_start_tasks && args.duration.is_none() {
        return Err(ClientError::Usage(
            "--on-resume-start-tasks takes --duration (the tasks start when the suspension ends by itself; otherwise use `cairn resume --start-tasks`)".into(),
        ));
    }
    let client = ManagerClient::new(manager)?;
    let mut path = path(&args.cluster);
    let mut query = Vec::new();
    if let Some(d) = &args.duration {
        query.push(format!("duration={}", segment(d)));
    }
    if args.on_resume_start_tasks {
        query.push("on_resume_start_tasks=true".to_string());
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let answer = client
        .call(Method::PUT, &path, Some(&Value::Bool(true)))
        .await?;
    let done: SuspendAnswer = parse(&answer, &format!("PUT {path}"))?;
    if format == Format::Json {
        print(format, &answer, &[], &[]);
        return Ok(());
    }
    let d = &done.details;
    let since = d.started_at.map(time).unwrap_or_default();
    let mut text = if done.already_suspended {
        format!(
            "cluster {} is already suspended (since {since}); nothing done\n",
            done.cluster
        )
    } else if d.stopped_tasks.is_empty() {
        format!("cluster {} suspended; no task was running\n", done.cluster)
    } else {
        format!(
            "cluster {} suspended; stopped {}: {}\n",
            done.cluster,
            tasks_count(d.stopped_tasks.len()),
            listed(&d.stopped_tasks)
        )
    };
    if let Some(at) = d.resume_at {
        let starting = if d.on_resume_start_tasks && !d.stopped_tasks.is_empty() {
            format!(", starting {}", listed(&d.stopped_tasks))
        } else {
            String::new()
        };
        text.push_str(&format!("it resumes by itself at {}{starting}\n", time(at)));
    } else if !done.already_suspended {
        text.push_str(&format!(
            "no task of it starts until `cairn resume -c {}`\n",
            done.cluster
        ));
    }
    print_text(&text);
    Ok(())
}

/// Runs `cairn resume`.
pub async fn run_resume(
    args: ResumeArgs,
    manager: &Connection,
    format: Format,
) -> Result<(), ClientError> {
    if let Some(task) = &args.task {
        return Err(ClientError::Usage(format!(
            "`cairn resume` resumes a suspended cluster and takes no task; to start task {task} again, continuing its last run, use `cairn start -c {} {task}`",
            args.cluster.cluster
        )));
    }
    let client = ManagerClient::new(manager)?;
    let path = format!("{}?start_tasks={}", path(&args.cluster), args.start_tasks);
    let answer = client
        .call(Method::PUT, &path, Some(&Value::Bool(false)))
        .await?;
    let done: ResumeAnswer = parse(&answer, &format!("PUT {path}"))?;
    if format == Format::Json {
        print(format, &answer, &[], &[]);
        return Ok(());
    }
    let mut text = if done.was_suspended {
        format!("cluster {} resumed\n", done.cluster)
    } else {
        format!("cluster {} is not suspended; nothing done\n", done.cluster)
    };
    for s in &done.started {
        match s.run_id {
            Some(run) => text.push_str(&format!("started {} (run {run})\n", s.task)),
            None => text.push_str(&format!(
                "{} starts once its stopped run has ended\n",
                s.task
            )),
        }
    }
    for n in &done.not_started {
        text.push_str(&format!("not started {}: {}\n", n.task, n.reason));
    }
    print_text(&text);
    Ok(())
}
