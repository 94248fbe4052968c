//! `cairn agent`: the daemon beside each Scylla node. It proxies an allow-listed subset of the
//! Scylla REST API, exposes file operations confined to the data directory and the configured
//! locations, and runs transfer jobs that stream SSTables to and from object storage under one
//! bandwidth budget, with bounded memory.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the YAML configuration and its validation |
//! | [`api`] | the HTTP routes, authentication, error answers |
//! | [`tls`] | HTTPS with a configured or self-signed certificate |
//! | [`scylla`] | the node's Scylla: client and allow-listed proxy |
//! | [`confined`] | a directory tree worked in without following any symbolic link |
//! | [`files`] | file errors, local listings, what may be read, disk usage |
//! | [`storage`] | one object store per location; retryable errors |
//! | [`local_store`] | `localstorage` locations confined like the data directory |
//! | [`transfer`] | streaming one file up: parts, buffers, checksums |
//! | [`download`] | downloading files into confined directories, keeping what is already there and verified |
//! | [`check`] | checking stored SSTables' content (Data.db CRC-32 against Digest.crc32, TOC.txt, MD5 against the store's) for validate |
//! | [`retry`] | trying a file transfer again while its failures may pass |
//! | [`bandwidth`] | the shared, adjustable token bucket |
//! | [`jobs`] | asynchronous transfer jobs, progress, stop |
//! | [`metrics`] | Prometheus metrics of the agent |
//! | [`wire`] | the request and answer types of the HTTP API, shared with the manager's client |

pub mod api;
pub mod bandwidth;
pub mod check;
pub mod config;
pub mod confined;
pub mod download;
pub mod files;
pub mod jobs;
pub mod local_store;
pub mod metrics;
pub mod retry;
pub mod scylla;
pub mod storage;
pub mod tls;
pub mod transfer;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::api::AgentState;
use self::config::AgentConfig;
use self::confined::ConfinedRoot;
use self::jobs::Jobs;
use self::scylla::Scylla;
use self::storage::Stores;
use self::transfer::DataPath;

/// How long the agent waits for Scylla to tell its data directory at start.
const SCYLLA_WAIT: Duration = Duration::from_secs(60);

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Scylla did not tell the data directory.
    #[error("data_directory is not configured and Scylla did not tell it: {0}")]
    Scylla(#[from] scylla::ScyllaError),
    /// A listen address or the data directory is unusable.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// A running agent.
#[derive(Debug)]
pub struct RunningAgent {
    /// The HTTPS address it listens on.
    pub https: SocketAddr,
    /// The Prometheus address, when enabled.
    pub prometheus: Option<SocketAddr>,
    /// The data directory it serves.
    pub data_directory: std::path::PathBuf,
    /// Stops the servers.
    stop: CancellationToken,
}

impl RunningAgent {
    /// Stops accepting requests and closes connections.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

/// How often an agent without authentication says so again.
const INSECURE_WARNING_EVERY: Duration = Duration::from_secs(300);

/// Warns at start and every [`INSECURE_WARNING_EVERY`] that the agent serves without a token.
async fn warn_unauthenticated(stop: CancellationToken) {
    let mut tick = tokio::time::interval(INSECURE_WARNING_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => tracing::warn!(
                "insecure_no_auth: true - the agent serves every request WITHOUT authentication \
                 (data directory and backup locations are open to anyone who can reach it)"
            ),
            _ = stop.cancelled() => return,
        }
    }
}

/// Starts an agent: resolves the data directory, binds its addresses and serves.
pub async fn start(config: AgentConfig) -> Result<RunningAgent, AgentError> {
    let limits = config.validate()?;
    let token = config.token()?;
    let scylla = Scylla::new(&config.scylla).map_err(|e| AgentError::Io {
        what: "set up the Scylla client".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let data_directory = match &config.data_directory {
        Some(d) => d.clone(),
        None => {
            let deadline = tokio::time::Instant::now() + SCYLLA_WAIT;
            loop {
                match scylla.data_directory().await {
                    Ok(d) => break d,
                    Err(e) if tokio::time::Instant::now() >= deadline => return Err(e.into()),
                    Err(e) => {
                        tracing::info!(error = %e, "waiting for Scylla to tell the data directory");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    };
    let root = ConfinedRoot::open(&data_directory).map_err(|source| AgentError::Io {
        what: format!("data directory {}", data_directory.display()),
        source,
    })?;
    let https: SocketAddr = config
        .https
        .parse()
        .map_err(|_| config::ConfigError::Invalid {
            key: "https".into(),
            reason: "not an address".into(),
        })?;
    let names = vec!["localhost".to_string(), https.ip().to_string()];
    let acceptor = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => tls::acceptor(Some(cert), Some(key), names)?,
        _ => match &config.state_directory {
            Some(dir) => tls::kept_self_signed(dir, names)?,
            None => {
                tracing::warn!(
                    "no tls_cert_file and no state_directory: this start's self-signed \
                     certificate is not kept, so the manager must repin this agent after \
                     every restart (cairn cluster update --repin)"
                );
                tls::acceptor(None, None, names)?
            }
        },
    };
    let listener = TcpListener::bind(https)
        .await
        .map_err(|source| AgentError::Io {
            what: format!("listen on https {https}"),
            source,
        })?;
    let https = listener.local_addr().map_err(|source| AgentError::Io {
        what: "local address".into(),
        source,
    })?;
    let prometheus = if config.prometheus.is_empty() {
        None
    } else {
        let addr: SocketAddr =
            config
                .prometheus
                .parse()
                .map_err(|_| config::ConfigError::Invalid {
                    key: "prometheus".into(),
                    reason: "not an address".into(),
                })?;
        Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| AgentError::Io {
                    what: format!("listen on prometheus {addr}"),
                    source,
                })?,
        )
    };
    let prometheus_addr = prometheus.as_ref().and_then(|l| l.local_addr().ok());

    metrics::install();
    let data = Arc::new(DataPath::new(limits).map_err(|e| AgentError::Io {
        what: "set up the transfer HTTP client".into(),
        source: std::io::Error::other(e),
    })?);
    data.bandwidth.set_rate(data.bandwidth.rate());
    let stores = Arc::new(Stores::new(config.clone()));
    let jobs = Jobs::new(data, stores.clone(), root.clone());
    let state = Arc::new(AgentState {
        token,
        scylla,
        root,
        stores,
        jobs,
        listen: https.to_string(),
    });
    let stop = CancellationToken::new();
    if state.token.is_none() {
        ::metrics::gauge!("cairn_agent_insecure_no_auth").set(1.0);
        tokio::spawn(warn_unauthenticated(stop.clone()));
    }
    tokio::spawn(tls::serve(
        listener,
        acceptor,
        api::router(state),
        stop.clone(),
    ));
    if let Some(listener) = prometheus {
        let stop = stop.clone();
        tokio::spawn(async move {
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get(|| async { metrics::render() }),
            );
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
    }
    Ok(RunningAgent {
        https,
        prometheus: prometheus_addr,
        data_directory: data_directory.clone(),
        stop,
    })
}
