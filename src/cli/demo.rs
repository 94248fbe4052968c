//! `cairn demo`: an emulated two-DC cluster, an agent per node and a manager on this machine,
//! two backups to a local directory (the second one deduplicated), then a summary.

use std::io::{BufRead, BufReader, IsTerminal as _, Write as _};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::progress::{bar_lines, is_final, progress_line, rates};
use crate::emulator::{Dataset, Emulator, EmulatorConfig, EmulatorError};
use crate::units::format_bytes;

/// The cluster's and the task's name in the manager.
const NAME: &str = "demo";
/// The backup location every agent writes to.
const LOCATION: &str = "localstorage:demo";
/// The file (in the demo's directory) holding the manager's API token.
const API_TOKEN_FILE: &str = "api-token";
/// The emulated cluster's shape.
const NODES: &str = "dc1:2,dc2:2";
/// The first node's address.
const BASE_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 101);
/// User data per node at start.
const DATASET_BYTES: u64 = 8 << 20;
/// How long a child may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a backup may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a started run may take to be recorded before its absence is an error.
const RECORD_GRACE: Duration = Duration::from_secs(30);
/// How often the progress is refreshed.
const REFRESH: Duration = Duration::from_secs(1);

/// Options of `cairn demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// After the scripted part, keep everything running until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Directory for the nodes' data, the bucket, the configs and the manager's SQLite file
    /// (a new temporary directory when absent).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or directory operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The emulated cluster did not start.
    #[error("cannot start the emulated cluster: {0}")]
    Emulator(#[from] EmulatorError),
    /// A child process did not start.
    #[error("{0}")]
    Child(String),
    /// An HTTP request failed.
    #[error("{what}: {source}")]
    Http {
        /// The request.
        what: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// An API answered with an error.
    #[error("{what}: HTTP {status}: {body}")]
    Api {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body.
        body: String,
    },
    /// A backup did not end DONE.
    #[error("backup {0}")]
    Run(String),
    /// SIGINT or SIGTERM came before the scripted part ended; everything was stopped.
    #[error("interrupted; the emulated cluster, the agents and the manager were stopped")]
    Interrupted,
}

/// An I/O error with what was being done.
fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DemoError {
    let what = what.into();
    move |source| DemoError::Io { what, source }
}

/// Runs `cairn demo`, with its own runtime and logs at warn unless `CAIRN_LOG` says otherwise.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
    };
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .finish(),
    );
    let _guard = tracing::dispatcher::set_default(&dispatch);
    let thread_dispatch = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || {
            std::mem::forget(tracing::dispatcher::set_default(&thread_dispatch));
        })
        .build()?;
    runtime.block_on(demo(args))?;
    Ok(())
}

/// A child `cairn` process, stopped with SIGTERM when dropped.
struct Proc {
    /// What it is, for messages.
    name: String,
    /// The process.
    child: Child,
    /// Its stdout, kept open so that later prints do not fail.
    _stdout: BufReader<ChildStdout>,
    /// The address line it printed.
    line: String,
}

impl Proc {
    /// Starts `cairn ARGS` and waits for its first stdout line.
    fn start(name: &str, args: &[&str], dir: &Path) -> Result<Proc, DemoError> {
        let exe = std::env::current_exe().map_err(io("finding the cairn executable"))?;
        let log = std::fs::File::create(dir.join(format!("{name}.log")))
            .map_err(io(format!("creating {name}.log")))?;
        let mut child = Command::new(exe)
            .args(args)
            .env("CAIRN_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(io(format!("starting {name}")))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let _ = tx.send((read.map(|_| line), reader));
        });
        let fail = |child: &mut Child, why: String| {
            let _ = child.kill();
            let _ = child.wait();
            DemoError::Child(format!(
                "{name} did not start ({why}); see {}",
                dir.join(format!("{name}.log")).display()
            ))
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok((Ok(line), reader)) if !line.trim().is_empty() => Ok(Proc {
                name: name.to_string(),
                child,
                _stdout: reader,
                line: line.trim().to_string(),
            }),
            Ok(_) => Err(fail(&mut child, "it exited".into())),
            Err(_) => Err(fail(&mut child, "no address printed in 60 s".into())),
        }
    }

    /// The first word of its line starting with `scheme://`.
    fn url(&self, scheme: &str) -> Option<String> {
        self.line
            .split_whitespace()
            .map(|w| w.trim_end_matches([')', ',']))
            .find(|w| w.starts_with(&format!("{scheme}://")))
            .map(str::to_string)
    }

    /// Sends SIGTERM and waits up to 15 s, then kills.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        tracing::warn!(child = %self.name, "did not stop in 15 s; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A token cancelled on the first SIGINT (Ctrl-C) or SIGTERM (`kill`, `timeout`, systemd), so
