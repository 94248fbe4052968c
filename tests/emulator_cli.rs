//! `cairn emulator` as an operator runs it: a real process that prints its nodes, serves until
//! stopped, reopens its data directory on restart, and refuses bad options with one clear line.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A `cairn emulator` process, killed when dropped.
struct Running {
    child: Child,
    /// The JSON document it printed at start.
    doc: Value,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn emulator_command(data_dir: &std::path::Path, nodes: &str, base: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.args(["-o", "json", "emulator", "--data-dir"])
        .arg(data_dir)
        .args([
            "--nodes",
            nodes,
            "--base-address",
            base,
            "--api-port",
            "0",
            "--prometheus-port",
            "0",
            "--cql-port",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn start(data_dir: &std::path::Path, nodes: &str, base: &str) -> Running {
    let mut child = emulator_command(data_dir, nodes, base)
        .spawn()
        .expect("cairn emulator starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reads stdout");
    let doc = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("first line is not JSON ({e}): {line:?}"));
    Running { child, doc }
}

#[test]
fn emulator_process_prints_its_nodes_serves_and_reopens_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emu");
    let base = common::unique_base_address().to_string();
    let run = start(&data, "dc1:2,dc2:1", &base);
    let nodes = run.doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0]["address"], Value::from(base.clone()));
    assert_eq!(nodes[2]["dc"], "dc2");
    let port = run.doc["api_port"].as_u64().unwrap();
    let url = format!(
        "http://{}:{port}/storage_service/host_id",
        nodes[1]["address"].as_str().unwrap()
    );
    let map = get_json(&url);
    assert_eq!(map.as_array().unwrap().len(), 3);
    let host_ids: Vec<Value> = nodes.iter().map(|n| n["host_id"].clone()).collect();
    let data_file = std::path::Path::new(nodes[0]["data_dir"].as_str().unwrap()).join("store");
    let before: Vec<_> = std::fs::read_dir(&data_file)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    drop(run);

    // Restarted on the same directory: the same cluster, the same files.
    let again = start(&data, "dc1:2,dc2:1", &base);
    let ids: Vec<Value> = again.doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["host_id"].clone())
        .collect();
    assert_eq!(ids, host_ids);
    let after: Vec<_> = std::fs::read_dir(&data_file)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    drop(again);

    // A different shape on the same directory is refused with one line naming both.
    let out = emulator_command(&data, "dc1:3", &base).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("dc1:2,dc2:1") && last.contains("dc1:3"),
        "{err}"
    );
}

#[test]
fn bad_options_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["--nodes", "dc1:0"], "at least one node"),
        (vec!["--nodes", "dc1"], "dc:count"),
        (vec!["--dataset", "lots"], "expected tiny, small or a size"),
        (vec!["--sstable-names", "guid"], "expected uuid or integer"),
        (vec!["--base-address", "10.0.0.1"], "loopback"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["emulator", "--data-dir"])
            .arg(dir.path().join("x"))
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !dir.path().join("x").exists(),
            "{args:?}: a refused start must write nothing"
        );
    }
}

/// GETs a URL and parses the JSON answer (a plain function: these tests run no async runtime).
fn get_json(url: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        client.get(url).send().await.unwrap().json().await.unwrap()
    })
}
