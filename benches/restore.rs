//! Restore benchmark: Cairn's pipelined restore against upstream's sequential flow on the same
//! data, the same emulated load&stream rate and the same transfers. Everything is a real process
//! on loopback: a source `cairn emulator` backed up through `cairn manager` to an rclone S3 server,
//! then two fresh, empty emulated clusters with the same seed (so the same tokens) restored from
//! that backup: one by a manager whose `restore.pipeline` is on (the next batch downloads while the
//! current one is loaded), one by the same manager restarted with it off (download, then load,
//! per batch, as ScyllaDB Manager does).
//!
//! The model: every target node has `CAIRN_BENCH_SHARDS` shards (default 2), load&stream runs at
//! `CAIRN_BENCH_STREAM_RATE` MiB/s per shard (default 8), and downloads are limited to the same
//! rate per node (`rate_limit` = stream rate × shards), so download and load cost about the same:
//! the case where pipelining should give close to 2×, and at least 1.5×.
//!
//! Run with `scripts/bench restore`. Environment: `CAIRN_TOOLS` (tools cache),
//! `CAIRN_BENCH_DATASET` (source data per node, default `small` = 64 MiB), `CAIRN_BENCH_NODES`
//! (source and target nodes, default `dc1:3`), `CAIRN_BENCH_BATCH` (batch size, default 1).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// `cairn manager` with SQLite in `work` and `restore.pipeline` as given; answers it and its API
/// URL. The same store and port across restarts.
fn start_manager(work: &Path, http_port: u16, pipeline: bool) -> (Proc, String) {
    let config = work.join("manager.yaml");
    std::fs::write(
        &config,
        format!(
            "http: 127.0.0.1:{http_port}\nprometheus: \"\"\nstore:\n  type: sqlite\n  path: {}\nrestore:\n  pipeline: {pipeline}\n",
            work.join("cairn.db").display()
        ),
    )
    .unwrap();
    let (proc, _) = spawn_first_line(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["manager", "--config"])
            .arg(&config)
            .env("CAIRN_LOG", "warn"),
        "cairn manager",
    );
    (proc, format!("http://127.0.0.1:{http_port}"))
}

/// Adds the cluster `name` whose first node is `first`.
fn add_cluster(http: &Http, api: &str, name: &str, first: &str, port: u16) {
    let c = http.call(
        Method::POST,
        &format!("{api}/api/v1/clusters"),
        Some(
            json!({"name": name, "hosts": [first], "port": port, "auth_token": TOKEN,
            "username": "cassandra", "password": "cassandra"}),
        ),
    );
    assert!(c["id"].is_string(), "cluster {name} refused: {c}");
}

