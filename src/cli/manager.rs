//! `cairn manager --config FILE`: runs the manager daemon until SIGINT or SIGTERM.
//!
//! The process runs one actix system over a multi-thread tokio runtime (DESIGN.md, "The actor
//! system"): the actors live on the main thread, the REST API and the metrics are served by tokio
//! tasks. On a stop signal the servers stop accepting, the progress actor writes what it holds,
//! and the process exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::agent::{metrics, tls};
use crate::manager::api::{self, ApiState};
use crate::manager::backup::run::{RunDeps, RunSettings};
use crate::manager::config::{Checked, ManagerConfig};
use crate::manager::progress_actor::{FLUSH_EVERY, FlushProgress, ProgressActor};
use crate::manager::rate_limit_actor::{AgentRates, RateLimitActor};
use crate::manager::scheduler::{Scheduler, StopAll};
use crate::manager::store::{self, Store, StoreConfig};

/// How long the servers get to finish the requests in flight once told to stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the progress actor gets to write what it holds at shutdown.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `cairn manager`.
#[derive(Debug, Args)]
pub struct ManagerArgs {
    /// The manager's YAML configuration (see config/manager.yaml for every key).
    #[arg(
        long,
        short = 'c',
        default_value = "/etc/cairn/manager.yaml",
        value_name = "FILE"
    )]
    pub config: PathBuf,
}

/// The manager's long-lived actors.
pub struct Actors {
    /// Batched progress writes.
    pub progress: Addr<ProgressActor>,
    /// Bandwidth budgets pushed to the agents.
    pub rate_limit: Addr<RateLimitActor>,
    /// When tasks run; starts and stops the runs.
    pub scheduler: Addr<Scheduler>,
}

impl Actors {
    /// Starts the actors on the current actix system; runs get `settings`.
    pub fn start(store: Arc<dyn Store>, settings: RunSettings) -> Self {
        let progress = ProgressActor::new(store.clone(), FLUSH_EVERY).start();
        let rate_clients = Arc::new(AgentRates::default());
        let rate_limit = RateLimitActor::new(rate_clients.clone()).start();
        let scheduler = Scheduler::new(RunDeps {
            store,
            progress: progress.clone(),
            rates: rate_limit.clone(),
            rate_clients,
            settings: Arc::new(settings),
        })
        .start();
        Actors {
            progress,
            rate_limit,
            scheduler,
        }
    }
}

/// Runs the manager until it is told to stop. Synchronous: it builds the runtime and the actix
/// system itself.
pub fn run(args: ManagerArgs) -> anyhow::Result<()> {
    let (config, checked) = ManagerConfig::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let system = actix::System::with_tokio_rt(move || runtime);
    system.block_on(serve(config, checked))
}

/// Binds a listen address, naming its configuration key when it cannot be used.
async fn bind(key: &str, addr: Option<SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("{key}: cannot listen on {addr}"))?;
    Ok(Some(listener))
}

/// The address a listener is bound to, for the start line.
fn bound(listener: &Option<TcpListener>) -> Option<SocketAddr> {
    listener.as_ref().and_then(|l| l.local_addr().ok())
}

/// Opens the store, starts the actors and the servers, and waits for a stop signal.
async fn serve(config: ManagerConfig, checked: Checked) -> anyhow::Result<()> {
    let (http, https, prometheus) = (
        bind("http", checked.http).await?,
        bind("https", checked.https).await?,
        bind("prometheus", checked.prometheus).await?,
    );
    let (http_addr, https_addr, prometheus_addr) =
        (bound(&http), bound(&https), bound(&prometheus));
    let acceptor = match &https_addr {
        Some(addr) => Some(tls::acceptor(
            config.tls_cert_file.as_deref(),
            config.tls_key_file.as_deref(),
            vec!["localhost".to_string(), addr.ip().to_string()],
        )?),
        None => None,
    };
    let store_kind = match &config.store {
        StoreConfig::Sqlite { path } => format!("SQLite {}", path.display()),
        StoreConfig::Scylla(s) => format!(
            "ScyllaDB {} keyspace {}",
            s.contact_points.join(","),
            s.keyspace
        ),
    };
    let store = store::open(&config.store)
        .await
        .with_context(|| format!("store: cannot open the {store_kind} store"))?;

    crate::manager::lease::configure(crate::manager::lease::LeaseSettings {
        identity: crate::manager::lease::Identity::load(&checked.id_file)?,
        ttl: checked.lease_ttl,
    });
    metrics::install();
    let actors = Actors::start(
        store.clone(),
        RunSettings::from_config(&config.backup, &checked),
    );
    let router = api::auth::require_token(
        api::router(ApiState {
            store,
            scheduler: actors.scheduler.clone(),
        }),
        checked.auth_token.clone(),
    );
    if checked.insecure_no_auth {
        tracing::warn!(
            "insecure_no_auth: the REST API listens beyond loopback WITHOUT authentication; anyone who reaches it can add clusters, run and delete backups and make the manager send agent tokens; set auth_token or auth_token_file"
        );
    } else if checked.auth_token.is_none() {
        tracing::info!(
            "the REST API has no auth_token: served on loopback only, to every local user"
        );
    }
    let stop = CancellationToken::new();
    let mut servers: Vec<JoinHandle<()>> = Vec::new();
    if let Some(listener) = http {
        let (router, stop) = (router.clone(), stop.clone());
        servers.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                tracing::error!(error = %e, "the http server failed");
            }
        }));
    }
    if let (Some(listener), Some(acceptor)) = (https, acceptor) {
        servers.push(tokio::spawn(tls::serve(
            listener,
            acceptor,
            router,
            stop.clone(),
        )));
    }
    if let Some(listener) = prometheus {
        let stop = stop.clone();
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async { metrics::render() }),
        );
        servers.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                tracing::error!(error = %e, "the metrics server failed");
            }
        }));
    }

    let mut line = String::from("cairn manager listening on");
    let urls: Vec<String> = [
        http_addr.map(|a| format!("http://{a}")),
        https_addr.map(|a| format!("https://{a}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    line.push(' ');
    line.push_str(&urls.join(" "));
    line.push_str(&format!(" (store {store_kind}"));
    line.push_str(if checked.auth_token.is_some() {
        ", API token required"
    } else {
        ", API without authentication"
    });
    if let Some(p) = prometheus_addr {
        line.push_str(&format!(", metrics on http://{p}/metrics"));
    }
    line.push(')');
    println!("{line}");
    tracing::info!(http = ?http_addr, https = ?https_addr, prometheus = ?prometheus_addr, store = %store_kind, "manager started");

    super::agent::wait_for_stop().await?;
    tracing::info!("stopping the manager: no new requests, runs aborted, pending progress written");
    stop.cancel();
    for server in servers {
        if tokio::time::timeout(DRAIN_TIMEOUT, server).await.is_err() {
            tracing::warn!("a server did not finish its requests in time; leaving them");
        }
    }
    // Runs in progress end ABORTED (the next run of their task resumes them); their last
    // progress reaches the progress actor before the flush below.
    if let Err(e) = actors.scheduler.send(StopAll).await {
        tracing::warn!(error = %e, "the scheduler did not answer the stop");
    }
    match tokio::time::timeout(FLUSH_TIMEOUT, actors.progress.send(FlushProgress)).await {
        Ok(Ok(Ok(()))) => tracing::info!("progress written; manager stopped"),
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "pending progress could not be written"),
        Ok(Err(e)) => tracing::error!(error = %e, "the progress actor did not answer"),
        Err(_) => tracing::error!("pending progress was not written within {FLUSH_TIMEOUT:?}"),
    }
    Ok(())
}
