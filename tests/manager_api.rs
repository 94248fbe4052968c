//! The manager's REST API, served by a real `cairn manager` process over an emulated
//! `dc1:2,dc2:1` cluster with a real `cairn agent` beside every node: clusters (discovery, token
//! check, status), tasks (validation naming the field, list, update, delete, start and stop), the
//! backup dry run, the OpenAPI file against the routes served, and the daemon's start, restart,
//! stop and refusal of bad configuration.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Timelike, Utc};
use common::agent::TOKEN;
use common::manager::{Fleet, ManagerProcess, run_refused};
use reqwest::Method;
use serde_json::{Value, json};

/// What every test here runs against: an emulated cluster, its agents and a manager.
type Setup = Fleet;

impl Setup {
    /// Starts the cluster, the agents and the manager.
    async fn new() -> Self {
        Fleet::start(|_| String::new()).await
    }

    /// Every node's address.
    fn addresses(&self) -> BTreeSet<String> {
        self.cluster
            .emulator
            .nodes()
            .into_iter()
            .map(|n| n.address)
            .collect()
    }

    /// Adds the cluster as `name` through node 0 only, expecting success.
    async fn add_cluster(&self, name: &str) -> Value {
        let (status, body) = self
            .manager
            .call(
                Method::POST,
                "/api/v1/clusters",
                Some(json!({"name": name, "hosts": [self.cluster.address(0)], "port": self.port, "auth_token": TOKEN,
                            "username": self.cluster.cql_credentials().0, "password": self.cluster.cql_credentials().1})),
            )
            .await;
        assert_eq!(status, 201, "add cluster: {body}");
        body
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.manager.call(method, path, body).await
    }
}

