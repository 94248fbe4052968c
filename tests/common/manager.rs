//! Starts `cairn manager` as a real process from a generated configuration (a SQLite store in
//! the test's directory, the REST API and the metrics on free loopback ports) and calls its REST
//! API.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestCluster;
use super::agent::{AgentProcess, start_fleet};
use super::servers::free_port;

/// How long the manager may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the manager may take to exit after SIGTERM, or to refuse a configuration.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `cairn manager`; killed when dropped.
pub struct ManagerProcess {
    /// The process.
    child: Option<Child>,
    /// Its configuration file.
    pub config: PathBuf,
    /// `http://127.0.0.1:port` of the REST API.
    pub url: String,
    /// `https://...` of the REST API, when the configuration enables it.
    pub https_url: Option<String>,
    /// The Prometheus URL (`http://.../metrics`), when enabled.
    pub metrics_url: String,
    /// A client for the API (accepting the self-signed certificate of `https`, sending
    /// [`api_token`]).
    pub http: reqwest::Client,
}

/// The REST API token of every test manager of this test process: random, 48 characters.
pub fn api_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        )
    })
}

/// The configuration of a test manager keeping its state in `dir`, with `extra` YAML appended;
/// its API requires [`api_token`].
pub fn config_yaml(dir: &Path, extra: &str) -> String {
    format!(
        "{}auth_token: {}\n{extra}\n",
        config_yaml_open(dir),
        api_token()
    )
}

/// [`config_yaml`] without the `auth_token` line (an API without authentication, on loopback).
pub fn config_yaml_open(dir: &Path) -> String {
    format!(
        "http: 127.0.0.1:{}\nprometheus: 127.0.0.1:{}\nstore:\n  type: sqlite\n  path: {}\n",
        free_port(),
        free_port(),
        dir.join("cairn.db").display()
    )
}

/// The URL in `line` starting with `scheme://`, without trailing punctuation.
fn url_in(line: &str, scheme: &str, suffix: &str) -> Option<String> {
    line.split_whitespace()
        .map(|w| w.trim_end_matches([')', ',']))
        .find(|w| w.starts_with(&format!("{scheme}://")) && w.ends_with(suffix))
        .map(str::to_string)
}

/// Waits up to `timeout` for `child` to exit.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `cairn manager --config CONFIG` with warnings logged and stdout piped.
fn command(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.args(["manager", "--config"])
        .arg(config)
        .env("CAIRN_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    c
}

/// Runs `cairn manager` with `yaml` (written to `dir/manager.yaml`) for a configuration it must
/// refuse; answers its exit status and output. Panics if it is still running after
/// [`EXIT_TIMEOUT`].
pub fn run_refused(dir: &Path, yaml: &str) -> Output {
    let config = dir.join("manager.yaml");
    std::fs::write(&config, yaml).expect("write manager config");
    let mut child = command(&config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("cairn manager starts");
    if wait_exit(&mut child, EXIT_TIMEOUT).is_none() {
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!(
            "cairn manager accepted the configuration and kept running:\n{yaml}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    child.wait_with_output().expect("output")
}

impl ManagerProcess {
    /// Writes a configuration for `dir` (see [`config_yaml`]) with `extra_yaml` to
    /// `dir/manager.yaml` and starts the manager with it.
    pub fn start(dir: &Path, extra_yaml: &str) -> Self {
        let config = dir.join("manager.yaml");
        std::fs::write(&config, config_yaml(dir, extra_yaml)).expect("write manager config");
        Self::start_with(config)
    }

    /// Starts the manager with an existing configuration file and waits until it listens (its
    /// first line on stdout names the addresses it is bound to).
    pub fn start_with(config: PathBuf) -> Self {
        let mut child = command(&config)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cairn manager starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the first line for us, then keeps draining stdout so the manager never writes
        // into a closed pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "cairn manager did not start within {START_TIMEOUT:?} (exit status {status:?}); its stderr is above"
                );
            }
        };
        let url = url_in(&line, "http", "")
            .filter(|u| !u.ends_with("/metrics"))
            .unwrap_or_else(|| panic!("no http address in the manager's line {line:?}"));
        let http = reqwest::Client::builder()
            .no_proxy()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(120))
            .default_headers(
                [(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", api_token()).parse().expect("header"),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .expect("client");
        ManagerProcess {
            child: Some(child),
            config,
            https_url: url_in(&line, "https", ""),
            metrics_url: url_in(&line, "http", "/metrics").unwrap_or_default(),
            url,
            http,
        }
    }

    /// The REST API's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `method path` with a JSON body; answers the status and the body as JSON (`Null`
    /// when empty, a string when not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            request = request.json(&b);
        }
        let resp = request.send().await.expect("request to the manager");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// The manager's metrics text.
    pub async fn metrics(&self) -> String {
        assert!(!self.metrics_url.is_empty(), "metrics are disabled");
        let resp = self
            .http
            .get(&self.metrics_url)
            .send()
            .await
            .expect("metrics request");
        assert_eq!(resp.status(), 200, "GET {}", self.metrics_url);
        resp.text().await.expect("metrics text")
    }

    /// Kills the process (SIGKILL, as a crash would) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit; answers the exit status. Panics if the manager has
    /// not exited within [`EXIT_TIMEOUT`].
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the manager is running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) on our own child's pid, which we have not waited for yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        match wait_exit(&mut child, EXIT_TIMEOUT) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cairn manager did not exit within {EXIT_TIMEOUT:?} of SIGTERM");
            }
        }
    }

    /// Stops the manager (SIGTERM) if it runs, and starts it again with the same configuration
    /// (same ports and store).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(
                status.success(),
                "the manager exited with {status} on SIGTERM"
            );
        }
        *self = Self::start_with(self.config.clone());
    }
}

