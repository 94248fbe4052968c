//! `validate_backup` tasks end to end: a real manager process over an emulated `dc1:2,dc2:1`
//! cluster with real agents, after a real backup, in a directory bucket, an S3 bucket (rclone
//! serve s3) and an Azure container (Azurite). The tests check what a user checks: the dry run's
//! hosts and node directories, the run's status and cause, its rows per host and location (each
//! node directory checked by its own node's host), the report, the damage found (a missing file
//! breaking exactly its snapshots, a flipped byte found by the digest check), orphans deleted
//! within the grace period and nothing else, and the metrics of the last run.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cli::{add_cluster, cairn, files_under};
use common::manager::Fleet;
use common::servers::{Azurite, S3Server};
use reqwest::Method;
use serde_json::{Value, json};

/// A fleet with the cluster added as `prod` and a backup of keyspace `store` done to `location`.
struct Backed {
    /// The processes.
    fleet: Fleet,
    /// The location backed up to.
    location: String,
}

impl Backed {
    /// Starts a fleet whose agents get `agent_yaml` (made in the fleet's directory), adds the
    /// cluster, and backs `store` up to `location` (task `nightly`, run twice, then enabled).
    async fn start(location: &str, agent_yaml: impl FnOnce(&Path) -> String) -> Backed {
        let fleet = Fleet::start(agent_yaml).await;
        add_cluster(fleet.manager.url(), &fleet.cluster, fleet.port).await;
        let b = Backed {
            fleet,
            location: location.to_string(),
        };
        let created = b
            .cairn(&[
                "backup",
                "-c",
                "prod",
                "-L",
                location,
                "-K",
                "store",
                "--enabled",
                "false",
                "--name",
                "nightly",
            ])
            .await;
        assert_eq!(created.ok("backup create"), "backup/nightly\n");
        for _ in 0..2 {
            let run = b.run("backup", "nightly").await;
            assert_eq!(run["run"]["status"], "DONE", "the backup: {run}");
        }
        // Enabled (it has no schedule, so it does not run by itself): validate defaults to the
        // locations of the enabled backup tasks.
        let (status, body) = b
            .call(
                Method::PUT,
                "/task/backup/nightly",
                Some(json!({"enabled": true})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["next_activation"].is_null(), "{body}");
        b
    }

    /// Runs `cairn --url MANAGER ARGS...`.
    async fn cairn(&self, args: &[&str]) -> common::cli::Run {
        cairn(self.fleet.manager.url(), args).await
    }

    /// `method /api/v1/cluster/prod{path}`.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.fleet
            .manager
            .call(method, &format!("/api/v1/cluster/prod{path}"), body)
            .await
    }

    /// Starts task `{kind}/{name}` and answers its run's details once it has ended (at most
    /// 120 s).
    async fn run(&self, kind: &str, name: &str) -> Value {
        let (status, body) = self
            .call(Method::PUT, &format!("/task/{kind}/{name}/start"), None)
            .await;
        assert_eq!(status, 200, "start {kind}/{name}: {body}");
        let run_id = body["run_id"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = self
                .call(Method::GET, &format!("/task/{kind}/{name}/{run_id}"), None)
                .await;
            if status == 200
                && matches!(
                    body["run"]["status"].as_str(),
                    Some("DONE" | "ERROR" | "STOPPED" | "ABORTED")
                )
            {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{kind}/{name} did not end in 120 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Creates the disabled validate task `name` with `properties`; answers the task.
    async fn create_validate(&self, name: &str, properties: Value) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/tasks",
                Some(
                    json!({"type": "validate_backup", "name": name, "enabled": false,
                            "properties": properties}),
                ),
            )
            .await;
        assert_eq!(status, 201, "create validate task: {body}");
        body
    }

    /// The dry run of a validate task body.
    async fn target(&self, properties: Value) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/tasks/validate_backup/target",
                Some(json!({ "properties": properties })),
            )
            .await;
        assert_eq!(status, 200, "dry run: {body}");
        body
    }
}

