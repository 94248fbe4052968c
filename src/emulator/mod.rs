//! `cairn emulator`: a stand-in for a cluster of ScyllaDB nodes, for tests, demos and benchmarks.
//!
//! One process hosts every node. Node i listens on its own loopback address (`base + i`) like a
//! real node on its own IP, keeps a real data directory laid out as Scylla lays it out, and
//! answers the Scylla REST API subset that backup and restore use, following Scylla's published
//! API description. Controls that Scylla has no REST for live under `/emulator/`.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | cluster shape, addresses, dataset size, naming settings |
//! | [`topology`] | node identities, DCs, racks, tokens, replica placement |
//! | [`schema`] | keyspaces, replication, user types, tables, views and index views with their IDs, columns and options; the schema version |
//! | [`node`] | one node's files: flush, compaction, snapshots, `upload/` loading |
//! | [`sstable_writer`] | writing one SSTable's full component set |
//! | [`dataset`] | the dataset's schema and the initial data of each node |
//! | [`calls`] | the record of CQL statements and order-sensitive REST calls |
//! | [`cluster`] | the shared state, the data-dir record, nodes going down and up |
//! | [`scylla_api`] | the Scylla REST routes and the per-node fault/down layer |
//! | [`controls`] | the `/emulator/` routes |
//! | [`cql`] | the CQL native protocol listener and the statements it runs |
//! | [`faults`] | injected latency and errors |
//! | [`server`] | listeners per node address |
//! | [`rng`] | seeded pseudo-randomness |
//! | [`tablets`] | the tablet balancing switch and its record |
//! | [`records`] | the `Data.db` record format: partition records with tokens, their identities |
//! | [`placement`] | tokens inside owned ranges, splitting records by owner, the placement report |
//! | [`load_stream`] | loading `upload/`: refresh, load&stream, one load per table, the stream rate |
//! | [`repair`] | vnode and tablet repair: replicas end up holding the union |
//! | [`tasks`] | the task manager's tasks (tablet repair) |
//! | [`autocompaction`] | the per-table autocompaction switch |
//! | [`view_builds`] | `STARTED` then `SUCCESS` for views created while running |
//! | [`restore_api`] | the Scylla REST routes of restore: load, autocompaction, repair, tasks |
//!
//! ## Checking a restore by content
//!
//! Every `Data.db` is a sequence of partition records, each with a token
//! ([`records`]); a node writes only tokens it replicates. A test reads the records of a
//! backup's `Data.db` files with [`records::records_of_file`] and compares them with
//! `GET /emulator/placement/{keyspace}/{table}`, which lists every record held anywhere with the
//! nodes holding it and the nodes that should (its replicas in the current topology, by the
//! vnode ring even for tablet keyspaces) and counts the misplaced: a correct restore holds every
//! backed-up record on exactly its replicas.

pub mod autocompaction;
pub mod calls;
pub mod cluster;
pub mod config;
pub mod controls;
pub mod cql;
pub mod dataset;
pub mod faults;
pub mod load_stream;
pub mod node;
pub mod placement;
pub mod records;
pub mod repair;
pub mod restore_api;
pub mod rng;
pub mod schema;
pub mod scylla_api;
pub mod server;
pub mod sstable_writer;
pub mod tablets;
pub mod tasks;
pub mod topology;
pub mod view_builds;

use std::sync::Arc;

pub use cluster::{Cluster, EmulatorError};
pub use config::{Dataset, EmulatorConfig, NameFormat, NodeCounts};

/// A running emulated cluster; dropping it does not stop the servers, [`Emulator::shutdown`] does.
#[derive(Debug, Clone)]
pub struct Emulator {
    /// The shared cluster state.
    cluster: Arc<Cluster>,
}

/// What an operator (or a test) needs to know about one node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeSummary {
    /// The node's address.
    pub address: String,
    /// Scylla host ID.
    pub host_id: String,
    /// Datacenter.
    pub dc: String,
    /// Rack.
    pub rack: String,
    /// Data directory.
    pub data_dir: String,
    /// Base URL of the node's Scylla REST API.
    pub api_url: String,
    /// Address and port of the node's CQL native protocol listener.
    pub cql_address: String,
}

impl Emulator {
    /// Creates (or reopens) the data directory and starts every node.
    pub async fn start(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        Ok(Emulator {
            cluster: Cluster::start(config).await?,
        })
    }

    /// The shared cluster state, for controls and assertions.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The port every node's Scylla REST API listens on.
    pub fn api_port(&self) -> u16 {
        self.cluster.config.api_port
    }

    /// The port every node's Prometheus endpoint listens on.
    pub fn prometheus_port(&self) -> u16 {
        self.cluster.config.prometheus_port
    }

    /// The port every node's CQL native protocol listener listens on.
    pub fn cql_port(&self) -> u16 {
        self.cluster.config.cql_port
    }

    /// Every node, in DC order.
    pub fn nodes(&self) -> Vec<NodeSummary> {
        self.cluster
            .nodes
            .iter()
            .map(|n| NodeSummary {
                address: n.id.address.to_string(),
                host_id: n.id.host_id.to_string(),
                dc: n.id.dc.clone(),
                rack: n.id.rack.clone(),
                data_dir: n.data_dir.display().to_string(),
                api_url: format!("http://{}:{}", n.id.address, self.api_port()),
                cql_address: format!("{}:{}", n.id.address, self.cql_port()),
            })
            .collect()
    }

    /// Stops every node's servers.
    pub fn shutdown(&self) {
        self.cluster.shutdown();
    }
}
