//! `cairn progress` as a user runs it: the real binary against a real `cairn manager` process
//! backing up an emulated `dc1:2,dc2:1` cluster through real agents to a `localstorage:bkt`
//! location. The tests check what a user sees: the header, the per-host and per-table tables,
//! `--watch` returning when the run ends, valid JSON with `-o json`, the hosts and tables
//! `--host` and `-K` keep, one-line errors.

mod common;

use common::cli::{BackupSetup, cells};
use reqwest::Method;
use serde_json::{Value, json};

impl BackupSetup {
    /// Creates the disabled backup task `name` of keyspace `store` to `location`.
    async fn create_task(&self, name: &str, location: &str) {
        let (status, body) = self
            .manager
            .call(
                Method::POST,
                "/api/v1/cluster/prod/tasks",
                Some(json!({"type": "backup", "name": name, "enabled": false,
                    "properties": {"location": [location], "keyspace": ["store"]}})),
            )
            .await;
        assert_eq!(status, 201, "create task: {body}");
    }

    /// The emulated nodes' addresses.
    fn hosts(&self) -> Vec<String> {
        self.cluster
            .emulator
            .nodes()
            .iter()
            .map(|n| n.address.clone())
            .collect()
    }
}

/// The value of a `Label:  value` header line of the view.
fn header<'a>(view: &'a str, label: &str) -> &'a str {
    view.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{view}"))
}

