//! `cairn demo`: an emulated two-DC cluster, an agent per node and a manager on this machine,
//! two backups to a local directory (the second one deduplicated), a validate of them (content
//! digests), a summary, then a restore of the second backup into a fresh emulated cluster whose
//! data is compared with the backup's.
//!
//! | module | owns |
//! |---|---|
//! | [`api`] | the demo's client of the manager's and the emulator's HTTP APIs |
//! | [`process`] | the child processes (agents, manager) and the demo's secrets, files and ports |
//! | [`restore`] | the end: the second backup restored into a fresh emulated cluster (schema, then tables), its data compared with the backup's |
//! | [`script`] | the scripted part: the cluster and task added, two backups with their progress, the listing |
//! | [`validate`] | after the second backup: a validate task with content digests run through the manager, its report's tables |

pub mod api;
pub mod process;
pub mod restore;
pub mod script;
pub mod validate;

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use tokio_util::sync::CancellationToken;

use self::process::{
    Agents, Proc, Tokens, create_private_dir, free_port, random_token, start_agents, stop_signal,
    write_private,
};
use self::script::script;
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
    /// A backup or restore did not end DONE, or restored other data than the backup holds.
    #[error("{0}")]
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
    let tokens = Tokens {
        agent: random_token(),
        api: random_token(),
        api_file: dir.join(API_TOKEN_FILE),
    };
    write_private(&tokens.api_file, &format!("{}\n", tokens.api))?;
    let agent_port = free_port(BASE_ADDRESS)?;
    start_agents(
        Agents {
            emulator,
            dir,
            bucket,
            token: &tokens.agent,
            port: agent_port,
            prefix: "agent",
        },
        children,
        stop,
    )?;
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
    let restored = tokio::select! {
        r = restore::restore(stage, &url, &tokens, agent_port, &second_tag, children) => r,
        () = stop.cancelled() => Err(DemoError::Interrupted),
    };
    restored?;

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
