//! Listeners: every node binds its own address on the shared API, Prometheus and CQL ports, and
//! can be stopped (connections refused, as from a dead node) and started again.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cql::listener::{self, Service};

/// How often port selection is retried when a port picked on one address is taken on another.
const PORT_ATTEMPTS: usize = 20;

/// A running HTTP server on one address.
#[derive(Debug)]
pub struct Server {
    /// Tells the server to stop accepting and close idle connections.
    stop: watch::Sender<bool>,
    /// The serving task.
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `router` on `listener` until stopped.
    pub fn spawn(listener: TcpListener, router: Router) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "emulated node server ended with an error");
            }
        });
        Server { stop, task }
    }

    /// Stops accepting connections at once; in-flight requests finish in the background.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        // The listener is dropped when the accept loop sees the signal; detach the rest.
        drop(self.task);
    }
}

/// Binds `port` on every address. Port 0 picks a free port on the first address and uses it on
/// all of them, retrying with another pick if it is taken elsewhere.
pub async fn bind_all(addresses: &[Ipv4Addr], port: u16) -> io::Result<(u16, Vec<TcpListener>)> {
    let attempts = if port == 0 { PORT_ATTEMPTS } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        match try_bind_all(addresses, port).await {
            Ok(bound) => return Ok(bound),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no address to bind")))
}

async fn try_bind_all(addresses: &[Ipv4Addr], port: u16) -> io::Result<(u16, Vec<TcpListener>)> {
    let mut listeners = Vec::with_capacity(addresses.len());
    let mut port = port;
    for addr in addresses {
        let sock = SocketAddr::from((*addr, port));
        let listener = TcpListener::bind(sock)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {sock}: {e}")))?;
        port = listener.local_addr()?.port();
        listeners.push(listener);
    }
    Ok((port, listeners))
}

/// Binds one address again, for a node coming back up.
pub async fn bind_one(address: Ipv4Addr, port: u16) -> io::Result<TcpListener> {
    let sock = SocketAddr::from((address, port));
    TcpListener::bind(sock)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {sock}: {e}")))
}

/// A running CQL listener on one node address.
#[derive(Debug)]
pub struct CqlServer {
    /// The accept loop; aborting it closes the listener and every open connection.
    task: JoinHandle<()>,
}

impl CqlServer {
    /// Serves the CQL native protocol on `listener` for one node.
    pub fn spawn(listener: TcpListener, service: Arc<Service>) -> Self {
        CqlServer {
            task: tokio::spawn(listener::serve(listener, service)),
        }
    }

    /// Stops at once: the listening socket and every open connection close, as on a dead node.
    pub fn stop(self) {
        self.task.abort();
    }
}
