//! REST endpoints of clusters: add (every node discovered through the agents, the token checked
//! before anything is stored), list, get, update, delete, and the status of every node.
//!
//! | method | path | answer |
//! |---|---|---|
//! | `POST` | `/api/v1/clusters` | 201, the [`ClusterInfo`] stored |
//! | `GET` | `/api/v1/clusters` | every [`ClusterInfo`], by name |
//! | `GET` | `/api/v1/cluster/{cluster}` | the [`ClusterInfo`] |
//! | `PUT` | `/api/v1/cluster/{cluster}` | the [`ClusterInfo`] after the change |
//! | `DELETE` | `/api/v1/cluster/{cluster}` | 204; its tasks, runs and progress go too |
//! | `GET` | `/api/v1/cluster/{cluster}/status` | [`ClusterStatus`]: every node as its agent reports it |
//!
//! Adding a cluster may give its `id` (upstream's `sctool cluster add --id`): a cluster moved
//! from ScyllaDB Manager keeps its ID, so the backups under `backup/meta/cluster/<id>` and
//! `backup/sst/cluster/<id>` stay its own (listed, deduplicated against, restored, purged by
//! age). An id another cluster has is refused with 409; the nil UUID is refused.
//!
//! Adding a cluster pins every agent's certificate on first use (see
//! [`crate::manager::agent_trust`]); an update contacts only pinned agents, and pins anew the
//! hosts its `repin` names (`["all"]`: every host).
//!
//! `{cluster}` is the cluster's id or its name. Secrets (the agents' token, the CQL password) are
//! never answered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, SubsecRound, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::body::parse_body;
use super::error::{ApiError, store_error};
use super::runs::stop_if_running;
use super::{ApiState, find_cluster};
use crate::manager::agent_client::{
    AgentClient,
    error::{AgentError, RetryPolicy},
};
use crate::manager::discovery::{
    ClusterView, DiscoveryError, FirstUse, NodeState, discover, discover_trusting,
};
use crate::manager::scheduler::TaskChanged;
use crate::manager::store::Cluster;

/// The agents' port when a cluster is added without one (upstream's).
pub const DEFAULT_AGENT_PORT: u16 = 10001;
/// Most nodes asked for their status at once.
const STATUS_PARALLELISM: usize = 16;

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/clusters", post(create).get(list))
        .route(
            "/api/v1/cluster/{cluster}",
            get(read).put(update).delete(remove),
        )
        .route("/api/v1/cluster/{cluster}/status", get(status))
}

/// The body of `POST /api/v1/clusters` and `PUT /api/v1/cluster/{cluster}`; on update, absent
/// fields keep their value. (No `Debug`: it holds the agents' token and the CQL password.)
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ClusterBody {
    /// Add only: the id the cluster keeps (a cluster moved from ScyllaDB Manager); a new one
    /// when absent. On update, only the cluster's own id is accepted.
    id: Option<String>,
    /// The name users know the cluster by; unique.
    name: Option<String>,
    /// Addresses of one or more nodes; every other node is discovered through them.
    hosts: Option<Vec<String>>,
    /// The agents' HTTPS port.
    port: Option<u16>,
    /// The token the agents require.
    auth_token: Option<String>,
    /// CQL user name.
    username: Option<String>,
    /// CQL password.
    password: Option<String>,
    /// Update only: hosts whose agent certificate is trusted anew on this use (a replaced
    /// certificate, or a node not pinned yet); `all` for every host.
    repin: Option<Vec<String>>,
}

/// A cluster as the API answers it (no secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The cluster id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Addresses of every known node.
    pub hosts: Vec<String>,
    /// The agents' HTTPS port.
    pub port: u16,
    /// Whether an agent token is set.
    pub auth_token_set: bool,
    /// CQL user name, if any.
    pub username: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// The SHA-256 fingerprint of each agent's pinned certificate, by host.
    #[serde(default)]
    pub agent_fingerprints: BTreeMap<String, String>,
}

impl From<&Cluster> for ClusterInfo {
    fn from(c: &Cluster) -> Self {
        ClusterInfo {
            id: c.id,
            name: c.name.clone(),
            hosts: c.hosts.clone(),
            port: c.agent_port,
            auth_token_set: !c.auth_token.is_empty(),
            username: c.cql_username.clone(),
            created_at: c.created_at,
            agent_fingerprints: c.agent_pins.clone(),
        }
    }
}

