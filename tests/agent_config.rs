//! The agent's configuration as an operator meets it: a bad file stops the agent at start with
//! one line naming the key and the reason, and a configured certificate is the one served.

mod common;

use std::process::Command;

use common::TestCluster;
use common::agent::{AgentProcess, TOKEN, config_yaml};

/// Runs `cairn agent` with `yaml` and returns its exit status and last stderr line.
fn refused(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yaml");
    std::fs::write(&config, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["agent", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the agent started with:\n{yaml}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("error: "),
        "one clear line, got:\n{stderr}"
    );
    last
}

#[test]
fn bad_configuration_stops_the_agent_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display();
    for (yaml, key, reason) in [
        (
            "auth_token: x\nhttps: nowhere\n".to_string(),
            "https",
            "address:port",
        ),
        (
            format!("data_directory: {data}\ntransfer:\n  transfers: 0\n"),
            "transfer.transfers",
            "at least 1",
        ),
        (
            format!("data_directory: {data}\ntransfer:\n  part_size: 1MiB\n"),
            "transfer.part_size",
            "minimum",
        ),
        (
            format!("data_directory: {data}\ntransfer:\n  rate_limit: -5\n"),
            "transfer.rate_limit",
            "MiB/s",
        ),
        (
            format!("data_directory: {data}\ntransfer:\n  s3_single_put_max: 6GiB\n"),
            "transfer.s3_single_put_max",
            "5 GiB",
        ),
        (
            format!("data_directory: {data}\ns3:\n  endpoint: s3.example.com\n"),
            "s3.endpoint",
            "http",
        ),
        (
            format!("data_directory: {data}\ns3:\n  access_key_id: AK\n"),
            "secret_access_key",
            "together",
        ),
        (
            format!("data_directory: {data}\nlocalstorage:\n  Backups: /mnt/b\n"),
            "localstorage.Backups",
            "lowercase",
        ),
        (
            format!("data_directory: {data}\nlocalstorage:\n  b: relative/dir\n"),
            "localstorage.b",
            "absolute",
        ),
        (
            format!(
                "data_directory: {data}\ntls_cert_file: /nonexistent.pem\ntls_key_file: /nonexistent.key\n"
            ),
            "tls_cert_file",
            "readable",
        ),
        (
            format!("data_directory: {data}\ntls_cert_file: /etc/hostname\n"),
            "tls_key_file",
            "missing",
        ),
        (
            "data_directory: /definitely/not/here\n".to_string(),
            "data_directory",
            "not a directory",
        ),
        (
            format!("data_directory: {data}\nauth_tokn: typo\n"),
            "auth_tokn",
            "unknown field",
        ),
        (
            format!("data_directory: {data}\nscylla:\n  api_port: seventy\n"),
            "api_port",
            "invalid",
        ),
    ] {
        let line = refused(&yaml);
        assert!(
            line.contains(key) && line.contains(reason),
            "{yaml}\n=> {line}"
        );
    }
    let missing = refused_path("/no/such/agent.yaml");
    assert!(missing.contains("/no/such/agent.yaml"), "{missing}");
}

fn refused_path(path: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["agent", "--config", path])
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_certificate_is_the_one_served() {
    let cluster = TestCluster::start("dc1:1").await;
    let dir = tempfile::tempdir().unwrap();
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let (cert, key) = (dir.path().join("agent.crt"), dir.path().join("agent.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let yaml = config_yaml(
        &cluster,
        0,
        &format!(
            "tls_cert_file: {}\ntls_key_file: {}\n",
            cert.display(),
            key.display()
        ),
    );
    let agent = AgentProcess::start(dir.path(), &yaml);

    // A client that trusts only this certificate, and verifies it, gets through.
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let resp = trusting
        .get(format!("{}/agent/node_info", agent.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // One that trusts another certificate is refused by TLS.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let distrusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(other.cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert!(
        distrusting
            .get(format!("{}/ping", agent.url))
            .send()
            .await
            .is_err()
    );
}
