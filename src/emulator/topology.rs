//! Who is in the cluster: node identities, DCs and racks, vnode tokens, and replica placement.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;
use uuid::Uuid;

use super::config::{ConfigError, EmulatorConfig};
use super::rng::{Rng, uuid_for};
use super::schema::Replication;

/// Racks per DC; nodes of a DC are spread over them round-robin.
const RACKS_PER_DC: usize = 3;

/// The identity of one node, the same as every peer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeIdentity {
    /// Position of the node in the cluster (0-based, DC order).
    pub index: usize,
    /// The node's own loopback address.
    pub address: Ipv4Addr,
    /// Scylla host ID.
    pub host_id: Uuid,
    /// Datacenter name.
    pub dc: String,
    /// Rack name.
    pub rack: String,
    /// The node's vnode tokens, sorted.
    #[serde(skip)]
    pub tokens: Vec<i64>,
}

/// One token range of the ring and the nodes that replicate it, as `describe_ring` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRange {
    /// Range start (exclusive), as decimal text.
    pub start_token: String,
    /// Range end (inclusive), as decimal text.
    pub end_token: String,
    /// Replica addresses, primary first.
    pub endpoints: Vec<String>,
    /// Replica RPC addresses (equal to `endpoints` here).
    pub rpc_endpoints: Vec<String>,
    /// Replica host, DC and rack.
    pub endpoint_details: Vec<EndpointDetail>,
}

/// One replica of a token range.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointDetail {
    /// Replica address.
    pub host: String,
    /// Replica DC.
    pub datacenter: String,
    /// Replica rack.
    pub rack: String,
}

/// The cluster's membership and token ring.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Every node, in DC order.
    pub nodes: Vec<NodeIdentity>,
    /// Every token with the index of its owner, sorted by token.
    ring: Vec<(i64, usize)>,
}

impl Topology {
    /// The topology a configuration describes; identities and tokens follow from the seed.
    pub fn new(config: &EmulatorConfig) -> Result<Self, ConfigError> {
        let addresses = config.addresses()?;
        let mut nodes = Vec::with_capacity(addresses.len());
        let mut addr = addresses.into_iter();
        for (dc, count) in &config.nodes.0 {
            for i in 0..*count {
                let index = nodes.len();
                let address = addr.next().expect("one address per node");
                let mut rng = Rng::for_parts(config.seed, &["tokens", &index.to_string()]);
                let mut tokens: Vec<i64> = (0..config.tokens_per_node)
                    .map(|_| rng.next_u64() as i64)
                    .collect();
                tokens.sort_unstable();
                nodes.push(NodeIdentity {
                    index,
                    address,
                    host_id: uuid_for(
                        config.host_id_seed.unwrap_or(config.seed),
                        &["host", &index.to_string()],
                    ),
                    dc: dc.clone(),
                    rack: format!("rack{}", i % RACKS_PER_DC + 1),
                    tokens,
                });
            }
        }
        let mut ring: Vec<(i64, usize)> = nodes
            .iter()
            .flat_map(|n| n.tokens.iter().map(|t| (*t, n.index)))
            .collect();
        ring.sort_unstable();
        ring.dedup_by_key(|(t, _)| *t);
        Ok(Topology { nodes, ring })
    }

    /// The node with this address.
    pub fn by_address(&self, address: &str) -> Option<&NodeIdentity> {
        self.nodes.iter().find(|n| n.address.to_string() == address)
    }

    /// DC names, in configuration order.
    pub fn dcs(&self) -> Vec<String> {
        let mut dcs: Vec<String> = Vec::new();
        for n in &self.nodes {
            if !dcs.contains(&n.dc) {
                dcs.push(n.dc.clone());
            }
        }
        dcs
    }

