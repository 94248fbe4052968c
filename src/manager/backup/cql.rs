//! CQL sessions of a backup run: a node's CQL address and port (from its agent's `node_info`,
//! as upstream: `rpc_address`, else the node's address, and `native_transport_port`), the
//! cluster's credentials, and a session bound to that one node (no other host is connected to,
//! no schema metadata is fetched).

use std::sync::Arc;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::host_filter::AllowListHostFilter;

use crate::manager::agent_client::AgentClient;
use crate::manager::store::Cluster;

/// Time allowed to open a connection to a node's CQL port.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The CQL user and password of a cluster.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password (never printed).
    pub password: String,
}

impl Credentials {
    /// The cluster's CQL credentials, when it has both.
    pub fn of(cluster: &Cluster) -> Option<Credentials> {
        match (&cluster.cql_username, &cluster.cql_password) {
            (Some(user), Some(password)) if !user.is_empty() => Some(Credentials {
                user: user.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }
}

/// Why a node's CQL could not be reached or answered.
#[derive(Debug, thiserror::Error)]
#[error("CQL of {host}: {reason}")]
pub struct CqlError {
    /// The node, as `address:port` once known, else its address.
    pub host: String,
    /// What failed.
    pub reason: String,
}

/// Where a node serves CQL: `address:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CqlEndpoint {
    /// The CQL address.
    pub address: String,
    /// The CQL port.
    pub port: u16,
}

impl std::fmt::Display for CqlEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.address.contains(':') {
            write!(f, "[{}]:{}", self.address, self.port)
        } else {
            write!(f, "{}:{}", self.address, self.port)
        }
    }
}

/// The CQL address and port of the node `client` talks to, from its agent's `node_info`.
pub async fn endpoint(client: &AgentClient) -> Result<CqlEndpoint, CqlError> {
    let info = client.node_info().await.map_err(|e| CqlError {
        host: client.host().to_string(),
        reason: e.to_string(),
    })?;
    Ok(CqlEndpoint {
        address: cql_address(&info.rpc_address, client.host()),
        port: info.native_transport_port,
    })
}

/// The address to reach a node's CQL on: its `rpc_address`, unless that is empty or a wildcard,
/// then the address the cluster knows the node by.
fn cql_address(rpc_address: &str, host: &str) -> String {
    match rpc_address.trim() {
        "" | "0.0.0.0" | "::" => host.to_string(),
        a => a.to_string(),
    }
}

/// Opens a session to `node` alone with `credentials`.
pub async fn session(node: &CqlEndpoint, credentials: &Credentials) -> Result<Session, CqlError> {
    let fail = |reason: String| CqlError {
        host: node.to_string(),
        reason,
    };
    let target = node.to_string();
    let only = AllowListHostFilter::new([target.as_str()]).map_err(|e| fail(e.to_string()))?;
    SessionBuilder::new()
        .known_node(&target)
        .host_filter(Arc::new(only))
        .fetch_schema_metadata(false)
        .fetch_full_schema_metadata(false)
        .user(&credentials.user, &credentials.password)
        .connection_timeout(CONNECT_TIMEOUT)
        .build()
        .await
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_or_missing_rpc_addresses_fall_back_to_the_node_address() {
        assert_eq!(cql_address("", "10.0.0.1"), "10.0.0.1");
        assert_eq!(cql_address("0.0.0.0", "10.0.0.1"), "10.0.0.1");
        assert_eq!(cql_address("10.1.0.1", "10.0.0.1"), "10.1.0.1");
        let v6 = CqlEndpoint {
            address: "::1".into(),
            port: 9042,
        };
        assert_eq!(v6.to_string(), "[::1]:9042");
    }

    #[test]
    fn credentials_need_a_user_and_a_password() {
        let mut c = Cluster {
            id: uuid::Uuid::nil(),
            name: "prod".into(),
            hosts: vec![],
            agent_port: 10001,
            auth_token: String::new(),
            cql_username: Some("cassandra".into()),
            cql_password: None,
            created_at: chrono::Utc::now(),
            agent_pins: Default::default(),
        };
        assert!(Credentials::of(&c).is_none());
        c.cql_password = Some("cassandra".into());
        assert!(Credentials::of(&c).is_some());
    }
}
