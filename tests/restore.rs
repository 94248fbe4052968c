//! Restore end to end (issue 13), as an operator runs it: a 2-DC cluster backed up to a bucket
//! through `cairn`, then its schema and its tables restored into a fresh cluster with other
//! tokens (and, with `--dc-mapping`, other DC names), every process real. What is checked is what
//! an operator would check: every replica of every token range holds exactly the backed-up data
//! of each table (compared by content with the backup's files, not by file name), the views exist
//! and are built, tombstone_gc and autocompaction are as before.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::restore::RestoreSetup;
use common::{cql, sm_layout};
use serde_json::Value;

/// The tables of keyspace `store` the dataset has (views and index tables excluded).
const STORE_TABLES: &[&str] = &["customers", "orders", "order_items"];

/// `DESCRIBE TABLE ks.t` on node 0 of a cluster: the table as CQL shows it (options included).
async fn describe(session: &scylla::client::session::Session, table: &str) -> String {
    let rows: Vec<(String, String, String, String)> = {
        use futures::TryStreamExt;
        session
            .query_iter(format!("DESCRIBE TABLE {table}"), ())
            .await
            .unwrap_or_else(|e| panic!("DESCRIBE TABLE {table}: {e}"))
            .rows_stream::<(String, String, String, String)>()
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    };
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
}

/// The backed-up data of `ks.table`: the records of every `Data.db` the snapshot `tag`'s
/// manifests list, read from the bucket's files (versioned files resolved as restore resolves
/// them).
fn backup_records(bucket: &Path, tag: &str, ks: &str, table: &str) -> BTreeSet<(i64, String)> {
    common::restore::backup_records(bucket, tag, ks, table)
}

/// Asserts that every replica of every range of `ks.table` in `cluster` holds exactly
/// `expected`, and no node holds a record it does not replicate.
async fn assert_placed(
    cluster: &common::TestCluster,
    ks: &str,
    table: &str,
    expected: &BTreeSet<(i64, String)>,
) {
    common::restore::assert_placed(cluster, ks, table, expected).await;
}

/// Every node of `cluster` has autocompaction on for `ks.table`.
async fn assert_autocompaction_on(cluster: &common::TestCluster, ks: &str, table: &str) {
    for i in 0..cluster.emulator.nodes().len() {
        let on = cluster
            .get(i, &format!("/column_family/autocompaction/{ks}:{table}"))
            .await;
        assert_eq!(
            on,
            Value::Bool(true),
            "autocompaction of {ks}.{table} on node {i}"
        );
    }
}