    /// The ring of a keyspace with this replication, seen from node `local` (for LocalStrategy).
    pub fn describe_ring(&self, replication: &Replication, local: usize) -> Vec<TokenRange> {
        let n = self.ring.len();
        (0..n)
            .map(|i| {
                let start = self.ring[(i + n - 1) % n].0;
                let (end, _) = self.ring[i];
                let replicas = self.replicas(replication, i, local);
                let detail = |idx: &usize| {
                    let node = &self.nodes[*idx];
                    EndpointDetail {
                        host: node.address.to_string(),
                        datacenter: node.dc.clone(),
                        rack: node.rack.clone(),
                    }
                };
                let endpoints: Vec<String> = replicas
                    .iter()
                    .map(|i| self.nodes[*i].address.to_string())
                    .collect();
                TokenRange {
                    start_token: start.to_string(),
                    end_token: end.to_string(),
                    rpc_endpoints: endpoints.clone(),
                    endpoints,
                    endpoint_details: replicas.iter().map(detail).collect(),
                }
            })
            .collect()
    }

    /// Every range of the ring as (start exclusive, end inclusive), in ring order; one token
    /// alone makes one range covering the whole ring (start == end).
    pub fn ranges(&self) -> Vec<(i64, i64)> {
        let n = self.ring.len();
        (0..n)
            .filter_map(|i| {
                let start = self.ring.get((i + n - 1) % n)?.0;
                Some((start, self.ring.get(i)?.0))
            })
            .collect()
    }

    /// The ring position of the range that holds `token`: the first token at or after it,
    /// wrapping to the first.
    fn position_of(&self, token: i64) -> usize {
        let i = self.ring.partition_point(|(t, _)| *t < token);
        if i == self.ring.len() { 0 } else { i }
    }

    /// Replica indexes of the partition at `token`, primary first (`local` answers for
    /// LocalStrategy).
    pub fn replicas_of_token(
        &self,
        replication: &Replication,
        token: i64,
        local: usize,
    ) -> Vec<usize> {
        if self.ring.is_empty() {
            return Vec::new();
        }
        self.replicas(replication, self.position_of(token), local)
    }

    /// The ranges node `node` replicates (only those it is primary for with `primary_only`).
    pub fn owned_ranges(
        &self,
        replication: &Replication,
        node: usize,
        primary_only: bool,
    ) -> Vec<(i64, i64)> {
        self.ranges()
            .into_iter()
            .enumerate()
            .filter(|(pos, _)| {
                let replicas = self.replicas(replication, *pos, node);
                if primary_only {
                    replicas.first() == Some(&node)
                } else {
                    replicas.contains(&node)
                }
            })
            .map(|(_, r)| r)
            .collect()
    }

    /// Replica indexes of the range ending at ring position `pos`, walking the ring clockwise.
    fn replicas(&self, replication: &Replication, pos: usize, local: usize) -> Vec<usize> {
        let wanted: BTreeMap<Option<&str>, usize> = match replication {
            Replication::Local => return vec![local],
            Replication::Everywhere => [(None, self.nodes.len())].into(),
            Replication::Simple(rf) => [(None, (*rf as usize).min(self.nodes.len()))].into(),
            Replication::NetworkTopology(dcs) => dcs
                .iter()
                .map(|(dc, rf)| {
                    let in_dc = self.nodes.iter().filter(|n| &n.dc == dc).count();
                    (Some(dc.as_str()), (*rf as usize).min(in_dc))
                })
                .collect(),
        };
        let mut taken: BTreeMap<Option<&str>, usize> = BTreeMap::new();
        let mut out = Vec::new();
        let total: usize = wanted.values().sum();
        for step in 0..self.ring.len() {
            if out.len() == total {
                break;
            }
            let owner = self.ring[(pos + step) % self.ring.len()].1;
            if out.contains(&owner) {
                continue;
            }
            let key = if matches!(replication, Replication::NetworkTopology(_)) {
                Some(self.nodes[owner].dc.as_str())
            } else {
                None
            };
            let Some(want) = wanted.get(&key) else {
                continue;
            };
            let have = taken.entry(key).or_default();
            if *have < *want {
                *have += 1;
                out.push(owner);
            }
        }
        out
    }
}
