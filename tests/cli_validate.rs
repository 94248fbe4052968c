//! `cairn backup validate` as an operator runs it: two real backups through a real manager into a
//! directory bucket (so the snapshots share files), then the offline check of the bucket —
//! healthy, then with one fault at a time (a deleted `Data.db`, a truncated `Index.db`, a flipped
//! byte under `--content digest`, a `TOC.txt` naming an absent component, an orphan), the
//! deletion of orphans beside a run that may still resume, and a bucket in ScyllaDB Manager's own
//! layout; then a scheduled validate task through the manager: its dry run, its runs, its tables
//! in `cairn progress`, its status in `cairn tasks`, and its update.

mod common;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cli::{BackupSetup, Run, cairn_with_env, files_under};
use common::sm_layout::write_manager_backup;
use reqwest::Method;
use serde_json::Value;

/// Nothing answers there: the offline check never calls a manager.
const GONE: &str = "http://127.0.0.1:1";

/// The file a run that may still resume uploaded.
const PENDING_BYTES: &[u8] = b"uploaded by a run not yet finished";

/// The header of a location's table.
const NODE_HEADER: [&str; 10] = [
    "NODE",
    "DC",
    "CHECKED BY",
    "MANIFESTS",
    "FILES",
    "MISSING",
    "ORPHANED",
    "ORPHANED BYTES",
    "CHECKED",
    "CORRUPT",
];

/// Runs `cairn backup validate --offline -L localstorage:bkt --storage-config CONFIG ARGS...`.
async fn validate(config: &Path, args: &[&str]) -> Run {
    let mut all = vec![
        "backup",
        "validate",
        "--offline",
        "-L",
        "localstorage:bkt",
        "--storage-config",
        config.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    cairn_with_env(GONE, &all, &[]).await
}

/// The JSON report of a run that printed one (whatever its exit status).
fn report(run: &Run, what: &str) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    })
}

/// The node reports of the report's only location.
fn nodes(doc: &Value) -> &Vec<Value> {
    doc["locations"][0]["nodes"].as_array().expect("nodes")
}

/// The sum of a node counter over the report.
fn total(doc: &Value, key: &str) -> u64 {
    nodes(doc).iter().map(|n| n[key].as_u64().unwrap()).sum()
}

