//! `cairn suspend` and `cairn resume` as a user runs them: the real binary against a real
//! `cairn manager` process backing up a one-node emulated cluster (40 MiB of data, uploaded at
//! 1 MiB/s) through a real agent to a `localstorage:bkt` location. One fleet serves every step:
//! a suspension with a duration resumes by itself and starts the backup it stopped; a plain one
//! stops it (STOPPED), refuses a start by hand naming the suspension, keeps a due interval task
//! from starting, survives a manager restart; `resume --start-tasks` starts the backup again and
//! it completes continuing its run. Bad flags are refused naming them.

mod common;

use std::time::{Duration, Instant};

use common::TestCluster;
use common::agent::start_fleet;
use common::cli::{BackupSetup, add_cluster};
use common::manager::ManagerProcess;
use reqwest::Method;
use serde_json::Value;

/// The fleet: one node with about 40 MiB of user data, its agent, a manager with it as `prod`.
async fn slow_setup() -> BackupSetup {
    let cluster = TestCluster::start_with("dc1:1", |c| {
        c.dataset = cairn::emulator::Dataset::Bytes(40 << 20);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bkt");
    std::fs::create_dir_all(&bucket).unwrap();
    let yaml = format!("localstorage:\n  bkt: {}", bucket.display());
    let (agents, port) = start_fleet(&cluster, dir.path(), &yaml);
    let manager_dir = dir.path().join("manager");
    std::fs::create_dir_all(&manager_dir).unwrap();
    let manager = ManagerProcess::start(&manager_dir, "");
    add_cluster(manager.url(), &cluster, port).await;
    BackupSetup {
        cluster,
        agents,
        manager,
        bucket,
        dir,
    }
}

/// `GET path` of the manager, which must answer 200.
async fn get(s: &BackupSetup, path: &str) -> Value {
    let (status, body) = s.manager.call(Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The latest run of `backup/slow`.
async fn latest(s: &BackupSetup) -> Value {
    get(s, "/api/v1/cluster/prod/task/backup/slow/latest").await
}

/// Waits (at most a minute) until `check` holds on the latest run of `backup/slow`.
async fn wait_latest(s: &BackupSetup, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = latest(s).await;
        if check(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within a minute: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the run is RUNNING with bytes uploaded.
fn uploading(body: &Value) -> bool {
    body["run"]["status"] == "RUNNING" && body["progress"]["uploaded"].as_u64() > Some(0)
}

/// Whether the cluster is suspended, as the API says.
async fn suspended(s: &BackupSetup) -> bool {
    let answer = get(s, "/api/v1/cluster/prod/suspended").await;
    answer.as_bool().expect("a boolean")
}

/// The value of the suspension gauge in the manager's metrics (`None`: not published).
async fn suspended_gauge(s: &BackupSetup) -> Option<String> {
    let metrics = s.manager.metrics().await;
    metrics
        .lines()
        .find(|l| l.starts_with("cairn_manager_scheduler_suspended{cluster=\"prod\"}"))
        .and_then(|l| l.split_whitespace().last())
        .map(str::to_string)
}

/// Asserts that `cairn start` of `backup/slow` is refused naming the suspension.
async fn start_refused(s: &BackupSetup) {
    let refused = s.cairn(&["start", "-c", "prod", "backup/slow"]).await;
    let line = refused.one_line_error("start while suspended");
    assert_eq!(refused.code, 5, "a conflict: {line}");
    assert!(
        line.contains("cluster prod is suspended since") && line.contains("cairn resume -c prod"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn suspend_stops_and_holds_a_cluster_and_resume_continues_its_tasks() {
    let mut s = slow_setup().await;
    s.create_backup_with("slow", "store", &["--rate-limit", "1"])
        .await;
    s.cairn(&["start", "-c", "prod", "backup/slow"])
        .await
        .ok("start");
    let first = wait_latest(&s, "the backup uploads", uploading).await;
    let first_run = first["run"]["id"].clone();
    let tag = first["progress"]["snapshot_tag"].clone();

    // With a duration: it resumes by itself and starts the backup it stopped.
    let timed = s
        .cairn(&[
            "suspend",
            "-c",
            "prod",
            "--duration",
            "3s",
            "--on-resume-start-tasks",
        ])
        .await;
    let out = timed.ok("suspend --duration");
    assert!(
        out.contains("cluster prod suspended; stopped 1 task: backup/slow"),
        "{out}"
    );
    assert!(
        out.contains("it resumes by itself at") && out.contains("starting backup/slow"),
        "{out}"
    );
    start_refused(&s).await;
    let stopped = wait_latest(&s, "the run stops", |b| b["run"]["status"] != "RUNNING").await;
    assert_eq!(stopped["run"]["status"], "STOPPED", "{stopped}");
    let again = wait_latest(&s, "resumed by itself, the backup runs again", |b| {
        b["run"]["id"] != first_run && uploading(b)
    })
    .await;
    assert!(!suspended(&s).await, "resumed");
    assert_eq!(again["progress"]["snapshot_tag"], tag, "its run continues");
    let second_run = again["run"]["id"].clone();

    // Without a duration: stopped until `cairn resume`.
    let out = s.cairn(&["suspend", "-c", "prod"]).await;
    let text = out.ok("suspend");
    assert!(
        text.contains("cluster prod suspended; stopped 1 task: backup/slow"),
        "{text}"
    );
    assert!(
        text.contains("no task of it starts until `cairn resume -c prod`"),
        "{text}"
    );
    let stopped = wait_latest(&s, "the run stops", |b| b["run"]["status"] != "RUNNING").await;
    assert_eq!(stopped["run"]["id"], second_run);
    assert_eq!(stopped["run"]["status"], "STOPPED", "{stopped}");
    let twice = s.cairn(&["suspend", "-c", "prod"]).await;
    assert!(
        twice
            .ok("suspend again")
            .starts_with("cluster prod is already suspended (since "),
        "{}",
        twice.stdout
    );
    start_refused(&s).await;
    assert!(suspended(&s).await);
    let details = get(&s, "/api/v1/cluster/prod/suspended/details").await;
    assert_eq!(details["suspended"], true);
    assert_eq!(details["stopped_tasks"][0]["name"], "slow", "{details}");
    assert_eq!(details["resume_at"], Value::Null);
    assert_eq!(suspended_gauge(&s).await.as_deref(), Some("1"));
    let status = s.cairn(&["cluster", "status", "-c", "prod"]).await;
    let shown = status.ok("cluster status while suspended");
    assert!(
        shown.starts_with("Suspended since ")
            && shown.contains("no task runs until `cairn resume -c prod`"),
        "{shown}"
    );

    // A task due now does not start while the cluster is suspended.
    s.cairn(&[
        "backup",
        "-c",
        "prod",
        "-L",
        "localstorage:bkt",
        "-K",
        "telemetry",
        "--interval",
        "1h",
        "--start-date",
        "now",
        "--name",
        "hourly",
    ])
    .await
    .ok("create hourly");

    // Bad flags, each refused naming what is wrong.
    let no_duration = s
        .cairn(&["suspend", "-c", "prod", "--on-resume-start-tasks"])
        .await;
    let line = no_duration.one_line_error("--on-resume-start-tasks alone");
    assert_eq!(no_duration.code, 2, "{line}");
    assert!(
        line.contains("--on-resume-start-tasks takes --duration"),
        "{line}"
    );
    let bad = s
        .cairn(&["suspend", "-c", "prod", "--duration", "soon"])
        .await;
    let line = bad.one_line_error("--duration soon");
    assert_eq!(bad.code, 1, "{line}");
    assert!(
        line.contains("duration") && line.contains("\"soon\""),
        "{line}"
    );
    let one_task = s.cairn(&["resume", "-c", "prod", "backup/slow"]).await;
    let line = one_task.one_line_error("resume TASK");
    assert_eq!(one_task.code, 2, "{line}");
    assert!(line.contains("cairn start -c prod backup/slow"), "{line}");
    let (status, body) = s
        .manager
        .call(
            Method::PUT,
            "/api/v1/cluster/prod/suspended?suspend_policy=stop_running_tasks",
            Some(Value::Bool(true)),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "suspend_policy", "{body}");
    let (status, body) = s
        .manager
        .call(
            Method::PUT,
            "/api/v1/cluster/prod/suspended",
            Some(Value::String("yes".into())),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "body", "{body}");

    // The suspension outlives the manager.
    s.manager.restart();
    assert!(suspended(&s).await, "still suspended after a restart");
    assert_eq!(suspended_gauge(&s).await.as_deref(), Some("1"));
    start_refused(&s).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hourly = get(&s, "/api/v1/cluster/prod/task/backup/hourly/history").await;
    assert_eq!(hourly, Value::Array(Vec::new()), "hourly never ran");
    let tasks = s.cairn(&["tasks", "-c", "prod", "-o", "json"]).await;
    let listed = tasks.json("tasks");
    let row = listed
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "hourly"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["next_activation"], Value::Null, "cancelled: {row}");

    // Faster from here on; resume starts the stopped backup, continuing its run.
    s.cairn(&[
        "backup",
        "update",
        "-c",
        "prod",
        "backup/slow",
        "--rate-limit",
        "100",
    ])
    .await
    .ok("speed up");
    let resumed = s.cairn(&["resume", "-c", "prod", "--start-tasks"]).await;
    let text = resumed.ok("resume --start-tasks");
    assert!(text.starts_with("cluster prod resumed\n"), "{text}");
    assert!(text.contains("started backup/slow (run "), "{text}");
    let done = s.wait_run("slow").await;
    assert_eq!(done["run"]["status"], "DONE", "{done}");
    assert_eq!(
        done["progress"]["snapshot_tag"], tag,
        "one snapshot, continued"
    );
    assert!(
        done["progress"]["skipped"].as_u64() > Some(0),
        "what the stopped runs uploaded is not uploaded again: {done}"
    );
    assert_eq!(suspended_gauge(&s).await.as_deref(), Some("0"));
    let status = s.cairn(&["cluster", "status", "-c", "prod"]).await;
    assert!(
        !status.ok("cluster status resumed").contains("Suspended"),
        "{}",
        status.stdout
    );
    let not = s.cairn(&["resume", "-c", "prod"]).await;
    assert_eq!(
        not.ok("resume again"),
        "cluster prod is not suspended; nothing done\n"
    );
    // The interval task, due since it was created, runs now that the cluster is resumed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = get(&s, "/api/v1/cluster/prod/task/backup/hourly/history").await;
        if runs.as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hourly did not run after the resume"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
