//! Manager benchmark: a whole backup of an emulated 2-DC, 6-node cluster, everything as real
//! processes on loopback (`cairn emulator`, six `cairn agent`s, `cairn manager` with SQLite, an
//! rclone S3 server), driven through the manager's REST API as an operator would. Reports the wall
//! time, bytes, throughput, the progress store writes and the manager's peak RSS and CPU, for a
//! first (full) backup and a second one after new writes (deduplicated).
//!
//! Run with `scripts/bench manager`. Environment: `CAIRN_TOOLS` (tools cache),
//! `CAIRN_BENCH_DATASET` (emulator dataset per node, default `small` = 64 MiB),
//! `CAIRN_BENCH_NODES` (default `dc1:3,dc2:3`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::json;

/// `cairn manager` with SQLite in `work`; answers it and its API URL and metrics URL.
fn start_manager(work: &Path) -> (Proc, String, String) {
    let (http, prom) = (free_port(), free_port());
    let config = work.join("manager.yaml");
    std::fs::write(
        &config,
        format!(
            "http: 127.0.0.1:{http}\nprometheus: 127.0.0.1:{prom}\nstore:\n  type: sqlite\n  path: {}\n",
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
    (
        proc,
        format!("http://127.0.0.1:{http}"),
        format!("http://127.0.0.1:{prom}/metrics"),
    )
}

/// The value of a counter without labels in Prometheus text.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// What one run measured.
struct RunFigures {
    /// Seconds from the start request to DONE.
    secs: f64,
    /// Bytes of the snapshot.
    size: u64,
    /// Bytes uploaded.
    uploaded: u64,
    /// Bytes deduplicated.
    skipped: u64,
    /// Progress rows of the run.
    rows: usize,
    /// Store writes of progress during the run.
    writes: u64,
    /// Progress rows those writes stored.
    rows_written: u64,
    /// Manager CPU seconds during the run.
    cpu: f64,
}

/// Starts the task and waits for it to end.
fn run(http: &Http, api: &str, metrics_url: &str, pid: u32) -> RunFigures {
    let before = http.call(Method::GET, metrics_url, None);
    let before = before.as_str().unwrap_or_default().to_string();
    let cpu = cpu_seconds(pid);
    let started = Instant::now();
    let r = http.call(
        Method::PUT,
        &format!("{api}/api/v1/cluster/bench/task/backup/bench/start"),
        None,
    );
    assert!(r["run_id"].is_string(), "start refused: {r}");
    let done = loop {
        let v = http.call(
            Method::GET,
            &format!("{api}/api/v1/cluster/bench/task/backup/bench/latest"),
            None,
        );
        if v["run"]["status"] != "RUNNING" {
            break v;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(done["run"]["status"], "DONE", "{}", done["run"]);
    let after = http.call(Method::GET, metrics_url, None);
    let after = after.as_str().unwrap_or_default().to_string();
    let p = &done["progress"];
    let rows: usize = p["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["keyspaces"].as_array().unwrap())
        .map(|k| k["tables"].as_array().unwrap().len())
        .sum();
    let delta = |name: &str| counter(&after, name) - counter(&before, name);
    RunFigures {
        secs,
        size: p["size"].as_u64().unwrap(),
        uploaded: p["uploaded"].as_u64().unwrap(),
        skipped: p["skipped"].as_u64().unwrap(),
        rows,
        writes: delta("cairn_manager_progress_writes_total"),
        rows_written: delta("cairn_manager_progress_rows_written_total"),
        cpu: cpu_seconds(pid) - cpu,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let nodes = std::env::var("CAIRN_BENCH_NODES").unwrap_or_else(|_| "dc1:3,dc2:3".into());
    let dataset = std::env::var("CAIRN_BENCH_DATASET").unwrap_or_else(|_| "small".into());
    let work = tempfile::Builder::new()
        .prefix("cairn-bench-manager-")
        .tempdir()
        .unwrap();
    // rclone's S3 server: s3s-fs answers 500 to some of the many concurrent small writes.
    let s3 = start_rclone_s3(&work.path().join("s3"));
    let (_emulator, doc) = start_emulator(
        work.path(),
        "cluster",
        "127.77.0.11",
        &["--nodes", &nodes, "--dataset", &dataset],
    );
    let first = doc["nodes"][0]["address"].as_str().unwrap().to_string();
    let port = free_port();
    let _agents = start_agents(work.path(), &doc, port, &s3.endpoint);
    let (manager, api, metrics_url) = start_manager(work.path());
    let pid = manager.0.id();
    let http = Http::new(None);
    let c = http.call(
        Method::POST,
        &format!("{api}/api/v1/clusters"),
        // The emulator's default CQL credentials, so the backup carries its schema.
        Some(
            json!({"name": "bench", "hosts": [first], "port": port, "auth_token": TOKEN,
            "username": "cassandra", "password": "cassandra"}),
        ),
    );
    assert!(c["id"].is_string(), "cluster refused: {c}");
    let t = http.call(
        Method::POST,
        &format!("{api}/api/v1/cluster/bench/tasks"),
        Some(json!({"type": "backup", "name": "bench", "enabled": false,
            "properties": {"location": [format!("s3:{BUCKET}")], "rate_limit": ["0"]}})),
    );
    assert!(t["id"].is_string(), "task refused: {t}");

    let full = run(&http, &api, &metrics_url, pid);
    // New data on every node, then the second, deduplicated backup.
    let control = format!(
        "http://{first}:{}/emulator/nodes",
        doc["api_port"].as_u64().unwrap()
    );
    for n in doc["nodes"].as_array().unwrap() {
        let a = n["address"].as_str().unwrap();
        http.call(
            Method::POST,
            &format!("{control}/{a}/write?keyspace=store&table=orders&bytes=4000000"),
            None,
        );
    }
    let incremental = run(&http, &api, &metrics_url, pid);
    let rss = peak_rss_mib(pid);

    let mut report = String::new();
    report.push_str(&format!(
        "# Manager benchmark: {nodes}, dataset {dataset} per node, {} cores, one run each\n\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    ));
    report.push_str("| backup | wall s | snapshot MiB | uploaded MiB | deduplicated MiB | MiB/s (snapshot/wall) | progress rows | store writes | rows written | manager CPU s |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (name, f) in [("full", &full), ("after writes", &incremental)] {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        report.push_str(&format!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.2} |\n",
            f.secs,
            mib(f.size),
            mib(f.uploaded),
            mib(f.skipped),
            mib_s(f.size, f.secs),
            f.rows,
            f.writes,
            f.rows_written,
            f.cpu
        ));
    }
    report.push_str(&format!(
        "\nManager peak RSS over both runs: {rss:.1} MiB.\n"
    ));
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-manager.md");
    let _ = std::fs::write(&out, &report);
    println!("(written to {})", out.display());
    drop(s3);
}
