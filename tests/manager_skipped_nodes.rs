//! Nodes a backup run leaves out, as a user meets them: a real `cairn manager` process backing up
//! an emulated `dc1:4` cluster through real agents to `localstorage:bkt`. A node down when a run
//! starts is left out and named (progress, tasks, `-o json`, a metric); a run that would leave a
//! token range without a live replica fails before snapshotting, naming the range; a node that
//! comes back holding a failed run's snapshot loses it at the next run that reaches it (and
//! keeps other tasks' snapshots); `cluster status` shows the snapshots each node holds.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::cli::{BackupSetup, table_rows};
use reqwest::Method;
use serde_json::{Value, json};

/// Statuses after which a run changes no more.
const FINAL: [&str; 4] = ["DONE", "ERROR", "STOPPED", "ABORTED"];
/// Columns of `cairn tasks`.
const TASKS: [&str; 5] = ["TASK", "SCHEDULE", "NEXT RUN", "LAST STATUS", "ID"];

impl BackupSetup {
    /// Starts task `name` with `cairn start` and waits for its run to end; answers the run's
    /// details (`cairn progress -o json`).
    async fn run_to_end(&self, name: &str) -> Value {
        let task = format!("backup/{name}");
        let id = self
            .cairn(&["start", "-c", "prod", &task])
            .await
            .ok("start")
            .trim()
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let doc = self
                .cairn(&["progress", "-c", "prod", &task, "--run", &id, "-o", "json"])
                .await
                .json("progress -o json");
            if FINAL.contains(&doc["run"]["status"].as_str().unwrap_or_default()) {
                return doc;
            }
            assert!(Instant::now() < deadline, "run {id} did not end: {doc}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Sends `method` to an `/emulator/nodes/{address of node i}/...` control.
    async fn control(&self, method: Method, i: usize, what: &str, body: Option<Value>) {
        let a = self.cluster.address(i);
        let mut req = self.cluster.http.request(
            method,
            self.cluster.url(0, &format!("/emulator/nodes/{a}/{what}")),
        );
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("emulator control");
        assert!(
            resp.status().is_success(),
            "{what}: {:?}",
            resp.text().await
        );
    }

    /// `cairn cluster status -o json`'s node `address`.
    async fn node_status(&self, address: &str) -> Value {
        let doc = self
            .cairn(&["cluster", "status", "-c", "prod", "-o", "json"])
            .await
            .json("cluster status -o json");
        doc["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["address"] == address))
            .cloned()
            .unwrap_or_else(|| panic!("{address} in {doc}"))
    }
}

/// The backup snapshot tags (`sm_*`) among a node's snapshots.
fn backup_tags(tags: BTreeSet<String>) -> BTreeSet<String> {
    tags.into_iter().filter(|t| t.starts_with("sm_")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_down_is_left_out_and_named_and_its_stale_snapshot_goes_when_it_is_back() {
    let s = BackupSetup::with_nodes("dc1:4").await;
    let down = s.cluster.address(3);
    s.create_backup("other", "store").await;
    s.create_backup("nightly", "store").await;

    // Node 1 refuses snapshots: a run of each task fails in SNAPSHOT, after the other nodes
    // took its snapshot (not resumable: it failed before INDEX).
    let refuse = json!({"path": "/storage_service/snapshots", "method": "POST", "status": 503, "count": 1000});
    s.control(Method::POST, 1, "faults", Some(refuse)).await;
    let other = s.run_to_end("other").await;
    assert_eq!(other["run"]["status"], "ERROR", "{other}");
    let other_tag = other["progress"]["snapshot_tag"]
        .as_str()
        .expect("the failed run's tag")
        .to_string();
    let failed = s.run_to_end("nightly").await;
    assert_eq!(failed["run"]["status"], "ERROR", "{failed}");
    let stale = failed["progress"]["snapshot_tag"]
        .as_str()
        .expect("the failed run's tag")
        .to_string();
    assert_eq!(
        backup_tags(s.cluster.local_snapshots(3)),
        BTreeSet::from([other_tag.clone(), stale.clone()]),
        "a run leaves the other task's snapshots alone"
    );
    s.control(Method::DELETE, 1, "faults", None).await;

    // Node 3 goes down: the retry backs up the 3 live nodes (RF 3 covers every range), ends
    // DONE, and says which node it left out and why.
    s.control(Method::POST, 3, "down", None).await;
    let done = s.run_to_end("nightly").await;
    assert_eq!(done["run"]["status"], "DONE", "{done}");
    let reason = "down in gossip";
    assert_eq!(
        done["progress"]["skipped_hosts"],
        json!([{"host": down, "reason": reason}]),
        "{done}"
    );
    let note = format!("1 node not backed up: {down} {reason}");
    assert_eq!(done["status_text"], format!("DONE ({note})"));
    let view = s.cairn(&["progress", "-c", "prod", "backup/nightly"]).await;
    let status_line = view
        .ok("progress")
        .lines()
        .find(|l| l.starts_with("Status:"))
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        status_line.trim_start_matches("Status:").trim(),
        format!("DONE ({note})"),
        "{}",
        view.stdout
    );
    let tasks = s.cairn(&["tasks", "-c", "prod", "--all"]).await;
    let rows = table_rows(tasks.ok("tasks"), &TASKS);
    let nightly = rows
        .iter()
        .find(|r| r[0] == "backup/nightly")
        .unwrap_or_else(|| panic!("{}", tasks.stdout));
    assert!(
        nightly[3].starts_with("DONE (") && nightly[3].contains(&note),
        "{nightly:?}"
    );
    let listed = s
        .cairn(&["tasks", "-c", "prod", "--all", "-o", "json"])
        .await
        .json("tasks -o json");
    let task = listed
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "nightly"))
        .cloned()
        .expect("nightly in tasks -o json");
    assert_eq!(
        task["skipped_hosts"],
        json!([{"host": down, "reason": reason}])
    );
    let id = task["id"].as_str().expect("task id");
    let metrics = s.manager.metrics().await;
    let gauge = metrics
        .lines()
        .find(|l| {
            l.starts_with("cairn_manager_backup_nodes_skipped{")
                && l.contains("cluster=\"prod\"")
                && l.contains(&format!("task=\"{id}\""))
        })
        .unwrap_or_else(|| panic!("no nodes_skipped gauge of {id} in\n{metrics}"));
    assert!(gauge.ends_with(" 1"), "{gauge}");

    // Node 3 is back with the failed run's snapshot; `cluster status` shows it.
    s.control(Method::POST, 3, "up", None).await;
    let node = s.node_status(&down).await;
    assert_eq!(
        node["snapshots"],
        json!(BTreeSet::from([other_tag.clone(), stale.clone()])),
        "{node}"
    );
    let status = s.cairn(&["cluster", "status", "-c", "prod"]).await;
    let header = [
        "ADDRESS",
        "DC",
        "RACK",
        "AGENT",
        "SCYLLA VERSION",
        "FREE DISK",
        "SNAPSHOTS",
        "CERT SHA-256",
    ];
    let rows = table_rows(status.ok("cluster status"), &header);
    let row = rows
        .iter()
        .find(|r| r[0] == down)
        .unwrap_or_else(|| panic!("{}", status.stdout));
    assert!(row[6].starts_with("2 ("), "{row:?}");
    assert!(row[6].contains(&stale), "{row:?}");

    // The next run reaches node 3: the task's stale snapshot goes, the other task's stays.
    let next = s.run_to_end("nightly").await;
    assert_eq!(next["run"]["status"], "DONE", "{next}");
    assert_eq!(next["progress"]["skipped_hosts"], json!([]));
    assert_eq!(next["status_text"], "DONE");
    assert_eq!(
        backup_tags(s.cluster.local_snapshots(3)),
        BTreeSet::from([other_tag.clone()])
    );
    assert_eq!(s.node_status(&down).await["snapshots"], json!([other_tag]));
    let metrics = s.manager.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cairn_manager_backup_nodes_skipped{")
                && l.contains(&format!("task=\"{id}\""))
                && l.ends_with(" 0")),
        "the gauge follows the latest run:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_would_leave_a_token_range_without_a_live_replica_fails_naming_it() {
    let s = BackupSetup::with_nodes("dc1:4").await;
    // Keyspace `solo` keeps one replica of each range.
    let (code, body) = s
        .cluster
        .call(
            0,
            Method::POST,
            "/emulator/tables?keyspace=solo&table=t&replication=dc1:1",
        )
        .await;
    assert_eq!(code, 200, "{body}");
    s.create_backup("single", "solo").await;
    s.control(Method::POST, 3, "down", None).await;
    let failed = s.run_to_end("single").await;
    assert_eq!(failed["run"]["status"], "ERROR", "{failed}");
    let cause = failed["run"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("solo.t"),
        "the cause names the table: {cause}"
    );
    assert!(
        cause.contains("token range (") && cause.contains(&s.cluster.address(3)),
        "the cause names the range and its replica: {cause}"
    );
    for i in 0..3 {
        assert_eq!(
            backup_tags(s.cluster.local_snapshots(i)),
            BTreeSet::new(),
            "nothing is snapshotted on node {i}"
        );
    }
}
