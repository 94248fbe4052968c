//! Cluster discovery through the agents: the first reachable given host tells the cluster's
//! membership (host IDs, DCs, racks, gossip liveness, joining and leaving nodes); then every
//! node's own agent is asked, in parallel and bounded, whether it accepts the token, which Scylla
//! version it runs and how much disk it has free.
//!
//! Only agents whose certificate is pinned for the cluster are sent the token (see
//! [`super::agent_trust`]). A host without a pin is trusted on first use only when the caller
//! allows it ([`FirstUse`]): `cluster add` trusts every node it finds, `cluster update --repin`
//! the hosts named; otherwise such a node is reported with the reason and never contacted with
//! the token (a node added to the ring later shows as untrusted until an operator repins it).

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::agent_client::{
    AgentClient,
    error::{AgentError, RetryPolicy},
};
use super::agent_trust::{TrustError, fetch_fingerprint};

/// Most nodes asked at once.
const PARALLELISM: usize = 16;

/// Why a cluster could not be discovered.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// No host was given.
    #[error("cluster discovery: no host given (give at least one node address)")]
    NoHosts,
    /// None of the given hosts answered; each is listed with its reason.
    #[error(
        "cluster discovery: no given host answered ({}); a retry may help if the hosts are only temporarily unreachable",
        .failures.iter().map(|(h, e)| format!("{h}: {e}")).collect::<Vec<_>>().join("; ")
    )]
    Unreachable {
        /// Each host tried and why it failed.
        failures: Vec<(String, AgentError)>,
    },
    /// The contacted host answered its first call but then failed.
    #[error("cluster discovery through {host}: {source}")]
    Contact {
        /// The contacted host.
        host: String,
        /// What failed.
        source: AgentError,
    },
}

impl DiscoveryError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            DiscoveryError::NoHosts => false,
            DiscoveryError::Unreachable { failures } => failures.iter().any(|(_, e)| e.retryable()),
            DiscoveryError::Contact { source, .. } => source.retryable(),
        }
    }
}

/// A node's gossip state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// A full member of the ring.
    Normal,
    /// Joining the ring.
    Joining,
    /// Leaving the ring.
    Leaving,
}

/// One node as discovery found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    /// The node's address (also its agent's host).
    pub address: String,
    /// Scylla host ID.
    pub host_id: String,
    /// Datacenter.
    pub dc: String,
    /// Rack.
    pub rack: String,
    /// Whether gossip sees the node up.
    pub gossip_up: bool,
    /// Ring membership state.
    pub state: NodeState,
    /// Whether the node's agent answered and accepted the token.
    pub agent_ok: bool,
    /// Why the agent check failed, if it did.
    pub agent_error: Option<String>,
    /// Scylla's release version, when the agent could reach Scylla.
    pub scylla_version: Option<String>,
    /// Free bytes on the node's data file system, when the agent answered.
    pub disk_free: Option<u64>,
    /// Total bytes of the node's data file system, when the agent answered.
    pub disk_total: Option<u64>,
}

impl NodeView {
    /// Whether a backup can use the node: up and normal in gossip, agent and Scylla answering.
    pub fn is_live(&self) -> bool {
        self.gossip_up
            && self.state == NodeState::Normal
            && self.agent_ok
            && self.scylla_version.is_some()
    }

    /// Why the node cannot be used, or `None` when it can.
    pub fn down_reason(&self) -> Option<String> {
        if !self.gossip_up {
            Some("down in gossip".into())
        } else if self.state != NodeState::Normal {
            Some(format!("{:?} the ring", self.state).to_lowercase())
        } else if !self.agent_ok {
            Some(format!(
                "agent check failed: {}",
                self.agent_error.as_deref().unwrap_or("unknown error")
            ))
        } else if self.scylla_version.is_none() {
            Some("the agent cannot reach Scylla".into())
        } else {
            None
        }
    }
}

/// A cluster as discovery found it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterView {
    /// The host that answered the membership calls.
    pub contact: String,
    /// The agents' port.
    pub port: u16,
    /// Every node, sorted by DC then address.
    pub nodes: Vec<NodeView>,
    /// The agents' certificate fingerprints by host: those given, and those trusted on first use
    /// during this discovery.
    #[serde(default)]
    pub pins: BTreeMap<String, String>,
}

