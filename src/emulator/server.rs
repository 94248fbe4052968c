//! Listeners: every node binds its own address on the shared API, Prometheus and CQL ports, and
//! can be stopped (connections refused, as from a dead node) and started again.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cql::listener;
use super::cql::service::Service;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::emulator::{Emulator, EmulatorConfig, NodeCounts};

    /// Sends one request frame and reads the answer's opcode.
    async fn ask(socket: &mut TcpStream, opcode: u8, body: &[u8]) -> u8 {
        let mut frame = vec![4, 0, 0, 1, opcode];
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(body);
        socket.write_all(&frame).await.unwrap();
        let mut header = [0u8; 9];
        socket.read_exact(&mut header).await.unwrap();
        let len = u32::from_be_bytes(header[5..9].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; len];
        socket.read_exact(&mut rest).await.unwrap();
        header[4]
    }

    /// Logs in with the default credentials.
    async fn login(socket: &mut TcpStream) {
        let startup = [&[0, 1, 0, 11][..], b"CQL_VERSION", &[0, 5], b"3.0.0"].concat();
        assert_eq!(ask(socket, 0x01, &startup).await, 0x03, "AUTHENTICATE");
        let token = b"\0cassandra\0cassandra";
        let body = [&(token.len() as i32).to_be_bytes()[..], token].concat();
        assert_eq!(ask(socket, 0x0F, &body).await, 0x10, "AUTH_SUCCESS");
    }

    #[tokio::test]
    async fn every_node_serves_cql_and_a_node_taken_down_drops_its_connections() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EmulatorConfig::new(dir.path(), "dc1:2".parse::<NodeCounts>().unwrap());
        config.base_address = "127.0.93.11".parse().unwrap();
        config.api_port = 0;
        config.prometheus_port = 0;
        config.cql_port = 0;
        let emulator = Emulator::start(config).await.unwrap();
        let port = emulator.cql_port();
        assert_ne!(port, 0);
        let nodes = emulator.nodes();
        assert_eq!(nodes[1].cql_address, format!("127.0.93.12:{port}"));

        let mut socket = TcpStream::connect(("127.0.93.12", port)).await.unwrap();
        login(&mut socket).await;
        let query = [&5i32.to_be_bytes()[..], b"USE x", &[0, 1, 0]].concat();
        assert_eq!(
            ask(&mut socket, 0x07, &query).await,
            0x00,
            "ERROR from the engine"
        );
        let calls = emulator.cluster().calls.entries();
        assert_eq!(
            calls.last().map(|c| (c.node.as_str(), c.what.as_str())),
            Some(("127.0.93.12", "CQL USE x"))
        );

        emulator.cluster().set_up(1, false).await.unwrap();
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .expect("the connection is dropped");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(TcpStream::connect(("127.0.93.12", port)).await.is_err());
        assert!(TcpStream::connect(("127.0.93.11", port)).await.is_ok());

        emulator.cluster().set_up(1, true).await.unwrap();
        let mut socket = TcpStream::connect(("127.0.93.12", port)).await.unwrap();
        login(&mut socket).await;
        emulator.shutdown();
    }
}
