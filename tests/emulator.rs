//! The emulator behaves as a ScyllaDB cluster does for everything backup and restore call:
//! consistent membership from every node, Scylla's data-dir layout, snapshots made of hard links,
//! true digests, flush and compaction that change the file set as Scylla's do, and the controls.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn::emulator::records::records_of_file;
use cairn::emulator::{Dataset, NameFormat};
use cairn::format::sstable::{Generation, SSTableName};
use common::{TestCluster, files_in};
use reqwest::Method;
use serde_json::{Value, json};

const TAG: &str = "sm_20260101000000UTC";

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// SSTables in a directory: name without component → component file names.
fn sstables(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files_in(dir) {
        if let Ok(n) = f.parse::<SSTableName>() {
            out.entry(n.with_component("").to_string())
                .or_default()
                .push(f);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_nodes_in_two_dcs_answer_consistently_from_every_node() {
    let c = TestCluster::start("dc1:3,dc2:3").await;
    c.post_ok(
        0,
        "/emulator/tables?keyspace=rf_mixed&table=t&replication=dc1:2,dc2:1",
    )
    .await;
    let n = 6;
    let mut views = Vec::new();
    for i in 0..n {
        let mut view = BTreeMap::new();
        for path in [
            "/storage_service/host_id",
            "/gossiper/endpoint/live/",
            "/storage_service/nodes/joining",
            "/storage_service/nodes/leaving",
            "/storage_service/scylla_release_version",
            "/storage_service/keyspaces?type=all",
            "/storage_service/keyspaces?type=user",
            "/storage_service/keyspaces?type=non_local_strategy&replication=vnodes",
            "/column_family/name",
            "/storage_service/describe_ring/store",
            "/storage_service/describe_ring/rf_mixed",
        ] {
            view.insert(path.to_string(), c.get(i, path).await);
        }
        for j in 0..n {
            let host = c.address(j);
            for path in ["/snitch/datacenter", "/snitch/rack"] {
                view.insert(
                    format!("{path}?host={host}"),
                    c.get(i, &format!("{path}?host={host}")).await,
                );
            }
            view.insert(
                format!("tokens {host}"),
                c.get(i, &format!("/storage_service/tokens/{host}")).await,
            );
        }
        views.push(view);
    }
    for (i, view) in views.iter().enumerate().skip(1) {
        for (path, value) in view {
            assert_eq!(
                value, &views[0][path],
                "node {i} disagrees with node 0 on {path}"
            );
        }
    }
    let v = &views[0];

    let host_ids = v["/storage_service/host_id"].as_array().unwrap();
    assert_eq!(host_ids.len(), n);
    let ids: BTreeSet<&str> = host_ids
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), n, "host IDs must be unique");
    for (i, node) in c.emulator.nodes().iter().enumerate() {
        let local = c.get(i, "/storage_service/hostid/local").await;
        assert_eq!(local, json!(node.host_id));
        let expected_dc = if i < 3 { "dc1" } else { "dc2" };
        assert_eq!(
            v[&format!("/snitch/datacenter?host={}", node.address)],
            json!(expected_dc)
        );
        assert_eq!(
            c.get(i, "/snitch/datacenter").await,
            json!(expected_dc),
            "without host, a node names its own DC"
        );
    }
    assert_eq!(strings(&v["/gossiper/endpoint/live/"]).len(), n);
    assert!(strings(&v["/storage_service/nodes/joining"]).is_empty());

    assert_eq!(
        strings(&v["/storage_service/keyspaces?type=user"]),
        ["rf_mixed", "store", "telemetry"]
    );
    let all = strings(&v["/storage_service/keyspaces?type=all"]);
    for ks in [
        "system",
        "system_schema",
        "system_distributed",
        "system_traces",
        "store",
    ] {
        assert!(all.contains(&ks.to_string()), "{ks} missing from {all:?}");
    }
    let non_local =
        strings(&v["/storage_service/keyspaces?type=non_local_strategy&replication=vnodes"]);
    assert!(
        !non_local.contains(&"system".to_string())
            && !non_local.contains(&"system_schema".to_string())
    );
    assert!(
        non_local.contains(&"system_distributed".to_string())
            && non_local.contains(&"store".to_string())
    );
    assert!(strings(&v["/column_family/name"]).contains(&"store:orders".to_string()));

    // Tokens: 256 per node, disjoint, and together exactly the ring's range ends.
    let mut owner: BTreeMap<i64, String> = BTreeMap::new();
    for j in 0..n {
        let host = c.address(j);
        let tokens = strings(&v[&format!("tokens {host}")]);
        assert_eq!(tokens.len(), 256);
        for t in tokens {
            assert!(
                owner.insert(t.parse().unwrap(), host.clone()).is_none(),
                "token owned twice"
            );
        }
    }
    let ring = v["/storage_service/describe_ring/rf_mixed"]
        .as_array()
        .unwrap();
    assert_eq!(ring.len(), owner.len());
    let ends: BTreeSet<i64> = ring
        .iter()
        .map(|r| r["end_token"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ends, owner.keys().copied().collect());
    for range in ring {
        let endpoints = strings(&range["endpoints"]);
        let end: i64 = range["end_token"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            endpoints[0], owner[&end],
            "the primary replica owns the range's end token"
        );
        let distinct: BTreeSet<&String> = endpoints.iter().collect();
        assert_eq!(distinct.len(), 3);
        let dcs: Vec<&str> = range["endpoint_details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["datacenter"].as_str().unwrap())
            .collect();
        assert_eq!(
            dcs.iter().filter(|d| **d == "dc1").count(),
            2,
            "RF 2 in dc1: {range}"
        );
        assert_eq!(
            dcs.iter().filter(|d| **d == "dc2").count(),
            1,
            "RF 1 in dc2: {range}"
        );
    }
    for range in v["/storage_service/describe_ring/store"]
        .as_array()
        .unwrap()
    {
        assert_eq!(
            strings(&range["endpoints"]).len(),
            6,
            "store has RF 3 in each 3-node DC"
        );
    }

    // Every node keeps the same table under the same directory name (the table ID is cluster-wide).
    let dirs: BTreeSet<_> = (0..n)
        .map(|i| {
            c.table_dir(i, "store", "orders")
                .file_name()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(dirs.len(), 1);
    for i in 0..n {
        let dirs = c.get(i, "/v2/config/data_file_directories").await;
        assert_eq!(strings(&dirs), [c.data_dir(i).display().to_string()]);
        assert!(
            c.data_dir(i).join("system_schema").is_dir(),
            "system keyspaces exist on disk"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_is_hard_links_plus_manifest_and_schema() {
    let c = TestCluster::start("dc1:2").await;
    c.post_ok(
        1,
        &format!("/storage_service/snapshots?tag={TAG}&kn=store,telemetry"),
    )
    .await;
    for (ks, table) in [
        ("store", "orders"),
        ("store", "customers"),
        ("telemetry", "readings"),
    ] {
        let dir = c.table_dir(1, ks, table);
        let snap = dir.join("snapshots").join(TAG);
        let live = files_in(&dir);
        let mut in_snapshot = files_in(&snap);
        assert!(
            in_snapshot.contains(&"manifest.json".to_string())
                && in_snapshot.contains(&"schema.cql".to_string())
        );
        in_snapshot.retain(|f| f != "manifest.json" && f != "schema.cql");
        assert_eq!(
            in_snapshot, live,
            "the snapshot holds exactly the live SSTables"
        );
        for f in &live {
            let (a, b) = (
                std::fs::metadata(dir.join(f)).unwrap(),
                std::fs::metadata(snap.join(f)).unwrap(),
            );
            assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "{f} is a hard link");
        }
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(snap.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["snapshot"]["name"], json!(TAG));
        assert_eq!(manifest["table"]["keyspace_name"], json!(ks));
        assert_eq!(manifest["table"]["table_name"], json!(table));
        assert_eq!(
            manifest["node"]["host_id"],
            json!(c.emulator.nodes()[1].host_id)
        );
        let listed: BTreeSet<String> = manifest["sstables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["toc_name"].as_str().unwrap().to_string())
            .collect();
        let tocs: BTreeSet<String> = live
            .iter()
            .filter(|f| f.ends_with("TOC.txt"))
            .cloned()
            .collect();
        assert_eq!(listed, tocs);
        let cql = std::fs::read_to_string(snap.join("schema.cql")).unwrap();
        assert!(
            cql.starts_with(&format!("CREATE TABLE {ks}.{table} (")),
            "{cql}"
        );
    }
    assert!(
        !c.table_dir(0, "store", "orders")
            .join("snapshots")
            .join(TAG)
            .exists(),
        "only node 1 was asked"
    );
    assert!(
        !c.table_dir(1, "system", "local").join("snapshots").exists(),
        "only the named keyspaces"
    );

    let listing = c.get(1, "/storage_service/snapshots").await;
    let entries = listing.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["key"], json!(TAG));
    let tables: BTreeSet<String> = entries[0]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}.{}",
                e["ks"].as_str().unwrap(),
                e["cf"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        tables.len(),
        7,
        "store has 3 tables, a view and an index view, and telemetry 2 tables: {tables:?}"
    );
    let view_cql = std::fs::read_to_string(
        c.table_dir(1, "store", "orders_by_status")
            .join("snapshots")
            .join(TAG)
            .join("schema.cql"),
    )
    .unwrap();
    assert!(
        view_cql.starts_with("CREATE MATERIALIZED VIEW store.orders_by_status AS\n"),
        "{view_cql}"
    );
    for e in entries[0]["value"].as_array().unwrap() {
        assert!(
            e["total"].as_u64().unwrap() > e["live"].as_u64().unwrap(),
            "SSTables are still live: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_errors_are_scyllas_and_deletion_is_selective() {
    let c = TestCluster::start("dc1:1").await;
    let (status, body) = c
        .call(0, Method::POST, "/storage_service/snapshots?kn=store")
        .await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(400)), "{body}");
    let (status, body) = c
        .call(
            0,
            Method::POST,
            &format!("/storage_service/snapshots?tag={TAG}&kn=nope"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], json!("Can't find a keyspace nope"));
    let (status, body) = c
        .call(
            0,
            Method::POST,
            &format!("/storage_service/snapshots?tag={TAG}&kn=store&cf=missing"),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("missing"),
        "{body}"
    );
    let (status, _) = c
        .call(
            0,
            Method::POST,
            &format!("/storage_service/snapshots?tag={TAG}&kn=store,telemetry&cf=orders"),
        )
        .await;
    assert_eq!(status, 400, "tables need exactly one keyspace");
    assert!(
        c.get(0, "/storage_service/snapshots")
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "failed calls changed nothing"
    );

    c.post_ok(
        0,
        &format!("/storage_service/snapshots?tag={TAG}&kn=store&cf=orders,customers"),
    )
    .await;
    c.post_ok(
        0,
        &format!("/storage_service/snapshots?tag={TAG}&kn=telemetry"),
    )
    .await;
    let (status, body) = c
        .call(
            0,
            Method::POST,
            &format!("/storage_service/snapshots?tag={TAG}&kn=store"),
        )
        .await;
    assert_eq!(status, 500);
    assert_eq!(
        body["message"],
        json!(format!("Keyspace store: snapshot {TAG} already exists."))
    );
    assert!(
        !c.table_dir(0, "store", "order_items")
            .join("snapshots")
            .join(TAG)
            .exists(),
        "a refused snapshot writes nothing"
    );

    c.post_ok(0, "/storage_service/snapshots?tag=sm_20260202000000UTC")
        .await;
    let tags: Vec<String> = c
        .get(0, "/storage_service/snapshots")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tags, [TAG, "sm_20260202000000UTC"]);
    assert!(
        c.table_dir(0, "system", "local")
            .join("snapshots/sm_20260202000000UTC")
            .is_dir(),
        "no kn means every keyspace"
    );

    let (status, _) = c
        .call(
            0,
            Method::DELETE,
            &format!("/storage_service/snapshots?tag={TAG}&kn=telemetry"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        !c.table_dir(0, "telemetry", "readings")
            .join("snapshots")
            .join(TAG)
            .exists()
    );
    assert!(
        c.table_dir(0, "store", "orders")
            .join("snapshots")
            .join(TAG)
            .exists(),
        "other keyspaces keep the tag"
    );
    let (status, _) = c
        .call(0, Method::DELETE, "/storage_service/snapshots")
        .await;
    assert_eq!(status, 200);
    assert!(
        c.get(0, "/storage_service/snapshots")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_digest_matches_its_data_and_every_toc_its_files() {
    let c = TestCluster::start_with("dc1:2", |cfg| cfg.dataset = Dataset::Bytes(6 << 20)).await;
    let mut checked = 0;
    for i in 0..2 {
        let (mut data_bytes, mut user_bytes) = (0u64, 0u64);
        for ks in std::fs::read_dir(c.data_dir(i)).unwrap() {
            let ks = ks.unwrap().path();
            let user = !ks
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("system");
            for table in std::fs::read_dir(&ks).unwrap() {
                let dir = table.unwrap().path();
                for (base, files) in sstables(&dir) {
                    let name: SSTableName = files[0].parse().unwrap();
                    let data = std::fs::read(dir.join(name.with_component("Data.db").to_string()))
                        .unwrap();
                    let digest = std::fs::read_to_string(
                        dir.join(name.with_component("Digest.crc32").to_string()),
                    )
                    .unwrap();
                    assert_eq!(
                        digest,
                        crc32fast::hash(&data).to_string(),
                        "{base} in {}",
                        dir.display()
                    );
                    let toc = std::fs::read_to_string(
                        dir.join(name.with_component("TOC.txt").to_string()),
                    )
                    .unwrap();
                    let listed: BTreeSet<String> = toc
                        .lines()
                        .map(|c| name.with_component(c).to_string())
                        .collect();
                    assert_eq!(listed, files.iter().cloned().collect(), "TOC of {base}");
                    assert_eq!(listed.len(), 9, "full component set");
                    if user {
                        data_bytes += data.len() as u64;
                        user_bytes += files
                            .iter()
                            .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
                            .sum::<u64>();
                    }
                    checked += 1;
                }
            }
        }
        let per_node = 6u64 << 20;
        assert!(
            data_bytes > per_node * 8 / 10 && data_bytes < per_node * 12 / 10,
            "node {i}: {data_bytes} bytes of data"
        );
        assert!(
            data_bytes * 100 / user_bytes >= 90,
            "Data.db dominates: {data_bytes} of {user_bytes}"
        );
    }
    assert!(checked > 50, "only {checked} SSTables checked");
}

/// Generations of the SSTables in a table directory.
fn generations(dir: &Path) -> BTreeSet<Generation> {
    files_in(dir)
        .iter()
        .filter_map(|f| f.parse::<SSTableName>().ok())
        .map(|n| n.generation)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_adds_an_sstable_and_compaction_replaces_them_as_scylla_does() {
    for format in [NameFormat::Uuid, NameFormat::Integer] {
        let c = TestCluster::start_with("dc1:1", |cfg| cfg.name_format = format).await;
        let addr = c.address(0);
        let dir = c.table_dir(0, "store", "orders");
        let before = generations(&dir);
        assert!(before.len() >= 2, "{before:?}");
        assert!(
            before
                .iter()
                .all(|g| g.is_integer() == (format == NameFormat::Integer))
        );

        c.post_ok(
            0,
            &format!("/emulator/nodes/{addr}/write?keyspace=store&table=orders&bytes=300KiB"),
        )
        .await;
        assert_eq!(
            generations(&dir),
            before,
            "writes stay in the memtable until a flush"
        );
        c.post_ok(0, "/storage_service/keyspace_flush/store?cf=orders")
            .await;
        let after_flush = generations(&dir);
        let new: Vec<&Generation> = after_flush.difference(&before).collect();
        assert_eq!(
            new.len(),
            1,
            "{format:?}: one new SSTable per flushed memtable"
        );
        assert!(
            before.iter().all(|g| g < new[0]),
            "{format:?}: the new generation is the newest"
        );
        let new_name = SSTableName::new("me", *new[0], "Data.db").to_string();
        assert_eq!(
            std::fs::metadata(dir.join(&new_name)).unwrap().len(),
            300 << 10
        );
        c.post_ok(0, "/storage_service/keyspace_flush/store?cf=orders")
            .await;
        assert_eq!(
            generations(&dir),
            after_flush,
            "an empty memtable flushes to nothing"
        );

        c.post_ok(
            0,
            &format!("/storage_service/snapshots?tag={TAG}&kn=store&cf=orders"),
        )
        .await;
        let snapped = files_in(&dir);
        c.post_ok(0, "/storage_service/keyspace_compaction/store?cf=orders")
            .await;
        let compacted = generations(&dir);
        assert_eq!(
            compacted.len(),
            1,
            "{format:?}: major compaction leaves one SSTable"
        );
        assert!(
            after_flush.iter().all(|g| g < compacted.first().unwrap()),
            "compaction writes a new generation"
        );
        let snap = dir.join("snapshots").join(TAG);
        for f in &snapped {
            assert!(!dir.join(f).exists(), "{f} was compacted away");
            let meta = std::fs::metadata(snap.join(f)).unwrap();
            assert_eq!(meta.nlink(), 1, "the snapshot now holds {f} alone");
        }
        let used = c
            .get(
                0,
                "/column_family/metrics/total_disk_space_used/store:orders",
            )
            .await;
        let on_disk: u64 = files_in(&dir)
            .iter()
            .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
            .sum();
        assert_eq!(used.as_u64(), Some(on_disk));
        let listing = c.get(0, "/storage_service/snapshots").await;
        let entry = &listing[0]["value"][0];
        assert_eq!(
            entry["live"], entry["total"],
            "after compaction the whole snapshot is snapshot-only"
        );
        c.post_ok(
            0,
            &format!("/emulator/nodes/{addr}/compact?keyspace=store&table=orders"),
        )
        .await;
        assert_ne!(generations(&dir), compacted, "the control compacts too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_taken_down_stops_answering_and_peers_see_it() {
    let c = TestCluster::start("dc1:3").await;
    let down = c.address(2);
    c.post_ok(0, &format!("/emulator/nodes/{down}/down")).await;
    let err = c
        .http
        .get(c.url(2, "/storage_service/host_id"))
        .send()
        .await;
    assert!(err.is_err(), "a down node must not answer: {err:?}");
    assert_eq!(
        strings(&c.get(1, "/gossiper/endpoint/live/").await),
        [c.address(0), c.address(1)]
    );
    assert_eq!(
        strings(&c.get(0, "/gossiper/endpoint/down/").await),
        std::slice::from_ref(&down)
    );
    let states = c.get(0, "/failure_detector/simple_states").await;
    assert!(
        states
            .as_array()
            .unwrap()
            .contains(&json!({"key": down, "value": "DOWN"}))
    );
    assert_eq!(
        c.get(1, "/storage_service/host_id")
            .await
            .as_array()
            .unwrap()
            .len(),
        3,
        "a down node still owns tokens"
    );

    c.post_ok(1, &format!("/emulator/nodes/{down}/up")).await;
    assert_eq!(
        c.get(2, "/gossiper/endpoint/live/")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    c.post_ok(0, &format!("/emulator/nodes/{down}/status?value=leaving"))
        .await;
    assert_eq!(
        strings(&c.get(1, "/storage_service/nodes/leaving").await),
        [down]
    );
    let (status, _) = c
        .call(0, Method::POST, "/emulator/nodes/127.1.2.3/down")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_delay_or_fail_the_named_endpoint() {
    let c = TestCluster::start("dc1:2").await;
    let addr = c.address(1);
    let faults = format!(
        "{}/emulator/nodes/{addr}/faults",
        c.emulator.nodes()[0].api_url
    );
    let add = |body: Value| c.http.post(&faults).json(&body).send();
    assert_eq!(add(json!({"path": "/storage_service/snapshots", "method": "POST", "status": 503, "count": 1})).await.unwrap().status(), 200);
    assert_eq!(
        add(json!({"path": "/storage_service/host_id", "latency_ms": 300, "count": 1}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        add(json!({"path": "no-slash", "status": 500}))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        add(json!({"path": "/x", "status": 200}))
            .await
            .unwrap()
            .status(),
        400
    );

    let (status, body) = c
        .call(
            1,
            Method::POST,
            &format!("/storage_service/snapshots?tag={TAG}&kn=store"),
        )
        .await;
    assert_eq!((status, body["code"].as_u64()), (503, Some(503)), "{body}");
    assert!(
        !c.table_dir(1, "store", "orders").join("snapshots").exists(),
        "a failed call does nothing"
    );
    assert_eq!(
        c.call(0, Method::GET, "/storage_service/snapshots").await.0,
        200,
        "other nodes are unaffected"
    );
    c.post_ok(1, &format!("/storage_service/snapshots?tag={TAG}&kn=store"))
        .await;

    let started = Instant::now();
    c.get(1, "/storage_service/host_id").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "latency was injected"
    );
    let left = c.get(1, &format!("/emulator/nodes/{addr}/faults")).await;
    assert!(
        left.as_array().unwrap().is_empty(),
        "both counted faults are used up: {left}"
    );
    add(json!({"path": "/", "status": 500})).await.unwrap();
    assert_eq!(
        c.call(1, Method::GET, "/storage_service/host_id").await.0,
        500
    );
    assert_eq!(
        c.call(1, Method::GET, "/emulator/cluster").await.0,
        200,
        "controls are never faulted"
    );
    assert_eq!(c.http.delete(&faults).send().await.unwrap().status(), 200);
    assert_eq!(
        c.call(1, Method::GET, "/storage_service/host_id").await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_and_stream_takes_complete_sstables_from_upload() {
    let c = TestCluster::start("dc1:1").await;
    c.post_ok(
        0,
        &format!("/storage_service/snapshots?tag={TAG}&kn=store&cf=orders"),
    )
    .await;
    c.post_ok(0, "/emulator/tables?keyspace=restored&table=orders")
        .await;
    let src = c
        .table_dir(0, "store", "orders")
        .join("snapshots")
        .join(TAG);
    let dst = c.table_dir(0, "restored", "orders");
    let upload = dst.join("upload");
    let mut copied = BTreeMap::new();
    for f in files_in(&src)
        .into_iter()
        .filter(|f| f.parse::<SSTableName>().is_ok())
    {
        std::fs::copy(src.join(&f), upload.join(&f)).unwrap();
        copied.insert(f.clone(), std::fs::read(src.join(&f)).unwrap());
    }

    // An SSTable missing a component its TOC lists is refused, and nothing moves.
    let victim = copied
        .keys()
        .find(|f| f.ends_with("Filter.db"))
        .unwrap()
        .clone();
    std::fs::remove_file(upload.join(&victim)).unwrap();
    let (status, body) = c
        .call(
            0,
            Method::POST,
            "/storage_service/sstables/restored?cf=orders&load_and_stream=true",
        )
        .await;
    assert_eq!(status, 500);
    assert!(
        body["message"].as_str().unwrap().contains("Filter.db"),
        "{body}"
    );
    assert!(sstables(&dst).is_empty());
    std::fs::write(upload.join(&victim), &copied[&victim]).unwrap();

    let (status, _) = c
        .call(
            0,
            Method::POST,
            "/storage_service/sstables/restored?cf=orders&load_and_stream=true&skip_cleanup=true",
        )
        .await;
    assert_eq!(status, 400, "skip_cleanup is invalid with load_and_stream");
    c.post_ok(0, "/storage_service/sstables/restored?cf=orders&load_and_stream=true&primary_replica_only=false").await;
    assert!(files_in(&upload).is_empty(), "upload/ is emptied");
    assert!(!sstables(&dst).is_empty());
    // load&stream rewrites what it streams: the records arrive, by content, in new SSTables.
    let records = |dir: &Path| -> BTreeSet<(i64, String)> {
        files_in(dir)
            .iter()
            .filter(|f| f.ends_with("Data.db"))
            .flat_map(|f| records_of_file(&dir.join(f)).unwrap())
            .map(|r| (r.token, r.hash))
            .collect()
    };
    assert!(!records(&src).is_empty());
    assert_eq!(records(&dst), records(&src));
    let (status, _) = c
        .call(0, Method::POST, "/storage_service/sstables/restored")
        .await;
    assert_eq!(status, 400, "cf is mandatory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_created_and_dropped_on_every_node() {
    let c = TestCluster::start("dc1:2,dc2:1").await;
    c.post_ok(1, "/emulator/tables?keyspace=app&table=events")
        .await;
    for i in 0..3 {
        assert!(
            strings(&c.get(i, "/column_family/name").await).contains(&"app:events".to_string())
        );
        assert!(c.table_dir(i, "app", "events").join("upload").is_dir());
    }
    let ring = c.get(2, "/storage_service/describe_ring/app").await;
    assert_eq!(
        strings(&ring[0]["endpoints"]).len(),
        3,
        "default replication: RF min(3, nodes) per DC"
    );
    let (status, body) = c
        .call(
            0,
            Method::POST,
            "/emulator/tables?keyspace=app&table=events",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = c
        .call(
            0,
            Method::POST,
            "/emulator/tables?keyspace=app&table=bad-name",
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = c
        .call(0, Method::POST, "/emulator/tables?keyspace=system&table=x")
        .await;
    assert_eq!(status, 400);

    c.post_ok(
        0,
        &format!(
            "/emulator/nodes/{}/write?keyspace=app&table=events&bytes=10KiB",
            c.address(0)
        ),
    )
    .await;
    c.post_ok(0, &format!("/storage_service/snapshots?tag={TAG}&kn=app"))
        .await;
    let (status, _) = c
        .call(
            2,
            Method::DELETE,
            "/emulator/tables?keyspace=app&table=events",
        )
        .await;
    assert_eq!(status, 200);
    for i in 0..3 {
        assert!(
            !strings(&c.get(i, "/column_family/name").await).contains(&"app:events".to_string())
        );
    }
    let snap = c.table_dir(0, "app", "events").join("snapshots").join(TAG);
    assert_eq!(sstables(&snap).len(), 1, "a dropped table's snapshots stay");
    let (status, body) = c
        .call(
            0,
            Method::GET,
            "/column_family/metrics/total_disk_space_used/app:events",
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_decides_every_name_token_and_byte() {
    let snapshot_of = |c: &TestCluster| -> (Value, BTreeMap<String, u64>) {
        let mut files = BTreeMap::new();
        let dir = c.table_dir(0, "telemetry", "readings");
        for f in files_in(&dir) {
            files.insert(
                f.clone(),
                crc32fast::hash(&std::fs::read(dir.join(&f)).unwrap()) as u64,
            );
        }
        (
            json!(
                c.emulator
                    .nodes()
                    .iter()
                    .map(|n| n.host_id.clone())
                    .collect::<Vec<_>>()
            ),
            files,
        )
    };
    let a = TestCluster::start_with("dc1:2", |cfg| cfg.seed = 42).await;
    let b = TestCluster::start_with("dc1:2", |cfg| cfg.seed = 42).await;
    let d = TestCluster::start_with("dc1:2", |cfg| cfg.seed = 43).await;
    assert_eq!(snapshot_of(&a), snapshot_of(&b));
    assert_eq!(
        a.get(0, &format!("/storage_service/tokens/{}", a.address(1)))
            .await,
        b.get(0, &format!("/storage_service/tokens/{}", b.address(1)))
            .await
    );
    let (ids_a, files_a) = snapshot_of(&a);
    let (ids_d, files_d) = snapshot_of(&d);
    assert_ne!(ids_a, ids_d);
    assert_ne!(files_a, files_d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_config_and_unknown_paths_answer_like_scylla() {
    let c = TestCluster::start_with("dc1:1", |cfg| cfg.shards = 3).await;
    let addr = c.address(0);
    c.post_ok(
        0,
        &format!("/emulator/nodes/{addr}/write?keyspace=store&table=orders&bytes=1MiB"),
    )
    .await;
    let url = format!(
        "http://{addr}:{}/metrics?name=database_total_writes",
        c.emulator.prometheus_port()
    );
    let text = c.http.get(url).send().await.unwrap().text().await.unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("scylla_database_total_writes{"))
        .collect();
    assert_eq!(series.len(), 3, "one series per shard:\n{text}");
    let total: u64 = series
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(total > 0);
    assert_eq!(
        c.get(0, "/v2/config/uuid_sstable_identifiers_enabled")
            .await,
        json!(true)
    );
    assert_eq!(
        c.get(0, "/storage_service/data_file/locations").await,
        json!([c.data_dir(0).display().to_string()])
    );
    let (status, body) = c.call(0, Method::GET, "/v2/config/no_such_option").await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(404)));
    let (status, body) = c
        .call(0, Method::GET, "/storage_service/no_such_call")
        .await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"message": "Not found", "code": 404}));
    let (status, _) = c
        .call(0, Method::GET, "/storage_service/keyspaces?type=bogus")
        .await;
    assert_eq!(status, 400);
}