/// One node of `GET /api/v1/cluster/{cluster}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's address (its agent's host).
    pub address: String,
    /// Datacenter, when the cluster could be asked.
    pub dc: Option<String>,
    /// Rack, when the cluster could be asked.
    pub rack: Option<String>,
    /// Scylla host ID, when the cluster could be asked.
    pub host_id: Option<String>,
    /// Whether gossip sees the node up.
    pub gossip_up: Option<bool>,
    /// Ring membership state.
    pub state: Option<NodeState>,
    /// Whether the node's agent answered and accepted the token.
    pub agent_ok: bool,
    /// Why the agent check failed, if it did.
    pub agent_error: Option<String>,
    /// How long the agent took to answer its node information, milliseconds.
    pub agent_latency_ms: Option<u64>,
    /// The agent's version.
    pub agent_version: Option<String>,
    /// Scylla's release version, when the agent could reach Scylla.
    pub scylla_version: Option<String>,
    /// Free bytes on the node's data file system.
    pub disk_free: Option<u64>,
    /// Total bytes of the node's data file system.
    pub disk_total: Option<u64>,
    /// CPUs of the node's machine.
    pub cpu_count: Option<u64>,
    /// Memory of the node's machine, bytes.
    pub memory_total: Option<u64>,
    /// The backup snapshots (`sm_*` tags) the node holds on its disk, oldest first, when its
    /// agent could be asked.
    #[serde(default)]
    pub snapshots: Option<Vec<String>>,
    /// The SHA-256 fingerprint of the agent certificate pinned for the node, if one is.
    #[serde(default)]
    pub agent_cert_sha256: Option<String>,
}

impl NodeStatus {
    /// A node known only by its address, whose agent could not be asked.
    fn unreachable(address: &str, error: String) -> Self {
        NodeStatus {
            address: address.to_string(),
            dc: None,
            rack: None,
            host_id: None,
            gossip_up: None,
            state: None,
            agent_ok: false,
            agent_error: Some(error),
            agent_latency_ms: None,
            agent_version: None,
            scylla_version: None,
            disk_free: None,
            disk_total: None,
            cpu_count: None,
            memory_total: None,
            snapshots: None,
            agent_cert_sha256: None,
        }
    }
}

/// The answer of `GET /api/v1/cluster/{cluster}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The cluster id.
    pub cluster_id: Uuid,
    /// Its name.
    pub name: String,
    /// Why the cluster's membership could not be read, if it could not.
    pub error: Option<String>,
    /// Every node, by DC then address (the stored hosts when membership is unknown).
    pub nodes: Vec<NodeStatus>,
}

/// A discovery failure as the field at fault: the token when an agent refused it, else the hosts.
pub(crate) fn discovery_problem(e: &DiscoveryError) -> ApiError {
    let refused = match e {
        DiscoveryError::Unreachable { failures } => failures
            .iter()
            .any(|(_, e)| matches!(e, AgentError::Unauthorized { .. })),
        DiscoveryError::Contact { source, .. } => {
            matches!(source, AgentError::Unauthorized { .. })
        }
        DiscoveryError::NoHosts => false,
    };
    if refused {
        ApiError::bad_field(
            "auth_token",
            format!(
                "the agents refused the token; give the auth_token of their configuration ({e})"
            ),
        )
    } else {
        ApiError::bad_field("hosts", e)
    }
}

/// Checks a cluster name: not empty, not an id, usable as a path segment.
fn check_name(name: &str) -> Result<(), ApiError> {
    let reason = if name.trim().is_empty() {
        "must not be empty"
    } else if name.parse::<Uuid>().is_ok() {
        "must not look like an id (clusters are looked up by id or name)"
    } else if name.contains('/') || name.chars().any(char::is_control) {
        "must not contain '/' or control characters"
    } else {
        return Ok(());
    };
    Err(ApiError::bad_field("name", reason))
}

/// Discovers the cluster of `hosts` (trusting agents as `pins` and `first_use` allow) and checks
/// that every agent that answers accepts the token; answers the view, or the field at fault.
async fn discover_checked(
    hosts: &[String],
    port: u16,
    token: &str,
    pins: BTreeMap<String, String>,
    first_use: FirstUse<'_>,
) -> Result<ClusterView, ApiError> {
    let view = discover_trusting(hosts, port, token, pins, first_use)
        .await
        .map_err(|e| discovery_problem(&e))?;
    // A node whose agent failed its check is asked again to tell a refused token (a
    // configuration error) from a node that is only down (allowed: nodes go down).
    for node in view.nodes.iter().filter(|n| !n.agent_ok) {
        let client = AgentClient::new(&node.address, port, token, &view.pins)
            .map_err(|e| ApiError::bad_field("hosts", e))?
            .with_retry(RetryPolicy::none());
        if let Err(e @ AgentError::Unauthorized { .. }) = client.node_info().await {
            return Err(ApiError::bad_field(
                "auth_token",
                format!("the agent of {} refused the token: {e}", node.address),
            ));
        }
    }
    Ok(view)
}

