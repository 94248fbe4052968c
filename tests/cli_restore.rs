//! `cairn restore ...` as a user runs it: the real binary against a real `cairn manager` process
//! over an emulated `dc1:2,dc2:1` cluster with real agents serving a `localstorage:bkt` location.
//! The tests check what a user sees: `restore/NAME` for a new task with its flags stored, every
//! refusal in one line naming the field (creating nothing), updates that may change only the
//! changeable properties, and the dry run of a real backup: its table, its JSON, its exit status.

mod common;

use common::cli::BackupSetup;
use serde_json::{Value, json};

/// A tag no backup has.
const NO_SUCH_TAG: &str = "sm_20200101000000UTC";

impl BackupSetup {
    /// The restore tasks of `prod` (disabled ones too), as `cairn tasks -o json` prints them.
    async fn restore_tasks(&self) -> Vec<Value> {
        let doc = self
            .cairn(&[
                "tasks", "-c", "prod", "--all", "--type", "restore", "-o", "json",
            ])
            .await
            .json("tasks -o json");
        doc.as_array().cloned().expect("a list of tasks")
    }

    /// The restore task named `name`.
    async fn restore_task(&self, name: &str) -> Value {
        self.restore_tasks()
            .await
            .into_iter()
            .find(|t| t["name"] == json!(name))
            .unwrap_or_else(|| panic!("no restore task {name}"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_tasks_are_created_from_flags_refused_by_field_and_updated_within_the_rules() {
    let s = BackupSetup::new().await;

    // Created with sctool's flags: `restore/NAME` printed, the flags stored as given.
    let created = s
        .cairn(&[
            "restore",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-T",
            NO_SUCH_TAG,
            "--restore-tables",
            "-K",
            "store.*",
            "--batch-size",
            "3",
            "--parallel",
            "1",
            "--transfers",
            "-1",
            "--rate-limit",
            "dc1:50",
            "--allow-compaction",
            "--dc-mapping",
            "dc1=dc1,dc2=dc2",
            "--enabled=false",
            "--name",
            "tables",
        ])
        .await;
    assert_eq!(created.ok("restore create"), "restore/tables\n");
    let task = s.restore_task("tables").await;
    assert_eq!(task["type"], json!("restore"));
    assert_eq!(task["enabled"], json!(false));
    assert_eq!(
        task["properties"],
        json!({
            "location": ["localstorage:bkt"],
            "snapshot_tag": NO_SUCH_TAG,
            "restore_tables": true,
            "keyspace": ["store.*"],
            "batch_size": 3,
            "parallel": 1,
            "transfers": -1,
            "rate_limit": ["dc1:50"],
            "allow_compaction": true,
            "dc_mapping": {"dc1": "dc1", "dc2": "dc2"},
        })
    );
    // `-o json` prints the stored task.
    let doc = s
        .cairn(&[
            "restore",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-T",
            NO_SUCH_TAG,
            "--restore-schema",
            "--enabled",
            "false",
            "--name",
            "schema",
            "-o",
            "json",
        ])
        .await
        .json("restore create -o json");
    assert_eq!(doc["name"], json!("schema"));
    assert_eq!(doc["properties"]["restore_schema"], json!(true));
    let listed = s.cairn(&["tasks", "-c", "prod", "--all"]).await;
    let listed = listed.ok("tasks");
    assert!(listed.contains("restore/tables"), "{listed}");
    assert!(listed.contains("restore/schema"), "{listed}");

    // Bad input: one line naming the field, nothing created.
    let before = s.restore_tasks().await.len();
    let base = ["-L", "localstorage:bkt", "-T", NO_SUCH_TAG];
    for (args, field) in [
        (vec!["-T", NO_SUCH_TAG, "--restore-tables"], "location"),
        (
            vec!["-L", "localstorage:bkt", "--restore-tables"],
            "snapshot_tag",
        ),
        (
            vec![
                "-L",
                "localstorage:bkt",
                "-T",
                "sm_2025",
                "--restore-tables",
            ],
            "snapshot_tag",
        ),
        (
            vec![
                "-L",
                "localstorage:bkt",
                "-L",
                "localstorage:bkt",
                "-T",
                NO_SUCH_TAG,
                "--restore-tables",
            ],
            "location[1]",
        ),
        (
            vec!["-L", "nowhere", "-T", NO_SUCH_TAG, "--restore-tables"],
            "location[0]",
        ),
        (
            [&base[..], &["--restore-tables", "--batch-size", "-1"]].concat(),
            "batch_size",
        ),
        (
            [&base[..], &["--restore-tables", "--parallel", "-5"]].concat(),
            "parallel",
        ),
        (
            [&base[..], &["--restore-tables", "--transfers", "-2"]].concat(),
            "transfers",
        ),
        (
            [&base[..], &["--restore-tables", "--method", "native"]].concat(),
            "method",
        ),
        (
            [&base[..], &["--restore-tables", "--rate-limit", "dc9:5"]].concat(),
            "rate_limit",
        ),
        (
            [&base[..], &["--restore-tables", "--dc-mapping", "dc1=mars"]].concat(),
            "dc_mapping.dc1",
        ),
        (base.to_vec(), "restore_tables"),
        (
            [&base[..], &["--restore-schema", "-K", "store"]].concat(),
            "keyspace",
        ),
        (
            [&base[..], &["--restore-tables", "--cron", "61 * * *"]].concat(),
            "schedule.cron",
        ),
    ] {
        let mut all = vec!["restore", "-c", "prod"];
        all.extend(args.iter().copied());
        let line = s.cairn(&all).await;
        let line = line.one_line_error(field);
        assert!(line.contains(field), "{field}: {line}");
    }
    let native = s
        .cairn(
            &[
                &["restore", "-c", "prod"][..],
                &base,
                &["--restore-tables", "--method", "native"],
            ]
            .concat(),
        )
        .await;
    let native = native.one_line_error("native");
    assert!(native.contains("not supported: use rclone"), "{native}");
    assert!(
        native.contains("invalid restore task properties"),
        "{native}"
    );
    assert_eq!(s.restore_tasks().await.len(), before, "nothing created");

    // Updated: the changeable flags change, the others stay.
    let updated = s
        .cairn(&[
            "restore",
            "update",
            "-c",
            "prod",
            "tables",
            "--batch-size",
            "7",
            "--parallel",
            "2",
            "--rate-limit",
            "20",
            "--method",
            "auto",
            "--name",
            "tables2",
        ])
        .await;
    assert_eq!(updated.ok("restore update"), "restore/tables2\n");
    let task = s.restore_task("tables2").await;
    assert_eq!(task["properties"]["batch_size"], json!(7));
    assert_eq!(task["properties"]["parallel"], json!(2));
    assert_eq!(task["properties"]["rate_limit"], json!(["20"]));
    assert_eq!(task["properties"]["method"], json!("auto"));
    assert_eq!(task["properties"]["keyspace"], json!(["store.*"]));

    // ... but never location, tag, keyspace, type or dc_mapping: refused naming the field.
    for (args, field) in [
        (vec!["-L", "dc1:localstorage:bkt"], "location"),
        (vec!["-T", "sm_20210101000000UTC"], "snapshot_tag"),
        (vec!["-K", "other"], "keyspace"),
        (vec!["--dc-mapping", "dc1=dc2"], "dc_mapping"),
        (vec!["--restore-schema"], "restore_tables"),
    ] {
        let mut all = vec!["restore", "update", "-c", "prod", "restore/tables2"];
        all.extend(args.iter().copied());
        let line = s.cairn(&all).await;
        let line = line.one_line_error(field);
        assert!(
            line.contains(field) && line.contains("cannot change"),
            "{field}: {line}"
        );
    }
    let task = s.restore_task("tables2").await;
    assert_eq!(task["properties"]["location"], json!(["localstorage:bkt"]));
    assert_eq!(task["properties"]["snapshot_tag"], json!(NO_SUCH_TAG));
    let nothing = s
        .cairn(&["restore", "update", "-c", "prod", "tables2"])
        .await;
    nothing.one_line_error("update without flags");

    // A restore task is started, stopped and deleted as a backup task is.
    let deleted = s
        .cairn(&["stop", "-c", "prod", "--delete", "restore/schema"])
        .await;
    deleted.ok("stop --delete");
    assert!(
        s.restore_tasks()
            .await
            .iter()
            .all(|t| t["name"] != json!("schema")),
        "deleted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_of_a_backup_prints_what_would_be_restored_and_fails_on_problems() {
    let s = BackupSetup::new().await;
    s.backup_now("nightly").await;
    let run = s.wait_run("nightly").await;
    let tag = run["progress"]["snapshot_tag"]
        .as_str()
        .expect("the backup's tag")
        .to_string();
    let before = s.restore_tasks().await.len();

    // Into the cluster it came from: its tables exist, so nothing stops the restore.
    let dry = s
        .cairn(&[
            "restore",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-T",
            &tag,
            "--restore-tables",
            "-K",
            "store",
            "--dry-run",
            "--show-tables",
        ])
        .await;
    let text = dry.ok("dry run");
    assert!(
        text.starts_with(&format!("Snapshot Tag: {tag}\n")),
        "{text}"
    );
    let tables = common::cli::table_rows(text, &["KEYSPACE", "TABLE", "SIZE", "TOMBSTONE_GC"]);
    assert!(
        tables.iter().any(|r| r[0] == "store" && r[1] == "orders"),
        "{text}"
    );
    let hosts = common::cli::table_rows(text, &["HOST", "DC", "SHARDS", "SHARE", "FREE", "OK"]);
    assert_eq!(hosts.len(), s.cluster.emulator.nodes().len(), "{text}");
    assert!(hosts.iter().all(|h| h[5] == "ok"), "{text}");
    assert!(text.contains("missing or of another size: 0"), "{text}");
    assert!(
        text.ends_with("No problems: the restore would go ahead.\n"),
        "{text}"
    );

    // `-o json` prints the report.
    let doc = s
        .cairn(&[
            "restore",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-T",
            &tag,
            "--restore-tables",
            "-K",
            "store",
            "--dry-run",
            "-o",
            "json",
        ])
        .await
        .json("dry run -o json");
    assert_eq!(doc["problems"], json!([]), "{doc}");
    assert!(doc["objects_checked"].as_u64().unwrap_or(0) > 0, "{doc}");

    // An object gone from the bucket: the dry run names it and exits with the invalid status.
    let data = common::cli::files_under(&s.bucket)
        .into_iter()
        .find(|f| f.contains("/sst/") && f.ends_with("-Data.db") && f.contains("orders"))
        .expect("a Data.db file of orders in the bucket");
    std::fs::remove_file(s.bucket.join(&data)).unwrap();
    let dry = s
        .cairn(&[
            "restore",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-T",
            &tag,
            "--restore-tables",
            "-K",
            "store",
            "--dry-run",
        ])
        .await;
    assert_eq!(dry.code, 1, "{}\n{}", dry.stdout, dry.stderr);
    let name = data.rsplit('/').next().unwrap();
    assert!(dry.stdout.contains(name), "{name} in:\n{}", dry.stdout);
    assert!(dry.stdout.contains("Problems:"), "{}", dry.stdout);
    assert!(
        dry.stderr.contains("the restore would fail"),
        "{}",
        dry.stderr
    );
    assert_eq!(
        s.restore_tasks().await.len(),
        before,
        "the dry run created nothing"
    );
}
