//! `cairn demo`: the whole scripted demo as a user runs it, from the binary.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the demo may take before the test gives up.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The `*.manifest.json.gz` files under `dir`, at any depth.
fn manifests(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(manifests(&path));
        } else if path.to_string_lossy().ends_with("manifest.json.gz") {
            out.push(path);
        }
    }
    out
}

/// The number just before `suffix` in `line` (`"... (92.4% deduplicated)"` → 92.4).
fn number_before(line: &str, suffix: &str) -> Option<f64> {
    let head = &line[..line.find(suffix)?];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

#[test]
fn demo_runs_two_backups_and_deduplicates_the_second() {
    let dir = tempfile::tempdir().expect("temp dir");
    let began = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("demo")
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cairn demo starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if began.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cairn demo still running after {} s; stdout so far:\n{}",
                TIMEOUT.as_secs(),
                out_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = began.elapsed();
    let out = out_reader.join().expect("stdout");
    let err = err_reader.join().expect("stderr");
    eprintln!("{out}");
    eprintln!("cairn demo took {:.1}s in all", took.as_secs_f64());
    if let Some(line) = out.lines().find(|l| l.contains("two backups in")) {
        eprintln!("scripted part: {}", line.trim());
    }
    assert!(status.success(), "cairn demo failed: {status}\n{err}");

    let summary = |n: u32| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("backup {n}: sm_")))
            .unwrap_or_else(|| panic!("no summary of backup {n} in:\n{out}"))
    };
    let (first, second) = (summary(1), summary(2));
    assert!(first.contains("uploaded"), "{first}");
    let dedup = number_before(second, "% deduplicated").expect("a deduplicated percentage");
    assert!(
        dedup > 0.0 && dedup < 100.0,
        "second backup deduplicated {dedup}%: {second}"
    );
    assert!(out.contains("two backups"), "{out}");
    // Both backups validated through the manager with content digests: a row per node, clean.
    assert!(out.contains("validate_backup/demo DONE"), "{out}");
    let validated: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("NODE  "))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        validated.len(),
        4,
        "a row per node of the 4-node demo:\n{out}"
    );
    assert!(
        out.contains(": 0 missing, 0 mis-sized, 0 corrupt"),
        "a clean validate:\n{out}"
    );
    assert!(out.contains("Backups are whole."), "{out}");
    assert!(out.contains("stopped the agents and the manager"), "{out}");

    // The bucket it names holds both snapshots' manifests for every node.
    let bucket_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("bucket:"))
        .expect("the bucket's place is printed");
    let bucket = Path::new(
        bucket_line
            .trim_start()
            .trim_start_matches("bucket:")
            .trim(),
    );
    assert_eq!(
        bucket,
        dir.path().canonicalize().expect("dir").join("bucket"),
        "{bucket_line}"
    );
    let nodes: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("emulated cluster: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the node count is printed");
    let found = manifests(&bucket.join("backup/meta"));
    let mut by_node = std::collections::BTreeMap::<String, usize>::new();
    for m in &found {
        let node = m.parent().expect("node dir").to_string_lossy().into_owned();
        *by_node.entry(node).or_default() += 1;
    }
    assert_eq!(by_node.len(), nodes, "manifests by node: {by_node:?}");
    assert!(
        by_node.values().all(|&n| n == 2),
        "every node has two snapshots' manifests: {by_node:?}"
    );

    // The demo's cluster has CQL credentials: the schema file it prints is in the bucket and
    // holds DESCRIBE SCHEMA WITH INTERNALS rows.
    let schema_line = out
        .lines()
        .find(|l| l.starts_with("schema of sm_"))
        .unwrap_or_else(|| panic!("no schema file printed in:\n{out}"));
    let path = Path::new(schema_line.split_once(": ").expect("schema of TAG: PATH").1);
    assert!(
        path.starts_with(bucket.join("backup/schema")),
        "{schema_line}"
    );
    let gz = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut json)
        .expect("gzipped");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("a JSON array");
    assert!(
        rows.iter()
            .any(|r| r["type"] == "table" && r["keyspace"] == "store" && r["name"] == "orders"),
        "{json}"
    );
    // It ends with a restore of the second backup into a fresh cluster, schema then tables,
    // and every restored table's data matches the backup, each record on exactly its replicas.
    let second_tag = second
        .split_whitespace()
        .find(|w| w.starts_with("sm_"))
        .expect("the second backup's tag");
    assert!(
        out.contains(&format!(
            "restore of {second_tag} into a fresh emulated cluster"
        )),
        "{out}"
    );
    assert!(out.contains("restore/schema DONE"), "{out}");
    assert!(out.contains("restore/tables DONE"), "{out}");
    let tables: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("every restored table against the backup"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert!(
        tables
            .iter()
            .any(|l| l.trim_start().starts_with("store.orders ")),
        "store.orders restored: {tables:?}"
    );
    for line in &tables {
        assert!(line.ends_with(" 0 misplaced: matches the backup"), "{line}");
    }
    let orders = tables
        .iter()
        .find(|l| l.trim_start().starts_with("store.orders "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        orders.is_some_and(|n| n > 0),
        "records of store.orders: {tables:?}"
    );
    assert!(
        out.contains(&format!(
            "restore: every table's data matches the backup ({} tables)",
            tables.len()
        )),
        "{out}"
    );
}
