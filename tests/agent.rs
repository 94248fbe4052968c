//! The agent as a real process beside an emulated node, with a local-directory location:
//! authentication, the proxy allow-list, path confinement, upload with move semantics and
//! versioning, download, stop, a crash mid-job, and a bandwidth change mid-job.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::agent::{AgentProcess, TOKEN, config_yaml, read_dir_files};
use common::{TestCluster, files_in};
use reqwest::Method;
use serde_json::{Value, json};

const TAG: &str = "sm_20260102030405UTC";

/// An emulated node, a snapshot of `store.orders` with one large SSTable, and an agent whose
/// `localstorage:bkt` location is a temporary directory.
struct Setup {
    cluster: TestCluster,
    agent: AgentProcess,
    bucket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// `big` bytes are written to `store.orders` before the snapshot (0: none).
    async fn new(big: u64, transfer_yaml: &str) -> Self {
        let cluster = TestCluster::start("dc1:1").await;
        if big > 0 {
            let addr = cluster.address(0);
            cluster
                .post_ok(
                    0,
                    &format!(
                        "/emulator/nodes/{addr}/write?keyspace=store&table=orders&bytes={big}"
                    ),
                )
                .await;
        }
        cluster
            .post_ok(0, &format!("/storage_service/snapshots?tag={TAG}&kn=store"))
            .await;
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bucket");
        std::fs::create_dir_all(&bucket).unwrap();
        let yaml = config_yaml(
            &cluster,
            0,
            &format!(
                "localstorage:\n  bkt: {}\n{transfer_yaml}",
                bucket.display()
            ),
        );
        let agent = AgentProcess::start(dir.path(), &yaml);
        Setup {
            cluster,
            agent,
            bucket,
            _dir: dir,
        }
    }

