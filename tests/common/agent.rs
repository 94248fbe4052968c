//! Starts `cairn agent` as a real process beside an emulated node, from a generated config, and
//! talks to it over HTTPS with its token.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The token test agents use.
pub const TOKEN: &str = "s3cr3t-t0ken-for-tests";

/// A running agent process; killed when dropped.
pub struct AgentProcess {
    /// The process.
    child: Option<Child>,
    /// Its configuration file.
    pub config: PathBuf,
    /// `https://address:port`.
    pub url: String,
    /// Its Prometheus URL.
    pub metrics_url: String,
    /// A client that accepts the agent's self-signed certificate.
    pub http: reqwest::Client,
}

/// The YAML of an agent beside node `i` of an emulated cluster, with extra sections.
pub fn config_yaml(cluster: &super::TestCluster, i: usize, extra: &str) -> String {
    let (address, api, prom) = (
        cluster.address(i),
        cluster.emulator.api_port(),
        cluster.emulator.prometheus_port(),
    );
    format!(
        "auth_token: {TOKEN}\nhttps: 127.0.0.1:0\nprometheus: 127.0.0.1:0\nscylla:\n  api_address: {address}\n  api_port: {api}\n  prometheus_port: {prom}\n{extra}\n"
    )
}

/// Starts an agent beside every node of `cluster`, each on its node's address and one shared free
/// port (as in production, where every agent listens on its node on port 10001), with `extra`
/// YAML appended to each configuration. Returns the agents and the port.
pub fn start_fleet(
    cluster: &super::TestCluster,
    dir: &Path,
    extra: &str,
) -> (Vec<AgentProcess>, u16) {
    let port = std::net::TcpListener::bind((cluster.address(0).as_str(), 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let agents = (0..cluster.emulator.nodes().len())
        .map(|i| {
            let address = cluster.address(i);
            let yaml = format!(
                "auth_token: {TOKEN}\nhttps: {address}:{port}\nprometheus: 127.0.0.1:0\nscylla:\n  api_address: {address}\n  api_port: {}\n  prometheus_port: {}\n{extra}\n",
                cluster.emulator.api_port(),
                cluster.emulator.prometheus_port(),
            );
            let agent_dir = dir.join(format!("agent{i}"));
            std::fs::create_dir_all(&agent_dir).expect("agent dir");
            AgentProcess::start(&agent_dir, &yaml)
        })
        .collect();
    (agents, port)
}

impl AgentProcess {
    /// Writes `yaml` to `dir/agent.yaml` and starts the agent with it. Unless `yaml` gives a
    /// certificate or a state directory, the agent keeps its self-signed certificate in
    /// `dir/state`, as an installed agent does, so a restart keeps what the manager pinned.
    pub fn start(dir: &Path, yaml: &str) -> Self {
        let config = dir.join("agent.yaml");
        let yaml = if yaml.contains("tls_cert_file:") || yaml.contains("state_directory:") {
            yaml.to_string()
        } else {
            format!(
                "{}\nstate_directory: {}\n",
                yaml.trim_end(),
                dir.join("state").display()
            )
        };
        std::fs::write(&config, yaml).expect("write agent config");
        Self::start_with(config)
    }

    /// Starts the agent with an existing configuration file.
    pub fn start_with(config: PathBuf) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["agent", "--config"])
            .arg(&config)
            .env("CAIRN_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cairn agent starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("agent prints its address");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .unwrap_or_else(|| panic!("agent did not start: {line:?}"))
            .to_string();
        let metrics_url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(|w| w.trim_end_matches(')').to_string())
            .unwrap_or_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        AgentProcess {
            child: Some(child),
            config,
            url,
            metrics_url,
            http,
        }
    }

    /// Kills the process (as a crash would) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A request with the token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
    }

    /// Sends a JSON request with the token; returns status and JSON body (Null if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Starts an upload job and returns its ID.
    pub async fn upload(
        &self,
        source_dir: &str,
        location: &str,
        remote_dir: &str,
        tag: &str,
        transfers: usize,
    ) -> String {
        let body = json!({"source_dir": source_dir, "location": location, "remote_dir": remote_dir, "tag": tag, "transfers": transfers});
        let (status, v) = self
            .call(reqwest::Method::POST, "/agent/jobs/upload", Some(body))
            .await;
        assert_eq!(status, 200, "upload job refused: {v}");
        v["id"].as_str().expect("job id").to_string()
    }

    /// Starts a download job of `files` into `dest_dir` and returns its ID.
    pub async fn download(&self, location: &str, files: &[String], dest_dir: &str) -> String {
        let body =
            json!({"location": location, "files": files, "dest_dir": dest_dir, "transfers": 4});
        let (status, v) = self
            .call(reqwest::Method::POST, "/agent/jobs/download", Some(body))
            .await;
        assert_eq!(status, 200, "download job refused: {v}");
        v["id"].as_str().expect("job id").to_string()
    }

    /// Lists `path` in `location` through the agent; returns the NDJSON entries.
    pub async fn list(&self, location: &str, path: &str, recursive: bool) -> Vec<Value> {
        let resp = self
            .req(reqwest::Method::POST, "/agent/files/list")
            .json(&json!({"location": location, "path": path, "recursive": recursive}))
            .send()
            .await
            .expect("list request");
        assert_eq!(resp.status(), 200, "list {location} {path}");
        let text = resp.text().await.expect("listing");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("NDJSON entry"))
            .collect()
    }

    /// Long-polls a job until it is no longer running.
    pub async fn wait(&self, id: &str) -> Value {
        for _ in 0..60 {
            let (_, p) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/agent/jobs/{id}?wait=10"),
                    None,
                )
                .await;
            if p["status"] != "running" {
                return p;
            }
        }
        panic!("job {id} still running after 10 minutes");
    }

    /// Sends `method target` over TLS exactly as written (no client normalises the path: `..`,
    /// `%2e` and `//` reach the agent as they are), with the token; returns status and body.
    pub async fn raw(&self, method: &str, target: &str) -> (u16, String) {
        raw_https(
            &self.url,
            method,
            target,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
        .await
    }

    /// The agent's own metrics text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(&self.metrics_url)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Regular files of a directory with their bytes.
pub fn read_dir_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    super::files_in(dir)
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(dir.join(&f)).expect("read")))
        .collect()
}

/// Sends one HTTP/1.1 request over TLS to `url` (`https://host:port`, any certificate accepted)
/// with the request target written byte for byte as given; returns status and body.
pub async fn raw_https(
    url: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;

    /// Accepts any server certificate (the agent's is self-signed).
    #[derive(Debug)]
    struct AnyCert(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let hostport = url.trim_start_matches("https://").trim_end_matches('/');
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(hostport)
        .await
        .expect("connect to the agent");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    tls.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    // The server may close without a TLS close_notify; what was read is the answer.
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
