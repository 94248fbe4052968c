//! What an emulated cluster looks like: its DCs and node counts, addresses, dataset and naming.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::units::parse_size;

/// Why an emulator setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `--tablet-keyspaces` names a keyspace the dataset does not have.
    #[error("--tablet-keyspaces {0:?}: not a dataset keyspace (the dataset has {1})")]
    TabletKeyspace(String, String),
    /// `--nodes` is not a list of `dc:count`.
    #[error("--nodes {0:?}: expected a comma-separated list of dc:count, e.g. dc1:3,dc2:3")]
    NodesShape(String),
    /// A DC was named twice or has no nodes.
    #[error("--nodes {spec:?}: {reason}")]
    Nodes {
        /// The whole `--nodes` value.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--dataset` is neither a preset nor a size.
    #[error("--dataset {0:?}: expected tiny, small or a size such as 512MiB or 10GiB")]
    Dataset(String),
    /// `--sstable-names` is not a known format.
    #[error("--sstable-names {0:?}: expected uuid or integer")]
    NameFormat(String),
    /// The addresses of the nodes would leave 127.0.0.0/8 or wrap around.
    #[error("--base-address {base}: {count} nodes would run past the loopback range 127.0.0.0/8")]
    Addresses {
        /// The first node's address.
        base: Ipv4Addr,
        /// How many nodes were asked for.
        count: usize,
    },
}

/// How many nodes each DC has, in the order given (`dc1:3,dc2:3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCounts(pub Vec<(String, usize)>);

impl NodeCounts {
    /// Total number of nodes over all DCs.
    pub fn total(&self) -> usize {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

impl FromStr for NodeCounts {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for part in s.split(',').map(str::trim) {
            let (dc, n) = part
                .split_once(':')
                .ok_or_else(|| ConfigError::NodesShape(s.to_string()))?;
            let dc_ok = !dc.is_empty()
                && dc
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            let n: usize = n
                .trim()
                .parse()
                .map_err(|_| ConfigError::NodesShape(s.to_string()))?;
            let fail = |reason: String| ConfigError::Nodes {
                spec: s.to_string(),
                reason,
            };
            if !dc_ok {
                return Err(fail(format!(
                    "DC name {dc:?} may hold only letters, digits, '-', '_' and '.'"
                )));
            }
            if n == 0 {
                return Err(fail(format!("DC {dc} needs at least one node")));
            }
            if out.iter().any(|(d, _)| d == dc) {
                return Err(fail(format!("DC {dc} is named twice")));
            }
            out.push((dc.to_string(), n));
        }
        Ok(NodeCounts(out))
    }
}

impl fmt::Display for NodeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(dc, n)| format!("{dc}:{n}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// How much user data each node starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dataset {
    /// About 2 MiB of user data per node: quick tests.
    Tiny,
    /// About 64 MiB of user data per node: demos.
    Small,
    /// About this many bytes of user data per node.
    Bytes(u64),
}

impl Dataset {
    /// User data bytes per node this dataset aims at.
    pub fn bytes_per_node(self) -> u64 {
        match self {
            Dataset::Tiny => 2 << 20,
            Dataset::Small => 64 << 20,
            Dataset::Bytes(n) => n,
        }
    }
}

impl FromStr for Dataset {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tiny" => Ok(Dataset::Tiny),
            "small" => Ok(Dataset::Small),
            _ => parse_size(s)
                .map(Dataset::Bytes)
                .ok_or_else(|| ConfigError::Dataset(s.to_string())),
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dataset::Tiny => f.write_str("tiny"),
            Dataset::Small => f.write_str("small"),
            Dataset::Bytes(n) => write!(f, "{n}B"),
        }
    }
}

/// Which generation form new SSTables get, as Scylla's `uuid_sstable_identifiers_enabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NameFormat {
    /// Base36 time-UUID generations (Scylla ≥ 6.0 default).
    Uuid,
    /// Integer generations (older Scylla).
    Integer,
}

impl FromStr for NameFormat {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uuid" => Ok(NameFormat::Uuid),
            "integer" => Ok(NameFormat::Integer),
            _ => Err(ConfigError::NameFormat(s.to_string())),
        }
    }
}

