//! The emulated cluster: its nodes, the shared schema, the on-disk record that lets a restarted
//! emulator pick up the same data directory, and the node servers that can go down and up.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use super::calls::CallLog;
use super::config::{ConfigError, EmulatorConfig, NameFormat};
use super::cql::engine::Engine;
use super::cql::service::Service;
use super::dataset;
use super::node::{Node, NodeError, NodeStatus, TableRef};
use super::schema::{Replication, Schema, SchemaError};
use super::server::{CqlServer, Server, bind_all, bind_one};
use super::tablets::Balancing;
use super::tasks::Tasks;
use super::topology::Topology;
use super::view_builds::ViewBuilds;
use super::{controls, restore_api, scylla_api};

/// File under the data directory recording what cluster the directory holds.
const CLUSTER_FILE: &str = "cluster.json";
/// File under the data directory holding the current schema.
const SCHEMA_FILE: &str = "schema.json";

/// Why the emulator could not start or change.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A setting was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A node's storage failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A schema change was refused.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The data directory holds a different cluster.
    #[error(
        "{path} holds a cluster made with {found}, but this one is {wanted}; use a fresh --data-dir or the same settings"
    )]
    Mismatch {
        /// The record file.
        path: PathBuf,
        /// The recorded settings.
        found: String,
        /// The requested settings.
        wanted: String,
    },
    /// Reading or writing the data directory's records, or binding a port, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// The settings a data directory was created with; a restart must match them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ClusterRecord {
    /// DCs and node counts.
    nodes: String,
    /// First node's address.
    base_address: Ipv4Addr,
    /// Seed.
    seed: u64,
    /// Generation form.
    name_format: NameFormat,
    /// Tokens per node.
    tokens_per_node: usize,
    /// Dataset keyspaces made with tablets.
    #[serde(default)]
    tablet_keyspaces: Vec<String>,
    /// Whether the cluster started with no user keyspaces.
    #[serde(default)]
    empty: bool,
}

impl ClusterRecord {
    fn describe(&self) -> String {
        format!(
            "--nodes {} --base-address {} --seed {} --sstable-names {:?} --tablet-keyspaces {:?}{}",
            self.nodes,
            self.base_address,
            self.seed,
            self.name_format,
            self.tablet_keyspaces.join(","),
            if self.empty { " --empty" } else { "" }
        )
        .to_lowercase()
    }
}

/// Everything the nodes share.
#[derive(Debug)]
pub struct Cluster {
    /// The settings the cluster was started with (ports resolved).
    pub config: EmulatorConfig,
    /// Membership and tokens.
    pub topology: Topology,
    /// The schema every node sees.
    pub schema: RwLock<Schema>,
    /// Every node, in topology order.
    pub nodes: Vec<Arc<Node>>,
    /// Tablet load balancing: the switch and its record.
    pub balancing: Balancing,
    /// CQL statements and order-sensitive REST calls, in order.
    pub calls: CallLog,
    /// Task manager tasks (tablet repairs).
    pub tasks: Tasks,
    /// Build state of views created while running.
    pub view_builds: ViewBuilds,
    /// The running API, Prometheus and CQL servers per node; `None` while the node is down.
    servers: Mutex<Vec<Option<(Server, Server, CqlServer)>>>,
}

impl Cluster {
    /// Creates or reopens the data directory, then starts every node's servers.
    pub async fn start(mut config: EmulatorConfig) -> Result<Arc<Cluster>, EmulatorError> {
        let topology = Topology::new(&config)?;
        let addresses: Vec<Ipv4Addr> = topology.nodes.iter().map(|n| n.address).collect();
        let io = |what: String| move |source| EmulatorError::Io { what, source };
        let (api_port, api) = bind_all(&addresses, config.api_port)
            .await
            .map_err(io("Scylla API port".into()))?;
        let (prom_port, prom) = bind_all(&addresses, config.prometheus_port)
            .await
            .map_err(io("Prometheus port".into()))?;
        let (cql_port, cql) = bind_all(&addresses, config.cql_port)
            .await
            .map_err(io("CQL port".into()))?;
        config.api_port = api_port;
        config.prometheus_port = prom_port;
        config.cql_port = cql_port;

        let nodes: Vec<Arc<Node>> = topology
            .nodes
            .iter()
            .map(|id| {
                let dir = config.data_dir.join(id.address.to_string()).join("data");
                Arc::new(Node::new(
                    id.clone(),
                    dir,
                    config.seed,
                    config.name_format,
                    config.shards,
                ))
            })
            .collect();
        let schema = {
            let config = config.clone();
            let nodes = nodes.clone();
            let topology = topology.clone();
            tokio::task::spawn_blocking(move || open_or_create(&config, &topology, &nodes))
                .await
                .map_err(|e| EmulatorError::Io {
                    what: "preparing data".into(),
                    source: io::Error::other(e),
                })??
        };
        let cluster = Arc::new(Cluster {
            config,
            topology,
            schema: RwLock::new(schema),
            servers: Mutex::new(Vec::new()),
            balancing: Balancing::default(),
            calls: CallLog::default(),
            tasks: Tasks::default(),
            view_builds: ViewBuilds::default(),
            nodes,
        });
        let servers = api
            .into_iter()
            .zip(prom)
            .zip(cql)
            .enumerate()
            .map(|(i, ((a, p), c))| Some(cluster.spawn_servers(i, a, p, c)))
            .collect();
        *cluster.servers.lock().unwrap_or_else(|p| p.into_inner()) = servers;
        Ok(cluster)
    }