/// Asserts a 4xx answer naming `field`.
fn assert_refused(answer: &(u16, Value), status: u16, field: &str, what: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{what}: {body}");
    assert_eq!(body["field"], field, "{what}: {body}");
    assert_eq!(body["status"], status, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(field),
        "{what}: the message names the field: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clusters_are_added_by_discovering_every_node_and_a_wrong_token_stores_nothing() {
    let mut s = Setup::new().await;

    // A wrong token: refused naming auth_token, nothing stored.
    let wrong = s
        .call(
            Method::POST,
            "/api/v1/clusters",
            Some(json!({"name": "prod", "hosts": [s.cluster.address(0)], "port": s.port, "auth_token": "not-the-token"})),
        )
        .await;
    assert_refused(&wrong, 400, "auth_token", "wrong token");
    // Nobody listens on the agents' port of this address.
    let unreachable = s
        .call(
            Method::POST,
            "/api/v1/clusters",
            Some(json!({"name": "prod", "hosts": ["127.0.0.1"], "port": s.port, "auth_token": TOKEN})),
        )
        .await;
    assert_refused(&unreachable, 400, "hosts", "unreachable hosts");
    let missing = s
        .call(
            Method::POST,
            "/api/v1/clusters",
            Some(json!({"hosts": [s.cluster.address(0)]})),
        )
        .await;
    assert_refused(&missing, 400, "name", "no name");
    let (status, list) = s.call(Method::GET, "/api/v1/clusters", None).await;
    assert_eq!((status, list.clone()), (200, json!([])), "nothing stored");

    // Added through one node: every node is discovered and stored.
    let added = s.add_cluster("prod").await;
    let hosts: BTreeSet<String> = serde_json::from_value(added["hosts"].clone()).unwrap();
    assert_eq!(hosts, s.addresses());
    assert_eq!(added["port"], s.port);
    assert_eq!(added["auth_token_set"], true);
    assert!(
        !added.to_string().contains(TOKEN),
        "the token is never answered: {added}"
    );
    let id = added["id"].as_str().unwrap().to_string();

    let duplicate = s
        .call(
            Method::POST,
            "/api/v1/clusters",
            Some(json!({"name": "prod", "hosts": [s.cluster.address(1)], "port": s.port, "auth_token": TOKEN})),
        )
        .await;
    assert_refused(&duplicate, 409, "name", "duplicate name");

    let (_, list) = s.call(Method::GET, "/api/v1/clusters", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    for key in ["prod", id.as_str()] {
        let (status, got) = s
            .call(Method::GET, &format!("/api/v1/cluster/{key}"), None)
            .await;
        assert_eq!((status, &got), (200, &added), "GET cluster by {key}");
    }
    let (status, _) = s.call(Method::GET, "/api/v1/cluster/staging", None).await;
    assert_eq!(status, 404);

    // Status: every node with its DC, host ID, versions and disk; then one agent killed.
    let (status, st) = s
        .call(Method::GET, "/api/v1/cluster/prod/status", None)
        .await;
    assert_eq!(status, 200, "{st}");
    let nodes = st["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{st}");
    for n in s.cluster.emulator.nodes() {
        let got = nodes
            .iter()
            .find(|v| v["address"] == n.address.as_str())
            .unwrap_or_else(|| panic!("{} in {st}", n.address));
        assert_eq!(got["dc"], n.dc.as_str(), "{got}");
        assert_eq!(got["rack"], n.rack.as_str(), "{got}");
        assert_eq!(got["host_id"], n.host_id.as_str(), "{got}");
        assert_eq!(got["agent_ok"], true, "{got}");
        assert!(
            got["scylla_version"]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{got}"
        );
        assert!(
            got["agent_version"].as_str().is_some_and(|v| !v.is_empty()),
            "{got}"
        );
        assert!(got["disk_free"].as_u64().is_some_and(|f| f > 0), "{got}");
    }
    let down = s.cluster.address(2);
    s.agents[2].kill();
    let (status, st) = s
        .call(Method::GET, "/api/v1/cluster/prod/status", None)
        .await;
    assert_eq!(status, 200, "{st}");
    for n in st["nodes"].as_array().unwrap() {
        let is_down = n["address"] == down.as_str();
        assert_eq!(n["agent_ok"], !is_down, "{n}");
        assert_eq!(n["agent_error"].is_string(), is_down, "{n}");
    }

    // Update: a wrong token is refused and changes nothing; a rename works.
    let wrong = s
        .call(
            Method::PUT,
            "/api/v1/cluster/prod",
            Some(json!({"auth_token": "not-the-token"})),
        )
        .await;
    assert_refused(&wrong, 400, "auth_token", "update with a wrong token");
    let (status, renamed) = s
        .call(
            Method::PUT,
            "/api/v1/cluster/prod",
            Some(json!({"name": "production"})),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(
        (renamed["name"].as_str(), renamed["id"].as_str()),
        (Some("production"), Some(id.as_str()))
    );

    // The state survives a restart; SIGTERM ends the manager with 0; metrics are served.
    s.manager.restart();
    let (status, got) = s
        .call(Method::GET, &format!("/api/v1/cluster/{id}"), None)
        .await;
    assert_eq!(
        (status, got["name"].as_str()),
        (200, Some("production")),
        "{got}"
    );
    s.manager.metrics().await;

    let (status, _) = s
        .call(Method::DELETE, "/api/v1/cluster/production", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = s
        .call(Method::GET, &format!("/api/v1/cluster/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let (_, list) = s.call(Method::GET, "/api/v1/clusters", None).await;
    assert_eq!(list, json!([]));
    let exit = s.manager.stop();
    assert!(exit.success(), "SIGTERM: {exit}");
}

/// The next 1 January 02:00 UTC strictly after now.
fn next_new_year_2am() -> DateTime<Utc> {
    let now = Utc::now();
    let this_year = format!("{}-01-01T02:00:00Z", now.year());
    let t: DateTime<Utc> = this_year.parse().unwrap();
    if t > now {
        t
    } else {
        format!("{}-01-01T02:00:00Z", now.year() + 1)
            .parse()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_are_validated_naming_the_field_then_stored_listed_updated_and_deleted() {
    let s = Setup::new().await;
    s.add_cluster("prod").await;
    let tasks = "/api/v1/cluster/prod/tasks";
    let count_all = || async {
        let (status, list) = s
            .call(Method::GET, &format!("{tasks}?all=true"), None)
            .await;
        assert_eq!(status, 200, "{list}");
        list.as_array().map_or(0, Vec::len)
    };

    // Once a year, so the scheduler does not start a run while the test looks.
    let good = json!({
        "type": "backup",
        "name": "nightly",
        "schedule": {"cron": "0 2 1 1 *", "window": ["*-00:00", "*-23:59"]},
        "properties": {"location": ["s3:cairn-backups"], "keyspace": ["store"], "retention": 5},
    });
    let (status, task) = s.call(Method::POST, tasks, Some(good.clone())).await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(
        (task["name"].as_str(), task["type"].as_str()),
        (Some("nightly"), Some("backup"))
    );
    assert_eq!(task["enabled"], true);
    assert_eq!(
        task["schedule"]["num_retries"], 3,
        "default retries: {task}"
    );
    assert_eq!(
        task["schedule"]["retry_wait_seconds"], 600,
        "default retry wait: {task}"
    );
    assert_eq!(task["properties"]["retention"], 5);
    let id = task["id"].as_str().unwrap().to_string();

    // Every bad input: a 400 (409 for a taken name) naming the field, and nothing stored.
    let with = |patch: Value| {
        let mut body = good.clone();
        body["name"] = json!("another");
        for (k, v) in patch.as_object().unwrap() {
            match k.as_str() {
                "properties" | "schedule" => {
                    for (pk, pv) in v.as_object().unwrap() {
                        body[k][pk] = pv.clone();
                    }
                }
                _ => body[k] = v.clone(),
            }
        }
        body
    };
    for (patch, status, field) in [
        (
            json!({"properties": {"location": ["nfs:bucket"]}}),
            400,
            "properties.location[0]",
        ),
        (
            json!({"properties": {"keyspace": ["store.[ab"]}}),
            400,
            "properties.keyspace",
        ),
        (
            json!({"schedule": {"cron": "61 * * * *"}}),
            400,
            "schedule.cron",
        ),
        (
            json!({"properties": {"retention": -1}}),
            400,
            "properties.retention",
        ),
        (
            json!({"properties": {"location": ["dc9:s3:cairn-backups"]}}),
            400,
            "properties.location[0]",
        ),
        (json!({"properties": {"dc": ["dc9"]}}), 400, "properties.dc"),
        (
            json!({"properties": {"rate_limit": ["dc9:10"]}}),
            400,
            "properties.rate_limit",
        ),
        (
            json!({"properties": {"retention": "five"}}),
            400,
            "properties.retention",
        ),
        (
            json!({"properties": {"locations": ["s3:x"]}}),
            400,
            "properties.locations",
        ),
        (
            json!({"schedule": {"interval": "often", "cron": ""}}),
            400,
            "schedule.interval",
        ),
        (
            json!({"schedule": {"timezone": "Europe/Nowhere"}}),
            400,
            "schedule.timezone",
        ),
        (json!({"type": "repair"}), 400, "type"),
        (
            json!({"type": "validate_backup"}),
            400,
            "properties.keyspace",
        ),
        (json!({"name": "nightly"}), 409, "name"),
    ] {
        let answer = s.call(Method::POST, tasks, Some(with(patch.clone()))).await;
        assert_refused(&answer, status, field, &patch.to_string());
    }
    assert_eq!(count_all().await, 1, "no refused task was stored");

    // Listed with the scheduler's next activation and the task's counters.
    let (status, list) = s
        .call(Method::GET, &format!("{tasks}?type=backup"), None)
        .await;
    assert_eq!(status, 200, "{list}");
    let listed = &list[0];
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["success_count"], 0);
    assert_eq!(listed["running_run_id"], Value::Null);
    let next: DateTime<Utc> = serde_json::from_value(listed["next_activation"].clone())
        .unwrap_or_else(|e| panic!("next_activation ({e}): {listed}"));
    assert_eq!(next, next_new_year_2am(), "{listed}");
    assert_eq!((next.hour(), next.minute()), (2, 0));
    let bad_type = s
        .call(Method::GET, &format!("{tasks}?type=repair"), None)
        .await;
    assert_refused(&bad_type, 400, "type", "list by an unknown type");

    // Get by name and id; update; a bad update changes nothing.
    for key in ["nightly", id.as_str()] {
        let (status, got) = s
            .call(
                Method::GET,
                &format!("/api/v1/cluster/prod/task/backup/{key}"),
                None,
            )
            .await;
        assert_eq!(
            (status, got["id"].as_str()),
            (200, Some(id.as_str())),
            "{got}"
        );
    }
    let task_url = "/api/v1/cluster/prod/task/backup/nightly";
    let bad = s
        .call(
            Method::PUT,
            task_url,
            Some(json!({"properties": {"location": ["s3:ok-bucket"], "transfers": 0}})),
        )
        .await;
    assert_refused(&bad, 400, "properties.transfers", "bad update");
    let (status, updated) = s
        .call(
            Method::PUT,
            task_url,
            Some(json!({"enabled": false, "schedule": {"cron": "", "interval": "12h"}, "properties": {"location": ["s3:other-bucket"]}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["schedule"]["interval_seconds"], 12 * 3600);
    assert_eq!(updated["schedule"]["cron"], Value::Null);
    assert_eq!(
        updated["schedule"]["window"],
        json!(["*-00:00", "*-23:59"]),
        "kept: {updated}"
    );
    assert_eq!(
        updated["properties"],
        json!({"location": ["s3:other-bucket"]})
    );
    let (_, enabled_only) = s.call(Method::GET, tasks, None).await;
    assert_eq!(
        enabled_only,
        json!([]),
        "a disabled task is listed only with all=true"
    );
    assert_eq!(count_all().await, 1);

    // No run yet: empty history, no latest run.
    let (status, history) = s
        .call(Method::GET, &format!("{task_url}/history?limit=5"), None)
        .await;
    assert_eq!((status, history), (200, json!([])));
    let (status, _) = s
        .call(Method::GET, &format!("{task_url}/latest"), None)
        .await;
    assert_eq!(status, 404);

    // Start and stop of a task that does not exist.
    for action in ["start", "stop"] {
        let (status, body) = s
            .call(
                Method::PUT,
                &format!("/api/v1/cluster/prod/task/backup/no-such-task/{action}"),
                None,
            )
            .await;
        assert_eq!(status, 404, "{action}: {body}");
    }

    // Dry run: the tables of the keyspace, every host, and a size estimate.
    let target_url = "/api/v1/cluster/prod/backups/target";
    let (status, target) = s
        .call(
            Method::POST,
            target_url,
            Some(json!({"location": ["s3:cairn-backups"], "keyspace": ["store"]})),
        )
        .await;
    assert_eq!(status, 200, "{target}");
    let units = target["units"].as_array().unwrap();
    let store = units
        .iter()
        .find(|u| u["keyspace"] == "store")
        .unwrap_or_else(|| panic!("{target}"));
    assert!(
        store["tables"].as_array().is_some_and(|t| !t.is_empty()),
        "{target}"
    );
    assert!(
        units
            .iter()
            .all(|u| u["keyspace"] == "store" || u["keyspace"] == "system_schema"),
        "{target}"
    );
    assert_eq!(target["dc"], json!(["dc1", "dc2"]));
    assert_eq!(
        target["hosts"].as_array().map(Vec::len),
        Some(3),
        "{target}"
    );
    assert!(
        target["size"].as_u64().is_some_and(|n| n > 0),
        "estimated size: {target}"
    );
    let bad = s
        .call(
            Method::POST,
            target_url,
            Some(json!({"location": ["s3:cairn-backups"], "keyspace": ["nothing_like_this"]})),
        )
        .await;
    assert_refused(&bad, 400, "keyspace", "dry run selecting no table");
    let bad = s
        .call(
            Method::POST,
            target_url,
            Some(json!({"keyspace": ["store"]})),
        )
        .await;
    assert_refused(&bad, 400, "location", "dry run without a location");

    // Delete: gone from the lists and from lookups.
    let (status, _) = s.call(Method::DELETE, task_url, None).await;
    assert_eq!(status, 204);
    let (status, _) = s.call(Method::GET, task_url, None).await;
    assert_eq!(status, 404);
    assert_eq!(count_all().await, 0);
}

/// Every operation of `docs/openapi.yaml` with its path parameters filled in.
fn openapi_operations() -> Vec<(Method, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let doc: Value = serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is YAML");
    assert_eq!(
        doc["openapi"].as_str().map(|v| &v[..2]),
        Some("3."),
        "OpenAPI 3"
    );
    assert!(
        doc["components"]["schemas"]["Error"].is_object(),
        "the error body is described"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        let filled = path
            .replace("{cluster}", "no-such-cluster")
            .replace("{type}", "backup")
            .replace("{task}", "no-such-task")
            .replace("{run}", "latest");
        assert!(!filled.contains('{'), "unknown path parameter in {path}");
        for (method, op) in item.as_object().expect("path item") {
            let method = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                "parameters" | "summary" | "description" => continue,
                other => panic!("{path}: unexpected key {other}"),
            };
            assert!(
                op["responses"].is_object(),
                "{method} {path} documents its responses"
            );
            ops.push((method, filled.clone()));
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_of_the_openapi_file_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let manager = ManagerProcess::start(dir.path(), "");
    let ops = openapi_operations();
    assert!(ops.len() >= 20, "{} operations documented", ops.len());
    for (method, path) in ops {
        let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
        let (status, answer) = manager.call(method.clone(), &path, body).await;
        // An unrouted path answers 404 "no such endpoint" and a wrong method 405; a handler
        // answers otherwise (here mostly: the cluster is not found).
        assert_ne!(status, 405, "{method} {path} is not routed: {answer}");
        assert!(
            status != 404
                || answer["message"]
                    .as_str()
                    .is_some_and(|m| !m.starts_with("no such endpoint")),
            "{method} {path} fell through to the router's fallback: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_serves_the_api_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let https = format!("https: 127.0.0.1:{}", common::servers::free_port());
    let mut manager = ManagerProcess::start(dir.path(), &https);
    let url = manager
        .https_url
        .clone()
        .expect("the start line names the https address");
    let resp = manager
        .http
        .get(format!("{url}/api/v1/clusters"))
        .send()
        .await
        .expect("https request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!([]));
    let exit = manager.stop();
    assert!(exit.success(), "SIGTERM: {exit}");
}

#[test]
fn bad_configuration_stops_the_manager_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "store:\n  type: sqlite\n  path: {}/c.db\n",
        dir.path().display()
    );
    for (yaml, key) in [
        (format!("{store}http: nowhere\n"), "http"),
        (format!("{store}http: ''\nhttps: ''\n"), "http"),
        (
            "store:\n  type: sqlite\n  path: /no/such/dir/c.db\n".to_string(),
            "store.path",
        ),
        (
            format!("{store}backup:\n  age_max: forever\n"),
            "backup.age_max",
        ),
        (format!("{store}htp: 127.0.0.1:5080\n"), "htp"),
    ] {
        let out = run_refused(dir.path(), &yaml);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{yaml} was accepted");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line for {yaml}: {stderr}");
        assert!(lines[0].contains(key), "{key} named for {yaml}: {stderr}");
    }
}