/// Every node of `cluster` reports view `ks.view` built.
async fn assert_view_built(cluster: &common::TestCluster, ks: &str, view: &str) {
    for i in 0..cluster.emulator.nodes().len() {
        let statuses = cluster
            .get(
                i,
                &format!("/storage_service/view_build_statuses/{ks}/{view}"),
            )
            .await;
        let all: Vec<&str> = statuses
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["value"].as_str())
            .collect();
        assert!(
            !all.is_empty() && all.iter().all(|s| *s == "SUCCESS"),
            "{ks}.{view} on node {i}: {statuses}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_then_tables_into_a_fresh_cluster_with_other_tokens() {
    let s = RestoreSetup::start(
        "dc1:3,dc2:3",
        "dc1:2,dc2:2",
        |_| {},
        |c| {
            c.seed = 0x5eed_4242;
            common::restore::empty_dataset(c);
        },
    )
    .await;
    // A table whose tombstone_gc is not the default, so that the restore must put it back.
    let source = cql::session(&s.source).await;
    source
        .query_unpaged(
            "ALTER TABLE store.customers WITH tombstone_gc = {'mode':'repair'}",
            (),
        )
        .await
        .expect("alter tombstone_gc");
    let tag = s.backup("all", "store").await;

    // Schema first, then the tables.
    let schema = s
        .restore("schema", &["-T", &tag, "--restore-schema"], 120)
        .await;
    assert_eq!(schema["run"]["status"], "DONE", "schema restore: {schema}");
    let tables = s
        .restore(
            "tables",
            &["-T", &tag, "--restore-tables", "-K", "store"],
            300,
        )
        .await;
    assert_eq!(tables["run"]["status"], "DONE", "tables restore: {tables}");
    let progress = &tables["progress"];
    assert_eq!(progress["stage"], "DONE", "{progress}");
    assert_eq!(
        progress["restored"], progress["size"],
        "every byte restored: {progress}"
    );

    let target = cql::session(&s.target).await;
    for table in STORE_TABLES {
        let expected = backup_records(&s.bucket, &tag, "store", table);
        assert!(!expected.is_empty(), "store.{table} has backed-up data");
        assert_placed(&s.target, "store", table, &expected).await;
        assert_autocompaction_on(&s.target, "store", table).await;
        let name = format!("store.{table}");
        assert_eq!(
            describe(&target, &name).await,
            describe(&source, &name).await,
            "{name} as before the restore (tombstone_gc included)"
        );
    }
    // The view and the index exist and are built on every node.
    let views = cql::pairs(
        &target,
        "SELECT keyspace_name, view_name FROM system_schema.views",
    )
    .await;
    let expected_views: BTreeSet<(String, String)> = [
        ("store".to_string(), "orders_by_status".to_string()),
        (
            "store".to_string(),
            "orders_placed_at_idx_index".to_string(),
        ),
    ]
    .into();
    assert_eq!(views, expected_views);
    assert_view_built(&s.target, "store", "orders_by_status").await;
    assert_view_built(&s.target, "store", "orders_placed_at_idx_index").await;

    // The run's progress is visible to an operator, as a table and as JSON.
    let shown = s
        .cairn(&["progress", "-c", "fresh", "restore/tables", "-o", "json"])
        .await
        .json("progress");
    assert_eq!(shown["progress"]["stage"], "DONE", "{shown}");
    assert_eq!(
        shown["progress"]["repair"]["status"], "SUCCESSFUL",
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dc_mapping_renames_the_dcs_of_the_schema_and_of_the_data() {
    let s = RestoreSetup::start(
        "dc1:2,dc2:2",
        "east:2,west:2",
        |_| {},
        |c| {
            c.seed = 0x0ea5_7000;
            common::restore::empty_dataset(c);
        },
    )
    .await;
    let tag = s.backup("all", "store").await;

    // Without a mapping the schema names DCs the cluster lacks: refused before anything is made.
    let refused = s
        .restore("unmapped", &["-T", &tag, "--restore-schema"], 120)
        .await;
    assert_eq!(refused["run"]["status"], "ERROR", "{refused}");
    let cause = refused["run"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("dc1") && cause.contains("--dc-mapping"),
        "the refusal names the missing DCs and the way out: {cause}"
    );
    let target = cql::session(&s.target).await;
    let keyspaces = cql::pairs(
        &target,
        "SELECT keyspace_name, keyspace_name FROM system_schema.keyspaces",
    )
    .await;
    assert!(keyspaces.is_empty(), "nothing created: {keyspaces:?}");

    let mapping = "dc1=east,dc2=west";
    let schema = s
        .restore(
            "schema",
            &["-T", &tag, "--restore-schema", "--dc-mapping", mapping],
            120,
        )
        .await;
    assert_eq!(schema["run"]["status"], "DONE", "{schema}");
    let described = {
        use futures::TryStreamExt;
        let rows: Vec<(String, String, String, String)> = target
            .query_iter("DESCRIBE KEYSPACE store", ())
            .await
            .expect("describe keyspace")
            .rows_stream::<(String, String, String, String)>()
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        rows.into_iter().map(|r| r.3).next().unwrap_or_default()
    };
    assert!(
        described.contains("'east': '2'")
            && described.contains("'west': '2'")
            && !described.contains("dc1"),
        "replication rewritten: {described}"
    );

    let tables = s
        .restore(
            "tables",
            &[
                "-T",
                &tag,
                "--restore-tables",
                "-K",
                "store",
                "--dc-mapping",
                mapping,
            ],
            300,
        )
        .await;
    assert_eq!(tables["run"]["status"], "DONE", "{tables}");
    for table in STORE_TABLES {
        let expected = backup_records(&s.bucket, &tag, "store", table);
        assert_placed(&s.target, "store", table, &expected).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn versioned_files_restore_their_tag_and_a_dry_run_finds_what_would_fail() {
    let s = RestoreSetup::start(
        "dc1:2",
        "dc1:2",
        |_| {},
        |c| {
            c.seed = 0x00d2_7000;
            common::restore::empty_dataset(c);
        },
    )
    .await;
    let tag = s.backup("all", "store").await;

    // The target has no schema yet: the dry run says which tables are missing and how to fix it.
    let dry = s
        .cairn(&[
            "restore",
            "-c",
            "fresh",
            "-L",
            "localstorage:bkt",
            "-T",
            &tag,
            "--restore-tables",
            "--dry-run",
        ])
        .await;
    assert_ne!(
        dry.code, 0,
        "problems make the dry run fail: {}",
        dry.stdout
    );
    let all = format!("{}{}", dry.stdout, dry.stderr);
    assert!(
        all.contains("store.orders") && all.contains("--restore-schema"),
        "{all}"
    );
    let schema = s
        .restore("schema", &["-T", &tag, "--restore-schema"], 120)
        .await;
    assert_eq!(schema["run"]["status"], "DONE", "{schema}");

    // A later backup replaced a file under the same name: the restored tag's version is kept as
    // `<name>.sm_<later tag>`, and the plain name now holds other bytes.
    let expected = backup_records(&s.bucket, &tag, "store", "orders");
    let data = common::cli::files_under(&s.bucket)
        .into_iter()
        .filter(|p| p.contains("/table/orders/") && p.ends_with("-Data.db"))
        .min()
        .expect("a Data.db of store.orders in the bucket");
    let later = "sm_29990101000000UTC";
    let plain = s.bucket.join(&data);
    std::fs::copy(&plain, s.bucket.join(format!("{data}.{later}"))).expect("keep the version");
    let other: Vec<u8> = std::fs::read(&plain)
        .expect("read")
        .iter()
        .map(|b| b ^ 0x5a)
        .collect();
    std::fs::write(&plain, other).expect("replace the plain file");
    let tables = s
        .restore(
            "tables",
            &["-T", &tag, "--restore-tables", "-K", "store.orders"],
            300,
        )
        .await;
    assert_eq!(tables["run"]["status"], "DONE", "{tables}");
    assert_placed(&s.target, "store", "orders", &expected).await;

    // One data file disappears from the bucket: the dry run names it, and touches nothing.
    std::fs::remove_file(&plain).expect("remove one object");
    std::fs::remove_file(s.bucket.join(format!("{data}.{later}"))).expect("and its version");
    let dry = s
        .cairn(&[
            "restore",
            "-c",
            "fresh",
            "-L",
            "localstorage:bkt",
            "-T",
            &tag,
            "--restore-tables",
            "--dry-run",
            "-o",
            "json",
        ])
        .await;
    assert_ne!(
        dry.code, 0,
        "a missing object fails the dry run: {}",
        dry.stdout
    );
    let report: Value = serde_json::from_str(&dry.stdout)
        .unwrap_or_else(|e| panic!("dry run JSON ({e}): {} {}", dry.stdout, dry.stderr));
    let missing: Vec<&str> = report["missing_objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["path"].as_str())
        .collect();
    assert!(
        missing.iter().any(|p| p.ends_with(&data)),
        "{data} reported missing: {report}"
    );
    for i in 0..2 {
        let upload = s.target.table_dir(i, "store", "orders").join("upload");
        assert!(
            common::files_in(&upload).is_empty(),
            "node {i} upload/ untouched"
        );
    }
}

/// The restore progress of the latest run of `fresh`'s task `restore/name` (`progress` of
/// `GET .../latest`), once it has some.
async fn progress_of(s: &RestoreSetup, name: &str) -> Value {
    s.restore_run(name).await["progress"].clone()
}

/// Bytes the agents of `fresh` transferred (their `cairn_agent_bytes_total{result="transferred"}`).
async fn agent_bytes(agents: &[common::agent::AgentProcess]) -> u64 {
    let mut total = 0;
    for a in agents {
        let text = a.metrics().await;
        total += text
            .lines()
            .filter(|l| {
                l.starts_with("cairn_agent_bytes_total{") && l.contains("result=\"transferred\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64;
    }
    total
}

/// Waits (at most 120 s) until `check` holds for the progress of `restore/name`.
async fn wait_progress(s: &RestoreSetup, name: &str, what: &str, check: impl Fn(&Value) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let p = progress_of(s, name).await;
        if check(&p) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never {what}: {p}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_killed_mid_data_resumes_at_data_and_downloads_only_what_is_missing() {
    let mut s = RestoreSetup::start(
        "dc1:3",
        "dc1:3",
        |c| c.dataset = cairn::emulator::Dataset::Bytes(16 << 20),
        |c| {
            c.seed = 0x0d1e_7000;
            common::restore::empty_dataset(c);
            c.stream_rate = 4;
        },
    )
    .await;
    let tag = s.backup("all", "store").await;
    let schema = s
        .restore("schema", &["-T", &tag, "--restore-schema"], 120)
        .await;
    assert_eq!(schema["run"]["status"], "DONE", "{schema}");
    let size: u64 = STORE_TABLES
        .iter()
        .map(|t| {
            common::cli::files_under(&s.bucket)
                .iter()
                .filter(|p| p.contains(&format!("/keyspace/store/table/{t}/")))
                .map(|p| {
                    std::fs::metadata(s.bucket.join(p))
                        .map(|m| m.len())
                        .unwrap_or(0)
                })
                .sum::<u64>()
        })
        .sum();

    s.create_restore(
        "tables",
        &[
            "-T",
            &tag,
            "--restore-tables",
            "-K",
            "store",
            "--batch-size",
            "1",
            "--rate-limit",
            "2",
        ],
    )
    .await;
    s.cairn(&["start", "-c", "fresh", "restore/tables"])
        .await
        .ok("start");

    // An agent dies while its host downloads, and comes back.
    wait_progress(&s, "tables", "downloading", |p| {
        p["downloaded"].as_u64().unwrap_or(0) > 0 && p["stage"] == "DATA"
    })
    .await;
    let before_kill = agent_bytes(&s.target_agents[..1]).await;
    s.target_agents[0].kill();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let config = s.target_agents[0].config.clone();
    s.target_agents[0] = common::agent::AgentProcess::start_with(config);

    // Then the manager dies mid-DATA, and comes back: the run is resumed.
    wait_progress(&s, "tables", "restoring", |p| {
        let restored = p["restored"].as_u64().unwrap_or(0);
        restored > 0 && restored < p["size"].as_u64().unwrap_or(0)
    })
    .await;
    let killed = s.restore_run("tables").await["run"]["id"].clone();
    s.manager.kill();
    let config = s.manager.config.clone();
    s.manager = common::manager::ManagerProcess::start_with(config);
    // The run cut short is ABORTED; the manager resumes it at once as a new run of the task.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let end = loop {
        let body = s.wait("fresh", "restore", "tables", 300).await;
        if body["run"]["id"] != killed {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never resumed: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(end["run"]["status"], "DONE", "{end}");

    // The resumed run started at DATA: the views were dropped once, tombstone_gc disabled once.
    let calls = s.target.get(0, "/emulator/calls").await;
    let statements: Vec<String> = calls
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["what"].as_str().map(str::to_string))
        .collect();
    let count = |needle: &str| statements.iter().filter(|s| s.contains(needle)).count();
    assert_eq!(count("DROP MATERIALIZED VIEW"), 1, "{statements:#?}");
    assert_eq!(count("DROP INDEX"), 1, "{statements:#?}");

    // What was verified in upload/ was kept, and no batch was downloaded twice whole.
    let progress = &end["progress"];
    let kept = progress["skipped"].as_u64().unwrap_or(0);
    assert!(
        kept > 0,
        "files of the interrupted batch were kept: {progress}"
    );
    // Besides the whole backup, at most the batch prefetched into `upload/.cairn-next/` when the
    // agent was killed may be fetched again after the restart.
    let downloaded = before_kill + agent_bytes(&s.target_agents).await;
    assert!(
        downloaded < size + size / 2,
        "{downloaded} bytes downloaded for {size} bytes of backup"
    );
    for table in STORE_TABLES {
        let expected = backup_records(&s.bucket, &tag, "store", table);
        assert_placed(&s.target, "store", table, &expected).await;
        assert_autocompaction_on(&s.target, "store", table).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_written_by_scylladb_manager_restores_like_one_of_cairns() {
    let s = RestoreSetup::start(
        "dc1:1",
        "dc1:3",
        |_| {},
        |c| {
            c.seed = 0x5c11_7000;
            common::restore::empty_dataset(c);
        },
    )
    .await;
    let cluster_id = "6a0f2c1e-2d4b-4b7a-9a51-3f3c1d2e4b5a";
    let nodes = [
        "2f1e0c4a-8a51-4d0b-b0a3-9f1d2c3e4a5b",
        "7c3d2e1f-0a9b-4c8d-a7e6-5f4d3c2b1a09",
    ];
    let version = "3b1f6a20a9c111eea1d2000000000000";
    let tag = sm_layout::write_manager_backup(&s.bucket, cluster_id, &nodes, version);
    // The table exists in the target, as the operator created it (no schema file in the sample).
    let target = cql::session(&s.target).await;
    for stmt in [
        "CREATE KEYSPACE shop WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '2'}",
        "CREATE TABLE shop.orders (id uuid PRIMARY KEY, total double)",
    ] {
        target
            .query_unpaged(stmt, ())
            .await
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    let end = s
        .restore("sm", &["-T", &tag, "--restore-tables", "-K", "shop"], 180)
        .await;
    assert_eq!(end["run"]["status"], "DONE", "{end}");
    let expected = backup_records(&s.bucket, &tag, "shop", "orders");
    assert_eq!(expected.len(), 4, "four opaque SSTables");
    assert_placed(&s.target, "shop", "orders", &expected).await;
}

/// `dc:rack:host_id` of every node of `cluster`, in node order.
fn mapped_nodes(cluster: &common::TestCluster) -> Vec<String> {
    cluster
        .emulator
        .cluster()
        .topology
        .nodes
        .iter()
        .map(|n| format!("{}:{}:{}", n.dc, n.rack, n.host_id))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_1_1_restore_loads_each_node_into_its_mirror_without_streaming() {
    // The target has the source's ring (same seed: same tokens and racks) with other host IDs.
    let s = RestoreSetup::start(
        "dc1:3",
        "dc1:3",
        |_| {},
        |c| {
            c.host_id_seed = Some(0x1_1);
            common::restore::empty_dataset(c);
        },
    )
    .await;
    let tag = s.backup("all", "store").await;
    let source_cluster = common::cli::files_under(&s.bucket)
        .into_iter()
        .find_map(|p| {
            p.strip_prefix("backup/meta/cluster/")
                .and_then(|r| r.split('/').next())
                .map(str::to_string)
        })
        .expect("the backup's cluster ID");
    let schema = s
        .restore("schema", &["-T", &tag, "--restore-schema"], 120)
        .await;
    assert_eq!(schema["run"]["status"], "DONE", "schema restore: {schema}");

    let (sources, targets) = (mapped_nodes(&s.source), mapped_nodes(&s.target));
    let mapping_file = s.dir.path().join("mapping.txt");
    let write_mapping = |pairs: &[(usize, usize)]| {
        let text: String = pairs
            .iter()
            .map(|(a, b)| format!("{}={}\n", sources[*a], targets[*b]))
            .collect();
        std::fs::write(&mapping_file, text).unwrap();
    };
    let mapping = mapping_file.to_str().unwrap();
    let one_to_one = |extra: &'static [&'static str]| {
        let mut args = vec![
            "restore",
            "1-1-restore",
            "-c",
            "fresh",
            "-L",
            "localstorage:bkt",
            "-T",
            &tag,
            "--source-cluster-id",
            &source_cluster,
            "--nodes-mapping",
            mapping,
            "-K",
            "store",
        ];
        args.extend_from_slice(extra);
        args
    };

    // Nodes swapped: each target owns other tokens; the dry run names them and creates nothing.
    write_mapping(&[(0, 1), (1, 0), (2, 2)]);
    let dry = s.cairn(&one_to_one(&["--dry-run"])).await;
    assert_eq!(dry.code, 1, "a wrong mapping fails the dry run: {dry:?}");
    assert!(
        dry.stdout
            .contains("does not own the tokens of source node"),
        "{dry:?}"
    );
    // A mapping file without '=' is refused naming the file and the line.
    std::fs::write(&mapping_file, format!("{}\n{}\n", sources[0], targets[0])).unwrap();
    let bad = s.cairn(&one_to_one(&[])).await;
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stderr.contains("--nodes-mapping") && bad.stderr.contains("line 1"),
        "{bad:?}"
    );

    // The mirror: each node restores its twin's SSTables in place.
    write_mapping(&[(0, 0), (1, 1), (2, 2)]);
    let dry = s.cairn(&one_to_one(&["--dry-run"])).await;
    assert_eq!(dry.code, 0, "the mirror passes the dry run: {dry:?}");
    let created = s
        .cairn(&one_to_one(&["--enabled", "false", "--name", "mirror"]))
        .await;
    assert_eq!(created.ok("1-1 restore create"), "restore/mirror\n");
    s.cairn(&["start", "-c", "fresh", "restore/mirror"])
        .await
        .ok("start 1-1 restore");
    let run = s.wait("fresh", "restore", "mirror", 300).await;
    assert_eq!(run["run"]["status"], "DONE", "1-1 restore: {run}");
    assert_eq!(
        run["progress"]["restored"], run["progress"]["size"],
        "every byte restored: {run}"
    );
    for table in STORE_TABLES {
        let expected = backup_records(&s.bucket, &tag, "store", table);
        assert!(!expected.is_empty(), "store.{table} has backed-up data");
        assert_placed(&s.target, "store", table, &expected).await;
    }
    // Every node loaded its own twin's files in place: no load streamed.
    let calls = s.target.get(0, "/emulator/calls").await;
    let loads: Vec<(String, String)> = calls
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let what = c["what"].as_str()?;
            what.starts_with("POST /storage_service/sstables/")
                .then(|| {
                    (
                        c["node"].as_str().unwrap_or_default().to_string(),
                        what.to_string(),
                    )
                })
        })
        .collect();
    assert!(!loads.is_empty(), "{calls}");
    assert!(
        loads
            .iter()
            .all(|(_, w)| w.contains("load_and_stream=false")),
        "{loads:#?}"
    );
    let hosts: BTreeSet<&str> = loads.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        hosts.len(),
        3,
        "every node loaded its own twin's SSTables: {loads:#?}"
    );
}