/// Node directory (host ID) -> the address of its own node, from a dry run's only location.
fn own_hosts(target: &Value) -> Vec<(String, String)> {
    target["locations"][0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node_id"].as_str().unwrap().to_string(),
                n["own_host"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Checks a clean validate run: DONE, one row per host in the location, each holding exactly
/// its own node's directory, checked by it, nothing found, content checked.
fn assert_clean(run: &Value, location: &str, owners: &[(String, String)]) {
    assert_eq!(run["run"]["status"], "DONE", "{run}");
    assert_eq!(run["status_text"], "DONE");
    let rows = run["progress"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "a row per host: {rows:?}");
    for row in rows {
        assert_eq!(row["location"], location);
        assert!(row["completed_at"].is_string(), "{row}");
        let nodes = row["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 1, "each host checks its own directory: {row}");
        let node = nodes[0]["node_id"].as_str().unwrap();
        let owner = owners.iter().find(|(n, _)| n == node).map(|(_, h)| h);
        assert_eq!(owner, row["host"].as_str().map(str::to_string).as_ref());
        assert_eq!(nodes[0]["checked_by"], row["host"]);
        assert_eq!(row["missing_files"], 0, "{row}");
        assert_eq!(row["corrupt_files"], 0, "{row}");
        assert_eq!(row["broken_snapshots"], json!([]), "{row}");
        assert!(
            row["manifests"].as_u64().unwrap() >= 2,
            "two backups: {row}"
        );
    }
    let report = &run["report"];
    assert_eq!(report["content"], "digest");
    assert_eq!(report["locations"].as_array().unwrap().len(), 1);
    assert_eq!(report["locations"][0]["location"], location);
    let nodes = report["locations"][0]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let checked: u64 = nodes
        .iter()
        .map(|n| n["sstables_checked"].as_u64().unwrap())
        .sum();
    assert!(checked > 0, "content was checked: {report}");
    for n in nodes {
        assert!(n["error"].is_null(), "{n}");
        assert_eq!(n["findings"], json!([]), "{n}");
    }
}

/// Backs up, dry-runs and validates (content digest) in `location`: clean.
async fn clean_validate(b: &Backed) -> Vec<(String, String)> {
    let target = b.target(json!({"content": "digest"})).await;
    let loc = &target["locations"][0];
    assert_eq!(loc["location"], b.location.as_str(), "defaulted: {target}");
    assert_eq!(loc["hosts"].as_array().unwrap().len(), 3, "{target}");
    let owners = own_hosts(&target);
    assert_eq!(owners.len(), 3, "{target}");
    assert!(owners.iter().all(|(_, h)| !h.is_empty()), "{target}");
    let task = b
        .create_validate("check", json!({"content": "digest"}))
        .await;
    assert_eq!(
        task["properties"]["location"],
        json!([b.location]),
        "an empty location takes the backup task's"
    );
    let run = b.run("validate_backup", "check").await;
    assert_clean(&run, &b.location, &owners);
    offline_matches_online(b, &run).await;
    owners
}

/// `cairn backup validate --offline` with an agent's own configuration, no manager asked: the
/// same node directories, counts and a clean verdict as the online run's report.
async fn offline_matches_online(b: &Backed, run: &Value) {
    let config = b.fleet.dir.path().join("agent0/agent.yaml");
    let config = config.to_str().unwrap();
    let offline = common::cli::cairn_as_given(&[
        "backup",
        "validate",
        "--offline",
        "-L",
        &b.location,
        "-c",
        "prod",
        "--content",
        "digest",
        "--storage-config",
        config,
        "-o",
        "json",
    ])
    .await;
    assert_eq!(offline.code, 0, "offline validate: {}", offline.stderr);
    let doc = offline.json("offline validate");
    let counts = |report: &Value| -> Vec<(String, u64, u64, u64, u64)> {
        let mut rows: Vec<_> = report["locations"][0]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["node_id"].as_str().unwrap().to_string(),
                    n["manifests"].as_u64().unwrap(),
                    n["files"].as_u64().unwrap(),
                    n["scanned_files"].as_u64().unwrap(),
                    n["sstables_checked"].as_u64().unwrap(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let online = counts(&run["report"]);
    assert_eq!(online.len(), 3, "{run}");
    assert!(
        online.iter().all(|r| r.4 > 0),
        "content checked: {online:?}"
    );
    assert_eq!(counts(&doc), online, "offline: {doc}");
    for n in doc["locations"][0]["nodes"].as_array().unwrap() {
        assert_eq!(n["checked_by"], "offline", "{n}");
        assert_eq!(n["missing_files"], 0, "{n}");
        assert_eq!(n["corrupt_files"], 0, "{n}");
    }
}

/// The value of metric `name` for the task `task` (cluster `prod`).
fn metric(text: &str, name: &str, task: &str) -> f64 {
    text.lines()
        .find(|l| {
            l.starts_with(&format!("{name}{{"))
                && l.contains("cluster=\"prod\"")
                && l.contains(&format!("task=\"{task}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} for task {task} in:\n{text}"))
}

/// The snapshot tags of the manifests of node `node` in the bucket directory `bucket`.
fn node_tags(bucket: &Path, node: &str) -> Vec<String> {
    let mut tags: Vec<String> = files_under(bucket)
        .into_iter()
        .filter(|f| f.starts_with("backup/meta/") && f.contains(&format!("/node/{node}/")))
        .filter_map(|f| {
            let name = f.rsplit('/').next()?.to_string();
            let start = name.find("_tag_")? + 5;
            let end = name.find("_manifest")?;
            Some(name[start..end].to_string())
        })
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// The `Data.db` files of node `node` in the bucket directory.
fn data_files(bucket: &Path, node: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = files_under(bucket)
        .into_iter()
        .filter(|f| {
            f.starts_with("backup/sst/")
                && f.contains(&format!("/node/{node}/"))
                && f.ends_with("-Data.db")
        })
        .map(|f| bucket.join(f))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_in_a_directory_finds_damage_and_deletes_old_orphans_only() {
    let mut b = Backed::start("localstorage:bkt", |dir| {
        let bucket = dir.join("bkt");
        std::fs::create_dir_all(&bucket).unwrap();
        format!("localstorage:\n  bkt: {}", bucket.display())
    })
    .await;
    let bucket = b.fleet.dir.path().join("bkt");
    let owners = clean_validate(&b).await;

    // Refused, naming the field: a DC the cluster lacks, a bad content level.
    for (properties, field) in [
        (
            json!({"location": ["dc9:localstorage:bkt"]}),
            "properties.location[0]",
        ),
        (json!({"content": "most"}), "properties.content"),
        (json!({"sample": 0}), "properties.sample"),
    ] {
        let (status, body) = b
            .call(
                Method::POST,
                "/tasks",
                Some(json!({"type": "validate_backup", "properties": properties})),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }

    // Listed with its last status.
    let (status, tasks) = b.call(Method::GET, "/tasks?all=true", None).await;
    assert_eq!(status, 200);
    let task = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "validate_backup")
        .cloned()
        .unwrap();
    assert_eq!(task["status"], "DONE", "{task}");
    let task_id = task["id"].as_str().unwrap().to_string();
    let text = b.fleet.manager.metrics().await;
    assert_eq!(
        metric(
            &text,
            "cairn_manager_validate_backup_last_success",
            &task_id
        ),
        1.0
    );
    assert!(
        metric(
            &text,
            "cairn_manager_validate_backup_sstables_checked",
            &task_id
        ) > 0.0
    );
    assert_eq!(
        metric(
            &text,
            "cairn_manager_validate_backup_missing_files",
            &task_id
        ),
        0.0
    );

    // Damage: one Data.db deleted on one node, one byte flipped in another node's.
    let (node_a, node_b) = (&owners[0].0, &owners[1].0);
    let missing = data_files(&bucket, node_a)[0].clone();
    let missing_bytes = std::fs::read(&missing).unwrap();
    std::fs::remove_file(&missing).unwrap();
    let corrupt = data_files(&bucket, node_b)[0].clone();
    let good = std::fs::read(&corrupt).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&corrupt, &bad).unwrap();
    let mut tags = node_tags(&bucket, node_a);
    tags.extend(node_tags(&bucket, node_b));
    tags.sort();
    tags.dedup();
    assert!(!tags.is_empty());

    let run = b.run("validate_backup", "check").await;
    assert_eq!(run["run"]["status"], "ERROR", "{run}");
    let cause = run["run"]["cause"].as_str().unwrap();
    assert!(
        cause.starts_with(&format!("broken snapshots: {}", tags.join(", "))),
        "{cause} (expected the tags {tags:?})"
    );
    assert_eq!(run["status_text"], format!("ERROR: {cause}"));
    let nodes: Vec<&Value> = run["report"]["locations"][0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let by_id = |id: &str| nodes.iter().find(|n| n["node_id"] == id).copied().unwrap();
    let missing_rel = missing.strip_prefix(&bucket).unwrap().display().to_string();
    let a = by_id(node_a);
    assert_eq!(a["missing_files"], 1, "{a}");
    assert!(
        a["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| missing_rel.ends_with(m.as_str().unwrap())),
        "{a} names {missing_rel}"
    );
    assert_eq!(a["broken_snapshots"], json!(node_tags(&bucket, node_a)));
    let corrupt_rel = corrupt.strip_prefix(&bucket).unwrap().display().to_string();
    let bn = by_id(node_b);
    assert_eq!(bn["corrupt_files"], 1, "{bn}");
    let finding = &bn["findings"][0];
    assert_eq!(finding["kind"], "digest", "{bn}");
    assert_eq!(finding["file"], corrupt_rel.as_str(), "{bn}");
    let third = nodes
        .iter()
        .find(|n| n["node_id"] != node_a.as_str() && n["node_id"] != node_b.as_str())
        .unwrap();
    assert!(third["error"].is_null(), "{third}");
    assert_eq!(third["broken_snapshots"], json!([]), "{third}");
    let text = b.fleet.manager.metrics().await;
    for (name, value) in [
        ("cairn_manager_validate_backup_missing_files", 1.0),
        ("cairn_manager_validate_backup_corrupt_files", 1.0),
        ("cairn_manager_validate_backup_last_success", 0.0),
    ] {
        assert_eq!(metric(&text, name, &task_id), value, "{name}");
    }

    // Repaired, plus an orphan two hours old and one just written: with deletion and a grace
    // of 1h only the old one goes.
    std::fs::write(&missing, &missing_bytes).unwrap();
    std::fs::write(&corrupt, &good).unwrap();
    let dir = missing.parent().unwrap();
    let old = dir.join("orphan-old.bin");
    let new = dir.join("orphan-new.bin");
    std::fs::write(&old, b"left behind").unwrap();
    std::fs::write(&new, b"being written").unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&old)
        .status()
        .unwrap();
    assert!(touched.success());
    let before = files_under(&bucket);
    let (status, body) = b
        .call(
            Method::PUT,
            "/task/validate_backup/check",
            Some(
                json!({"properties": {"content": "digest", "delete_orphaned_files": true,
                                       "orphan_grace": "1h"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = b.run("validate_backup", "check").await;
    assert_eq!(run["run"]["status"], "DONE", "{run}");
    let after = files_under(&bucket);
    let old_rel = old.strip_prefix(&bucket).unwrap().display().to_string();
    let gone: Vec<&String> = before.iter().filter(|f| !after.contains(f)).collect();
    assert_eq!(gone, vec![&old_rel], "only the old orphan is deleted");
    assert!(new.exists(), "an orphan within the grace period stays");
    let a = run["report"]["locations"][0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == node_a.as_str())
        .cloned()
        .unwrap();
    assert_eq!(a["deleted_files"], 1, "{a}");
    assert_eq!(a["kept_orphans"], 1, "{a}");
    let text = b.fleet.manager.metrics().await;
    assert_eq!(
        metric(
            &text,
            "cairn_manager_validate_backup_deleted_files",
            &task_id
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "cairn_manager_validate_backup_last_success",
            &task_id
        ),
        1.0
    );
    assert!(
        metric(
            &text,
            "cairn_manager_validate_backup_last_run_timestamp_seconds",
            &task_id
        ) > 0.0
    );

    a_node_without_its_agent_is_checked_by_another_host(&mut b, &owners).await;
}

/// With one node's agent down, the other hosts check its directory too.
async fn a_node_without_its_agent_is_checked_by_another_host(
    b: &mut Backed,
    owners: &[(String, String)],
) {
    let (down_node, down_host) = owners
        .iter()
        .find(|(_, h)| *h == b.fleet.cluster.address(2))
        .cloned()
        .unwrap();
    b.fleet.agents[2].kill();
    let run = b.run("validate_backup", "check").await;
    assert_eq!(run["run"]["status"], "DONE", "{run}");
    let rows = run["progress"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "rows of the two live hosts: {rows:?}");
    assert!(rows.iter().all(|r| r["host"] != down_host.as_str()));
    let nodes = run["report"]["locations"][0]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "every directory checked: {nodes:?}");
    let orphaned = nodes
        .iter()
        .find(|n| n["node_id"] == down_node.as_str())
        .unwrap();
    assert!(orphaned["error"].is_null(), "{orphaned}");
    assert_ne!(orphaned["checked_by"], down_host.as_str());
    assert!(
        rows.iter().any(|r| r["host"] == orphaned["checked_by"]),
        "{orphaned}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_in_s3_is_clean_after_a_backup() {
    let Some(server) = S3Server::rclone().await else {
        return;
    };
    server.create_bucket("vbkt").await;
    let yaml = format!(
        "s3:\n  endpoint: {}\n  access_key_id: {}\n  secret_access_key: {}\n  region: {}\n",
        server.endpoint(),
        server.access_key(),
        server.secret_key(),
        server.region()
    );
    let b = Backed::start("s3:vbkt", |_| yaml).await;
    clean_validate(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_in_azure_is_clean_after_a_backup() {
    let Some(server) = Azurite::start().await else {
        return;
    };
    server.create_container("vbkt").await;
    let yaml = format!(
        "azure:\n  account: {}\n  key: {}\n  endpoint: {}\n",
        server.account(),
        server.key(),
        server.endpoint()
    );
    let b = Backed::start("azure:vbkt", |_| yaml).await;
    clean_validate(&b).await;
}
