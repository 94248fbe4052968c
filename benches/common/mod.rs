//! What the benchmarks share: the tools cache, child processes, a local S3 server (s3s-fs),
//! a synchronous HTTP client, and process measurements from `/proc`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// S3 access key of the benchmark server.
pub const ACCESS: &str = "benchaccess";
/// S3 secret key of the benchmark server.
pub const SECRET: &str = "benchsecret1234567890";
/// The bucket benchmarks upload to.
pub const BUCKET: &str = "bench";

/// The tools cache (`CAIRN_TOOLS`, else `~/.cache/cairn-tools`).
pub fn tools() -> PathBuf {
    std::env::var_os("CAIRN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/cairn-tools")
        })
}

/// A number from the environment, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seconds of user+system CPU a process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Spawns `command` with stdout piped and answers it with the first line it prints (where
/// every `cairn` daemon says where it listens).
pub fn spawn_first_line(command: &mut Command, what: &str) -> (Proc, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .unwrap();
    (Proc(child), line)
}

/// Waits (up to 10 s) until something listens on `port` of 127.0.0.1.
pub fn wait_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running s3s-fs server.
pub struct S3 {
    /// The process.
    pub proc: Proc,
    /// Its URL.
    pub endpoint: String,
}

/// Starts s3s-fs serving `root` (with the benchmark bucket created in it).
pub fn start_s3(root: &Path) -> S3 {
    let bin = tools().join("s3s/bin/s3s-fs");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/bench, which installs it",
        bin.display()
    );
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            ACCESS,
            "--secret-key",
            SECRET,
        ])
        .arg(root)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("s3s-fs starts");
    wait_port(port);
    S3 {
        proc: Proc(child),
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

/// A synchronous HTTPS client for this single-threaded program.
pub struct Http {
    /// Its runtime.
    rt: tokio::runtime::Runtime,
    /// The client.
    inner: reqwest::Client,
    /// A bearer token sent with every request, if any.
    token: Option<String>,
}

impl Http {
    /// A client sending `token` as a bearer token, if given.
    pub fn new(token: Option<&str>) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let inner = reqwest::Client::builder()
            .no_proxy()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        Http {
            rt,
            inner,
            token: token.map(str::to_string),
        }
    }

    /// Sends a request and answers the JSON body (`Null` when empty).
    pub fn call(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
        self.rt.block_on(async {
            let mut r = self.inner.request(method, url);
            if let Some(t) = &self.token {
                r = r.bearer_auth(t);
            }
            if let Some(b) = body {
                r = r.json(&b);
            }
            let text = r.send().await.unwrap().text().await.unwrap();
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
        })
    }
}

/// MiB per second.
pub fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1 << 20) as f64 / secs
}

/// Starts `rclone serve s3` serving `root` (with the benchmark bucket created in it): the server
/// the test suite uses, for benchmarks that write many small objects concurrently.
pub fn start_rclone_s3(root: &Path) -> S3 {
    let bin = tools().join("venv/bin/rclone");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/bench, which installs it",
        bin.display()
    );
    std::fs::create_dir_all(root.join("data").join(BUCKET)).unwrap();
    std::fs::write(root.join("rclone.conf"), "").unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .args(["serve", "s3", "--config"])
        .arg(root.join("rclone.conf"))
        .arg("--cache-dir")
        .arg(root.join("cache"))
        .args(["--auth-key", &format!("{ACCESS},{SECRET}")])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .arg(root.join("data"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rclone serve s3 starts");
    wait_port(port);
    S3 {
        proc: Proc(child),
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

/// The token of every agent the benchmarks start.
pub const TOKEN: &str = "bench-token-0123456789";

/// `cairn emulator` as a child, with extra arguments; answers it and its JSON description.
pub fn start_emulator(work: &Path, name: &str, base: &str, extra: &[&str]) -> (Proc, Value) {
    let (proc, line) = spawn_first_line(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["emulator", "--data-dir"])
            .arg(work.join(name))
            .args(["--base-address", base])
            .args(["--api-port", &free_port().to_string()])
            .args(["--prometheus-port", &free_port().to_string()])
            .args(["--cql-port", &free_port().to_string()])
            .args(extra)
            .args(["-o", "json"])
            .env("CAIRN_LOG", "warn"),
        "cairn emulator",
    );
    let doc: Value = serde_json::from_str(&line).expect("emulator prints its nodes as JSON");
    (proc, doc)
}

/// One agent per node of `emulator`, all on `port`, with the S3 location.
pub fn start_agents(work: &Path, emulator: &Value, port: u16, endpoint: &str) -> Vec<Proc> {
    let api = emulator["api_port"].as_u64().unwrap();
    let prom = emulator["prometheus_port"].as_u64().unwrap();
    emulator["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let address = n["address"].as_str().unwrap();
            let config = work.join(format!("agent-{address}.yaml"));
            std::fs::write(
                &config,
                format!(
                    "auth_token: {TOKEN}\nhttps: {address}:{port}\nprometheus: \"\"\nscylla:\n  api_address: {address}\n  api_port: {api}\n  prometheus_port: {prom}\ns3:\n  endpoint: {endpoint}\n  access_key_id: {ACCESS}\n  secret_access_key: {SECRET}\n"
                ),
            )
            .unwrap();
            let (proc, line) = spawn_first_line(
                Command::new(env!("CARGO_BIN_EXE_cairn"))
                    .args(["agent", "--config"])
                    .arg(&config)
                    .env("CAIRN_LOG", "warn"),
                "cairn agent",
            );
            assert!(line.contains("https://"), "agent did not start: {line}");
            proc
        })
        .collect()
}