/// The pins of the cluster's nodes only (a host given by another name than the ring's is
/// dropped once the ring named it).
fn pins_of_nodes(view: &ClusterView) -> BTreeMap<String, String> {
    view.pins
        .iter()
        .filter(|(h, _)| view.node(h).is_some())
        .map(|(h, p)| (h.clone(), p.clone()))
        .collect()
}

/// Why an id given for a cluster is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterIdError {
    /// Not a UUID.
    #[error(
        "{given:?} is not a UUID ({reason}); give the cluster's id as ScyllaDB Manager shows it (sctool cluster list)"
    )]
    Malformed {
        /// The id as given.
        given: String,
        /// What the UUID parser found wrong.
        reason: String,
    },
    /// The nil UUID (all zeros), which no cluster has.
    #[error("the nil UUID is not a cluster id; give the cluster's own id, or none for a new one")]
    Nil,
}

/// Reads the id a cluster is added with (`cairn cluster add --id`, the API's `id`): a UUID
/// other than the nil one.
pub fn parse_cluster_id(given: &str) -> Result<Uuid, ClusterIdError> {
    let id = given
        .trim()
        .parse::<Uuid>()
        .map_err(|e| ClusterIdError::Malformed {
            given: given.to_string(),
            reason: e.to_string(),
        })?;
    if id.is_nil() {
        return Err(ClusterIdError::Nil);
    }
    Ok(id)
}

/// The `id` of a request body, as [`parse_cluster_id`] reads it.
fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    parse_cluster_id(id).map_err(|e| ApiError::bad_field("id", e))
}

/// Serializes the last checks and the storing of cluster creations: the store replaces a row
/// with the same id, so two requests must not both find an id (or a name) free.
static CREATING: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Refuses `id` when a cluster has it already.
async fn check_id_free(state: &ApiState, id: Uuid) -> Result<(), ApiError> {
    if let Some(other) = state.store.get_cluster(id).await.map_err(store_error)? {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!("id: cluster {:?} has the id {id} already", other.name),
            field: Some("id".into()),
        });
    }
    Ok(())
}

/// Refuses `name` when another cluster than `except` has it.
async fn check_unique(state: &ApiState, name: &str, except: Option<Uuid>) -> Result<(), ApiError> {
    let clusters = state.store.list_clusters().await.map_err(store_error)?;
    if let Some(other) = clusters
        .iter()
        .find(|c| c.name == name && Some(c.id) != except)
    {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!(
                "name: a cluster named {name:?} exists already (id {})",
                other.id
            ),
            field: Some("name".into()),
        });
    }
    Ok(())
}

/// `POST /api/v1/clusters`.
async fn create(State(state): State<ApiState>, body: Bytes) -> Result<impl IntoResponse, ApiError> {
    let body: ClusterBody = parse_body(&body)?;
    let name = body
        .name
        .ok_or_else(|| ApiError::bad_field("name", "required"))?;
    check_name(&name)?;
    let hosts = body.hosts.unwrap_or_default();
    if hosts.is_empty() {
        return Err(ApiError::bad_field(
            "hosts",
            "required: give the address of at least one node",
        ));
    }
    let port = body.port.unwrap_or(DEFAULT_AGENT_PORT);
    if port == 0 {
        return Err(ApiError::bad_field("port", "must be 1 to 65535"));
    }
    let id = match body.id.as_deref() {
        Some(id) => parse_id(id)?,
        None => Uuid::new_v4(),
    };
    check_id_free(&state, id).await?;
    check_unique(&state, &name, None).await?;
    if body.repin.is_some() {
        return Err(ApiError::bad_field(
            "repin",
            "only for an update: adding a cluster pins every agent's certificate",
        ));
    }
    let token = body.auth_token.unwrap_or_default();
    let view = discover_checked(&hosts, port, &token, BTreeMap::new(), FirstUse::All).await?;
    let cluster = Cluster {
        id,
        name,
        hosts: view.nodes.iter().map(|n| n.address.clone()).collect(),
        agent_port: port,
        auth_token: token,
        cql_username: body.username.filter(|u| !u.is_empty()),
        cql_password: body.password.filter(|p| !p.is_empty()),
        // The store keeps milliseconds: the answer is what a later read gives.
        created_at: Utc::now().trunc_subsecs(3),
        agent_pins: pins_of_nodes(&view),
    };
    // Checked again just before storing, one creation at a time: another request may have taken
    // the name or the id meanwhile.
    let _creating = CREATING.lock().await;
    check_id_free(&state, cluster.id).await?;
    check_unique(&state, &cluster.name, None).await?;
    state
        .store
        .put_cluster(&cluster)
        .await
        .map_err(store_error)?;
    tracing::info!(cluster = %cluster.name, id = %cluster.id, nodes = cluster.hosts.len(), id_given = body.id.is_some(), "cluster added");
    Ok((StatusCode::CREATED, Json(ClusterInfo::from(&cluster))))
}

