//! `cairn manager` as a process, end to end through its REST API: a backup run of a cluster
//! added over the API, the manager killed (SIGKILL) in the middle of the upload and started
//! again, and the run it aborted resumed on its own, with the same snapshot tag, as a retry; the
//! API's token and error bodies, the state file's mode, and agents trusted by their pinned
//! certificate only.

mod common;

use std::time::Duration;

use common::agent::{AgentProcess, TOKEN};
use common::backup::{BackupEnv, in_actix};
use common::manager::{Fleet, ManagerProcess};
use reqwest::Method;
use serde_json::{Value, json};

/// Waits until the run `path` answers a body for which `done` holds (at most `limit`).
async fn wait_for(
    m: &ManagerProcess,
    path: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = std::time::Instant::now();
    loop {
        let (status, body) = m.call(Method::GET, path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(start.elapsed() < limit, "{path}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_manager_killed_mid_run_resumes_the_run_after_restart() {
    in_actix(async {
        let Some(env) = BackupEnv::start_with("dc1:2", BackupEnv::settings(), |c| {
            c.dataset = cairn::emulator::config::Dataset::Bytes(6 << 20);
        })
        .await
        else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut manager =
            ManagerProcess::start(dir.path(), "backup:\n  long_polling_timeout_seconds: 1\n");
        let (status, body) = manager
            .call(
                Method::POST,
                "/api/v1/clusters",
                Some(json!({
                    "name": "prod",
                    "hosts": [env.cluster.address(0)],
                    "port": env.port,
                    "auth_token": common::agent::TOKEN,
                    "username": env.cluster.cql_credentials().0,
                    "password": env.cluster.cql_credentials().1,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = manager
            .call(
                Method::POST,
                "/api/v1/cluster/prod/tasks",
                Some(json!({
                    "type": "backup",
                    "name": "nightly",
                    "enabled": false,
                    "properties": {
                        "location": [BackupEnv::location()],
                        "keyspace": ["store", "telemetry"],
                        "rate_limit": ["1"],
                    },
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let run_path = "/api/v1/cluster/prod/task/backup/nightly/latest";
        let start = "/api/v1/cluster/prod/task/backup/nightly/start";
        let history_path = "/api/v1/cluster/prod/task/backup/nightly/history";
        let (status, body) = manager.call(Method::PUT, start, None).await;
        assert_eq!(status, 200, "{body}");
        let first_run = body["run_id"].as_str().unwrap().to_string();

        let uploading = wait_for(&manager, run_path, Duration::from_secs(60), |b| {
            b["progress"]["uploaded"].as_u64().unwrap_or(0) > 0
        })
        .await;
        assert_eq!(uploading["status_text"], "RUNNING (uploading data)");
        assert_eq!(
            uploading["live"]["hosts"].as_object().map(|h| h.len()),
            Some(2),
            "the live state of both hosts: {}",
            uploading["live"]
        );
        let tag = uploading["progress"]["snapshot_tag"]
            .as_str()
            .unwrap()
            .to_string();
        manager.kill();

        manager.restart();
        // No `start`: the manager resumes the run it aborted, as a retry of the (disabled) task.
        let history = wait_for(
            &manager,
            "/api/v1/cluster/prod/task/backup/nightly/history",
            Duration::from_secs(20),
            |b| b.as_array().is_some_and(|runs| runs.len() >= 2),
        )
        .await;
        assert_eq!(
            history[1]["id"],
            first_run.as_str(),
            "the killed run is the older one: {history}"
        );
        assert_eq!(history[1]["status"], "ABORTED", "{history}");
        let (status, task) = manager
            .call(
                Method::GET,
                "/api/v1/cluster/prod/task/backup/nightly",
                None,
            )
            .await;
        assert_eq!(status, 200, "{task}");
        assert!(
            task["running_run_id"] == history[0]["id"] || task["status"] == "DONE",
            "{task}"
        );
        if task["running_run_id"] == history[0]["id"] {
            assert_eq!(task["retries"], 1, "counted as a retry: {task}");
        }
        let done = wait_for(&manager, run_path, Duration::from_secs(180), |b| {
            b["run"]["status"] != "RUNNING"
        })
        .await;
        assert_eq!(done["run"]["status"], "DONE", "{done}");
        assert_eq!(
            done["progress"]["snapshot_tag"],
            tag.as_str(),
            "the next run resumes the interrupted one's snapshot"
        );
        let size = done["progress"]["size"].as_u64().unwrap();
        let success = done["progress"]["uploaded"].as_u64().unwrap()
            + done["progress"]["skipped"].as_u64().unwrap();
        assert_eq!(success, size, "everything is in the location: {done}");
        let manifests = env.manifests().await;
        assert_eq!(manifests.len(), 2, "one manifest per node");
        assert!(
            manifests
                .iter()
                .all(|m| !m.temporary && m.snapshot_tag.as_str() == tag)
        );

        let metrics = manager.metrics().await;
        assert!(
            metrics.contains("cairn_manager_backup_files_uploaded_bytes{"),
            "per-table progress metrics are published"
        );
        assert!(metrics.contains("cairn_manager_scheduler_run_total{"));
        // A run a user stopped is not resumed by a restart.
        let (status, body) = manager.call(Method::PUT, start, Some(json!({}))).await;
        assert_eq!(status, 200, "{body}");
        let second = body["run_id"].as_str().unwrap().to_string();
        let (status, body) = manager
            .call(
                Method::PUT,
                "/api/v1/cluster/prod/task/backup/nightly/stop",
                None,
            )
            .await;
        assert_eq!(status, 204, "{body}");
        wait_for(&manager, history_path, Duration::from_secs(30), |b| {
            b[0]["id"] == second.as_str() && b[0]["status"] == "STOPPED"
        })
        .await;
        manager.restart();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, history) = manager.call(Method::GET, history_path, None).await;
        assert_eq!(history[0]["id"], second.as_str(), "no new run: {history}");
        assert_eq!(history[0]["status"], "STOPPED");

        assert!(manager.stop().success(), "a clean stop");
    });
}

/// The value of the counter `name` in Prometheus text `metrics` (0 when it is absent).
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A client that sends no token.
fn anonymous() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_requires_the_manager_token_and_refuses_others_in_the_standard_body() {
    let dir = tempfile::tempdir().unwrap();
    let manager = ManagerProcess::start(dir.path(), "");
    let url = format!("{}/api/v1/clusters", manager.url());
    for (what, request) in [
        ("no token", anonymous().get(&url)),
        (
            "a wrong token",
            anonymous().get(&url).bearer_auth("0123456789abcdef0123"),
        ),
        (
            "an unknown path without a token",
            anonymous().get(format!("{}/api/v1/nosuch", manager.url())),
        ),
    ] {
        let began = std::time::Instant::now();
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{what}");
        let body: Value = resp.json().await.expect("a JSON body");
        assert_eq!(body["status"], 401, "{what}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("auth_token"),
            "{what}: {body}"
        );
        assert!(
            began.elapsed() >= Duration::from_millis(900),
            "{what}: answered after the penalty delay"
        );
    }
    let (status, body) = manager.call(Method::GET, "/api/v1/clusters", None).await;
    assert_eq!(
        (status, body),
        (200, json!([])),
        "the right token is served"
    );
    // The scheme is matched in any case (RFC 7235), as the agents match it.
    let lower = anonymous()
        .get(&url)
        .header(
            "authorization",
            format!("bearer {}", common::manager::api_token()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 200, "a lower-case scheme is served");
    let metrics = manager.metrics().await;
    assert_eq!(
        counter(&metrics, "cairn_manager_unauthorized_total"),
        3.0,
        "{metrics}"
    );
}

/// POSTs `size` bytes of JSON to `path` over a raw connection, reading the answer while the body
/// is still being written (the manager answers 413 without reading it all, and closes);
/// answers the status and the JSON body.
async fn oversized_post(manager: &ManagerProcess, path: &str, size: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = manager.url().trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n",
        common::manager::api_token()
    );
    let writer = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        let chunk = vec![b' '; 64 << 10];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len());
            if write.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            left -= n;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((_, body)) = text.split_once("\r\n\r\n")
            && serde_json::from_str::<Value>(body).is_ok()
        {
            break;
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or_else(|| panic!("no JSON body in {text:?}"));
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_standard_body() {
    let dir = tempfile::tempdir().unwrap();
    let manager = ManagerProcess::start(dir.path(), "");
    let url = |path: &str| format!("{}{path}", manager.url());
    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let allow = resp
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = resp.json().await.expect("a JSON body");
        assert_eq!(body["status"], status, "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty(), "{body}");
        (status, body, allow)
    };
    let http = &manager.http;
    let json_body = |text: String| {
        http.post(url("/api/v1/clusters"))
            .header("content-type", "application/json")
            .body(text)
    };

    let (status, body, _) = send(http.get(url("/api/v1/nosuch"))).await;
    assert_eq!(status, 404);
    assert!(
        body["message"].as_str().unwrap().contains("/api/v1/nosuch"),
        "{body}"
    );
    let (status, body, allow) = send(http.patch(url("/api/v1/clusters"))).await;
    assert_eq!(status, 405);
    assert!(
        body["message"].as_str().unwrap().contains("PATCH"),
        "{body}"
    );
    assert!(
        allow.is_some_and(|a| a.contains("POST")),
        "the Allow header stays"
    );
    let (status, body) = oversized_post(&manager, "/api/v1/clusters", 3 << 20).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["status"], 413, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    for (text, field, needle) in [
        ("[1, 2]", "body", "JSON object"),
        ("\"prod\"", "body", "JSON object"),
        ("{\"name\": ", "body", "not a JSON document"),
        ("{\"name\": 5}", "name", "string"),
        ("{\"nme\": \"x\"}", "nme", "unknown field"),
    ] {
        let (status, body, _) = send(json_body(text.to_string())).await;
        assert_eq!(status, 400, "{text}: {body}");
        assert_eq!(body["field"], field, "{text}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{text}: {body}"
        );
    }
    let (status, _) = manager.call(Method::GET, "/api/v1/clusters", None).await;
    assert_eq!(status, 200, "nothing was added");
}

#[test]
fn beyond_loopback_the_api_needs_a_token_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "store:\n  type: sqlite\n  path: {}/c.db\nprometheus: ''\n",
        dir.path().display()
    );
    let port = common::servers::free_port();
    for (yaml, needles) in [
        (
            format!("{store}http: 0.0.0.0:{port}\n"),
            &["auth_token", "beyond loopback"][..],
        ),
        (
            format!("{store}http: 127.0.0.1:{port}\nauth_token: short\n"),
            &["auth_token", "16"][..],
        ),
        (
            format!(
                "{store}http: 127.0.0.1:{port}\nauth_token: 0123456789abcdef0\nauth_token_file: /x\n"
            ),
            &["auth_token_file"][..],
        ),
        (
            format!("{store}http: 127.0.0.1:{port}\nauth_token_file: /no/such/token\n"),
            &["auth_token_file", "/no/such/token"][..],
        ),
    ] {
        let out = common::manager::run_refused(dir.path(), &yaml);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{yaml} was accepted");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line for {yaml}: {stderr}");
        for needle in needles {
            assert!(lines[0].contains(needle), "{needle} for {yaml}: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_may_come_from_a_file_and_insecure_no_auth_serves_without_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("api-token");
    std::fs::write(&token_file, format!("{}\n", common::manager::api_token())).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.path().join("manager.yaml");
    std::fs::write(
        &config,
        format!(
            "{}auth_token_file: {}\n",
            common::manager::config_yaml_open(dir.path()),
            token_file.display()
        ),
    )
    .unwrap();
    let manager = ManagerProcess::start_with(config);
    let (status, _) = manager.call(Method::GET, "/api/v1/clusters", None).await;
    assert_eq!(status, 200, "the token of the file");
    let resp = anonymous()
        .get(format!("{}/api/v1/clusters", manager.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    drop(manager);

    // Beyond loopback without a token only when the configuration says so.
    let open = tempfile::tempdir().unwrap();
    let port = common::servers::free_port();
    let config = open.path().join("manager.yaml");
    std::fs::write(
        &config,
        format!(
            "http: 0.0.0.0:{port}\nprometheus: ''\ninsecure_no_auth: true\nstore:\n  type: sqlite\n  path: {}/c.db\n",
            open.path().display()
        ),
    )
    .unwrap();
    let manager = ManagerProcess::start_with(config);
    let resp = anonymous()
        .get(format!("http://127.0.0.1:{port}/api/v1/clusters"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "served without a token, as configured");
    drop(manager);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // A new store.
    let dir = tempfile::tempdir().unwrap();
    let manager = ManagerProcess::start(dir.path(), "");
    let (status, _) = manager.call(Method::GET, "/api/v1/clusters", None).await;
    assert_eq!(status, 200);
    let db = dir.path().join("cairn.db");
    assert_eq!(mode(&db), 0o600, "a new state file");
    let wal = dir.path().join("cairn.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600, "its write-ahead log");
    }
    drop(manager);
    // An existing store readable by everyone is tightened.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cairn.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let manager = ManagerProcess::start(dir.path(), "");
    let (status, _) = manager.call(Method::GET, "/api/v1/clusters", None).await;
    assert_eq!(status, 200);
    assert_eq!(mode(&db), 0o600, "an existing state file tightened");
}

/// An agent that is not the cluster's: a real agent process on `address:port` with its own
/// self-signed certificate and another token, so a request carrying the cluster's token would be
/// counted in its `cairn_agent_unauthorized_total`.
fn impostor(fleet: &Fleet, address: &str, dir: &std::path::Path) -> AgentProcess {
    let yaml = format!(
        "auth_token: {}\nhttps: {address}:{}\nprometheus: 127.0.0.1:0\nscylla:\n  api_address: {}\n  api_port: {}\n  prometheus_port: {}\n",
        uuid::Uuid::new_v4().simple(),
        fleet.port,
        fleet.cluster.address(0),
        fleet.cluster.emulator.api_port(),
        fleet.cluster.emulator.prometheus_port(),
    );
    std::fs::create_dir_all(dir).unwrap();
    AgentProcess::start(dir, &yaml)
}

/// How many requests `agent` refused for their token.
async fn refused_by(agent: &AgentProcess) -> f64 {
    let text = agent
        .http
        .get(&agent.metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    counter(&text, "cairn_agent_unauthorized_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_goes_only_to_agents_whose_certificate_is_pinned() {
    let mut fleet = Fleet::start(|_| String::new()).await;
    let m = &fleet.manager;
    let (status, added) = m
        .call(
            Method::POST,
            "/api/v1/clusters",
            Some(json!({"name": "prod", "hosts": [fleet.cluster.address(0)],
                        "port": fleet.port, "auth_token": TOKEN})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let pins = added["agent_fingerprints"].as_object().unwrap().clone();
    assert_eq!(pins.len(), 3, "every node's agent pinned at add: {added}");
    for (host, pin) in &pins {
        let probed = cairn::manager::agent_trust::fetch_fingerprint(host, fleet.port)
            .await
            .unwrap();
        assert_eq!(pin, &json!(probed), "{host}");
    }

    // 1. A new address the cluster is told about: refused before the token is sent.
    let node = fleet.cluster.address(2);
    let (prefix, last) = node.rsplit_once('.').unwrap();
    let stranger = format!("{prefix}.{}", last.parse::<u8>().unwrap() + 100);
    let outsider = impostor(&fleet, &stranger, &fleet.dir.path().join("outsider"));
    let (status, body) = m
        .call(
            Method::PUT,
            "/api/v1/cluster/prod",
            Some(json!({"hosts": [stranger]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&stranger)
            && message.contains("not pinned")
            && message.contains("--repin"),
        "{message}"
    );
    assert_eq!(
        refused_by(&outsider).await,
        0.0,
        "the outsider never saw a token"
    );

    // 2. Another agent answers at a node's address: the changed certificate is reported with
    //    both fingerprints, and the token is not sent.
    let victim = fleet.cluster.address(1);
    fleet.agents[1].kill();
    let replacement = impostor(&fleet, &victim, &fleet.dir.path().join("replacement"));
    let m = &fleet.manager;
    let (status, body) = m
        .call(Method::GET, "/api/v1/cluster/prod/status", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let row = body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["address"] == json!(victim))
        .unwrap_or_else(|| panic!("{victim} in {body}"))
        .clone();
    assert_eq!(row["agent_ok"], false, "{row}");
    let error = row["agent_error"].as_str().unwrap();
    let pinned = pins[&victim].as_str().unwrap();
    let presented = cairn::manager::agent_trust::fetch_fingerprint(&victim, fleet.port)
        .await
        .unwrap();
    assert_ne!(pinned, presented);
    for needle in [
        victim.as_str(),
        "changed",
        pinned,
        presented.as_str(),
        "--repin",
    ] {
        assert!(error.contains(needle), "{needle} in {error}");
    }
    assert_eq!(row["agent_cert_sha256"], json!(pinned), "{row}");
    let status_cli = common::cli::cairn(m.url(), &["cluster", "status", "-c", "prod"]).await;
    let shown = status_cli.ok("cluster status");
    assert!(shown.contains(&pinned[..16]), "the pin is shown:\n{shown}");
    assert_eq!(
        refused_by(&replacement).await,
        0.0,
        "the replacement never saw a token"
    );

    // 3. Repinning it on purpose trusts it: then (and only then) it gets the token, which it
    //    refuses, since it is not the cluster's agent.
    let (status, body) = m
        .call(
            Method::PUT,
            "/api/v1/cluster/prod",
            Some(json!({"repin": [victim]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "auth_token", "{body}");
    assert!(
        refused_by(&replacement).await >= 1.0,
        "the counter counts tokens"
    );
    let (_, stored) = m.call(Method::GET, "/api/v1/cluster/prod", None).await;
    assert_eq!(
        stored["agent_fingerprints"][&victim],
        json!(pinned),
        "a refused update changes nothing: {stored}"
    );
}
