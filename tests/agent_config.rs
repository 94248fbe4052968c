//! The agent's configuration as an operator meets it: a bad file stops the agent at start with
//! one line naming the key and the reason, and a configured certificate is the one served.

mod common;

use std::process::Command;

use common::TestCluster;
use common::agent::{AgentProcess, TOKEN, config_yaml};

/// Runs `cairn agent` with `yaml`, asserts that it stops with a failure (an agent that starts is
/// killed after a while and the test fails), and returns its last stderr line.
fn refused(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yaml");
    std::fs::write(&config, yaml).unwrap();
    let last = run_refused(&config);
    assert!(
        last.starts_with("error: "),
        "one clear line, got: {last}\nfor:\n{yaml}"
    );
    last
}

/// Runs `cairn agent --config path`; it must exit with a failure within 20 s.
fn run_refused(config: &std::path::Path) -> String {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["agent", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the agent started with {}",
                std::fs::read_to_string(config).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "exit status {status}");
    stderr.lines().last().unwrap_or_default().to_string()
}

#[test]
fn bad_configuration_stops_the_agent_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    // Everything but the key under test is right, so the message is about that key.
    let ok = format!(
        "auth_token: {TOKEN}\ndata_directory: {}\n",
        dir.path().display()
    );
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello, not a certificate\n").unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("agent.crt"), dir.path().join("agent.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    for (yaml, key, reason) in [
        (format!("{ok}https: nowhere\n"), "https", "address:port"),
        (
            format!("{ok}transfer:\n  transfers: 0\n"),
            "transfer.transfers",
            "at least 1",
        ),
        (
            format!("{ok}transfer:\n  part_size: 1MiB\n"),
            "transfer.part_size",
            "minimum",
        ),
        (
            format!("{ok}transfer:\n  part_size: 5MB\n"),
            "transfer.part_size: 5000000 bytes",
            "below the minimum of 5.0 MiB",
        ),
        (
            format!("{ok}transfer:\n  part_size: 64QB\n"),
            "transfer.part_size: expected a size such as 64MiB",
            "got \"64QB\"",
        ),
        (
            format!("{ok}transfer:\n  buffer_memory: [32MiB]\n"),
            "transfer.buffer_memory: expected a size such as 64MiB",
            "got a list",
        ),
        (
            format!("{ok}transfer:\n  rate_limit: -5\n"),
            "transfer.rate_limit",
            "MiB/s",
        ),
        (
            format!("{ok}transfer:\n  s3_single_put_max: 6GiB\n"),
            "transfer.s3_single_put_max",
            "5 GiB",
        ),
        (
            format!("{ok}s3:\n  endpoint: s3.example.com\n"),
            "s3.endpoint",
            "http",
        ),
        (
            format!("{ok}s3:\n  access_key_id: AK\n"),
            "secret_access_key",
            "together",
        ),
        (
            format!("{ok}s3:\n  path_style: maybe\n"),
            "s3.path_style: expected true or false",
            "got \"maybe\"",
        ),
        (
            format!("{ok}azure: 5\n"),
            "azure: expected a section of key: value lines",
            "got 5",
        ),
        (
            format!("{ok}localstorage:\n  Backups: /mnt/b\n"),
            "localstorage.Backups",
            "lowercase",
        ),
        (
            format!("{ok}localstorage:\n  b: relative/dir\n"),
            "localstorage.b",
            "absolute",
        ),
        (
            format!("{ok}tls_cert_file: /nonexistent.pem\ntls_key_file: /nonexistent.key\n"),
            "tls_cert_file",
            "readable",
        ),
        (
            format!("{ok}tls_cert_file: /etc/hostname\n"),
            "tls_key_file",
            "missing",
        ),
        (
            format!(
                "{ok}tls_cert_file: {}\ntls_key_file: {}\n",
                not_pem.display(),
                key.display()
            ),
            &format!(
                "tls_cert_file: {} holds no PEM certificate",
                not_pem.display()
            ),
            "",
        ),
        (
            format!(
                "{ok}tls_cert_file: {}\ntls_key_file: {}\n",
                cert.display(),
                not_pem.display()
            ),
            &format!(
                "tls_key_file: {} holds no PEM private key",
                not_pem.display()
            ),
            "",
        ),
        (
            format!("auth_token: {TOKEN}\ndata_directory: /definitely/not/here\n"),
            "data_directory",
            "not a directory",
        ),
        (
            format!("{ok}auth_tokn: typo\n"),
            "auth_tokn: unknown key",
            "auth_token",
        ),
        (
            format!("{ok}scylla:\n  api_port: seventy\n"),
            "scylla.api_port: expected a whole number from 0 to 65535",
            "got \"seventy\"",
        ),
        (
            format!("data_directory: {}\n", dir.path().display()),
            "auth_token: missing",
            "at least 16 characters",
        ),
        (
            format!(
                "auth_token: short-token\ndata_directory: {}\n",
                dir.path().display()
            ),
            "auth_token: 11 characters",
            "16",
        ),
        (
            format!(
                "auth_token: change-me\ndata_directory: {}\n",
                dir.path().display()
            ),
            "auth_token",
            "placeholder",
        ),
        (
            format!("{ok}insecure_no_auth: true\n"),
            "insecure_no_auth",
            "auth_token is set",
        ),
    ] {
        let line = refused(&yaml);
        assert!(
            line.contains(key) && line.contains(reason),
            "{yaml}\n=> {line}"
        );
        for serde_word in [
            "invalid type",
            "unit value",
            "expected a string",
            "struct ",
            "u16",
        ] {
            assert!(!line.contains(serde_word), "{yaml}\n=> {line}");
        }
    }
    let missing = refused_path("/no/such/agent.yaml");
    assert!(missing.contains("/no/such/agent.yaml"), "{missing}");
    // The sample file as shipped does not start: its token is a placeholder.
    let sample = refused_path(concat!(env!("CARGO_MANIFEST_DIR"), "/config/agent.yaml"));
    assert!(
        sample.contains("auth_token") && sample.contains("placeholder"),
        "{sample}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_or_commented_out_sections_take_their_defaults() {
    let cluster = TestCluster::start("dc1:1").await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let yaml = config_yaml(&cluster, 0, "").replace(
        &format!("auth_token: {TOKEN}\n"),
        &format!("auth_token_file: {}\n", token_file.display()),
    ) + "transfer: ~\ns3: null\ngcs:\n  # anonymous: false\nazure:\n  # account: x\n  # key: y\nlocalstorage: ~\n";
    let agent = AgentProcess::start(dir.path(), &yaml);
    let (status, _) = agent
        .call(reqwest::Method::GET, "/agent/node_info", None)
        .await;
    assert_eq!(
        status, 200,
        "started, and the token came from auth_token_file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_an_explicit_lab_mode_serves_and_says_so() {
    let cluster = TestCluster::start("dc1:1").await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config_yaml(&cluster, 0, "insecure_no_auth: true\n")
        .replace(&format!("auth_token: {TOKEN}\n"), "");
    let agent = AgentProcess::start(dir.path(), &yaml);
    let info: serde_json::Value = agent
        .http
        .get(format!("{}/agent/node_info", agent.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["authentication"], "none (insecure_no_auth)", "{info}");
    let metrics = agent.metrics().await;
    assert!(
        metrics.contains("cairn_agent_insecure_no_auth 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cairn_agent_unauthenticated_requests_total"),
        "{metrics}"
    );
}

fn refused_path(path: &str) -> String {
    run_refused(std::path::Path::new(path))
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