/// Creates task `kind/name` on `cluster` with `properties`, starts it and waits for its end;
/// answers the run's document and the wall time.
fn run_task(
    http: &Http,
    api: &str,
    cluster: &str,
    kind: &str,
    name: &str,
    properties: Value,
) -> (Value, f64) {
    let t = http.call(
        Method::POST,
        &format!("{api}/api/v1/cluster/{cluster}/tasks"),
        Some(json!({"type": kind, "name": name, "enabled": false, "properties": properties})),
    );
    assert!(t["id"].is_string(), "task {kind}/{name} refused: {t}");
    let started = Instant::now();
    let r = http.call(
        Method::PUT,
        &format!("{api}/api/v1/cluster/{cluster}/task/{kind}/{name}/start"),
        None,
    );
    assert!(r["run_id"].is_string(), "start refused: {r}");
    let done = loop {
        let v = http.call(
            Method::GET,
            &format!("{api}/api/v1/cluster/{cluster}/task/{kind}/{name}/latest"),
            None,
        );
        if !matches!(v["run"]["status"].as_str(), Some("RUNNING" | "NEW") | None) {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(
        done["run"]["status"], "DONE",
        "{kind}/{name}: {}",
        done["run"]
    );
    (done, secs)
}

/// Seconds of the DATA stage: from the first batch's download start to the last batch restored
/// (the tables' `started_at` and `completed_at` in the run's progress).
fn data_secs(progress: &Value) -> f64 {
    let times = |field: &str| -> Vec<chrono::DateTime<chrono::Utc>> {
        progress["keyspaces"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|k| k["tables"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t[field].as_str()?.parse().ok())
            .collect()
    };
    match (
        times("started_at").into_iter().min(),
        times("completed_at").into_iter().max(),
    ) {
        (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
        _ => f64::NAN,
    }
}

/// The mean of a per-host rate of a restore's progress, MiB/s per shard.
fn host_rate(progress: &Value, field: &str) -> f64 {
    let hosts = progress["hosts"].as_array().cloned().unwrap_or_default();
    let sum: f64 = hosts.iter().filter_map(|h| h[field].as_f64()).sum();
    sum / hosts.len().max(1) as f64 / (1 << 20) as f64
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let nodes = std::env::var("CAIRN_BENCH_NODES").unwrap_or_else(|_| "dc1:3".into());
    let dataset = std::env::var("CAIRN_BENCH_DATASET").unwrap_or_else(|_| "small".into());
    let shards = env_num("CAIRN_BENCH_SHARDS", 2);
    let stream_rate = env_num("CAIRN_BENCH_STREAM_RATE", 8);
    let batch = env_num("CAIRN_BENCH_BATCH", 1);
    let work = tempfile::Builder::new()
        .prefix("cairn-bench-restore-")
        .tempdir()
        .unwrap();
    let s3 = start_rclone_s3(&work.path().join("s3"));
    let (_source, source_doc) = start_emulator(
        work.path(),
        "source",
        "127.78.0.11",
        &["--nodes", &nodes, "--dataset", &dataset],
    );
    let target_args = |_: &str| {
        vec![
            "--nodes".to_string(),
            nodes.clone(),
            "--empty".to_string(),
            "--seed".to_string(),
            "77".to_string(),
            "--shards".to_string(),
            shards.to_string(),
            "--stream-rate".to_string(),
            stream_rate.to_string(),
        ]
    };
    let a_args = target_args("a");
    let b_args = target_args("b");
    let (_a, a_doc) = start_emulator(
        work.path(),
        "pipelined",
        "127.78.1.11",
        &a_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let (_b, b_doc) = start_emulator(
        work.path(),
        "sequential",
        "127.78.2.11",
        &b_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let port = free_port();
    let _agents: Vec<Vec<Proc>> = [&source_doc, &a_doc, &b_doc]
        .iter()
        .map(|doc| start_agents(work.path(), doc, port, &s3.endpoint))
        .collect();
    let http_port = free_port();
    let (manager, api) = start_manager(work.path(), http_port, true);
    let http = Http::new(None);
    let first = |doc: &Value| doc["nodes"][0]["address"].as_str().unwrap().to_string();
    add_cluster(&http, &api, "source", &first(&source_doc), port);
    add_cluster(&http, &api, "pipelined", &first(&a_doc), port);
    add_cluster(&http, &api, "sequential", &first(&b_doc), port);

    let location = format!("s3:{BUCKET}");
    let (backup, _) = run_task(
        &http,
        &api,
        "source",
        "backup",
        "bench",
        json!({"location": [location], "keyspace": ["store"], "rate_limit": ["0"]}),
    );
    let tag = backup["progress"]["snapshot_tag"]
        .as_str()
        .unwrap()
        .to_string();
    for cluster in ["pipelined", "sequential"] {
        run_task(
            &http,
            &api,
            cluster,
            "restore",
            "schema",
            json!({"location": [location], "snapshot_tag": tag, "restore_schema": true}),
        );
    }
    let tables = json!({"location": [location], "snapshot_tag": tag, "restore_tables": true,
        "keyspace": ["store"], "batch_size": batch,
        "rate_limit": [(stream_rate * shards).to_string()]});

    let cpu = cpu_seconds(manager.0.id());
    let (pipelined, pipelined_secs) = run_task(
        &http,
        &api,
        "pipelined",
        "restore",
        "tables",
        tables.clone(),
    );
    let pipelined_cpu = cpu_seconds(manager.0.id()) - cpu;
    drop(manager);
    let (manager, api) = start_manager(work.path(), http_port, false);
    // A new client: the pooled connections went with the first manager.
    let http = Http::new(None);
    let cpu = cpu_seconds(manager.0.id());
    let (sequential, sequential_secs) =
        run_task(&http, &api, "sequential", "restore", "tables", tables);
    let sequential_cpu = cpu_seconds(manager.0.id()) - cpu;
    let rss = peak_rss_mib(manager.0.id());

    let size = pipelined["progress"]["size"].as_u64().unwrap_or(0);
    let mut report = String::new();
    report.push_str(&format!(
        "# Restore benchmark: {nodes} → {nodes}, dataset {dataset} per source node, keyspace store, one run each\n\n\
         Model: {shards} shards per target node, load&stream {stream_rate} MiB/s per shard, downloads limited to {} MiB/s per node, batch size {batch}, {} cores.\n\n",
        stream_rate * shards,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    ));
    report.push_str("| restore | DATA s | run wall s | restored MiB | DATA MiB/s | download MiB/s/shard | load&stream MiB/s/shard | manager CPU s |\n|---|---|---|---|---|---|---|---|\n");
    for (name, doc, secs, cpu) in [
        (
            "pipelined (Cairn)",
            &pipelined,
            pipelined_secs,
            pipelined_cpu,
        ),
        (
            "sequential (upstream's flow)",
            &sequential,
            sequential_secs,
            sequential_cpu,
        ),
    ] {
        let p = &doc["progress"];
        let data = data_secs(p);
        report.push_str(&format!(
            "| {name} | {data:.1} | {secs:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {cpu:.2} |\n",
            size as f64 / (1 << 20) as f64,
            mib_s(size, data),
            host_rate(p, "download_bytes_per_second_per_shard"),
            host_rate(p, "stream_bytes_per_second_per_shard"),
        ));
    }
    report.push_str(&format!(
        "\nPipelined vs sequential: DATA stage {:.2}× faster, whole run {:.2}× (the run also repairs, \
         and awaits the views, polled every 10 s as upstream does). Manager peak RSS (second manager): {rss:.1} MiB.\n",
        data_secs(&sequential["progress"]) / data_secs(&pipelined["progress"]),
        sequential_secs / pipelined_secs
    ));
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-restore.md");
    let _ = std::fs::write(&out, &report);
    println!("(written to {})", out.display());
    drop(s3);
}
