//! Backups carry the schema (issue 12), end to end through `cairn` and the manager process: a
//! cluster added with CQL credentials gets a schema file naming every user table, view and index
//! (read over CQL after a raft read barrier on the same node, views left out of the data); a
//! cluster without credentials is refused before any node is touched, unless the task skips the
//! schema.

mod common;

use std::collections::BTreeSet;
use std::io::Read;

use common::cli::{BackupSetup, files_under};
use common::cql::pairs;
use scylla::client::session::Session;
use serde_json::Value;

/// What a run or dry run without credentials and without `--skip-schema` is refused with.
const NO_CREDENTIALS: &str = "CQL credentials are required to back up the schema of cluster prod: add them with cairn cluster update -c prod --username U --password P, or pass --skip-schema to back up without the schema";

/// The schema files in the bucket, relative to it.
fn schema_files(s: &BackupSetup) -> Vec<String> {
    files_under(&s.bucket)
        .into_iter()
        .filter(|p| p.starts_with("backup/schema/"))
        .collect()
}

/// A CQL session to node 0 alone: the test's own look at the schema.
async fn cql(s: &BackupSetup) -> Session {
    common::cql::session(&s.cluster).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_with_credentials_carries_the_schema_read_after_a_read_barrier() {
    let s = BackupSetup::new().await;
    s.backup_now("nightly").await;

    // One schema file, as upstream names and writes it: gzipped JSON rows.
    let files = schema_files(&s);
    assert_eq!(files.len(), 1, "one schema file: {files:?}");
    assert!(
        files[0].ends_with("_schema_with_internals.json.gz"),
        "{files:?}"
    );
    let gz = std::fs::read(s.bucket.join(&files[0])).unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .expect("the schema file is gzip");
    let rows: Vec<Value> = serde_json::from_str(&json).expect("the schema file is a JSON array");
    let described: BTreeSet<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let field = |f: &str| {
                r[f].as_str()
                    .unwrap_or_else(|| panic!("row without {f}: {r}"))
                    .to_string()
            };
            assert!(
                !field("cql_stmt").is_empty(),
                "a row without its statement: {r}"
            );
            (field("keyspace"), field("type"), field("name"))
        })
        .collect();

    // Every user table, view and index of the cluster, as CQL shows them, is in it.
    let session = cql(&s).await;
    let tables = pairs(
        &session,
        "SELECT keyspace_name, table_name FROM system_schema.tables",
    )
    .await;
    let indexes = pairs(
        &session,
        "SELECT keyspace_name, index_name FROM system_schema.indexes",
    )
    .await;
    let all_views = pairs(
        &session,
        "SELECT keyspace_name, view_name FROM system_schema.views",
    )
    .await;
    // Scylla backs an index with a view named `<index>_index`; DESCRIBE shows the index.
    let index_views: BTreeSet<(String, String)> = indexes
        .iter()
        .map(|(ks, i)| (ks.clone(), format!("{i}_index")))
        .collect();
    let views: BTreeSet<_> = all_views.difference(&index_views).cloned().collect();
    assert!(tables.iter().any(|(ks, _)| ks == "store"), "{tables:?}");
    assert!(!views.is_empty(), "the dataset has a materialized view");
    assert!(!indexes.is_empty(), "the dataset has a secondary index");
    for (kind, names) in [("table", &tables), ("view", &views), ("index", &indexes)] {
        for (ks, name) in names {
            assert!(
                described.contains(&(ks.clone(), kind.to_string(), name.clone())),
                "{kind} {ks}.{name} is not in the schema file: {described:?}"
            );
        }
    }

    // Views (and the views behind indexes) are rebuilt, not backed up: no data of theirs.
    let uploaded = files_under(&s.bucket);
    for (ks, view) in &all_views {
        let dir = format!("/keyspace/{ks}/table/{view}/");
        assert!(
            !uploaded.iter().any(|p| p.contains(&dir)),
            "view {ks}.{view} was uploaded"
        );
    }

    // The read barrier came first, on the node the schema was then described on.
    let calls = s.cluster.get(0, "/emulator/calls").await;
    let calls = calls.as_array().expect("a list of calls");
    let describe = calls
        .iter()
        .find(|c| {
            c["what"].as_str().is_some_and(|w| {
                w.to_uppercase()
                    .starts_with("CQL DESCRIBE SCHEMA WITH INTERNALS")
            })
        })
        .unwrap_or_else(|| panic!("no DESCRIBE SCHEMA WITH INTERNALS: {calls:?}"));
    let barrier = calls
        .iter()
        .find(|c| c["what"] == "POST /raft/read_barrier" && c["node"] == describe["node"])
        .unwrap_or_else(|| panic!("no read barrier on {}: {calls:?}", describe["node"]));
    assert!(
        barrier["seq"].as_u64() < describe["seq"].as_u64(),
        "the read barrier {barrier} came after the describe {describe}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_credentials_a_backup_is_refused_unless_it_skips_the_schema() {
    let s = BackupSetup::new().await;
    s.cairn(&[
        "cluster",
        "update",
        "-c",
        "prod",
        "--username",
        "",
        "--password",
        "",
    ])
    .await
    .ok("cluster update without credentials");

    // The dry run: one line saying what to do.
    let dry = s
        .cairn(&[
            "backup",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-K",
            "store",
            "--dry-run",
        ])
        .await;
    assert_eq!(
        dry.one_line_error("dry run without credentials"),
        format!("error: {NO_CREDENTIALS}")
    );

    // The run: failed with that line, before any node was touched.
    s.create_backup("refused", "store").await;
    s.cairn(&["start", "-c", "prod", "backup/refused"])
        .await
        .ok("start");
    let run = s.wait_run("refused").await;
    assert_eq!(run["run"]["status"], "ERROR", "{run}");
    assert_eq!(run["run"]["cause"], NO_CREDENTIALS, "{run}");
    for i in 0..3 {
        assert!(
            s.cluster.local_snapshots(i).is_empty(),
            "node {i} was snapshotted: {:?}",
            s.cluster.local_snapshots(i)
        );
    }
    assert!(
        files_under(&s.bucket).is_empty(),
        "the location was written: {:?}",
        files_under(&s.bucket)
    );

    // With --skip-schema: the dry run answers, the run succeeds, and there is no schema file.
    s.cairn(&[
        "backup",
        "-c",
        "prod",
        "-L",
        "localstorage:bkt",
        "-K",
        "store",
        "--skip-schema",
        "--dry-run",
    ])
    .await
    .ok("dry run with --skip-schema");
    s.create_backup_with("skipping", "store", &["--skip-schema"])
        .await;
    s.cairn(&["start", "-c", "prod", "backup/skipping"])
        .await
        .ok("start");
    let run = s.wait_run("skipping").await;
    assert_eq!(run["run"]["status"], "DONE", "{run}");
    assert!(
        files_under(&s.bucket)
            .iter()
            .any(|p| p.starts_with("backup/meta/")),
        "the backup has manifests"
    );
    assert_eq!(schema_files(&s), Vec::<String>::new(), "no schema file");
}
