//! `cairn manager` as a process, end to end through its REST API: a backup run of a cluster
//! added over the API, the manager killed (SIGKILL) in the middle of the upload and started
//! again, and the run it aborted resumed on its own, with the same snapshot tag, as a retry.

mod common;

use std::time::Duration;

use common::backup::{BackupEnv, in_actix};
use common::manager::ManagerProcess;
use reqwest::Method;
use serde_json::{Value, json};

/// Waits until the run `path` answers a body for which `done` holds (at most `limit`).
async fn wait_for(
    m: &ManagerProcess,
    path: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = std::time::Instant::now();
    loop {
        let (status, body) = m.call(Method::GET, path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(start.elapsed() < limit, "{path}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_manager_killed_mid_run_resumes_the_run_after_restart() {
    in_actix(async {
        let Some(env) = BackupEnv::start_with("dc1:2", BackupEnv::settings(), |c| {
            c.dataset = cairn::emulator::config::Dataset::Bytes(6 << 20);
        })
        .await
        else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut manager =
            ManagerProcess::start(dir.path(), "backup:\n  long_polling_timeout_seconds: 1\n");
        let (status, body) = manager
            .call(
                Method::POST,
                "/api/v1/clusters",
                Some(json!({
                    "name": "prod",
                    "hosts": [env.cluster.address(0)],
                    "port": env.port,
                    "auth_token": common::agent::TOKEN,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = manager
            .call(
                Method::POST,
                "/api/v1/cluster/prod/tasks",
                Some(json!({
                    "type": "backup",
                    "name": "nightly",
                    "enabled": false,
                    "properties": {
                        "location": [BackupEnv::location()],
                        "keyspace": ["store", "telemetry"],
                        "rate_limit": ["1"],
                    },
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let run_path = "/api/v1/cluster/prod/task/backup/nightly/latest";
        let start = "/api/v1/cluster/prod/task/backup/nightly/start";
        let history_path = "/api/v1/cluster/prod/task/backup/nightly/history";
        let (status, body) = manager.call(Method::PUT, start, None).await;
        assert_eq!(status, 200, "{body}");
        let first_run = body["run_id"].as_str().unwrap().to_string();

        let uploading = wait_for(&manager, run_path, Duration::from_secs(60), |b| {
            b["progress"]["uploaded"].as_u64().unwrap_or(0) > 0
        })
        .await;
        assert_eq!(uploading["status_text"], "RUNNING (uploading data)");
        assert_eq!(
            uploading["live"]["hosts"].as_object().map(|h| h.len()),
            Some(2),
            "the live state of both hosts: {}",
            uploading["live"]
        );
        let tag = uploading["progress"]["snapshot_tag"]
            .as_str()
            .unwrap()
            .to_string();
        manager.kill();

        manager.restart();
        // No `start`: the manager resumes the run it aborted, as a retry of the (disabled) task.
        let history = wait_for(
            &manager,
            "/api/v1/cluster/prod/task/backup/nightly/history",
            Duration::from_secs(20),
            |b| b.as_array().is_some_and(|runs| runs.len() >= 2),
        )
        .await;
        assert_eq!(
            history[1]["id"],
            first_run.as_str(),
            "the killed run is the older one: {history}"
        );
        assert_eq!(history[1]["status"], "ABORTED", "{history}");
        let (status, task) = manager
            .call(
                Method::GET,
                "/api/v1/cluster/prod/task/backup/nightly",
                None,
            )
            .await;
        assert_eq!(status, 200, "{task}");
        assert!(
            task["running_run_id"] == history[0]["id"] || task["status"] == "DONE",
            "{task}"
        );
        if task["running_run_id"] == history[0]["id"] {
            assert_eq!(task["retries"], 1, "counted as a retry: {task}");
        }
        let done = wait_for(&manager, run_path, Duration::from_secs(180), |b| {
            b["run"]["status"] != "RUNNING"
        })
        .await;
        assert_eq!(done["run"]["status"], "DONE", "{done}");
        assert_eq!(
            done["progress"]["snapshot_tag"],
            tag.as_str(),
            "the next run resumes the interrupted one's snapshot"
        );
        let size = done["progress"]["size"].as_u64().unwrap();
        let success = done["progress"]["uploaded"].as_u64().unwrap()
            + done["progress"]["skipped"].as_u64().unwrap();
        assert_eq!(success, size, "everything is in the location: {done}");
        let manifests = env.manifests().await;
        assert_eq!(manifests.len(), 2, "one manifest per node");
        assert!(
            manifests
                .iter()
                .all(|m| !m.temporary && m.snapshot_tag.as_str() == tag)
        );

        let metrics = manager.metrics().await;
        assert!(
            metrics.contains("cairn_manager_backup_files_uploaded_bytes{"),
            "per-table progress metrics are published"
        );
        assert!(metrics.contains("cairn_manager_scheduler_run_total{"));
        // A run a user stopped is not resumed by a restart.
        let (status, body) = manager.call(Method::PUT, start, Some(json!({}))).await;
        assert_eq!(status, 200, "{body}");
        let second = body["run_id"].as_str().unwrap().to_string();
        let (status, body) = manager
            .call(
                Method::PUT,
                "/api/v1/cluster/prod/task/backup/nightly/stop",
                None,
            )
            .await;
        assert_eq!(status, 204, "{body}");
        wait_for(&manager, history_path, Duration::from_secs(30), |b| {
            b[0]["id"] == second.as_str() && b[0]["status"] == "STOPPED"
        })
        .await;
        manager.restart();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, history) = manager.call(Method::GET, history_path, None).await;
        assert_eq!(history[0]["id"], second.as_str(), "no new run: {history}");
        assert_eq!(history[0]["status"], "STOPPED");

        assert!(manager.stop().success(), "a clean stop");
    });
}