/// Every string of list `key` over the node reports.
fn listed(doc: &Value, key: &str) -> Vec<String> {
    nodes(doc)
        .iter()
        .flat_map(|n| n[key].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

/// The bucket's files with the given suffix under `backup/sst`, sorted.
fn sst_files(bucket: &Path, suffix: &str) -> Vec<String> {
    let mut files: Vec<String> = files_under(bucket)
        .into_iter()
        .filter(|f| f.starts_with("backup/sst/") && f.ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// A file's bytes, for putting them back after a fault.
struct Saved {
    /// The file.
    path: PathBuf,
    /// Its bytes.
    bytes: Vec<u8>,
}

impl Saved {
    /// Saves `path`'s bytes.
    fn of(path: PathBuf) -> Saved {
        let bytes = std::fs::read(&path).unwrap();
        Saved { path, bytes }
    }

    /// Puts the bytes back.
    fn restore(self) {
        std::fs::write(&self.path, &self.bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_validate_finds_each_fault_and_deletes_only_safe_orphans() {
    let s = BackupSetup::new().await;
    s.backup_now("nightly").await;
    s.backup_now("weekly").await;
    let config = s.dir.path().join("agent0/agent.yaml");
    let tags: Vec<String> = {
        let mut t: Vec<String> = files_under(&s.bucket.join("backup/meta"))
            .iter()
            .filter_map(|f| {
                let name = f.rsplit('/').next()?;
                let tag = name.split("_tag_").nth(1)?.split("_manifest").next()?;
                Some(tag.to_string())
            })
            .collect();
        t.sort();
        t.dedup();
        t
    };
    assert_eq!(tags.len(), 2, "two snapshots: {tags:?}");

    // Healthy: exit 0, a row per node, nothing missing; the JSON totals agree.
    let run = validate(&config, &[]).await;
    let text = run.ok("healthy validate");
    let rows = common::cli::table_rows(
        text.lines()
            .skip_while(|l| !l.starts_with("NODE"))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
        &NODE_HEADER,
    );
    let rows: Vec<&Vec<String>> = rows.iter().filter(|r| r.len() == 10).collect();
    assert_eq!(rows.len(), 3, "a row per node:\n{text}");
    for r in &rows {
        assert_eq!(r[2], "offline", "{r:?}");
        assert_eq!(r[3], "2", "two manifests per node: {r:?}");
        assert_eq!(r[5], "0", "nothing missing: {r:?}");
    }
    assert!(
        text.contains(": 0 missing, 0 mis-sized, 0 corrupt"),
        "{text}"
    );
    let doc = report(&validate(&config, &["-o", "json"]).await, "healthy json");
    assert_eq!(nodes(&doc).len(), 3, "{doc}");
    assert_eq!(total(&doc, "manifests"), 6, "{doc}");
    assert_eq!(total(&doc, "missing_files"), 0, "{doc}");
    assert_eq!(total(&doc, "orphaned_files"), 0, "{doc}");
    assert!(total(&doc, "files") > 0, "{doc}");

    // A deleted Data.db: missing, both snapshots (which share it) broken, exit 1.
    let data = sst_files(&s.bucket, "-Data.db");
    let victim = data[0].clone();
    let saved = Saved::of(s.bucket.join(&victim));
    std::fs::remove_file(s.bucket.join(&victim)).unwrap();
    let run = validate(&config, &["-o", "json"]).await;
    assert_eq!(run.code, 1, "a missing file fails: {}", run.stderr);
    assert!(run.stderr.contains("broken snapshots"), "{}", run.stderr);
    let doc = report(&run, "missing Data.db");
    assert_eq!(total(&doc, "missing_files"), 1, "{doc}");
    assert!(
        listed(&doc, "missing").iter().any(|m| m.ends_with(&victim)),
        "{victim} is named: {doc}"
    );
    let mut broken = listed(&doc, "broken_snapshots");
    broken.sort();
    assert_eq!(broken, tags, "both snapshots reference it");
    saved.restore();

    // A truncated Index.db: a size mismatch naming its table dir and snapshots.
    let index = sst_files(&s.bucket, "-Index.db")[0].clone();
    let saved = Saved::of(s.bucket.join(&index));
    std::fs::write(
        s.bucket.join(&index),
        &saved.bytes[..saved.bytes.len().saturating_sub(1)],
    )
    .unwrap();
    let run = validate(&config, &["-o", "json"]).await;
    assert_eq!(run.code, 1, "a mis-sized file fails: {}", run.stderr);
    let doc = report(&run, "truncated Index.db");
    let mismatches: Vec<&Value> = nodes(&doc)
        .iter()
        .flat_map(|n| n["size_mismatches"].as_array().unwrap())
        .collect();
    assert_eq!(mismatches.len(), 1, "{doc}");
    let dir = index.rsplit_once('/').unwrap().0;
    assert!(
        mismatches[0]["dir"].as_str().unwrap().ends_with(dir),
        "{dir}: {doc}"
    );
    assert!(!mismatches[0]["snapshots"].as_array().unwrap().is_empty());
    let text = validate(&config, &[]).await.stdout;
    assert!(text.contains("Size mismatches:"), "{text}");
    saved.restore();

    // One flipped byte in a Data.db (same size) under --content digest: corrupt, kind digest.
    let flipped = data[data.len() - 1].clone();
    let saved = Saved::of(s.bucket.join(&flipped));
    let mut bytes = saved.bytes.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(s.bucket.join(&flipped), &bytes).unwrap();
    // Presence and sizes alone see nothing.
    assert_eq!(validate(&config, &[]).await.code, 0);
    let run = validate(&config, &["--content", "digest", "-o", "json"]).await;
    assert_eq!(run.code, 1, "a corrupt file fails: {}", run.stderr);
    let doc = report(&run, "flipped byte");
    assert_eq!(total(&doc, "corrupt_files"), 1, "{doc}");
    let findings: Vec<&Value> = nodes(&doc)
        .iter()
        .flat_map(|n| n["findings"].as_array().unwrap())
        .collect();
    assert_eq!(findings.len(), 1, "{doc}");
    assert_eq!(findings[0]["kind"], "digest", "{doc}");
    assert!(
        findings[0]["file"].as_str().unwrap().ends_with(&flipped),
        "{flipped}: {doc}"
    );
    let text = validate(&config, &["--content", "digest"]).await.stdout;
    assert!(text.contains("Content findings:"), "{text}");
    assert!(text.contains("digest"), "{text}");
    saved.restore();

    // A TOC.txt listing a component that is not there: kind toc.
    let toc = sst_files(&s.bucket, "-TOC.txt")[0].clone();
    let saved = Saved::of(s.bucket.join(&toc));
    let mut text = String::from_utf8(saved.bytes.clone()).unwrap();
    text.push_str("CRC.db\n");
    std::fs::write(s.bucket.join(&toc), text).unwrap();
    let run = validate(&config, &["--content", "digest", "-o", "json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc = report(&run, "edited TOC");
    let toc_findings: Vec<&Value> = nodes(&doc)
        .iter()
        .flat_map(|n| n["findings"].as_array().unwrap())
        .filter(|f| f["kind"] == "toc")
        .collect();
    assert_eq!(toc_findings.len(), 1, "{doc}");
    assert!(
        toc_findings[0]["file"].as_str().unwrap().ends_with(&toc),
        "{toc}: {doc}"
    );
    saved.restore();
    assert_eq!(
        validate(&config, &["--content", "digest"]).await.code,
        0,
        "every fault undone"
    );

    // An orphan: counted and listed, and the backups are still whole (exit 0).
    let table_dir = index.rsplit_once('/').unwrap().0.to_string();
    let orphan = format!("{table_dir}/me-3gzz_0000_00000000000000000000-big-Data.db");
    std::fs::write(
        s.bucket.join(&orphan),
        b"left behind by an interrupted upload",
    )
    .unwrap();
    let run = validate(&config, &["-o", "json"]).await;
    assert_eq!(run.code, 0, "orphans do not fail: {}", run.stderr);
    let doc = report(&run, "orphan");
    assert_eq!(total(&doc, "orphaned_files"), 1, "{doc}");
    assert!(
        listed(&doc, "orphans").iter().any(|o| o.ends_with(&orphan)),
        "{doc}"
    );

    // A run that may still resume: a temporary manifest of a newer tag naming one more file,
    // written as long ago as the orphan; only that manifest's reference keeps it.
    let pending_name = "me-3gzz_0001_00000000000000000000-big-Data.db";
    let pending = format!("{table_dir}/{pending_name}");
    std::fs::write(
        s.bucket.join(&pending),
        b"uploaded by a run not yet finished",
    )
    .unwrap();
    let node_of = |p: &str| {
        p.split("/node/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    let meta = files_under(&s.bucket)
        .into_iter()
        .find(|f| {
            f.starts_with("backup/meta/")
                && f.ends_with("_manifest.json.gz")
                && node_of(f) == node_of(&table_dir)
        })
        .unwrap();
    // The new tag is later than both files (tags have whole seconds).
    std::thread::sleep(Duration::from_millis(2100));
    let new_tag = chrono::Utc::now().format("sm_%Y%m%d%H%M%SUTC").to_string();
    let mut manifest = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(s.bucket.join(&meta)).unwrap())
        .read_to_string(&mut manifest)
        .unwrap();
    let mut manifest: Value = serde_json::from_str(&manifest).unwrap();
    let version = table_dir.rsplit('/').next().unwrap();
    let entry = manifest["index"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["version"] == version)
        .expect("the node's manifest names the table dir");
    entry["files"]
        .as_array_mut()
        .unwrap()
        .push(pending_name.into());
    let added = PENDING_BYTES.len() as u64;
    entry["size"] = (entry["size"].as_u64().unwrap() + added).into();
    manifest["size"] = (manifest["size"].as_u64().unwrap_or(0) + added).into();
    let old_tag = meta
        .split("_tag_")
        .nth(1)
        .unwrap()
        .split("_manifest")
        .next()
        .unwrap();
    let tmp = format!("{}.tmp", meta.replace(old_tag, &new_tag));
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(s.bucket.join(&tmp)).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(manifest.to_string().as_bytes()).unwrap();
    gz.finish().unwrap();

    let before = files_under(&s.bucket);
    let run = validate(
        &config,
        &[
            "--delete-orphaned-files",
            "--orphan-grace",
            "0",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = report(&run, "delete orphans");
    assert_eq!(total(&doc, "deleted_files"), 1, "{doc}");
    assert!(
        listed(&doc, "deleted").iter().any(|d| d.ends_with(&orphan)),
        "{doc}"
    );
    let mut after = files_under(&s.bucket);
    let mut expected: Vec<String> = before.into_iter().filter(|f| *f != orphan).collect();
    after.sort();
    expected.sort();
    assert_eq!(after, expected, "exactly the orphan is gone");
    assert!(after.contains(&pending) && after.contains(&tmp));
}

#[tokio::test]
async fn a_bucket_in_scylladb_managers_layout_validates_clean_with_digests() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bkt");
    std::fs::create_dir_all(&bucket).unwrap();
    let config = dir.path().join("storage.yaml");
    std::fs::write(
        &config,
        format!("localstorage:\n  bkt: {}\n", bucket.display()),
    )
    .unwrap();
    let cluster_id = "6a0f2c1e-2d4b-4b7a-9a51-3f3c1d2e4b5a";
    let nodes_ids = [
        "2f1e0c4a-8a51-4d0b-b0a3-9f1d2c3e4a5b",
        "7c3d2e1f-0a9b-4c8d-a7e6-5f4d3c2b1a09",
    ];
    write_manager_backup(
        &bucket,
        cluster_id,
        &nodes_ids,
        "3b1f6a20a9c111eea1d2000000000000",
    );
    let run = validate(
        &config,
        &["-c", cluster_id, "--content", "digest", "-o", "json"],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc = report(&run, "SM layout");
    assert_eq!(doc["locations"][0]["cluster_id"], cluster_id);
    assert_eq!(nodes(&doc).len(), 2, "{doc}");
    assert_eq!(total(&doc, "manifests"), 2, "{doc}");
    assert_eq!(
        total(&doc, "sstables_checked"),
        4,
        "two SSTables a node: {doc}"
    );
    assert_eq!(total(&doc, "corrupt_files"), 0, "{doc}");
    assert_eq!(total(&doc, "missing_files"), 0, "{doc}");
    // And the same check by the cluster's name, from its manifests.
    let run = validate(&config, &["-c", "fixture_cluster", "--content", "digest"]).await;
    assert!(
        run.ok("by name").contains("Backups are whole."),
        "{}",
        run.stdout
    );
}

/// Waits (at most 120 s) for a run of `validate_backup/{name}` to have ended, and answers its
/// details.
async fn wait_validate(s: &BackupSetup, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let path = format!("/api/v1/cluster/prod/task/validate_backup/{name}/latest");
    loop {
        let (status, body) = s.manager.call(Method::GET, &path, None).await;
        let run = body["run"]["status"].as_str().unwrap_or_default();
        if status == 200 && matches!(run, "DONE" | "ERROR" | "ABORTED" | "STOPPED") {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no validate run ended within 120 s: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_validate_task_runs_and_shows_its_tables() {
    let s = BackupSetup::new().await;
    s.backup_now("nightly").await;
    s.backup_now("weekly").await;

    // The dry run prints the target and creates nothing.
    let dry = s
        .cairn(&[
            "backup",
            "validate",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "--dry-run",
        ])
        .await;
    let text = dry.ok("dry run");
    assert!(text.contains("Location localstorage:bkt:"), "{text}");
    assert!(text.contains("NODE"), "{text}");
    let tasks = s
        .cairn(&["tasks", "-c", "prod", "--all", "-o", "json"])
        .await
        .json("tasks");
    assert!(
        !tasks.to_string().contains("validate_backup"),
        "the dry run created nothing: {tasks}"
    );

    // A scheduled task: it runs on its own (every 24 h from 3 s from now).
    let created = s
        .cairn(&[
            "backup",
            "validate",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "--content",
            "digest",
            "--interval",
            "24h",
            "--start-date",
            "now+3s",
            "--name",
            "daily",
        ])
        .await;
    assert_eq!(created.ok("create"), "validate_backup/daily\n");
    let end = wait_validate(&s, "daily").await;
    assert_eq!(end["run"]["status"], "DONE", "{end}");

    let tasks = s.cairn(&["tasks", "-c", "prod"]).await;
    let line = tasks
        .ok("tasks")
        .lines()
        .find(|l| l.contains("validate_backup/daily"))
        .unwrap_or_else(|| panic!("{}", tasks.stdout))
        .to_string();
    assert!(line.contains("DONE"), "{line}");

    let progress = s
        .cairn(&["progress", "-c", "prod", "validate_backup/daily"])
        .await;
    let text = progress.ok("progress");
    assert!(text.contains("Location localstorage:bkt"), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("NODE"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 3, "a row per node:\n{text}");
    assert!(
        text.contains(": 0 missing, 0 mis-sized, 0 corrupt"),
        "{text}"
    );
    assert!(text.contains("Backups are whole."), "{text}");

    // --watch of a run that has ended shows the same final view and exits 0 (DONE); -o json is
    // the run's details with the report.
    let watched = s
        .cairn(&["progress", "-c", "prod", "validate_backup/daily", "--watch"])
        .await;
    assert!(
        watched.ok("watch").contains("Backups are whole."),
        "{}",
        watched.stdout
    );
    let doc = s
        .cairn(&[
            "progress",
            "-c",
            "prod",
            "validate_backup/daily",
            "-o",
            "json",
        ])
        .await
        .json("progress json");
    assert_eq!(doc["run"]["status"], "DONE", "{doc}");
    assert_eq!(nodes(&doc["report"]).len(), 3, "{doc}");
    assert_eq!(doc["report"]["content"], "digest", "{doc}");

    // update changes the content check and keeps the rest.
    let updated = s
        .cairn(&[
            "backup",
            "validate",
            "update",
            "-c",
            "prod",
            "validate_backup/daily",
            "--content",
            "full",
        ])
        .await;
    assert_eq!(updated.ok("update"), "validate_backup/daily\n");
    let tasks = s
        .cairn(&["tasks", "-c", "prod", "--all", "-o", "json"])
        .await
        .json("tasks");
    let task = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "daily")
        .unwrap_or_else(|| panic!("{tasks}"));
    assert_eq!(task["properties"]["content"], "full", "{task}");
    assert_eq!(
        task["properties"]["location"][0], "localstorage:bkt",
        "{task}"
    );
}