/// `GET /api/v1/clusters`.
async fn list(State(state): State<ApiState>) -> Result<Json<Vec<ClusterInfo>>, ApiError> {
    let clusters = state.store.list_clusters().await.map_err(store_error)?;
    Ok(Json(clusters.iter().map(ClusterInfo::from).collect()))
}

/// `GET /api/v1/cluster/{cluster}`.
async fn read(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
) -> Result<Json<ClusterInfo>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    Ok(Json(ClusterInfo::from(&cluster)))
}

/// `PUT /api/v1/cluster/{cluster}`: changes the fields given, then checks the result as when
/// adding (discovery through the agents with the token).
async fn update(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<ClusterInfo>, ApiError> {
    let body: ClusterBody = parse_body(&body)?;
    let mut cluster = find_cluster(&state, &cluster).await?;
    if let Some(id) = body.id.as_deref()
        && parse_id(id)? != cluster.id
    {
        return Err(ApiError::bad_field(
            "id",
            format!(
                "a cluster's id does not change (this one's is {}); add the cluster anew to give another",
                cluster.id
            ),
        ));
    }
    if let Some(name) = body.name {
        check_name(&name)?;
        check_unique(&state, &name, Some(cluster.id)).await?;
        cluster.name = name;
    }
    if let Some(port) = body.port {
        if port == 0 {
            return Err(ApiError::bad_field("port", "must be 1 to 65535"));
        }
        cluster.agent_port = port;
    }
    if let Some(token) = body.auth_token {
        cluster.auth_token = token;
    }
    if let Some(u) = body.username {
        cluster.cql_username = Some(u).filter(|u| !u.is_empty());
    }
    if let Some(p) = body.password {
        cluster.cql_password = Some(p).filter(|p| !p.is_empty());
    }
    let hosts = match body.hosts {
        Some(h) if h.is_empty() => {
            return Err(ApiError::bad_field(
                "hosts",
                "give the address of at least one node",
            ));
        }
        Some(h) => h,
        None => cluster.hosts.clone(),
    };
    let repin: BTreeSet<String> = body.repin.unwrap_or_default().into_iter().collect();
    if repin.iter().any(|h| h.trim().is_empty()) {
        return Err(ApiError::bad_field("repin", "a host must not be empty"));
    }
    let all = repin.contains("all");
    let mut pins = cluster.agent_pins.clone();
    pins.retain(|h, _| !all && !repin.contains(h));
    let first_use = if all {
        FirstUse::All
    } else {
        FirstUse::Hosts(&repin)
    };
    let view = discover_checked(
        &hosts,
        cluster.agent_port,
        &cluster.auth_token,
        pins,
        first_use,
    )
    .await?;
    if let Some(unknown) = repin.iter().find(|h| *h != "all" && view.node(h).is_none()) {
        return Err(ApiError::bad_field(
            "repin",
            format!("{unknown} is not a node of the cluster (its nodes: {})", {
                let nodes: Vec<&str> = view.nodes.iter().map(|n| n.address.as_str()).collect();
                nodes.join(", ")
            }),
        ));
    }
    for (host, fingerprint) in &view.pins {
        if cluster.agent_pins.get(host) != Some(fingerprint) && view.node(host).is_some() {
            tracing::info!(cluster = %cluster.name, %host, sha256 = %fingerprint, "agent certificate pinned");
        }
    }
    cluster.agent_pins = pins_of_nodes(&view);
    cluster.hosts = view.nodes.iter().map(|n| n.address.clone()).collect();
    state
        .store
        .put_cluster(&cluster)
        .await
        .map_err(store_error)?;
    tracing::info!(cluster = %cluster.name, id = %cluster.id, "cluster updated");
    Ok(Json(ClusterInfo::from(&cluster)))
}

/// `DELETE /api/v1/cluster/{cluster}`: stops its running tasks, then removes it with its tasks,
/// runs and progress.
async fn remove(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
) -> Result<StatusCode, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let tasks = state
        .store
        .list_tasks(cluster.id, true)
        .await
        .map_err(store_error)?;
    for task in &tasks {
        stop_if_running(&state, task.key()).await?;
    }
    state
        .store
        .delete_cluster(cluster.id)
        .await
        .map_err(store_error)?;
    for task in &tasks {
        if let Err(e) = state.scheduler.send(TaskChanged { task: task.key() }).await {
            tracing::warn!(task = %task.key(), error = %e, "the scheduler was not told of a deleted task");
        }
    }
    tracing::info!(cluster = %cluster.name, id = %cluster.id, tasks = tasks.len(), "cluster deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The backup snapshot tags a node holds, oldest first; `None` when they cannot be listed.
async fn backup_snapshots(client: &AgentClient) -> Option<Vec<String>> {
    let mut tags: Vec<String> = client
        .snapshots()
        .await
        .ok()?
        .into_iter()
        .map(|s| s.tag)
        .filter(|t| crate::format::tag::is_snapshot_tag(t))
        .collect();
    tags.sort();
    tags.dedup();
    Some(tags)
}

/// `GET /api/v1/cluster/{cluster}/status`: every node with its agent's answer; a node or the
/// whole cluster being unreachable is reported, not an error.
async fn status(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
) -> Result<Json<ClusterStatus>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let (port, token, pins) = (
        cluster.agent_port,
        cluster.auth_token.as_str(),
        &cluster.agent_pins,
    );
    let view = discover(&cluster.hosts, port, token, pins).await;
    let (error, nodes) = match view {
        Ok(view) => {
            let nodes = futures::stream::iter(view.nodes.into_iter().map(|n| async move {
                let mut s = NodeStatus {
                    dc: Some(n.dc),
                    rack: Some(n.rack),
                    host_id: Some(n.host_id),
                    gossip_up: Some(n.gossip_up),
                    state: Some(n.state),
                    agent_ok: n.agent_ok,
                    agent_error: n.agent_error,
                    scylla_version: n.scylla_version,
                    disk_free: n.disk_free,
                    disk_total: n.disk_total,
                    agent_cert_sha256: pins.get(&n.address).cloned(),
                    ..NodeStatus::unreachable(&n.address, String::new())
                };
                if s.agent_ok
                    && let Ok(client) = AgentClient::new(&s.address, port, token, pins)
                {
                    let started = Instant::now();
                    let client = client.with_retry(RetryPolicy::none());
                    match client.node_info().await {
                        Ok(info) => {
                            s.agent_latency_ms = Some(started.elapsed().as_millis() as u64);
                            s.agent_version = Some(info.agent_version);
                            s.cpu_count = Some(info.cpu_count);
                            s.memory_total = Some(info.memory_total);
                            s.disk_free = Some(info.storage_free);
                            s.disk_total = Some(info.storage_size);
                        }
                        Err(e) => {
                            s.agent_ok = false;
                            s.agent_error = Some(e.to_string());
                        }
                    }
                    if s.agent_ok {
                        s.snapshots = backup_snapshots(&client).await;
                    }
                }
                s
            }))
            .buffered(STATUS_PARALLELISM)
            .collect()
            .await;
            (None, nodes)
        }
        Err(DiscoveryError::Unreachable { failures }) => {
            let message = "no node of the cluster answered; each node's agent_error tells why \
                           (a retry may help if they are only temporarily unreachable)"
                .to_string();
            let nodes = failures
                .into_iter()
                .map(|(host, e)| NodeStatus {
                    agent_cert_sha256: pins.get(&host).cloned(),
                    ..NodeStatus::unreachable(&host, e.to_string())
                })
                .collect();
            (Some(message), nodes)
        }
        Err(e) => {
            let nodes = cluster
                .hosts
                .iter()
                .map(|h| NodeStatus {
                    agent_cert_sha256: pins.get(h).cloned(),
                    ..NodeStatus::unreachable(h, "cluster membership unknown".into())
                })
                .collect();
            (Some(e.to_string()), nodes)
        }
    };
    Ok(Json(ClusterStatus {
        cluster_id: cluster.id,
        name: cluster.name,
        error,
        nodes,
    }))
}