/// Everything needed to start an emulated cluster.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Root directory; node `A` keeps its data under `<data_dir>/<A>/data`.
    pub data_dir: PathBuf,
    /// DCs and their node counts.
    pub nodes: NodeCounts,
    /// Address of the first node; node i listens on `base_address + i`.
    pub base_address: Ipv4Addr,
    /// Scylla REST API port on every node; 0 picks one free port used by all nodes.
    pub api_port: u16,
    /// Prometheus port on every node; 0 picks one free port used by all nodes.
    pub prometheus_port: u16,
    /// Initial user data per node.
    pub dataset: Dataset,
    /// Seed every name, token and byte follows from.
    pub seed: u64,
    /// Generation form of new SSTables.
    pub name_format: NameFormat,
    /// Shards (CPU cores Scylla runs on) per node.
    pub shards: u32,
    /// Vnode tokens per node (`num_tokens`).
    pub tokens_per_node: usize,
    /// Version reported by `scylla_release_version`.
    pub scylla_version: String,
    /// Cluster name reported by the config API.
    pub cluster_name: String,
    /// CQL native protocol port on every node; 0 picks one free port used by all nodes.
    pub cql_port: u16,
    /// The CQL superuser's name (PasswordAuthenticator).
    pub cql_user: String,
    /// The CQL superuser's password.
    pub cql_password: String,
    /// Dataset keyspaces created with tablets instead of vnodes.
    pub tablet_keyspaces: Vec<String>,
    /// Streaming rate in MiB/s per shard for load&stream and repair; 0 means unlimited.
    pub stream_rate: u64,
    /// Start with no user keyspaces (only Scylla's own), for a schema restore to fill.
    pub empty: bool,
    /// Seed of the nodes' host IDs when not `seed`: the same ring (tokens follow `seed`) with
    /// other nodes, as a cluster built to receive a 1-1 restore.
    pub host_id_seed: Option<u64>,
}

impl EmulatorConfig {
    /// A configuration with the defaults of `cairn emulator`.
    pub fn new(data_dir: impl Into<PathBuf>, nodes: NodeCounts) -> Self {
        EmulatorConfig {
            data_dir: data_dir.into(),
            nodes,
            base_address: Ipv4Addr::new(127, 0, 0, 11),
            api_port: 10000,
            prometheus_port: 9180,
            dataset: Dataset::Tiny,
            seed: 1,
            name_format: NameFormat::Uuid,
            shards: 2,
            tokens_per_node: 256,
            scylla_version: "2025.1.3".to_string(),
            cluster_name: "emulated".to_string(),
            cql_port: 9042,
            cql_user: "cassandra".to_string(),
            cql_password: "cassandra".to_string(),
            tablet_keyspaces: Vec::new(),
            stream_rate: 0,
            empty: false,
            host_id_seed: None,
        }
    }

    /// The address of every node, in DC order, checked to stay on loopback.
    pub fn addresses(&self) -> Result<Vec<Ipv4Addr>, ConfigError> {
        let count = self.nodes.total();
        let base = u32::from(self.base_address);
        let last = base.checked_add(count.saturating_sub(1) as u32);
        match last {
            Some(last) if self.base_address.is_loopback() && Ipv4Addr::from(last).is_loopback() => {
                Ok((0..count as u32)
                    .map(|i| Ipv4Addr::from(base + i))
                    .collect())
            }
            _ => Err(ConfigError::Addresses {
                base: self.base_address,
                count,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_counts_and_refuses_bad_ones() {
        let n: NodeCounts = "dc1:3, dc2:2".parse().unwrap();
        assert_eq!(n.0, vec![("dc1".to_string(), 3), ("dc2".to_string(), 2)]);
        assert_eq!(n.total(), 5);
        assert_eq!(n.to_string(), "dc1:3,dc2:2");
        for (bad, needle) in [
            ("dc1", "expected a comma-separated"),
            ("dc1:x", "expected a comma-separated"),
            ("dc1:0", "at least one node"),
            ("dc1:1,dc1:2", "named twice"),
            ("d c:1", "may hold only"),
        ] {
            let err = bad.parse::<NodeCounts>().unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn parses_dataset_sizes() {
        assert_eq!("tiny".parse::<Dataset>().unwrap(), Dataset::Tiny);
        assert_eq!(
            "64MiB".parse::<Dataset>().unwrap(),
            Dataset::Bytes(64 << 20)
        );
        assert_eq!("10G".parse::<Dataset>().unwrap(), Dataset::Bytes(10 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert!("huge".parse::<Dataset>().is_err());
        assert!("99999999999TiB".parse::<Dataset>().is_err());
    }

    #[test]
    fn addresses_stay_on_loopback() {
        let mut c = EmulatorConfig::new("/tmp/x", "dc1:3".parse().unwrap());
        assert_eq!(c.addresses().unwrap()[2], Ipv4Addr::new(127, 0, 0, 13));
        c.base_address = Ipv4Addr::new(127, 255, 255, 254);
        assert!(c.addresses().is_err());
        c.base_address = Ipv4Addr::new(10, 0, 0, 1);
        assert!(c.addresses().is_err());
    }
}