/// that either stops everything the demo started instead of orphaning it.
fn stop_signal() -> std::io::Result<CancellationToken> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        cancel.cancel();
        // A second signal while stopping means "now": the children's own SIGTERM handling
        // still runs, but the demo does not wait for them.
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("error: interrupted twice; exiting without waiting for the children");
        std::process::exit(130);
    });
    Ok(token)
}

/// The demo's secrets, random for every run.
struct Tokens {
    /// The agents' token.
    agent: String,
    /// The manager's API token.
    api: String,
    /// The file holding `api` (mode 0600), given to the printed commands.
    api_file: PathBuf,
}

/// A random token of 64 hex digits (244 random bits).
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The `Authorization: Bearer` header of the manager's API.
fn bearer(token: &str) -> Result<reqwest::header::HeaderMap, DemoError> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| DemoError::Child(format!("the API token is not a header value: {e}")))?;
    value.set_sensitive(true);
    Ok([(reqwest::header::AUTHORIZATION, value)]
        .into_iter()
        .collect())
}

/// Writes `text` to `path`, readable by its owner only (mode 0600): the demo's files hold tokens.
fn write_private(path: &Path, text: &str) -> Result<(), DemoError> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let what = format!("writing {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(what.clone()))?;
    // A file that existed keeps its mode on open: tightened here.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io(what.clone()))?;
    file.write_all(text.as_bytes()).map_err(io(what))
}

/// Creates `dir` and its missing parents, the ones created readable by their owner only (0700).
fn create_private_dir(dir: &Path) -> Result<(), DemoError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

