//! Test harness: starts emulated clusters on loopback ranges of their own, so tests run in
//! parallel without port or address clashes, and wraps the HTTP calls tests make.

#![allow(dead_code)]

pub mod agent;
pub mod backup;
pub mod cli;
pub mod cql;
pub mod gcs;
pub mod manager;
pub mod restore;
pub mod servers;
pub mod sm_layout;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

use cairn::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use tempfile::TempDir;

/// A distinct `127.a.b.11` for every cluster a test process starts.
pub fn unique_base_address() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let a = 20 + (std::process::id() % 200) as u8;
    Ipv4Addr::new(127, a, (n % 250) as u8 + 1, 11)
}

/// A running emulated cluster with its temporary data directory and an HTTP client.
pub struct TestCluster {
    /// The emulator.
    pub emulator: Emulator,
    /// Root of the data; removed when the test ends.
    pub dir: TempDir,
    /// Client for the nodes' APIs.
    pub http: reqwest::Client,
}

impl TestCluster {
    /// Starts a cluster of `nodes` (e.g. `dc1:3,dc2:3`) with a tiny dataset on free ports.
    pub async fn start(nodes: &str) -> Self {
        Self::start_with(nodes, |_| {}).await
    }

    /// Starts a cluster, letting the test adjust the configuration first.
    pub async fn start_with(nodes: &str, adjust: impl FnOnce(&mut EmulatorConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = EmulatorConfig::new(
            dir.path().join("cluster"),
            nodes.parse().expect("node counts"),
        );
        config.base_address = unique_base_address();
        config.api_port = 0;
        config.prometheus_port = 0;
        config.cql_port = 0;
        adjust(&mut config);
        let emulator = Emulator::start(config).await.expect("emulator starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("http client");
        TestCluster {
            emulator,
            dir,
            http,
        }
    }

    /// The emulator's CQL user and password (`--cql-user`, `--cql-password`), as a cluster is
    /// added with them so that its backups carry the schema.
    pub fn cql_credentials(&self) -> (String, String) {
        let config = &self.emulator.cluster().config;
        (config.cql_user.clone(), config.cql_password.clone())
    }

    /// The address of node `i`.
    pub fn address(&self, i: usize) -> String {
        self.emulator.nodes()[i].address.clone()
    }

    /// The URL of `path` on node `i`.
    pub fn url(&self, i: usize, path: &str) -> String {
        format!("{}{path}", self.emulator.nodes()[i].api_url)
    }

    /// GETs `path` from node `i`, expecting 200 and JSON.
    pub async fn get(&self, i: usize, path: &str) -> Value {
        let resp = self
            .http
            .get(self.url(i, path))
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let body = resp.text().await.expect("body");
        assert!(
            status.is_success(),
            "GET {path} on node {i}: {status} {body}"
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// Sends `method path` to node `i`; returns the status and the body parsed as JSON (or Null).
    pub async fn call(&self, i: usize, method: reqwest::Method, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .request(method.clone(), self.url(i, path))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body = resp.text().await.expect("body");
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// POSTs to node `i`, expecting success.
    pub async fn post_ok(&self, i: usize, path: &str) {
        let (status, body) = self.call(i, reqwest::Method::POST, path).await;
        assert_eq!(status, 200, "POST {path} on node {i}: {body}");
    }

    /// The data directory of node `i`.
    pub fn data_dir(&self, i: usize) -> std::path::PathBuf {
        self.emulator.nodes()[i].data_dir.clone().into()
    }

    /// The directory of `ks.table` on node `i`.
    pub fn table_dir(&self, i: usize, ks: &str, table: &str) -> std::path::PathBuf {
        let ks_dir = self.data_dir(i).join(ks);
        std::fs::read_dir(&ks_dir)
            .expect("keyspace dir")
            .map(|e| e.expect("entry").path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.rsplit_once('-').is_some_and(|(t, _)| t == table))
            })
            .unwrap_or_else(|| panic!("no directory for {ks}.{table} in {}", ks_dir.display()))
    }
}

impl TestCluster {
    /// The snapshot tags node `i` holds on its disk.
    pub fn local_snapshots(&self, i: usize) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        let data = self.data_dir(i);
        for ks in std::fs::read_dir(&data).expect("data dir").flatten() {
            let Ok(tables) = std::fs::read_dir(ks.path()) else {
                continue;
            };
            for t in tables.flatten() {
                if let Ok(snaps) = std::fs::read_dir(t.path().join("snapshots")) {
                    for s in snaps.flatten() {
                        out.insert(s.file_name().to_string_lossy().to_string());
                    }
                }
            }
        }
        out
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.emulator.shutdown();
    }
}

/// Names of the regular files directly in `dir`, sorted.
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
