//! `cairn manager --config FILE`: runs the manager daemon until SIGINT or SIGTERM.
//!
//! The process runs one actix system over a multi-thread tokio runtime (DESIGN.md, "The actor
//! system"): the actors live on the main thread, the REST API and the metrics are served by tokio
//! tasks. The actors and servers are started and stopped in order by
//! [`crate::manager::runtime::Runtime`]; this file reads the configuration, binds the addresses
//! and waits for the signal. On a stop signal the servers stop accepting, the progress actor
//! writes what it holds, and the process exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use crate::agent::{metrics, tls};
use crate::manager::api;
use crate::manager::backup::settings::RunSettings;
use crate::manager::config::{Checked, ManagerConfig};
use crate::manager::runtime::Runtime;
use crate::manager::store::{self, StoreConfig};

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
    let mut runtime = Runtime::start(
        store,
        RunSettings::from_config(&config.backup, &config.restore, &checked),
    );
    let router = api::auth::require_token(api::router(runtime.api()), checked.auth_token.clone());
    if checked.insecure_no_auth {
        tracing::warn!(
            "insecure_no_auth: the REST API listens beyond loopback WITHOUT authentication; anyone who reaches it can add clusters, run and delete backups and make the manager send agent tokens; set auth_token or auth_token_file"
        );
    } else if checked.auth_token.is_none() {
        tracing::info!(
            "the REST API has no auth_token: served on loopback only, to every local user"
        );
    }
    if let Some(listener) = http {
        runtime.serve("http", listener, router.clone());
    }
    if let (Some(listener), Some(acceptor)) = (https, acceptor) {
        runtime.spawn_server(|stop| tls::serve(listener, acceptor, router, stop));
    }
    if let Some(listener) = prometheus {
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async { metrics::render() }),
        );
        runtime.serve("metrics", listener, router);
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
    runtime.stop().await;
    Ok(())
}