/// Which hosts without a pinned certificate a discovery may trust on first use (capturing their
/// certificate in a handshake that sends nothing, then pinning it).
#[derive(Debug, Clone, Copy)]
pub enum FirstUse<'a> {
    /// None: only pinned agents are contacted.
    None,
    /// Every host given or found in the ring (adding a cluster).
    All,
    /// These hosts only (`cluster update --repin`).
    Hosts(&'a BTreeSet<String>),
}

impl FirstUse<'_> {
    /// Whether `host` may be trusted on first use.
    fn allows(&self, host: &str) -> bool {
        match self {
            FirstUse::None => false,
            FirstUse::All => true,
            FirstUse::Hosts(h) => h.contains(host),
        }
    }
}

/// Pins `host`'s certificate when it has no pin and `first_use` allows it.
async fn trust_on_first_use(
    host: &str,
    port: u16,
    pins: &mut BTreeMap<String, String>,
    first_use: FirstUse<'_>,
) -> Result<(), TrustError> {
    if pins.contains_key(host) || !first_use.allows(host) {
        return Ok(());
    }
    let fingerprint = fetch_fingerprint(host, port).await?;
    tracing::info!(%host, sha256 = %fingerprint, "agent certificate pinned on first use");
    pins.insert(host.to_string(), fingerprint);
    Ok(())
}

/// A probe failure as the agent error discovery reports.
fn probe_failed(host: &str, e: TrustError) -> AgentError {
    AgentError::Connect {
        host: host.to_string(),
        call: "TLS handshake".into(),
        reason: e.to_string(),
        not_sent: true,
    }
}

impl ClusterView {
    /// The DCs, sorted.
    pub fn dcs(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.nodes.iter().map(|n| n.dc.as_str()).collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// The node at `address`.
    pub fn node(&self, address: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.address == address)
    }

    /// The nodes a backup can use.
    pub fn live_nodes(&self) -> impl Iterator<Item = &NodeView> {
        self.nodes.iter().filter(|n| n.is_live())
    }

    /// The nodes a backup cannot use.
    pub fn down_nodes(&self) -> impl Iterator<Item = &NodeView> {
        self.nodes.iter().filter(|n| !n.is_live())
    }
}

/// Discovers the cluster of `hosts` through their agents on `port` with `token`, contacting only
/// agents whose certificate `pins` holds.
pub async fn discover(
    hosts: &[String],
    port: u16,
    token: &str,
    pins: &BTreeMap<String, String>,
) -> Result<ClusterView, DiscoveryError> {
    discover_trusting(hosts, port, token, pins.clone(), FirstUse::None).await
}