    fn spawn_servers(
        self: &Arc<Self>,
        i: usize,
        api: tokio::net::TcpListener,
        prom: tokio::net::TcpListener,
        cql: tokio::net::TcpListener,
    ) -> (Server, Server, CqlServer) {
        let api_router = scylla_api::router(self.clone(), i)
            .merge(restore_api::router(self.clone(), i))
            .merge(controls::router(self.clone(), i));
        let address = self.nodes[i].id.address.to_string();
        let cluster = Arc::downgrade(self);
        let service = Service::new(
            Arc::new(Engine::new(self, i)),
            &self.config.cql_user,
            &self.config.cql_password,
            Box::new(move |what| {
                if let Some(cluster) = cluster.upgrade() {
                    cluster.calls.record(&address, what);
                }
            }),
        );
        (
            Server::spawn(
                api,
                scylla_api::with_node_layers(api_router, self.clone(), i),
            ),
            Server::spawn(prom, scylla_api::metrics_router(self.clone(), i)),
            CqlServer::spawn(cql, Arc::new(service)),
        )
    }

    /// Takes a node down (its API stops answering, peers report it down) or brings it back up.
    pub async fn set_up(self: &Arc<Self>, i: usize, up: bool) -> Result<(), EmulatorError> {
        let node = &self.nodes[i];
        if up {
            if node.is_up() {
                return Ok(());
            }
            let api = bind_one(node.id.address, self.config.api_port).await;
            let prom = bind_one(node.id.address, self.config.prometheus_port).await;
            let cql = bind_one(node.id.address, self.config.cql_port).await;
            let what = format!("bringing {} up", node.id.address);
            let (api, prom, cql) = (
                api.map_err(|source| EmulatorError::Io {
                    what: what.clone(),
                    source,
                })?,
                prom.map_err(|source| EmulatorError::Io {
                    what: what.clone(),
                    source,
                })?,
                cql.map_err(|source| EmulatorError::Io { what, source })?,
            );
            let servers = self.spawn_servers(i, api, prom, cql);
            self.lock_servers()[i] = Some(servers);
            node.up.store(true, Ordering::SeqCst);
        } else {
            node.up.store(false, Ordering::SeqCst);
            if let Some((api, prom, cql)) = self.lock_servers()[i].take() {
                api.stop();
                prom.stop();
                cql.stop();
            }
        }
        Ok(())
    }

    fn lock_servers(&self) -> std::sync::MutexGuard<'_, Vec<Option<(Server, Server, CqlServer)>>> {
        self.servers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops every node's servers.
    pub fn shutdown(&self) {
        for (api, prom, cql) in self.lock_servers().iter_mut().filter_map(Option::take) {
            api.stop();
            prom.stop();
            cql.stop();
        }
    }

    /// The index of the node with this address.
    pub fn node_index(&self, address: &str) -> Option<usize> {
        self.topology.by_address(address).map(|n| n.index)
    }

    /// A read guard on the schema.
    pub fn schema(&self) -> std::sync::RwLockReadGuard<'_, Schema> {
        self.schema.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a table on every node.
    pub fn create_table(
        &self,
        ks: &str,
        table: &str,
        replication: Option<Replication>,
        tablets: bool,
    ) -> Result<TableRef, EmulatorError> {
        let mut schema = self.schema.write().unwrap_or_else(|p| p.into_inner());
        let t = schema.create_table(ks, table, replication, tablets, &self.config.nodes.0)?;
        let t = TableRef {
            keyspace: ks.to_string(),
            table: t,
        };
        for node in &self.nodes {
            node.create_table_dir(&t)?;
        }
        save_schema(&self.config.data_dir, &schema)?;
        Ok(t)
    }

    /// Drops a table on every node (its snapshots stay on disk, as with Scylla's auto-snapshot).
    pub fn drop_table(&self, ks: &str, table: &str) -> Result<(), EmulatorError> {
        let mut schema = self.schema.write().unwrap_or_else(|p| p.into_inner());
        for t in schema.drop_table(ks, table)? {
            let t = TableRef {
                keyspace: ks.to_string(),
                table: t,
            };
            for node in &self.nodes {
                node.drop_table_data(&t)?;
            }
        }
        save_schema(&self.config.data_dir, &schema)?;
        Ok(())
    }

