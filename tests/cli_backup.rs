//! `cairn backup ...` as a user runs it: the real binary against a real `cairn manager` process
//! over an emulated `dc1:2,dc2:1` cluster with real agents serving a `localstorage:bkt` location.
//! The tests check what a user sees: `backup/NAME` for a new task with its flags stored, the dry
//! run's target, one-line errors that create nothing, and a real backup listed, its files shown
//! (files that exist in the bucket) and deleted. Another cluster's backups in the same bucket,
//! with every kind of manifest (unknown versions, an empty index, a corrupt one), are listed
//! through the manager as far as they can be, the damaged manifest named (exit status 7).

mod common;

use common::cli::{BackupSetup, files_under, table_rows};
use common::sm_layout::{ODD_TAG, ODD_TASK, ODD_VERSION, write_odd_manifests};
use serde_json::{Value, json};

impl BackupSetup {
    /// Every task of `prod` (disabled ones too), as `cairn tasks -o json` prints them.
    async fn tasks(&self) -> Vec<Value> {
        let doc = self
            .cairn(&["tasks", "-c", "prod", "--all", "-o", "json"])
            .await
            .json("tasks -o json");
        doc.as_array().cloned().expect("a list of tasks")
    }

    /// The task named `name`, as `cairn tasks -o json` prints it.
    async fn task(&self, name: &str) -> Value {
        self.tasks()
            .await
            .into_iter()
            .find(|t| t["name"] == json!(name))
            .unwrap_or_else(|| panic!("no task {name}"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_tasks_are_created_from_flags_dry_run_and_refused_in_one_line() {
    let s = BackupSetup::new().await;

    // Created with sctool's flags: `backup/NAME` printed, the flags stored as given.
    let created = s
        .cairn(&[
            "backup",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-K",
            "store",
            "-K",
            "telemetry.*",
            "--dc",
            "dc1,dc2",
            "--retention",
            "5",
            "--retention-days",
            "7",
            "--rate-limit",
            "dc1:50",
            "--rate-limit",
            "20",
            "--rate-limit-total",
            "dc2:30",
            "--snapshot-parallel",
            "dc1:1",
            "--upload-parallel",
            "2",
            "--transfers",
            "4",
            "--skip-schema",
            "--interval",
            "12h",
            "--start-date",
            "now+1h",
            "--window",
            "*-22:00,*-06:00",
            "--timezone",
            "UTC",
            "--num-retries",
            "1",
            "--retry-wait",
            "5m",
            "--enabled",
            "false",
            "--name",
            "nightly",
        ])
        .await;
    assert_eq!(created.ok("backup create"), "backup/nightly\n");
    let task = s.task("nightly").await;
    assert_eq!(
        task["properties"],
        json!({
            "location": ["localstorage:bkt"],
            "keyspace": ["store", "telemetry.*"],
            "dc": ["dc1", "dc2"],
            "retention": 5,
            "retention_days": 7,
            "rate_limit": ["dc1:50", "20"],
            "rate_limit_total": ["dc2:30"],
            "snapshot_parallel": ["dc1:1"],
            "upload_parallel": ["2"],
            "transfers": 4,
            "skip_schema": true,
        })
    );
    assert_eq!(task["enabled"], json!(false));
    let schedule = &task["schedule"];
    assert_eq!(schedule["interval_seconds"], json!(12 * 3600), "{schedule}");
    assert_eq!(schedule["window"], json!(["*-22:00", "*-06:00"]));
    assert_eq!(schedule["num_retries"], json!(1));
    assert_eq!(schedule["retry_wait_seconds"], json!(300));
    assert!(schedule["start_date"].is_string(), "{schedule}");

    // Updated: only the flags given change; the other properties stay.
    let updated = s
        .cairn(&[
            "backup",
            "update",
            "-c",
            "prod",
            "nightly",
            "--retention",
            "2",
        ])
        .await;
    assert_eq!(updated.ok("backup update"), "backup/nightly\n");
    let task = s.task("nightly").await;
    assert_eq!(task["properties"]["retention"], json!(2));
    assert_eq!(task["properties"]["transfers"], json!(4));
    assert_eq!(task["schedule"]["interval_seconds"], json!(12 * 3600));
    let nothing = s
        .cairn(&["backup", "update", "-c", "prod", "nightly"])
        .await;
    nothing.one_line_error("update without flags");

    // The dry run prints the target and creates nothing.
    let before = s.tasks().await.len();
    let dry = s
        .cairn(&[
            "backup",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-K",
            "store",
            "--rate-limit",
            "dc1:50",
            "--dry-run",
            "--show-tables",
        ])
        .await;
    let text = dry.ok("dry run");
    let hosts: Vec<String> = s
        .cluster
        .emulator
        .nodes()
        .iter()
        .map(|n| n.address.clone())
        .collect();
    for h in &hosts {
        assert!(text.contains(h.as_str()), "{h} in:\n{text}");
    }
    for expected in [
        "Data Centers:",
        "  - dc1: ",
        "  - dc2: ",
        // The dataset's view and index view are left out, so the unit no longer covers all of
        // store's tables.
        "Keyspaces:\n  - store (3 tables): customers, order_items, orders",
        "Disk size: ~",
        "Locations:\n  - dc1: localstorage:bkt",
        "  - dc1: 50MiB/s per host",
        "Retention Policy:\n  - Last 3 backups",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(!text.contains("telemetry"), "only store:\n{text}");
    let store_line = text.lines().find(|l| l.starts_with("  - store")).unwrap();
    assert!(store_line.contains("): "), "tables named: {store_line}");
    let doc = s
        .cairn(&[
            "backup",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "--dry-run",
            "-o",
            "json",
        ])
        .await
        .json("dry run -o json");
    assert!(doc["size"].as_u64().is_some(), "{doc}");
    assert_eq!(doc["dc"], json!(["dc1", "dc2"]));
    assert_eq!(s.tasks().await.len(), before, "the dry run created nothing");

    // Bad input: one line naming the field, nothing created.
    for (args, field) in [
        (vec!["-L", "nowhere"], "location"),
        (vec!["-L", "localstorage:bkt", "-K", "store.["], "keyspace"),
        (
            vec!["-L", "localstorage:bkt", "--cron", "61 * * *"],
            "schedule.cron",
        ),
        (
            vec!["-L", "localstorage:bkt", "--retention", "-1"],
            "retention",
        ),
    ] {
        let mut all = vec!["backup", "-c", "prod"];
        all.extend(&args);
        let run = s.cairn(&all).await;
        let line = run.one_line_error(&format!("{args:?}"));
        assert!(line.contains(field), "{args:?}: {line}");
        assert_eq!(run.code, 1, "{args:?}: refused by the manager");
    }
    assert_eq!(s.tasks().await.len(), before, "nothing created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_is_listed_its_files_shown_and_deleted() {
    let s = BackupSetup::new().await;
    s.backup_now("now").await;

    // Listed: one snapshot of the task on every node.
    let list = s.cairn(&["backup", "list", "-c", "prod"]).await;
    let text = list.ok("backup list");
    let mut lines = text.lines();
    let header: Vec<_> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["TASK", "SNAPSHOT", "NODES", "SIZE", "KEYSPACES"]);
    let rows: Vec<Vec<&str>> = lines
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0][0], "backup/now");
    let tag = rows[0][1].to_string();
    assert!(tag.starts_with("sm_") && tag.ends_with("UTC"), "{tag}");
    assert_eq!(rows[0][2], "3");
    assert!(rows[0][4].starts_with("store("), "{:?}", rows[0]);
    let doc = s
        .cairn(&[
            "backup",
            "list",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-o",
            "json",
        ])
        .await
        .json("backup list -o json");
    assert_eq!(
        doc["backups"][0]["snapshot_info"][0]["snapshot_tag"],
        json!(tag)
    );
    assert_eq!(doc["skipped"], json!([]), "nothing skipped");

    // Files: one line per file, each in the bucket.
    let files = s
        .cairn(&["backup", "files", "-c", "prod", "-T", &tag])
        .await;
    let text = files.ok("backup files");
    let mut data = 0;
    for line in text.lines() {
        let (url, table) = line.split_once("  ").unwrap_or((line, ""));
        let rel = url
            .strip_prefix("localstorage:bkt/")
            .unwrap_or_else(|| panic!("a bucket path: {line}"));
        assert!(s.bucket.join(rel).is_file(), "{rel} exists");
        if table.starts_with("store/") {
            data += 1;
        }
    }
    assert!(data > 0, "data files listed:\n{text}");
    let with_version = s
        .cairn(&[
            "backup",
            "files",
            "-c",
            "prod",
            "-T",
            &tag,
            "--with-version",
        ])
        .await;
    let line = with_version
        .ok("files --with-version")
        .lines()
        .find(|l| l.contains("  store/"))
        .unwrap()
        .to_string();
    assert_eq!(
        line.rsplit("  ").next().unwrap().split('/').count(),
        3,
        "{line}"
    );
    let doc = s
        .cairn(&["backup", "files", "-c", "prod", "-T", &tag, "-o", "json"])
        .await
        .json("files -o json");
    assert_eq!(
        doc["files"].as_array().map(Vec::len),
        Some(3),
        "a manifest per node"
    );

    another_clusters_odd_manifests_are_read_through_the_manager(&s, &tag).await;

    // Unknown tag: one line, not found.
    let unknown = s
        .cairn(&[
            "backup",
            "files",
            "-c",
            "prod",
            "-T",
            "sm_20000101000000UTC",
        ])
        .await;
    unknown.one_line_error("files of an unknown tag");
    let unknown = s
        .cairn(&[
            "backup",
            "delete",
            "-c",
            "prod",
            "-T",
            "sm_20000101000000UTC",
        ])
        .await;
    unknown.one_line_error("delete of an unknown tag");
    assert_eq!(unknown.code, 4, "not found");

    // Deleted: no sst file left in the bucket, and the list is empty.
    let deleted = s
        .cairn(&["backup", "delete", "-c", "prod", "-T", &tag])
        .await;
    assert!(
        deleted
            .ok("backup delete")
            .starts_with(&format!("deleted {tag} (3 node manifests, ")),
        "{}",
        deleted.stdout
    );
    let left: Vec<_> = files_under(&s.bucket)
        .into_iter()
        .filter(|f| f.contains("/sst/"))
        .collect();
    assert!(left.is_empty(), "sst files left: {left:?}");
    let list = s.cairn(&["backup", "list", "-c", "prod"]).await;
    assert_eq!(
        list.ok("list after delete").lines().count(),
        1,
        "{}",
        list.stdout
    );

    // Local snapshots: every node listed.
    let local = s
        .cairn(&[
            "backup",
            "delete",
            "local-snapshot",
            "-c",
            "prod",
            "-o",
            "json",
        ])
        .await
        .json("delete local-snapshot");
    assert_eq!(local["hosts"].as_array().map(Vec::len), Some(3), "{local}");
}

/// Another cluster's snapshot in prod's bucket, with odd and damaged manifests: listed through
/// prod's agents with --query-cluster-id and --all-clusters, the damaged manifest named; dates
/// relative to now; sctool's file lines.
async fn another_clusters_odd_manifests_are_read_through_the_manager(s: &BackupSetup, tag: &str) {
    let odd = "0b5e1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    let damaged = write_odd_manifests(&s.bucket, odd);
    let header = ["TASK", "SNAPSHOT", "NODES", "SIZE", "KEYSPACES"];
    let list = |extra: &'static [&'static str]| async move {
        s.cairn(&[&["backup", "list", "-c", "prod"][..], extra].concat())
            .await
    };

    // prod's own listing does not read the other cluster's manifests.
    let own = list(&[]).await;
    assert_eq!(table_rows(own.ok("prod's list"), &header).len(), 1);
    let theirs = s
        .cairn(&["backup", "list", "-c", "prod", "--query-cluster-id", odd])
        .await;
    theirs.partial(&damaged, "list --query-cluster-id");
    assert_eq!(
        table_rows(&theirs.stdout, &header),
        [[
            format!("{odd}/{ODD_TASK}"),
            ODD_TAG.to_string(),
            "4".to_string(),
            "200 B".to_string(),
            "shop(1)".to_string()
        ]],
        "the v2, future, v3 and version-less manifests; not the empty one"
    );
    let json = list(&["--all-clusters", "-o", "json"]).await;
    json.partial(&damaged, "list --all-clusters -o json");
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["backups"].as_array().map(Vec::len), Some(2), "{doc}");
    assert_eq!(doc["skipped"][0]["path"], json!(damaged));
    assert_eq!(doc["skipped"][0]["location"], json!("localstorage:bkt"));

    // prod's backup was taken just now.
    let recent = list(&["--min-date", "now-1h", "--max-date", "now+1h"]).await;
    let rows = table_rows(recent.ok("list --min-date now-1h"), &header);
    assert_eq!(rows.len(), 1, "{}", recent.stdout);
    assert_eq!(rows[0][1], tag);
    let later = list(&["--min-date", "now+1h"]).await;
    assert!(table_rows(later.ok("--min-date now+1h"), &header).is_empty());
    let bad = list(&["--max-date", "soon"]).await;
    let line = bad.one_line_error("--max-date soon");
    assert_eq!(bad.code, 1, "{line}");
    assert!(
        line.contains("--max-date") && line.contains("soon"),
        "{line}"
    );

    // The other cluster's files as sctool prints them, byte for byte.
    let files = s
        .cairn(&[
            "backup",
            "files",
            "-c",
            "prod",
            "--query-cluster-id",
            odd,
            "-T",
            ODD_TAG,
            "--sctool",
        ])
        .await;
    files.partial(&damaged, "files --sctool");
    let mut expected = format!(
        "localstorage://bkt/backup/schema/cluster/{odd}/task_{ODD_TASK}_tag_{ODD_TAG}_schema.tar.gz \t ./\n"
    );
    for (node, file) in [
        ("n1", "mc-1-big-Data.db"),
        ("n1", "mc-1-big-TOC.txt"),
        ("n2", "mc-2-big-Data.db"),
        ("n3", "mc-3-big-Data.db"),
        ("n4", "mc-4-big-Data.db"),
    ] {
        expected.push_str(&format!(
            "localstorage://bkt/backup/sst/cluster/{odd}/dc/dc1/node/{node}/keyspace/shop/table/orders/{ODD_VERSION}/{file} \t shop/orders\n"
        ));
    }
    assert_eq!(files.stdout, expected);
    let all = s
        .cairn(&[
            "backup",
            "files",
            "-c",
            "prod",
            "--all-clusters",
            "-T",
            ODD_TAG,
        ])
        .await;
    all.partial(&damaged, "files --all-clusters");
    assert_eq!(all.stdout.lines().count(), 6, "{}", all.stdout);
}