    /// The snapshot directory of `store.<table>`, relative to the data directory and absolute.
    fn snapshot(&self, table: &str) -> (String, PathBuf) {
        let abs = self
            .cluster
            .table_dir(0, "store", table)
            .join("snapshots")
            .join(TAG);
        let rel = abs
            .strip_prefix(self.cluster.data_dir(0))
            .unwrap()
            .display()
            .to_string();
        (rel, abs)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_but_ping_and_version_needs_the_token() {
    let s = Setup::new(0, "").await;
    let a = &s.agent;
    for path in ["/ping", "/version"] {
        assert_eq!(
            a.http
                .get(format!("{}{path}", a.url))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{path}"
        );
    }
    let started = Instant::now();
    let missing = a
        .http
        .get(format!("{}/agent/node_info", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "a refused token is answered after a delay"
    );
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"message": "unauthorized", "code": 401})
    );
    for token in ["wrong", &TOKEN[..TOKEN.len() - 1], &format!("{TOKEN}x")] {
        let r = a
            .http
            .get(format!("{}/agent/node_info", a.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "token {token:?}");
    }
    let proxied = a
        .http
        .get(format!("{}/storage_service/host_id", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        proxied.status(),
        401,
        "the Scylla proxy needs the token too"
    );

    // The scheme is case-insensitive (RFC 7235); the token is not.
    for header in [
        format!("bearer {TOKEN}"),
        format!("BEARER {TOKEN}"),
        format!("BeArEr  {TOKEN}"),
    ] {
        let r = a
            .http
            .get(format!("{}/agent/node_info", a.url))
            .header("Authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{header}");
    }
    for header in [
        format!("bearer {}", TOKEN.to_uppercase()),
        format!("Basic {TOKEN}"),
        format!("Bearer{TOKEN}"),
        TOKEN.to_string(),
    ] {
        let r = a
            .http
            .get(format!("{}/agent/node_info", a.url))
            .header("Authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
    }

    let (status, info) = a.call(Method::GET, "/agent/node_info", None).await;
    assert_eq!(status, 200);
    assert_eq!(info["authentication"], "token");
    assert_eq!(
        info["data_directory"],
        json!(
            s.cluster
                .data_dir(0)
                .canonicalize()
                .unwrap()
                .display()
                .to_string()
        )
    );
    assert_eq!(info["scylla_version"], "2025.1.3");
    assert_eq!(info["sstable_uuid_format"], true);
    assert!(info["cpu_count"].as_u64().unwrap() >= 1 && info["memory_total"].as_u64().unwrap() > 0);
    assert!(info["storage_size"].as_u64().unwrap() >= info["storage_free"].as_u64().unwrap());
    let metrics = a.metrics().await;
    let refused: f64 = metric(&metrics, "cairn_agent_unauthorized_total");
    assert!(refused >= 5.0, "refusals are counted:\n{metrics}");
}

/// The value of an unlabelled metric (or the sum of a labelled one's series).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_calls_pass_only_when_allow_listed() {
    let s = Setup::new(0, "").await;
    let a = &s.agent;
    let (status, ids) = a.call(Method::GET, "/storage_service/host_id", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        ids,
        s.cluster.get(0, "/storage_service/host_id").await,
        "proxied answers are Scylla's"
    );
    let (status, body) = a
        .call(
            Method::POST,
            "/storage_service/snapshots?tag=sm_20260101000000UTC&kn=store",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a
        .call(
            Method::POST,
            "/storage_service/snapshots?tag=sm_20260101000000UTC&kn=store",
            None,
        )
        .await;
    assert_eq!(
        (
            status,
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("already exists"))
        ),
        (500, true),
        "Scylla's errors pass through: {body}"
    );
    for (method, path) in [
        (Method::POST, "/storage_service/keyspace_compaction/store"),
        (Method::POST, "/storage_service/decommission"),
        (Method::DELETE, "/column_family/name"),
        (Method::GET, "/emulator/cluster"),
    ] {
        let (status, body) = a.call(method.clone(), path, None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("not exposed"),
            "{body}"
        );
    }
    assert!(metric(&a.metrics().await, "cairn_agent_unexposed_access_total") >= 4.0);
    let scylla_metrics = a
        .req(Method::GET, "/metrics?name=database_total_writes")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scylla_metrics.contains("scylla_database_total_writes{shard=\"0\"}"),
        "{scylla_metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_cannot_reach_a_call_off_the_allow_list() {
    let s = Setup::new(0, "").await;
    let a = &s.agent;
    let node = s.cluster.address(0);
    // The raw client sends what it is given: an allow-listed call passes.
    let (status, body) = a.raw("GET", "/storage_service/host_id").await;
    assert_eq!(status, 200, "{body}");
    for target in [
        "/storage_service/tokens/../../emulator/cluster".to_string(),
        "/storage_service/tokens/%2e%2e/%2e%2e/emulator/cluster".into(),
        "/storage_service/tokens/%2E%2e/%2e%2E/emulator/cluster".into(),
        "/storage_service/tokens/.%2e/.%2E/emulator/cluster".into(),
        "/storage_service/tokens/x/..%2f..%2f..%2femulator/cluster".into(),
        "/storage_service/tokens/..%5c..%5cemulator/cluster".into(),
        "/storage_service/tokens/./../../emulator/cluster".into(),
        "/storage_service/tokens//../../emulator/cluster".into(),
        format!("/storage_service/tokens/{node}%00/../../../emulator/cluster"),
        "/v2/config/../../emulator/cluster?x=1".into(),
    ] {
        let (status, body) = a.raw("GET", &target).await;
        assert_eq!(status, 400, "GET {target}: {body}");
        assert!(body.contains("path: "), "GET {target}: {body}");
        assert!(
            !body.contains("host_id"),
            "the emulator's answer leaked: {body}"
        );
    }
    // A POST that would change the node's state through the proxy.
    for target in [
        format!("/storage_service/keyspace_flush/../../emulator/nodes/{node}/status?value=leaving"),
        format!(
            "/storage_service/keyspace_flush/%2e%2e/%2E%2E/emulator/nodes/{node}/status?value=leaving"
        ),
    ] {
        let (status, body) = a.raw("POST", &target).await;
        assert_eq!(status, 400, "POST {target}: {body}");
    }
    assert_eq!(
        s.cluster.get(0, "/storage_service/nodes/leaving").await,
        json!([]),
        "the node's state is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_data_directory_or_location_are_refused() {
    let s = Setup::new(0, "").await;
    let a = &s.agent;
    let secret = s._dir.path().join("secret.crc32");
    std::fs::write(&secret, "42").unwrap();
    let link = s.cluster.data_dir(0).join("store").join("escape");
    std::os::unix::fs::symlink(s._dir.path(), &link).unwrap();

    for path in ["..", "../", "/etc", "store/../..", "store/escape"] {
        let (status, body) = a
            .call(
                Method::POST,
                "/agent/files/list",
                Some(json!({"location": "data", "path": path})),
            )
            .await;
        assert_eq!(status, 403, "list {path}: {body}");
    }
    let (status, _) = a
        .call(
            Method::GET,
            "/agent/files/read?location=data&path=store/escape/secret.crc32",
            None,
        )
        .await;
    assert_eq!(
        status, 403,
        "a link out of the data directory is refused even for a readable name"
    );
    let (rel, abs) = s.snapshot("orders");
    let data = files_in(&abs)
        .into_iter()
        .find(|f| f.ends_with("Data.db"))
        .unwrap();
    let (status, _) = a
        .call(
            Method::GET,
            &format!("/agent/files/read?location=data&path={rel}/{data}"),
            None,
        )
        .await;
    assert_eq!(status, 403, "SSTable data is never read through the agent");
    let digest = data.replace("Data.db", "Digest.crc32");
    let resp = a
        .req(
            Method::GET,
            &format!("/agent/files/read?location=data&path={rel}/{digest}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "{rel}/{digest}: {:?}",
        resp.text().await
    );
    assert_eq!(
        resp.text().await.unwrap(),
        std::fs::read_to_string(abs.join(&digest)).unwrap()
    );

    let before = files_in(&abs);
    let (status, _) = a.call(Method::POST, "/agent/files/delete", Some(json!({"location": "data", "paths": [format!("{rel}/{data}"), "../../secret.crc32"]}))).await;
    assert_eq!(status, 403);
    assert_eq!(files_in(&abs), before, "a refused delete deletes nothing");
    assert!(secret.exists());

    for (location, path, code) in [
        ("localstorage:bkt", "../x", 400),
        ("localstorage:bkt", "/abs", 400),
        ("localstorage:nope", "backup", 400),
        ("s4:bkt", "backup", 400),
    ] {
        let (status, body) = a
            .call(
                Method::POST,
                "/agent/files/list",
                Some(json!({"location": location, "path": path})),
            )
            .await;
        assert_eq!(status, code, "{location} {path}: {body}");
        assert!(body["message"].as_str().is_some(), "{body}");
    }
    let (status, _) = a
        .call(
            Method::PUT,
            "/agent/files/write?location=localstorage:bkt&path=backup/meta/m.json",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = a
        .call(
            Method::GET,
            "/agent/files/read?location=localstorage:bkt&path=backup/sst/x/me-1-big-Data.db",
            None,
        )
        .await;
    assert_eq!(
        status, 403,
        "remote SSTable data is never read through the agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_moves_the_snapshot_skips_what_is_there_and_versions_what_differs() {
    let s = Setup::new(20 << 20, "").await;
    let a = &s.agent;
    let (rel, abs) = s.snapshot("orders");
    let original = read_dir_files(&abs);
    let big = original
        .iter()
        .find(|(n, b)| n.ends_with("Data.db") && b.len() == 20 << 20)
        .map(|(n, _)| n.clone())
        .expect("the 20 MiB SSTable");
    let remote = s.bucket.join("backup/sst/t/orders");
    std::fs::create_dir_all(&remote).unwrap();
    // One file is already there with the same content, one with different content.
    let same = original
        .keys()
        .find(|n| n.ends_with("Statistics.db"))
        .unwrap()
        .clone();
    let differs = original
        .keys()
        .find(|n| n.ends_with("Digest.crc32"))
        .unwrap()
        .clone();
    std::fs::write(remote.join(&same), &original[&same]).unwrap();
    std::fs::write(remote.join(&differs), b"12345").unwrap();

    let id = a
        .upload(&rel, "localstorage:bkt", "backup/sst/t/orders", TAG, 3)
        .await;
    let p = a.wait(&id).await;
    assert_eq!(p["status"], "success", "{p}");
    let total: u64 = original.values().map(|b| b.len() as u64).sum();
    assert_eq!(p["files_total"], original.len());
    assert_eq!(p["bytes_total"], total);
    assert_eq!(p["files_skipped"], 1);
    assert_eq!(p["bytes_skipped"], original[&same].len());
    assert_eq!(p["files_transferred"], original.len() - 1);
    assert_eq!(
        p["bytes_transferred"].as_u64().unwrap() + p["bytes_skipped"].as_u64().unwrap(),
        total
    );
    assert_eq!(p["files_versioned"], 1);

    assert!(
        files_in(&abs).is_empty(),
        "move semantics: every uploaded file left the snapshot"
    );
    let stored = read_dir_files(&remote);
    for (name, bytes) in &original {
        assert_eq!(stored.get(name), Some(bytes), "{name} stored bit for bit");
    }
    assert!(stored.contains_key(&big));
    let kept = format!("{differs}.{TAG}");
    assert_eq!(
        stored.get(&kept).map(Vec::as_slice),
        Some(&b"12345"[..]),
        "the older version is kept as <name>.<tag>"
    );
    assert_eq!(stored.len(), original.len() + 1);

    // Through the API: the listing shows the same, sizes included.
    let entries = a.list("localstorage:bkt", "backup/sst/t", true).await;
    assert_eq!(entries.len(), stored.len());
    assert!(
        entries
            .iter()
            .any(|e| e["path"] == format!("orders/{big}") && e["size"] == 20 << 20)
    );

    // Download it all back into a table's upload directory.
    let files: Vec<String> = original
        .keys()
        .map(|n| format!("backup/sst/t/orders/{n}"))
        .collect();
    let p = a
        .wait(
            &a.download("localstorage:bkt", &files, "store/restored")
                .await,
        )
        .await;
    assert_eq!(p["status"], "success", "{p}");
    assert_eq!(
        read_dir_files(&s.cluster.data_dir(0).join("store/restored")),
        original,
        "downloaded bit for bit"
    );
}

/// After an interrupted upload every file of the snapshot is intact in the snapshot, in the
/// location, or in both (uploaded, but stopped before the local copy was deleted: the next job
/// finds it there and skips it); no file is lost and none is partial.
fn assert_nothing_lost(
    original: &std::collections::BTreeMap<String, Vec<u8>>,
    local: &std::path::Path,
    remote: &std::path::Path,
) {
    for (name, bytes) in original {
        let here = std::fs::read(local.join(name)).ok();
        let there = std::fs::read(remote.join(name)).ok();
        assert!(here.is_some() || there.is_some(), "{name} was lost");
        for copy in [here, there].into_iter().flatten() {
            assert!(copy == *bytes, "{name} is partial or altered");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_upload_leaves_no_partial_object_and_keeps_the_rest() {
    // 4 MiB/s: the 24 MiB SSTable takes several seconds.
    let s = Setup::new(24 << 20, "transfer:\n  rate_limit: 4\n").await;
    let a = &s.agent;
    let (rel, abs) = s.snapshot("orders");
    let original = read_dir_files(&abs);
    let big = files_in(&abs)
        .into_iter()
        .find(|f| std::fs::metadata(abs.join(f)).unwrap().len() == 24 << 20)
        .unwrap();
    let id = a
        .upload(&rel, "localstorage:bkt", "backup/sst/t/orders", TAG, 2)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, p) = a
        .call(Method::POST, &format!("/agent/jobs/{id}/stop"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(p["status"], "stopped", "{p}");
    let remote = s.bucket.join("backup/sst/t/orders");
    assert!(
        !remote.join(&big).exists(),
        "no partial object under the final name"
    );
    let listed = a
        .list("localstorage:bkt", "backup/sst/t/orders", false)
        .await;
    assert!(
        listed.iter().all(|e| e["path"] != big.as_str()),
        "nor in a listing: {listed:?}"
    );
    assert!(
        abs.join(&big).exists(),
        "a file not uploaded stays in the snapshot"
    );
    assert_nothing_lost(&original, &abs, &remote);
    // A new job finishes the work.
    let (status, _) = a
        .call(
            Method::PUT,
            "/agent/bandwidth",
            Some(json!({"rate_limit": 0})),
        )
        .await;
    assert_eq!(status, 200);
    let p = a
        .wait(
            &a.upload(&rel, "localstorage:bkt", "backup/sst/t/orders", TAG, 2)
                .await,
        )
        .await;
    assert_eq!(p["status"], "success", "{p}");
    assert!(files_in(&abs).is_empty());
    assert_eq!(
        std::fs::metadata(remote.join(&big)).unwrap().len(),
        24 << 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_loses_its_job_and_the_snapshot_keeps_what_is_left() {
    let s = Setup::new(24 << 20, "transfer:\n  rate_limit: 4\n").await;
    let (rel, abs) = s.snapshot("orders");
    let mut a = s.agent;
    let before = files_in(&abs);
    let original = read_dir_files(&abs);
    let id = a
        .upload(&rel, "localstorage:bkt", "backup/sst/t/orders", TAG, 2)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill();
    let config = a.config.clone();
    let a = AgentProcess::start_with(config);
    let (status, p) = a
        .call(Method::GET, &format!("/agent/jobs/{id}?wait=1"), None)
        .await;
    assert_eq!(
        (status, p["status"].as_str()),
        (404, Some("not_found")),
        "{p}"
    );
    let left = files_in(&abs);
    assert!(
        !left.is_empty() && left.len() < before.len() + 1,
        "some files moved, the rest wait: {} of {}",
        left.len(),
        before.len()
    );
    let remote = s.bucket.join("backup/sst/t/orders");
    assert_nothing_lost(&original, &abs, &remote);
    let listed = a
        .list("localstorage:bkt", "backup/sst/t/orders", false)
        .await;
    assert_eq!(
        listed.len() + left.len(),
        before.len(),
        "no partial object is listed: {listed:?}"
    );
    let p = a
        .wait(
            &a.upload(&rel, "localstorage:bkt", "backup/sst/t/orders", TAG, 2)
                .await,
        )
        .await;
    assert_eq!(p["status"], "success", "{p}");
    assert_eq!(
        p["files_total"].as_u64().unwrap() as usize,
        left.len(),
        "the resumed job sends only what was left"
    );
    assert_eq!(
        files_in(&remote).len(),
        before.len(),
        "the crash's staging leftovers were cleaned: {:?}",
        files_in(&remote)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bandwidth_change_takes_effect_while_a_job_runs() {
    let s = Setup::new(16 << 20, "transfer:\n  rate_limit: 2\n").await;
    let a = &s.agent;
    let (status, b) = a.call(Method::GET, "/agent/bandwidth", None).await;
    assert_eq!((status, b["rate_limit"].as_f64()), (200, Some(2.0)));
    let (rel, _) = s.snapshot("orders");
    let id = a
        .upload(&rel, "localstorage:bkt", "backup/sst/t/orders", TAG, 2)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, p) = a
        .call(Method::GET, &format!("/agent/jobs/{id}"), None)
        .await;
    let moved = p["bytes_transferred"].as_u64().unwrap();
    // At 2 MiB/s, two seconds move at most ~4 MiB (plus one buffered part in flight).
    assert!(moved <= 14 << 20, "the budget holds: {moved} bytes in 2 s");
    assert_eq!(p["status"], "running");
    let (status, b) = a
        .call(
            Method::PUT,
            "/agent/bandwidth",
            Some(json!({"rate_limit": 0})),
        )
        .await;
    assert_eq!((status, b["bytes_per_second"].as_u64()), (200, Some(0)));
    let started = Instant::now();
    let p = a.wait(&id).await;
    assert_eq!(p["status"], "success", "{p}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "unlimited, the rest moves at once: {:?}",
        started.elapsed()
    );
    let (status, _) = a
        .call(
            Method::PUT,
            "/agent/bandwidth",
            Some(json!({"rate_limit": -1})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_job_requests_are_refused_with_the_field() {
    let s = Setup::new(0, "").await;
    let a = &s.agent;
    let (rel, abs) = s.snapshot("orders");
    let before = files_in(&abs);
    for (body, needle) in [
        (
            json!({"source_dir": "../x", "location": "localstorage:bkt", "remote_dir": "r", "tag": TAG}),
            "'..'",
        ),
        (
            json!({"source_dir": rel, "location": "localstorage:bkt", "remote_dir": "r", "tag": "yesterday"}),
            "tag",
        ),
        (
            json!({"source_dir": rel, "location": "localstorage:bkt", "remote_dir": "r", "tag": TAG, "transfers": 0}),
            "transfers",
        ),
        (
            json!({"source_dir": rel, "location": "gcs", "remote_dir": "r", "tag": TAG}),
            "location",
        ),
        (
            json!({"source_dir": "store/missing", "location": "localstorage:bkt", "remote_dir": "r", "tag": TAG}),
            "no such",
        ),
    ] {
        let (status, v) = a
            .call(Method::POST, "/agent/jobs/upload", Some(body.clone()))
            .await;
        assert!([400, 403, 404].contains(&status), "{body}: {status} {v}");
        assert_eq!(v["code"].as_u64(), Some(status as u64), "{v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body}: {message}");
    }
    assert_eq!(files_in(&abs), before, "refused jobs touch nothing");
    assert!(
        a.call(Method::GET, "/agent/jobs", None)
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The manager pins an agent's certificate, so the self-signed one an agent makes must survive a
/// restart: it is kept in `state_directory` (directory 0700, key 0600) and read back.
#[tokio::test(flavor = "multi_thread")]
async fn a_self_signed_certificate_is_kept_across_restarts() {
    use std::os::unix::fs::PermissionsExt;
    let cluster = TestCluster::start("dc1:1").await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = AgentProcess::start(dir.path(), &config_yaml(&cluster, 0, ""));
    let port = |url: &str| -> u16 { url.rsplit(':').next().unwrap().parse().unwrap() };
    let first = cairn::manager::agent_trust::fetch_fingerprint("127.0.0.1", port(&agent.url))
        .await
        .expect("first certificate");
    let state = dir.path().join("state");
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(state.clone()), 0o700, "the state directory is private");
    assert_eq!(
        mode(state.join("agent-self-signed.key")),
        0o600,
        "the key is readable by the agent only"
    );
    let config = dir.path().join("agent.yaml");
    agent.kill();
    let again = AgentProcess::start_with(config);
    let second = cairn::manager::agent_trust::fetch_fingerprint("127.0.0.1", port(&again.url))
        .await
        .expect("second certificate");
    assert_eq!(
        first, second,
        "the restarted agent presents the same certificate"
    );

    // Another agent with its own state directory has a certificate of its own.
    let other_dir = tempfile::tempdir().unwrap();
    let other = AgentProcess::start(other_dir.path(), &config_yaml(&cluster, 0, ""));
    let third = cairn::manager::agent_trust::fetch_fingerprint("127.0.0.1", port(&other.url))
        .await
        .expect("third certificate");
    assert_ne!(first, third, "every agent makes its own pair");
}