    /// Changes the schema with `change` (a DDL statement); on success creates the directories
    /// of new tables and removes the data of dropped ones on every node, as Scylla does, and
    /// saves the schema. A failed change leaves the schema as it was.
    pub fn change_schema<T, E>(
        &self,
        change: impl FnOnce(&mut Schema) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<EmulatorError>,
    {
        let mut schema = self.schema.write().unwrap_or_else(|p| p.into_inner());
        let mut next = schema.clone();
        let out = change(&mut next)?;
        let refs = |s: &Schema| -> Vec<TableRef> {
            s.all_tables()
                .map(|(k, t)| TableRef {
                    keyspace: k.name.clone(),
                    table: t.clone(),
                })
                .collect()
        };
        let (before, after) = (refs(&schema), refs(&next));
        let same =
            |a: &TableRef, b: &TableRef| a.keyspace == b.keyspace && a.table.id == b.table.id;
        for t in after.iter().filter(|t| !before.iter().any(|b| same(b, t))) {
            for node in &self.nodes {
                node.create_table_dir(t).map_err(EmulatorError::from)?;
            }
            if t.table.is_view() {
                self.view_builds.created(&t.keyspace, &t.table.name);
            }
        }
        for t in before.iter().filter(|t| !after.iter().any(|a| same(a, t))) {
            for node in &self.nodes {
                node.drop_table_data(t).map_err(EmulatorError::from)?;
            }
        }
        save_schema(&self.config.data_dir, &next)?;
        *schema = next;
        Ok(out)
    }

    /// The replication of a keyspace (LocalStrategy for one that does not exist).
    pub fn replication(&self, keyspace: &str) -> Replication {
        self.schema()
            .keyspaces
            .get(keyspace)
            .map(|k| k.replication.clone())
            .unwrap_or(Replication::Local)
    }

    /// The token ranges node `index` replicates for `keyspace`.
    pub fn owned_ranges(&self, keyspace: &str, index: usize) -> Vec<(i64, i64)> {
        self.topology
            .owned_ranges(&self.replication(keyspace), index, false)
    }

    /// Gossip view: (address, up) of every node.
    pub fn liveness(&self) -> Vec<(String, bool)> {
        self.nodes
            .iter()
            .map(|n| (n.id.address.to_string(), n.is_up()))
            .collect()
    }

    /// Addresses of nodes in a gossip status.
    pub fn with_status(&self, status: NodeStatus) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| *n.status.lock().unwrap_or_else(|p| p.into_inner()) == status)
            .map(|n| n.id.address.to_string())
            .collect()
    }
}

/// Reopens a data directory made with the same settings, or creates and populates a new one.
fn open_or_create(
    config: &EmulatorConfig,
    topology: &Topology,
    nodes: &[Arc<Node>],
) -> Result<Schema, EmulatorError> {
    dataset::check_tablet_keyspaces(&config.tablet_keyspaces)?;
    let record = ClusterRecord {
        nodes: config.nodes.to_string(),
        base_address: config.base_address,
        seed: config.seed,
        name_format: config.name_format,
        tokens_per_node: config.tokens_per_node,
        tablet_keyspaces: config.tablet_keyspaces.clone(),
        empty: config.empty,
    };
    let record_path = config.data_dir.join(CLUSTER_FILE);
    let schema_path = config.data_dir.join(SCHEMA_FILE);
    let io = |what: String| move |source| EmulatorError::Io { what, source };
    if record_path.exists() {
        let text = fs::read_to_string(&record_path)
            .map_err(io(format!("reading {}", record_path.display())))?;
        let found: ClusterRecord = serde_json::from_str(&text)
            .map_err(|e| io(format!("reading {}", record_path.display()))(io::Error::other(e)))?;
        if found != record {
            return Err(EmulatorError::Mismatch {
                path: record_path,
                found: found.describe(),
                wanted: record.describe(),
            });
        }
        let text = fs::read_to_string(&schema_path)
            .map_err(io(format!("reading {}", schema_path.display())))?;
        let schema = serde_json::from_str(&text)
            .map_err(|e| io(format!("reading {}", schema_path.display()))(io::Error::other(e)))?;
        for node in nodes {
            node.use_wall_clock();
        }
        return Ok(schema);
    }
    fs::create_dir_all(&config.data_dir)
        .map_err(io(format!("creating {}", config.data_dir.display())))?;
    let schema = dataset::schema(
        config.seed,
        &config.nodes.0,
        &config.tablet_keyspaces,
        config.empty,
    )
    .map_err(|e| io("creating the dataset schema".into())(io::Error::other(e.message)))?;
    let bytes = config.dataset.bytes_per_node();
    std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                scope.spawn(|| dataset::populate(node, topology, &schema, config.seed, bytes))
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })?;
    save_schema(&config.data_dir, &schema)?;
    let text = serde_json::to_string_pretty(&record).unwrap_or_default();
    fs::write(&record_path, text).map_err(io(format!("writing {}", record_path.display())))?;
    Ok(schema)
}

/// Writes the schema record atomically.
fn save_schema(dir: &Path, schema: &Schema) -> Result<(), EmulatorError> {
    let path = dir.join(SCHEMA_FILE);
    let tmp = dir.join(format!("{SCHEMA_FILE}.tmp"));
    let text = serde_json::to_string_pretty(schema).unwrap_or_default();
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|source| EmulatorError::Io {
            what: format!("writing {}", path.display()),
            source,
        })
}