/// The data lines of the table under the line starting with `first`, split on runs of two or
/// more spaces; the table ends at an empty line.
fn table_after(view: &str, first: &str) -> Vec<Vec<String>> {
    let mut lines = view.lines().skip_while(|l| !l.starts_with(first));
    assert!(lines.next().is_some(), "no {first:?} table in:\n{view}");
    lines.take_while(|l| !l.is_empty()).map(cells).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_is_watched_to_the_end_and_shown_with_hosts_tables_and_json() {
    let s = BackupSetup::new().await;
    s.create_task("nightly", "localstorage:bkt").await;
    let run_id = s
        .cairn(&["start", "-c", "prod", "backup/nightly"])
        .await
        .ok("start")
        .trim()
        .to_string();

    // --watch returns once the run is DONE, exit 0, with the final view.
    let watched = s
        .cairn(&["progress", "-c", "prod", "backup/nightly", "--watch"])
        .await;
    let out = watched.ok("progress --watch");
    let view = &out[out.find("Run:").expect("the final view")..];
    assert_eq!(header(view, "Run"), run_id);
    assert_eq!(header(view, "Status"), "DONE");
    assert_eq!(header(view, "Progress"), "100%");
    assert!(header(view, "Snapshot Tag").starts_with("sm_"), "{view}");
    assert_eq!(header(view, "Datacenters"), "dc1, dc2");
    assert!(header(view, "End time").ends_with("UTC"), "{view}");
    let rows = table_after(view, "HOST");
    let mut shown: Vec<_> = rows.iter().map(|r| r[0].clone()).collect();
    shown.sort();
    let mut hosts = s.hosts();
    hosts.sort();
    assert_eq!(shown, hosts, "every host:\n{view}");
    for r in &rows {
        assert_eq!(r.len(), 6, "{r:?}");
        assert_eq!(r[1], "100%", "{view}");
        assert_eq!(r[5], "0 B", "nothing failed: {view}");
    }
    // The lines printed while the run went on (if it was still running) are plain lines.
    for l in out[..out.find("Run:").unwrap()].lines() {
        let status = l.split_whitespace().next().unwrap_or_default();
        assert!(
            !status.is_empty() && status.chars().all(|c| c.is_ascii_uppercase()),
            "a status first: {l:?}"
        );
        assert!(!l.contains('\x1b'), "no escapes off a terminal: {l:?}");
    }

    // Without --watch: the same view of the latest run, by name alone.
    let shown = s.cairn(&["progress", "-c", "prod", "nightly"]).await;
    let view = shown.ok("progress");
    assert_eq!(header(view, "Run"), run_id);
    assert_eq!(table_after(view, "HOST").len(), 3, "{view}");
    assert!(
        !view.contains("KEYSPACE"),
        "no details unless asked: {view}"
    );

    // --details: a table of the tables backed up under every host, with their times.
    let detailed = s
        .cairn(&[
            "progress",
            "-c",
            "prod",
            "nightly",
            "--details",
            "--run",
            &run_id,
        ])
        .await;
    let view = detailed.ok("progress --details");
    for h in &hosts {
        let rows = table_after(view, &format!("Host: {h}"));
        // The line after `Host:` is the header; skip it.
        assert!(rows.len() >= 2, "{view}");
        assert_eq!(
            rows[0],
            [
                "KEYSPACE",
                "TABLE",
                "PROGRESS",
                "SIZE",
                "SUCCESS",
                "DEDUPLICATED",
                "FAILED",
                "STARTED AT",
                "COMPLETED AT"
            ]
        );
        assert!(rows[1..].iter().any(|r| r[0] == "store"), "{view}");
        for r in &rows[1..] {
            // The schema tables go with every backup.
            assert!(
                ["store", "system_schema"].contains(&r[0].as_str()),
                "{view}"
            );
            assert_eq!(r[2], "100%", "{view}");
            assert!(r[8].ends_with("UTC"), "completed: {view}");
        }
    }

    // -o json: the manager's document.
    let doc: Value = serde_json::from_str(
        s.cairn(&["progress", "-c", "prod", "nightly", "-o", "json"])
            .await
            .ok("progress -o json"),
    )
    .expect("JSON");
    assert_eq!(doc["run"]["id"], json!(run_id));
    assert_eq!(doc["run"]["status"], json!("DONE"));
    assert_eq!(doc["progress"]["hosts"].as_array().map(Vec::len), Some(3));
    let watched: Value = serde_json::from_str(
        s.cairn(&["progress", "-c", "prod", "nightly", "--watch", "-o", "json"])
            .await
            .ok("progress --watch -o json"),
    )
    .expect("JSON alone on stdout");
    assert_eq!(watched["run"]["status"], json!("DONE"));

    // --host keeps the hosts whose address matches; the run's progress stays whole.
    let one = &hosts[0];
    let filtered = s
        .cairn(&["progress", "-c", "prod", "nightly", "--host", one])
        .await;
    let view = filtered.ok("progress --host");
    assert_eq!(header(view, "Progress"), "100%");
    assert_eq!(header(view, "Filter"), format!("--host {one}"));
    let rows = table_after(view, "HOST");
    assert_eq!(rows.len(), 1, "{view}");
    assert_eq!(&rows[0][0], one, "{view}");
    let others = format!("*,!{one}");
    let view = s
        .cairn(&[
            "progress", "-c", "prod", "nightly", "--host", &others, "--watch",
        ])
        .await;
    let rows = table_after(view.ok("progress --host --watch"), "HOST");
    assert_eq!(rows.len(), 2, "{}", view.stdout);
    assert!(rows.iter().all(|r| &r[0] != one), "{}", view.stdout);
    let doc: Value = serde_json::from_str(
        s.cairn(&[
            "progress", "-c", "prod", "nightly", "--host", one, "-o", "json",
        ])
        .await
        .ok("progress --host -o json"),
    )
    .expect("JSON");
    assert_eq!(doc["progress"]["hosts"].as_array().map(Vec::len), Some(1));
    assert_eq!(doc["progress"]["hosts"][0]["host"], json!(one));

    // A pattern matching no host: the header and a line saying so, not an error.
    let none = s
        .cairn(&["progress", "-c", "prod", "nightly", "--host", "192.0.2.*"])
        .await;
    let view = none.ok("progress --host unmatched");
    assert_eq!(header(view, "Status"), "DONE");
    assert!(
        view.ends_with("\nno host matches --host 192.0.2.*\n"),
        "{view}"
    );
    assert!(!view.contains("HOST"), "{view}");

    // -K keeps the keyspaces and tables that match; the hosts' figures count those only.
    let detailed = s
        .cairn(&[
            "progress",
            "-c",
            "prod",
            "nightly",
            "--details",
            "-K",
            "store",
            "--host",
            one,
        ])
        .await;
    let view = detailed.ok("progress -K --details");
    assert_eq!(header(view, "Progress"), "100%");
    let per_table = table_after(view, &format!("Host: {one}"));
    assert!(per_table.len() >= 2, "{view}");
    assert!(per_table[1..].iter().all(|r| r[0] == "store"), "{view}");
    let whole: Value = serde_json::from_str(
        s.cairn(&["progress", "-c", "prod", "nightly", "-o", "json"])
            .await
            .ok("progress -o json"),
    )
    .expect("JSON");
    let store_size: u64 = whole["progress"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["host"] == json!(one))
        .flat_map(|h| h["keyspaces"].as_array().unwrap())
        .filter(|k| k["keyspace"] == "store")
        .map(|k| k["size"].as_u64().unwrap())
        .sum();
    let doc: Value = serde_json::from_str(
        s.cairn(&[
            "progress", "-c", "prod", "nightly", "-K", "store", "--host", one, "-o", "json",
        ])
        .await
        .ok("progress -K -o json"),
    )
    .expect("JSON");
    let host = &doc["progress"]["hosts"][0];
    assert_eq!(host["size"], json!(store_size), "{host}");
    assert_eq!(
        host["keyspaces"].as_array().map(Vec::len),
        Some(1),
        "{host}"
    );
    assert_eq!(
        doc["progress"]["size"], whole["progress"]["size"],
        "the run stays whole"
    );
    let none = s
        .cairn(&["progress", "-c", "prod", "nightly", "-K", "nosuch"])
        .await;
    assert!(
        none.ok("progress -K unmatched")
            .ends_with("\nno keyspace or table matches -K nosuch\n"),
        "{}",
        none.stdout
    );

    // A bad glob: one line naming the flag.
    for (flag, pattern) in [("--host", "10.[0"), ("-K", "store.{a")] {
        let r = s
            .cairn(&["progress", "-c", "prod", "nightly", flag, pattern])
            .await;
        let line = r.one_line_error("a bad glob");
        assert!(line.contains(flag), "{line}");
        assert_eq!(r.code, 2, "{line}");
    }

    // A validate run's view: the node directories the host checked, the run's summary whole.
    let created = s
        .cairn(&[
            "backup",
            "validate",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "--name",
            "check",
            "--enabled",
            "false",
        ])
        .await;
    assert_eq!(created.ok("validate create"), "validate_backup/check\n");
    s.cairn(&["start", "-c", "prod", "validate_backup/check"])
        .await
        .ok("start validate");
    let task = "validate_backup/check";
    let whole = s.cairn(&["progress", "-c", "prod", task, "--watch"]).await;
    let whole = whole.ok("validate progress --watch");
    let summary = |view: &str| {
        view.lines()
            .find(|l| l.contains(" manifests, "))
            .unwrap_or_else(|| panic!("a summary line in:\n{view}"))
            .to_string()
    };
    assert_eq!(table_after(whole, "NODE").len(), 3, "{whole}");
    let shown = s
        .cairn(&["progress", "-c", "prod", task, "--host", one])
        .await;
    let view = shown.ok("validate progress --host");
    let rows = table_after(view, "NODE");
    assert_eq!(rows.len(), 1, "{view}");
    assert_eq!(&rows[0][2], one, "checked by the host: {view}");
    assert_eq!(
        summary(view),
        summary(whole),
        "the run's summary stays whole"
    );
    let none = s
        .cairn(&["progress", "-c", "prod", task, "--host", "192.0.2.*"])
        .await;
    let view = none.ok("validate progress --host unmatched");
    assert!(
        view.contains("\nno host matches --host 192.0.2.*\n"),
        "{view}"
    );
    assert!(!view.contains("NODE"), "{view}");

    // Unknown tasks and runs: one line, non-zero.
    for (args, code) in [
        (vec!["progress", "-c", "prod", "backup/nosuch"], 4),
        (vec!["progress", "-c", "nosuch", "nightly"], 4),
        (
            vec![
                "progress",
                "-c",
                "prod",
                "nightly",
                "--run",
                "00000000-0000-0000-0000-000000000000",
            ],
            4,
        ),
    ] {
        let r = s.cairn(&args).await;
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{args:?}");
        let lines: Vec<_> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    }
    let r = s.cairn(&["progress", "-c", "prod", "backup/nosuch"]).await;
    assert!(r.stderr.contains("nosuch"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn watching_a_run_that_fails_ends_non_zero_with_the_final_view_and_the_cause() {
    let s = BackupSetup::new().await;
    // The bucket's directory is replaced by a file after the task is created: the run fails.
    s.create_task("broken", "localstorage:bkt").await;
    std::fs::remove_dir_all(&s.bucket).unwrap();
    std::fs::write(&s.bucket, b"not a directory").unwrap();
    let run_id = s
        .cairn(&["start", "-c", "prod", "backup/broken"])
        .await
        .ok("start")
        .trim()
        .to_string();
    let r = s
        .cairn(&["progress", "-c", "prod", "broken", "--watch"])
        .await;
    assert_eq!(r.code, 7, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let view = &r.stdout[r.stdout.find("Run:").expect("the final view")..];
    assert_eq!(header(view, "Run"), run_id);
    assert_eq!(header(view, "Status"), "ERROR");
    assert!(!header(view, "Cause").is_empty(), "{view}");
    let lines: Vec<_> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("error: run {run_id} ended ERROR: ")),
        "{}",
        lines[0]
    );
}