/// A free TCP port on `address`.
fn free_port(address: Ipv4Addr) -> Result<u16, DemoError> {
    TcpListener::bind((address, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io(format!("finding a free port on {address}")))
}

/// A client of the manager's and the emulator's HTTP APIs.
struct Api {
    /// The HTTP client.
    http: reqwest::Client,
}

impl Api {
    /// Sends a request and returns its JSON answer (Null when empty).
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, DemoError> {
        let what = format!("{method} {url}");
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|source| DemoError::Http {
            what: what.clone(),
            source,
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|source| DemoError::Http {
            what: what.clone(),
            source,
        })?;
        if !status.is_success() {
            return Err(DemoError::Api {
                what,
                status: status.as_u16(),
                body: text.trim().to_string(),
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// What one backup did.
struct RunSummary {
    /// The snapshot tag.
    tag: String,
    /// Bytes of the snapshot.
    size: u64,
    /// Bytes uploaded.
    uploaded: u64,
    /// Bytes already in the location (deduplicated).
    skipped: u64,
    /// Wall time from start to DONE.
    took: Duration,
}

impl RunSummary {
    /// The deduplicated share of the snapshot, in percent.
    fn dedup_percent(&self) -> f64 {
        if self.size == 0 {
            0.0
        } else {
            self.skipped as f64 * 100.0 / self.size as f64
        }
    }
}

/// The demo itself.
async fn demo(args: DemoArgs) -> Result<(), DemoError> {
    let began = Instant::now();
    let stop = stop_signal().map_err(io("listening for SIGTERM"))?;
    let dir = match args.dir {
        Some(d) => d,
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default();
            std::env::temp_dir().join(format!("cairn-demo-{}-{nanos}", std::process::id()))
        }
    };
    create_private_dir(&dir)?;
    if dir.join("cairn.db").exists() {
        return Err(DemoError::Child(format!(
            "{} already holds a demo (cairn.db); give --dir an empty directory",
            dir.display()
        )));
    }
    let dir = dir
        .canonicalize()
        .map_err(io(format!("resolving {}", dir.display())))?;
    let bucket = dir.join("bucket");
    create_private_dir(&bucket)?;
    println!("cairn demo in {}", dir.display());

    // 1. The cluster, its agents and the manager.
    let mut config = EmulatorConfig::new(dir.join("nodes"), NODES.parse().expect("valid shape"));
    config.base_address = BASE_ADDRESS;
    config.api_port = 0;
    config.prometheus_port = 0;
    config.cql_port = 0;
    config.dataset = Dataset::Bytes(DATASET_BYTES);
    let emulator = tokio::select! {
        e = Emulator::start(config) => e?,
        () = stop.cancelled() => return Err(DemoError::Interrupted),
    };
    let nodes = emulator.nodes();
    println!(
        "emulated cluster: {} nodes ({NODES}), {} of data each, Scylla API on port {}",
        nodes.len(),
        format_bytes(DATASET_BYTES),
        emulator.api_port()
    );
    let result = with_cluster(Stage {
        emulator: &emulator,
        dir: &dir,
        bucket: &bucket,
        keep_running: args.keep_running,
        began,
        stop: &stop,
    })
    .await;
    emulator.shutdown();
    result
}

/// What the demo runs in, once the emulated cluster is up.
#[derive(Clone, Copy)]
struct Stage<'a> {
    /// The emulated cluster.
    emulator: &'a Emulator,
    /// The demo's directory (configurations, logs, SQLite).
    dir: &'a Path,
    /// The bucket's directory.
    bucket: &'a Path,
    /// Whether to keep everything up after the script, until a signal.
    keep_running: bool,
    /// When the demo began.
    began: Instant,
    /// Cancelled on SIGINT or SIGTERM.
    stop: &'a CancellationToken,
}

/// Everything after the emulator started; the children it starts are stopped when it returns,
/// the manager first, however it ends: done, failed, or `stop` cancelled (SIGINT or SIGTERM).
async fn with_cluster(stage: Stage<'_>) -> Result<(), DemoError> {
    let mut children = Vec::new();
    let result = run_children(stage, &mut children).await;
    if matches!(result, Err(DemoError::Interrupted)) {
        println!("\ninterrupted: stopping the agents and the manager");
    }
    tokio::task::block_in_place(|| {
        for c in children.iter_mut().rev() {
            c.stop();
        }
    });
    if !children.is_empty() {
        println!("stopped the agents and the manager");
    }
    result
}

/// Starts the agents and the manager into `children`, runs the script, and with `keep_running`
/// waits for `stop`; ends early with [`DemoError::Interrupted`] once `stop` is cancelled.
async fn run_children(stage: Stage<'_>, children: &mut Vec<Proc>) -> Result<(), DemoError> {
    let Stage {
        emulator,
        dir,
        bucket,
        keep_running,
        began,
        stop,
    } = stage;
    let nodes = emulator.nodes();
    let tokens = Tokens {
        agent: random_token(),
        api: random_token(),
        api_file: dir.join(API_TOKEN_FILE),
    };
    write_private(&tokens.api_file, &format!("{}\n", tokens.api))?;
    let agent_port = free_port(BASE_ADDRESS)?;
    for (i, node) in nodes.iter().enumerate() {
        let yaml = format!(
            "auth_token: {token}\nhttps: {addr}:{agent_port}\nprometheus: \"\"\nscylla:\n  api_address: {addr}\n  api_port: {api}\n  prometheus_port: {prom}\nlocalstorage:\n  demo: {bucket}\nstate_directory: {state}\n",
            state = dir.join(format!("agent{i}-state")).display(),
            addr = node.address,
            api = emulator.api_port(),
            prom = emulator.prometheus_port(),
            bucket = bucket.display(),
            token = tokens.agent,
        );
        let config = dir.join(format!("agent{i}.yaml"));
        write_private(&config, &yaml)?;
        let config = config.display().to_string();
        let name = format!("agent{i}");
        children.push(tokio::task::block_in_place(|| {
            Proc::start(&name, &["agent", "--config", &config], dir)
        })?);
        if stop.is_cancelled() {
            return Err(DemoError::Interrupted);
        }
    }
    println!(
        "{} agents listening on port {agent_port} (one per node)",
        children.len()
    );
    let db = dir.join("cairn.db");
    let manager_yaml = format!(
        "http: 127.0.0.1:{}\nhttps: \"\"\nprometheus: \"\"\nauth_token_file: {}\nstore:\n  type: sqlite\n  path: {}\n",
        free_port(Ipv4Addr::LOCALHOST)?,
        tokens.api_file.display(),
        db.display()
    );
    let manager_config = dir.join("manager.yaml");
    write_private(&manager_config, &manager_yaml)?;
    let manager_config = manager_config.display().to_string();
    let manager = tokio::task::block_in_place(|| {
        Proc::start("manager", &["manager", "--config", &manager_config], dir)
    })?;
    let url = manager
        .url("http")
        .ok_or_else(|| DemoError::Child(format!("manager printed no URL: {}", manager.line)))?;
    children.push(manager);
    if stop.is_cancelled() {
        return Err(DemoError::Interrupted);
    }
    println!("manager: {url} (SQLite {})", db.display());

    let scripted = tokio::select! {
        r = script(emulator, agent_port, &url, dir, bucket, &tokens, began) => r,
        () = stop.cancelled() => Err(DemoError::Interrupted),
    };
    let second_tag = scripted?;

    // 5. Keep running when asked.
    if keep_running {
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "cairn".into());
        println!("\neverything keeps running; try:");
        for cmd in [
            format!("cluster status -c {NAME}"),
            format!("tasks -c {NAME} --all"),
            format!("start -c {NAME} backup/{NAME}"),
            format!("progress -c {NAME} backup/{NAME} --watch"),
            format!("backup list -c {NAME} -L {LOCATION}"),
            format!("backup files -c {NAME} -T {second_tag} -K store.orders"),
        ] {
            println!(
                "  {exe} --url {url} --api-token-file {} {cmd}",
                tokens.api_file.display()
            );
        }
        println!("and without the manager, from the bucket alone:");
        println!(
            "  {exe} backup list --offline -L {LOCATION} --storage-config '{}'",
            dir.join("agent0.yaml").display()
        );
        println!("Ctrl-C stops everything.");
        let _ = std::io::stdout().flush();
        stop.cancelled().await;
        println!("stopping");
    }
    Ok(())
}

/// The scripted part: the cluster and task added, two backups, the listing; prints what
/// happened and where everything is, and returns the second backup's tag.
async fn script(
    emulator: &Emulator,
    agent_port: u16,
    url: &str,
    dir: &Path,
    bucket: &Path,
    tokens: &Tokens,
    began: Instant,
) -> Result<String, DemoError> {
    let db = &dir.join("cairn.db");
    let nodes = emulator.nodes();
    // The emulator's CQL credentials: the cluster is added with them so backups carry a schema.
    let config = &emulator.cluster().config;
    let api = Api {
        http: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .default_headers(bearer(&tokens.api)?)
            .build()
            .map_err(|source| DemoError::Http {
                what: "building the HTTP client".into(),
                source,
            })?,
    };

    // 2. The cluster, the task, the first backup.
    api.call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/clusters"),
        Some(json!({"name": NAME, "hosts": [nodes[0].address], "port": agent_port, "auth_token": tokens.agent,
                    "username": config.cql_user, "password": config.cql_password})),
    )
    .await?;
    api.call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/cluster/{NAME}/tasks"),
        Some(json!({"type": "backup", "name": NAME, "enabled": false, "properties": {"location": [LOCATION]}})),
    )
    .await?;
    println!(
        "added cluster {NAME:?} (CQL user {}, so backups carry the schema) and backup task backup/{NAME} (location {LOCATION})",
        config.cql_user
    );
    let scripted = Instant::now();
    println!("\nbackup 1: everything");
    let first = backup(&api, url).await?;

    // 3. New data, a compaction, the second backup.
    let emu = format!("http://{}:{}", nodes[0].address, emulator.api_port());
    let written: Vec<&str> = nodes
        .iter()
        .step_by(2)
        .map(|n| n.address.as_str())
        .collect();
    for addr in &written {
        api.call(
            reqwest::Method::POST,
            &format!("{emu}/emulator/nodes/{addr}/write?keyspace=store&table=orders&bytes=1MiB"),
            None,
        )
        .await?;
    }
    let compacted = nodes[1].address.as_str();
    api.call(
        reqwest::Method::POST,
        &format!("{emu}/emulator/nodes/{compacted}/compact?keyspace=store&table=customers"),
        None,
    )
    .await?;
    println!(
        "\nwrote 1 MiB to store.orders on {}; compacted store.customers on {compacted}",
        written.join(" and ")
    );
    println!("backup 2: only what changed is uploaded");
    let second = backup(&api, url).await?;
    let scripted_took = scripted.elapsed();

    // 4. The backups in the location, a few files of the last one.
    let list = api
        .call(
            reqwest::Method::GET,
            &format!("{url}/api/v1/cluster/{NAME}/backups?location={LOCATION}"),
            None,
        )
        .await?;
    println!("\nbackups in {LOCATION}:");
    for item in list.as_array().into_iter().flatten() {
        for s in item["snapshot_info"].as_array().into_iter().flatten() {
            println!(
                "  {}  {} nodes  {}",
                s["snapshot_tag"].as_str().unwrap_or_default(),
                s["nodes"],
                format_bytes(s["size"].as_u64().unwrap_or_default())
            );
        }
    }
    let files = api
        .call(
            reqwest::Method::GET,
            &format!(
                "{url}/api/v1/cluster/{NAME}/backups/files?snapshot_tag={}&location={LOCATION}",
                second.tag
            ),
            None,
        )
        .await?;
    // The schema file every manifest of the snapshot names (read with DESCRIBE over CQL).
    let schema = files
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|f| f["schema"].as_str().filter(|s| !s.is_empty()));
    if let Some(schema) = schema {
        println!("schema of {}: {}/{schema}", second.tag, bucket.display());
    }
    println!("a few files of {} (store.orders first):", second.tag);
    let mut tables: Vec<(String, Vec<String>)> = files
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["files"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            let name = format!(
                "{}.{}",
                t["keyspace"].as_str().unwrap_or_default(),
                t["table"].as_str().unwrap_or_default()
            );
            let names = t["files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            (name, names)
        })
        .collect();
    tables.sort_by_key(|(name, _)| (name != "store.orders", !name.starts_with("store.")));
    let total: usize = tables.iter().map(|(_, f)| f.len()).sum();
    let shown: Vec<(&String, &String)> = tables
        .iter()
        .flat_map(|(t, files)| files.iter().map(move |f| (t, f)))
        .take(5)
        .collect();
    for (table, file) in &shown {
        println!("  {table:<14} {file}");
    }
    if total > shown.len() {
        println!(
            "  ... {} more files under {}/backup/sst",
            total - shown.len(),
            bucket.display()
        );
    }

    println!("\nwhat happened:");
    for (i, r) in [&first, &second].iter().enumerate() {
        println!(
            "  backup {}: {}  {} uploaded, {} deduplicated of {} ({:.1}% deduplicated) in {:.1}s",
            i + 1,
            r.tag,
            format_bytes(r.uploaded),
            format_bytes(r.skipped),
            format_bytes(r.size),
            r.dedup_percent(),
            r.took.as_secs_f64()
        );
    }
    println!(
        "  two backups in {:.1}s (whole demo {:.1}s so far)",
        scripted_took.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    println!("where everything is:");
    println!("  directory:    {}", dir.display());
    println!("  bucket:       {}", bucket.display());
    println!("  manager:      {url}");
    println!("  SQLite:       {}", db.display());
    println!("  logs:         {}/*.log", dir.display());

    Ok(second.tag)
}

/// Starts the demo task, shows its progress until it ends, and returns what it did.
async fn backup(api: &Api, url: &str) -> Result<RunSummary, DemoError> {
    let started = Instant::now();
    let task = format!("{url}/api/v1/cluster/{NAME}/task/backup/{NAME}");
    let run = api
        .call(reqwest::Method::PUT, &format!("{task}/start"), None)
        .await?;
    let run_id = run["run_id"].as_str().unwrap_or("latest").to_string();
    let tty = std::io::stdout().is_terminal();
    let mut drawn = 0usize;
    let mut previous: Option<(Value, Instant)> = None;
    let details = loop {
        let doc = match api
            .call(reqwest::Method::GET, &format!("{task}/{run_id}"), None)
            .await
        {
            Ok(doc) => doc,
            // The run is recorded a moment after it is started.
            Err(DemoError::Api { status: 404, .. }) if started.elapsed() < RECORD_GRACE => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        let mut out = std::io::stdout().lock();
        if tty {
            let r = previous
                .as_ref()
                .map(|(p, t)| rates(p, &doc, now - *t))
                .unwrap_or_default();
            let lines = bar_lines(&doc, &r);
            if drawn > 0 {
                let _ = write!(out, "\x1b[{drawn}A");
            }
            for l in &lines {
                let _ = writeln!(out, "\x1b[2K  {l}");
            }
            drawn = lines.len();
        } else {
            let _ = writeln!(out, "  {}", progress_line(&doc));
        }
        let _ = out.flush();
        drop(out);
        if is_final(&doc) {
            break doc;
        }
        if started.elapsed() > RUN_TIMEOUT {
            return Err(DemoError::Run(format!(
                "still running after {} s",
                RUN_TIMEOUT.as_secs()
            )));
        }
        previous = Some((doc, now));
        tokio::time::sleep(REFRESH).await;
    };
    let status = details["run"]["status"].as_str().unwrap_or_default();
    if status != "DONE" {
        return Err(DemoError::Run(format!(
            "ended {status}: {}",
            details["run"]["cause"].as_str().unwrap_or_default()
        )));
    }
    let p = &details["progress"];
    let n = |k: &str| p[k].as_u64().unwrap_or_default();
    Ok(RunSummary {
        tag: p["snapshot_tag"].as_str().unwrap_or_default().to_string(),
        size: n("size"),
        uploaded: n("uploaded"),
        skipped: n("skipped"),
        took: started.elapsed(),
    })
}
