//! The emulator makes a wrong restore fail a test: its SSTables hold records with tokens, a node
//! holds only tokens it replicates, load&stream sends records to their replicas (or primary),
//! refresh of another node's files leaves records where they do not belong (and the placement
//! check says so), repair fills replicas, and the calls restore makes answer as Scylla's do.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn::emulator::records::records_of_file;
use cairn::format::sstable::SSTableName;
use common::TestCluster;
use reqwest::Method;
use serde_json::Value;

/// (token, hash) of a placement record or a record read from a file.
type Id = (i64, String);

/// The Data.db files directly in `dir`.
fn data_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<SSTableName>().ok())
                    .is_some_and(|n| n.component == "Data.db")
        })
        .collect();
    out.sort();
    out
}

/// Copies every SSTable file of `from` into `to`; returns the records of the copied Data.db files.
fn copy_sstables(from: &Path, to: &Path) -> BTreeSet<Id> {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if p.is_file() && name.parse::<SSTableName>().is_ok() {
            std::fs::copy(&p, to.join(&name)).unwrap();
        }
    }
    data_files(to)
        .iter()
        .flat_map(|f| records_of_file(f).unwrap())
        .map(|r| (r.token, r.hash))
        .collect()
}

/// The placement report of a table.
async fn placement(c: &TestCluster, ks: &str, table: &str) -> Value {
    c.get(0, &format!("/emulator/placement/{ks}/{table}")).await
}

