//! Tablets (issue 12), end to end through `cairn` and the manager process: while a run snapshots a
//! tablet keyspace, tablet load balancing is off on the cluster, and it is on again once the
//! stage ends, whether the run succeeds, fails or is stopped. Checked on the emulator's record of
//! the balancing switch and of every snapshot of a tablet keyspace.
//!
//! The tasks skip the schema: what is checked here does not depend on it.

mod common;

use std::time::{Duration, Instant};

use common::cli::BackupSetup;
use serde_json::{Value, json};

/// The tablet keyspace the tests back up.
const KEYSPACE: &str = "tabletks";

/// A cluster of three nodes with a tablet keyspace holding data on every node.
async fn setup() -> BackupSetup {
    let s = BackupSetup::with_nodes("dc1:3").await;
    s.cluster
        .post_ok(
            0,
            &format!("/emulator/tables?keyspace={KEYSPACE}&table=events&tablets=true"),
        )
        .await;
    for i in 0..3 {
        let a = s.cluster.address(i);
        s.cluster
            .post_ok(
                0,
                &format!("/emulator/nodes/{a}/write?keyspace={KEYSPACE}&table=events&bytes=4KiB"),
            )
            .await;
    }
    let tablets = s
        .cluster
        .get(0, "/storage_service/keyspaces?type=all&replication=tablets")
        .await;
    assert_eq!(tablets, json!([KEYSPACE]), "the keyspace uses tablets");
    s.create_backup_with("tablets", KEYSPACE, &["--skip-schema"])
        .await;
    s
}

/// Injects a fault into node `i`'s Scylla API.
async fn fault(s: &BackupSetup, i: usize, fault: Value) {
    let url = s.cluster.url(
        0,
        &format!("/emulator/nodes/{}/faults", s.cluster.address(i)),
    );
    let resp = s.cluster.http.post(&url).json(&fault).send().await.unwrap();
    assert!(
        resp.status().is_success(),
        "fault {fault}: {}",
        resp.status()
    );
}

/// The emulator's balancing record: `{enabled, events}`.
async fn balancing(s: &BackupSetup) -> Value {
    s.cluster.get(0, "/emulator/tablets/balancing").await
}

/// Checks the record of a run that has ended: balancing is on, it was turned off once and on
/// once after that, and every snapshot of the tablet keyspace recorded between the two had
/// balancing off. Answers how many snapshots of the keyspace were recorded then.
fn off_during_snapshots(doc: &Value, what: &str) -> usize {
    assert_eq!(doc["enabled"], true, "{what}: balancing is on again: {doc}");
    let events = doc["events"].as_array().expect("events");
    let sets: Vec<(usize, bool)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["event"] == "set")
        .map(|(i, e)| (i, e["enabled"] == true))
        .collect();
    assert_eq!(
        sets.iter().map(|(_, on)| *on).collect::<Vec<_>>(),
        [false, true],
        "{what}: turned off, then on: {doc}"
    );
    let (off, on) = (sets[0].0, sets[1].0);
    let mut snapshots = 0;
    for (i, e) in events.iter().enumerate() {
        if e["event"] != "snapshot" {
            continue;
        }
        assert_eq!(e["keyspace"], KEYSPACE, "{what}: {e}");
        if i < on {
            assert!(
                i > off,
                "{what}: a snapshot before balancing was turned off: {doc}"
            );
            assert_eq!(e["balancing"], false, "{what}: {e}");
            snapshots += 1;
        }
    }
    snapshots
}

#[tokio::test(flavor = "multi_thread")]
async fn balancing_is_off_while_tablets_are_snapshotted_and_on_after_a_success() {
    let s = setup().await;
    assert_eq!(balancing(&s).await["enabled"], true, "on before the run");
    s.cairn(&["start", "-c", "prod", "backup/tablets"])
        .await
        .ok("start");
    let run = s.wait_run("tablets").await;
    assert_eq!(run["run"]["status"], "DONE", "{run}");
    let snapshots = off_during_snapshots(&balancing(&s).await, "after a success");
    assert_eq!(snapshots, 3, "one snapshot of {KEYSPACE} per node");
}

#[tokio::test(flavor = "multi_thread")]
async fn balancing_is_on_again_after_a_failed_snapshot() {
    let s = setup().await;
    fault(
        &s,
        2,
        json!({"path": "/storage_service/snapshots", "method": "POST", "status": 500}),
    )
    .await;
    s.cairn(&["start", "-c", "prod", "backup/tablets"])
        .await
        .ok("start");
    let run = s.wait_run("tablets").await;
    assert_eq!(run["run"]["status"], "ERROR", "{run}");
    assert!(
        run["run"]["cause"]
            .as_str()
            .is_some_and(|c| c.contains("SNAPSHOT")),
        "the snapshot failed: {run}"
    );
    off_during_snapshots(&balancing(&s).await, "after a failure");
}

#[tokio::test(flavor = "multi_thread")]
async fn balancing_is_on_again_after_a_stop() {
    let s = setup().await;
    // Node 0's snapshot takes long enough for the run to be stopped during it.
    fault(
        &s,
        0,
        json!({"path": "/storage_service/snapshots", "method": "POST", "latency_ms": 8000, "count": 1}),
    )
    .await;
    s.cairn(&["start", "-c", "prod", "backup/tablets"])
        .await
        .ok("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    while balancing(&s).await["enabled"] == true {
        assert!(Instant::now() < deadline, "balancing never turned off");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.cairn(&["stop", "-c", "prod", "backup/tablets"])
        .await
        .ok("stop");
    let run = s.wait_run("tablets").await;
    assert_eq!(run["run"]["status"], "STOPPED", "{run}");
    off_during_snapshots(&balancing(&s).await, "after a stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_records_barriers_and_balancing_in_call_order() {
    let c = common::TestCluster::start("dc1:3").await;
    c.post_ok(1, "/raft/read_barrier").await;
    c.post_ok(2, "/storage_service/tablets/balancing?enabled=false")
        .await;
    let (status, _) = c
        .call(
            0,
            reqwest::Method::POST,
            "/storage_service/tablets/balancing",
        )
        .await;
    assert_eq!(status, 400, "enabled is mandatory");
    let calls = c.get(0, "/emulator/calls").await;
    let seen: Vec<(String, String)> = calls
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"].as_str().unwrap().to_string(),
                e["what"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (c.address(1), "POST /raft/read_barrier".to_string()),
            (
                c.address(2),
                "POST /storage_service/tablets/balancing?enabled=false".to_string()
            ),
        ],
        "{calls}"
    );
    let doc = c.get(1, "/emulator/tablets/balancing").await;
    assert_eq!(
        doc["enabled"], false,
        "cluster-wide, seen from any node: {doc}"
    );
}