/// [`discover`], trusting the hosts `first_use` allows on first use (their pins are in the
/// answer's [`ClusterView::pins`]).
///
/// The given hosts are tried in order until one answers; its view of the membership is then
/// completed by asking every node's own agent.
pub async fn discover_trusting(
    hosts: &[String],
    port: u16,
    token: &str,
    mut pins: BTreeMap<String, String>,
    first_use: FirstUse<'_>,
) -> Result<ClusterView, DiscoveryError> {
    if hosts.is_empty() {
        return Err(DiscoveryError::NoHosts);
    }
    let quick = RetryPolicy {
        retries: 1,
        ..RetryPolicy::default()
    };
    let mut failures = Vec::new();
    let mut found = None;
    for host in hosts {
        let attempt = async {
            trust_on_first_use(host, port, &mut pins, first_use)
                .await
                .map_err(|e| probe_failed(host, e))?;
            let client = AgentClient::new(host, port, token, &pins)?.with_retry(quick);
            let ids = client.host_id_map().await?;
            Ok::<_, AgentError>((client, ids))
        };
        match attempt.await {
            Ok(v) => {
                found = Some(v);
                break;
            }
            Err(e) => {
                tracing::debug!(%host, error = %e, "host did not answer discovery");
                failures.push((host.clone(), e));
            }
        }
    }
    let Some((contact, ids)) = found else {
        return Err(DiscoveryError::Unreachable { failures });
    };
    let fail = |source| DiscoveryError::Contact {
        host: contact.host().to_string(),
        source,
    };
    let live = contact.live_endpoints().await.map_err(fail)?;
    let joining = contact.joining().await.map_err(fail)?;
    let leaving = contact.leaving().await.map_err(fail)?;

    let placed: Vec<(String, String, String, String)> =
        futures::stream::iter(ids.into_iter().map(|(address, host_id)| {
            let contact = &contact;
            async move {
                let dc = contact.datacenter(Some(&address)).await?;
                let rack = contact.rack(Some(&address)).await?;
                Ok::<_, AgentError>((address, host_id, dc, rack))
            }
        }))
        .buffer_unordered(PARALLELISM)
        .try_collect()
        .await
        .map_err(fail)?;

    // Nodes found in the ring are trusted on first use (when allowed) before any is called.
    let mut probe_failures: BTreeMap<String, TrustError> = BTreeMap::new();
    for (address, _, _, _) in &placed {
        if let Err(e) = trust_on_first_use(address, port, &mut pins, first_use).await {
            probe_failures.insert(address.clone(), e);
        }
    }
    let nodes_client = AgentClient::new(contact.host(), port, token, &pins)
        .map_err(fail_after_contact(&contact))?;
    let mut nodes: Vec<NodeView> =
        futures::stream::iter(placed.into_iter().map(|(address, host_id, dc, rack)| {
            let state = if joining.contains(&address) {
                NodeState::Joining
            } else if leaving.contains(&address) {
                NodeState::Leaving
            } else {
                NodeState::Normal
            };
            let gossip_up = live.contains(&address);
            let (contact, probe_failure) = (&nodes_client, probe_failures.get(&address).cloned());
            async move {
                let mut node = NodeView {
                    gossip_up,
                    state,
                    agent_ok: false,
                    agent_error: None,
                    scylla_version: None,
                    disk_free: None,
                    disk_total: None,
                    address,
                    host_id,
                    dc,
                    rack,
                };
                let info = match probe_failure {
                    Some(e) => Err(probe_failed(&node.address, e)),
                    None => {
                        contact
                            .for_host(&node.address)
                            .with_retry(RetryPolicy::none())
                            .node_info()
                            .await
                    }
                };
                match info {
                    Ok(info) => {
                        node.agent_ok = true;
                        node.scylla_version = Some(info.scylla_version).filter(|v| !v.is_empty());
                        node.disk_free = Some(info.storage_free);
                        node.disk_total = Some(info.storage_size);
                    }
                    Err(e) => node.agent_error = Some(e.to_string()),
                }
                node
            }
        }))
        .buffer_unordered(PARALLELISM)
        .collect()
        .await;
    nodes.sort_by(|a, b| (&a.dc, &a.address).cmp(&(&b.dc, &b.address)));
    Ok(ClusterView {
        contact: contact.host().to_string(),
        port,
        nodes,
        pins,
    })
}

/// A failure after the contact answered, naming it.
fn fail_after_contact(contact: &AgentClient) -> impl Fn(AgentError) -> DiscoveryError + '_ {
    |source| DiscoveryError::Contact {
        host: contact.host().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(address: &str, dc: &str) -> NodeView {
        NodeView {
            address: address.into(),
            host_id: format!("id-{address}"),
            dc: dc.into(),
            rack: "r1".into(),
            gossip_up: true,
            state: NodeState::Normal,
            agent_ok: true,
            agent_error: None,
            scylla_version: Some("2025.1.0".into()),
            disk_free: Some(1),
            disk_total: Some(2),
        }
    }

    #[test]
    fn liveness_needs_gossip_agent_and_scylla() {
        let mut n = node("10.0.0.1", "dc1");
        assert!(n.is_live());
        assert_eq!(n.down_reason(), None);
        n.state = NodeState::Joining;
        assert_eq!(n.down_reason().as_deref(), Some("joining the ring"));
        n.state = NodeState::Normal;
        n.scylla_version = None;
        assert!(!n.is_live());
        n.gossip_up = false;
        assert_eq!(n.down_reason().as_deref(), Some("down in gossip"));
    }

    #[test]
    fn views_list_dcs_once() {
        let view = ClusterView {
            contact: "10.0.0.1".into(),
            port: 10001,
            nodes: vec![
                node("10.0.0.1", "dc1"),
                node("10.0.0.2", "dc2"),
                node("10.0.0.3", "dc1"),
            ],
            pins: BTreeMap::new(),
        };
        assert_eq!(view.dcs(), ["dc1", "dc2"]);
        assert_eq!(view.live_nodes().count(), 3);
    }

    #[tokio::test]
    async fn unreachable_hosts_are_named() {
        let none = BTreeMap::new();
        let err = discover(&["127.0.0.1".into()], 1, "t", &none)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
        assert!(err.retryable());
        assert!(matches!(
            discover(&[], 1, "t", &none).await,
            Err(DiscoveryError::NoHosts)
        ));
    }
}