impl Drop for ManagerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An emulated `dc1:2,dc2:1` cluster, an agent beside every node and a manager, each a real
/// process with its files in one temporary directory; no cluster is added to the manager yet.
pub struct Fleet {
    /// The emulated nodes.
    pub cluster: TestCluster,
    /// The agents, one per node.
    pub agents: Vec<AgentProcess>,
    /// The agents' port.
    pub port: u16,
    /// The manager.
    pub manager: ManagerProcess,
    /// Holds the agents' and the manager's files.
    pub dir: tempfile::TempDir,
}

impl Fleet {
    /// Starts everything. `prepare` gets the temporary directory, makes there what the agents
    /// need, and returns YAML appended to every agent's configuration.
    pub async fn start(prepare: impl FnOnce(&Path) -> String) -> Fleet {
        Self::start_nodes("dc1:2,dc2:1", prepare).await
    }

    /// As [`Fleet::start`], with the cluster's nodes given (e.g. `dc1:4`).
    pub async fn start_nodes(nodes: &str, prepare: impl FnOnce(&Path) -> String) -> Fleet {
        let cluster = TestCluster::start(nodes).await;
        let dir = tempfile::tempdir().unwrap();
        let agent_yaml = prepare(dir.path());
        let (agents, port) = start_fleet(&cluster, dir.path(), &agent_yaml);
        let manager_dir = dir.path().join("manager");
        std::fs::create_dir_all(&manager_dir).unwrap();
        let manager = ManagerProcess::start(&manager_dir, "");
        Fleet {
            cluster,
            agents,
            port,
            manager,
            dir,
        }
    }
}

/// The certificate fingerprints of the agents of every node of `cluster` (on `port`), as
/// `cluster add` pins them, for tests that store a cluster directly.
pub async fn agent_pins(cluster: &TestCluster, port: u16) -> BTreeMap<String, String> {
    let mut pins = BTreeMap::new();
    for node in cluster.emulator.nodes() {
        let fingerprint = cairn::manager::agent_trust::fetch_fingerprint(&node.address, port)
            .await
            .unwrap_or_else(|e| panic!("agent of {}: {e}", node.address));
        pins.insert(node.address.clone(), fingerprint);
    }
    pins
}

/// Writes a self-signed certificate and its key to `dir` and answers the agent YAML that uses
/// them: agents given this keep their certificate, and so their pin, across restarts (an agent
/// without `tls_cert_file` makes a new certificate at every start).
pub fn agent_certificate_yaml(dir: &Path) -> String {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a self-signed certificate");
    let (cert, key) = (dir.join("agent.crt"), dir.join("agent.key"));
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    format!(
        "tls_cert_file: {}\ntls_key_file: {}\n",
        cert.display(),
        key.display()
    )
}