fn ids(report: &Value) -> BTreeSet<Id> {
    report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["token"].as_i64().unwrap(),
                r["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Makes an empty table `restored.<table>` and copies node `from`'s live SSTables of
/// `store.customers` into node `to`'s `upload/` of it; returns the copied records.
async fn stage_upload(
    c: &TestCluster,
    table: &str,
    tablets: bool,
    from: usize,
    to: usize,
) -> BTreeSet<Id> {
    c.post_ok(
        0,
        &format!("/emulator/tables?keyspace=restored&table={table}&tablets={tablets}"),
    )
    .await;
    let source = c.table_dir(from, "store", "customers");
    let upload = c.table_dir(to, "restored", table).join("upload");
    let copied = copy_sstables(&source, &upload);
    assert!(!copied.is_empty(), "the source table has records");
    copied
}

/// For every record: (held_by, replicas) as sets.
fn holdings(report: &Value) -> Vec<(BTreeSet<String>, Vec<String>)> {
    report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                strings(&r["held_by"]).into_iter().collect(),
                strings(&r["replicas"]),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_a_node_holds_has_a_token_it_replicates() {
    let c = TestCluster::start("dc1:4").await;
    // Ownership from the REST ring, as a user would compute it.
    let ring = c.get(0, "/storage_service/describe_ring/store").await;
    let ranges: Vec<(i64, i64, Vec<String>)> = ring
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["start_token"].as_str().unwrap().parse().unwrap(),
                r["end_token"].as_str().unwrap().parse().unwrap(),
                strings(&r["endpoints"]),
            )
        })
        .collect();
    let replicas_of = |token: i64| -> Vec<String> {
        ranges
            .iter()
            .find(|(s, e, _)| {
                if s < e {
                    *s < token && token <= *e
                } else {
                    token > *s || token <= *e
                }
            })
            .map(|r| r.2.clone())
            .unwrap()
    };
    for i in 0..4 {
        let files = data_files(&c.table_dir(i, "store", "orders"));
        assert!(!files.is_empty());
        for f in files {
            for r in records_of_file(&f).unwrap() {
                assert!(
                    replicas_of(r.token).contains(&c.address(i)),
                    "node {i} holds token {} it does not replicate",
                    r.token
                );
            }
        }
    }
    let report = placement(&c, "store", "orders").await;
    for (held, replicas) in holdings(&report) {
        assert!(!held.is_empty());
        assert!(
            held.iter().all(|h| replicas.contains(h)),
            "{held:?} ⊄ {replicas:?}"
        );
    }
    // Flushed writes land on owned tokens too.
    let addr = c.address(2);
    c.post_ok(
        0,
        &format!("/emulator/nodes/{addr}/write?keyspace=store&table=orders&bytes=64KiB"),
    )
    .await;
    c.post_ok(2, "/storage_service/keyspace_flush/store?cf=orders")
        .await;
    let after = placement(&c, "store", "orders").await;
    assert!(
        ids(&after).len() > ids(&report).len(),
        "the flush added records"
    );
    for (held, replicas) in holdings(&after) {
        assert!(held.iter().all(|h| replicas.contains(h)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_and_stream_places_every_record_on_its_replicas_and_refresh_does_not() {
    let c = TestCluster::start("dc1:4").await;
    // load&stream of node 1's files through node 0: every record on exactly its replicas.
    let copied = stage_upload(&c, "streamed", false, 1, 0).await;
    c.post_ok(
        0,
        "/storage_service/sstables/restored?cf=streamed&load_and_stream=true",
    )
    .await;
    let report = placement(&c, "restored", "streamed").await;
    assert_eq!(
        ids(&report),
        copied,
        "exactly the backed-up records, by content"
    );
    assert_eq!(report["misplaced"], 0, "{report}");
    let upload = c.table_dir(0, "restored", "streamed").join("upload");
    assert!(
        data_files(&upload).is_empty(),
        "load&stream empties upload/"
    );

    // Primary replica only: each record on its primary alone.
    let copied = stage_upload(&c, "primary", false, 1, 3).await;
    c.post_ok(
        3,
        "/storage_service/sstables/restored?cf=primary&load_and_stream=true&primary_replica_only=true",
    )
    .await;
    let report = placement(&c, "restored", "primary").await;
    assert_eq!(ids(&report), copied);
    for (held, replicas) in holdings(&report) {
        assert_eq!(held, BTreeSet::from([replicas[0].clone()]));
    }
    // Repair on every node, each for its primary ranges, fills the other replicas.
    let mut ids_by_node = Vec::new();
    for i in 0..4 {
        let (status, id) = c
            .call(
                i,
                Method::POST,
                "/storage_service/repair_async/restored?columnFamilies=primary&primaryRange=true",
            )
            .await;
        assert_eq!(status, 200, "{id}");
        ids_by_node.push(id.as_i64().expect("a repair id"));
    }
    for (i, id) in ids_by_node.iter().enumerate() {
        let status = c
            .get(
                i,
                &format!("/storage_service/repair_status?id={id}&timeout=30"),
            )
            .await;
        assert_eq!(status, "SUCCESSFUL");
    }
    let repaired = placement(&c, "restored", "primary").await;
    assert_eq!(repaired["misplaced"], 0, "repair fills every replica");
    assert_eq!(ids(&repaired), copied);
    let (status, body) = c
        .call(0, Method::GET, "/storage_service/repair_status?id=999")
        .await;
    assert_eq!(status, 400, "{body}");

    // The wrong path: refreshing node 1's files on node 0 leaves records on a non-replica.
    stage_upload(&c, "refreshed", false, 1, 0).await;
    c.post_ok(0, "/storage_service/sstables/restored?cf=refreshed")
        .await;
    let report = placement(&c, "restored", "refreshed").await;
    assert!(
        report["misplaced"].as_u64().unwrap() > 0,
        "the check catches it"
    );
    let me = c.address(0);
    assert!(
        holdings(&report)
            .iter()
            .any(|(held, replicas)| held.contains(&me) && !replicas.contains(&me)),
        "node 0 holds records it does not replicate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_rate_slows_load_and_stream_and_a_second_load_is_refused() {
    let fast = TestCluster::start("dc1:3").await;
    let slow = TestCluster::start_with("dc1:3", |c| {
        c.stream_rate = 1;
        c.shards = 1;
    })
    .await;
    let described = slow.get(0, "/emulator/cluster").await;
    assert_eq!(described["stream_rate"], 1);
    let mut took = Vec::new();
    for c in [&fast, &slow] {
        let addr = c.address(1);
        c.post_ok(
            0,
            &format!("/emulator/nodes/{addr}/write?keyspace=store&table=customers&bytes=256KiB"),
        )
        .await;
        c.post_ok(1, "/storage_service/keyspace_flush/store?cf=customers")
            .await;
        stage_upload(c, "t", false, 1, 0).await;
        let url = c.url(
            0,
            "/storage_service/sstables/restored?cf=t&load_and_stream=true",
        );
        let http = c.http.clone();
        let start = Instant::now();
        let first = tokio::spawn(async move { http.post(url).send().await.unwrap().status() });
        if std::ptr::eq(c, &slow) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let (status, body) = c
                .call(
                    0,
                    Method::POST,
                    "/storage_service/sstables/restored?cf=t&load_and_stream=true",
                )
                .await;
            assert_eq!(status, 500, "{body}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("Already loading SSTables. Try again later"),
                "{body}"
            );
        }
        assert_eq!(first.await.unwrap(), 200);
        took.push(start.elapsed());
        assert_eq!(placement(c, "restored", "t").await["misplaced"], 0);
    }
    assert!(
        took[1] > took[0],
        "rate-limited streaming is slower: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tablet_tables_repair_through_the_task_manager() {
    let c = TestCluster::start("dc1:4").await;
    let copied = stage_upload(&c, "tablets", true, 2, 1).await;
    // A tablet table streams even when asked to refresh, as Scylla does.
    c.post_ok(
        1,
        "/storage_service/sstables/restored?cf=tablets&primary_replica_only=true",
    )
    .await;
    let report = placement(&c, "restored", "tablets").await;
    assert_eq!(ids(&report), copied);
    assert!(
        report["misplaced"].as_u64().unwrap() > 0,
        "primaries only so far"
    );

    let (status, body) = c
        .call(0, Method::POST, "/storage_service/repair_async/restored")
        .await;
    assert_eq!(
        status, 403,
        "vnode repair refuses a tablet keyspace: {body}"
    );
    let (status, body) = c
        .call(
            0,
            Method::POST,
            "/storage_service/tablets/repair?ks=restored&table=tablets&tokens=all",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["tablet_task_id"].as_str().unwrap().to_string();
    let done = c
        .get(2, &format!("/task_manager/wait_task/{id}?timeout=30"))
        .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["progress_completed"], done["progress_total"]);
    let status = c.get(3, &format!("/task_manager/task_status/{id}")).await;
    assert_eq!(status["state"], "done");
    let repaired = placement(&c, "restored", "tablets").await;
    assert_eq!(repaired["misplaced"], 0);
    assert_eq!(ids(&repaired), copied);
    let (status, _) = c
        .call(0, Method::GET, "/task_manager/task_status/not-a-task")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocompaction_toggles_per_node_and_table() {
    let c = TestCluster::start("dc1:3").await;
    let path = "/column_family/autocompaction/store:orders";
    assert_eq!(c.get(1, path).await, true);
    let (status, _) = c.call(1, Method::DELETE, path).await;
    assert_eq!(status, 200);
    assert_eq!(c.get(1, path).await, false);
    assert_eq!(c.get(0, path).await, true, "per node");
    let state = c.get(0, "/emulator/autocompaction").await;
    assert_eq!(strings(&state[c.address(1)]), vec!["store.orders"]);
    c.post_ok(1, path).await;
    assert_eq!(c.get(1, path).await, true);
    let (status, _) = c
        .call(1, Method::GET, "/column_family/autocompaction/store:nope")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cluster_has_no_user_keyspaces() {
    let c = TestCluster::start_with("dc1:3", |c| c.empty = true).await;
    assert_eq!(
        c.get(0, "/storage_service/keyspaces?type=user").await,
        Value::Array(vec![])
    );
    assert!(
        !strings(&c.get(0, "/storage_service/keyspaces?type=all").await).is_empty(),
        "Scylla's own keyspaces remain"
    );
}
