//! The Scylla REST API subset that backup and restore use, as a real node answers it: the same
//! paths, query parameters, response shapes and `{"message","code"}` error bodies.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::cluster::{Cluster, EmulatorError};
use super::config::NameFormat;
use super::node::{Node, NodeError, NodeStatus, TableRef};
use super::schema::{Replication, SchemaError};

/// Query parameters, as given.
type Params = Query<HashMap<String, String>>;

/// An error answered the way Scylla answers it: `{"message": ..., "code": ...}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable reason.
    pub message: String,
}

impl ApiError {
    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"message": self.message, "code": self.status.as_u16()});
        (self.status, Json(body)).into_response()
    }
}

impl From<SchemaError> for ApiError {
    fn from(e: SchemaError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl From<EmulatorError> for ApiError {
    fn from(e: EmulatorError) -> Self {
        match e {
            EmulatorError::Schema(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Handler state: the cluster and which node this server is.
#[derive(Clone)]
pub struct NodeCtx {
    /// The shared cluster.
    pub cluster: Arc<Cluster>,
    /// This node's index.
    pub index: usize,
}

impl NodeCtx {
    /// This node.
    pub fn node(&self) -> &Arc<Node> {
        &self.cluster.nodes[self.index]
    }
}

/// Runs storage work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}

/// Whether a boolean query parameter is set to true.
pub fn flag(q: &HashMap<String, String>, name: &str) -> ApiResult<Option<bool>> {
    match q.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" || v == "1" || v == "yes" => Ok(Some(true)),
        Some(v) if v == "false" || v == "0" || v == "no" || v.is_empty() => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!(
            "Parameter {name}: invalid boolean value {v:?}"
        ))),
    }
}

/// Splits a comma-separated list parameter, dropping blanks.
pub fn list(v: Option<&String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// Resolves keyspaces and tables (`kn`/`cf` style) to table references. No keyspaces means all;
/// no tables means all of each keyspace; tables need exactly one keyspace.
pub fn resolve_tables(
    cluster: &Cluster,
    keyspaces: &[String],
    tables: &[String],
) -> ApiResult<Vec<TableRef>> {
    let schema = cluster.schema();
    let keyspaces: Vec<String> = if keyspaces.is_empty() {
        schema.keyspaces.keys().cloned().collect()
    } else {
        keyspaces.to_vec()
    };
    if !tables.is_empty() && keyspaces.len() != 1 {
        return Err(ApiError::bad_request(
            "Only one keyspace allowed when specifying a column family",
        ));
    }
    let mut out = Vec::new();
    for ks in &keyspaces {
        let keyspace = schema.keyspace(ks)?;
        if tables.is_empty() {
            out.extend(keyspace.tables.values().map(|t| TableRef {
                keyspace: ks.clone(),
                table: t.clone(),
            }));
        } else {
            for t in tables {
                let (_, table) = schema.table(ks, t)?;
                out.push(TableRef {
                    keyspace: ks.clone(),
                    table: table.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Resolves a `ks:table` path parameter.
pub fn resolve_name(cluster: &Cluster, name: &str) -> ApiResult<TableRef> {
    let (ks, table) = name.split_once(':').ok_or_else(|| {
        ApiError::bad_request(format!(
            "Column family name {name:?} should be in keyspace:table format"
        ))
    })?;
    let schema = cluster.schema();
    let (_, t) = schema.table(ks, table)?;
    Ok(TableRef {
        keyspace: ks.to_string(),
        table: t.clone(),
    })
}

/// The Scylla REST routes of one node.
pub fn router(cluster: Arc<Cluster>, index: usize) -> Router {
    Router::new()
        .route("/storage_service/host_id", get(host_id_map))
        .route("/storage_service/hostid/local", get(local_host_id))
        .route("/snitch/datacenter", get(datacenter))
        .route("/snitch/rack", get(rack))
        .route(
            "/snitch/name",
            get(|| async { Json("org.apache.cassandra.locator.GossipingPropertyFileSnitch") }),
        )
        .route("/gossiper/endpoint/live/", get(live_endpoints))
        .route("/gossiper/endpoint/live", get(live_endpoints))
        .route("/gossiper/endpoint/down/", get(down_endpoints))
        .route("/gossiper/endpoint/down", get(down_endpoints))
        .route("/failure_detector/simple_states", get(simple_states))
        .route(
            "/storage_service/nodes/joining",
            get(|s: State<NodeCtx>| status_list(s, NodeStatus::Joining)),
        )
        .route(
            "/storage_service/nodes/leaving",
            get(|s: State<NodeCtx>| status_list(s, NodeStatus::Leaving)),
        )
        .route(
            "/storage_service/nodes/moving",
            get(|| async { Json(Vec::<String>::new()) }),
        )
        .route(
            "/storage_service/scylla_release_version",
            get(scylla_version),
        )
        .route(
            "/storage_service/release_version",
            get(|| async { Json("3.0.8") }),
        )
        .route("/storage_service/keyspaces", get(keyspaces))
        .route("/column_family/", get(column_families))
        .route("/column_family/name", get(table_names))
        .route("/column_family/name/keyspace", get(keyspace_names))
        .route(
            "/storage_service/view_build_statuses/{keyspace}/{view}",
            get(view_build_statuses),
        )
        .route(
            "/storage_service/describe_ring/{keyspace}",
            get(describe_ring),
        )
        .route("/storage_service/tokens", get(local_tokens))
        .route("/storage_service/tokens/{endpoint}", get(node_tokens))
        .route(
            "/storage_service/snapshots",
            get(list_snapshots)
                .post(take_snapshot)
                .delete(delete_snapshot),
        )
        .route(
            "/column_family/metrics/total_disk_space_used/{name}",
            get(disk_space_used),
        )
        .route(
            "/column_family/metrics/live_disk_space_used/{name}",
            get(disk_space_used),
        )
        .route(
            "/storage_service/keyspace_flush/{keyspace}",
            post(keyspace_flush),
        )
        .route("/storage_service/flush", post(flush_all))
        .route(
            "/storage_service/keyspace_compaction/{keyspace}",
            post(keyspace_compaction),
        )
        .route(
            "/column_family/major_compaction/{name}",
            post(major_compaction),
        )
        .route("/storage_service/compact", post(compact_all))
        .route(
            "/storage_service/data_file/locations",
            get(data_file_locations),
        )
        .route("/v2/config/{name}", get(config_value))
        .route("/storage_service/tablets/balancing", post(tablet_balancing))
        .route("/raft/read_barrier", post(read_barrier))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                message: "Not found".into(),
            }
        })
        .with_state(NodeCtx { cluster, index })
}

/// Adds the per-node behaviour every request goes through: a down node refuses to answer, and
/// injected faults delay or fail requests (never the `/emulator/` controls).
pub fn with_node_layers(router: Router, cluster: Arc<Cluster>, index: usize) -> Router {
    router.layer(middleware::from_fn_with_state(
        NodeCtx { cluster, index },
        node_layer,
    ))
}

async fn node_layer(State(ctx): State<NodeCtx>, req: Request, next: Next) -> Response {
    let node = ctx.node();
    if !node.is_up() {
        // Only reachable in the instant between going down and the listener closing.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONNECTION, "close")],
            "node is down",
        )
            .into_response();
    }
    let path = req.uri().path();
    if !path.starts_with("/emulator/")
        && let Some(injection) = node.faults.take(req.method().as_str(), path)
    {
        tokio::time::sleep(injection.latency).await;
        if let Some(status) = injection.status {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return ApiError {
                status,
                message: format!("injected fault on {path}"),
            }
            .into_response();
        }
    }
    next.run(req).await
}

/// The Prometheus endpoint of one node (served on its own port, like Scylla's :9180).
pub fn metrics_router(cluster: Arc<Cluster>, index: usize) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(NodeCtx { cluster, index })
}

async fn metrics(State(ctx): State<NodeCtx>, q: Params) -> Response {
    let wanted = q.get("name").or_else(|| q.get("__name__"));
    let node = ctx.node();
    let mut text = String::new();
    let metric = "scylla_database_total_writes";
    if wanted.is_none_or(|w| metric == w || metric.strip_prefix("scylla_") == Some(w.as_str())) {
        text.push_str("# HELP scylla_database_total_writes Counts write operations\n");
        text.push_str("# TYPE scylla_database_total_writes counter\n");
        for (shard, writes) in node.writes.iter().enumerate() {
            text.push_str(&format!(
                "{metric}{{shard=\"{shard}\"}} {}\n",
                writes.load(Ordering::Relaxed)
            ));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn host_id_map(State(ctx): State<NodeCtx>) -> Json<Value> {
    let map: Vec<Value> = ctx
        .cluster
        .topology
        .nodes
        .iter()
        .map(|n| json!({"key": n.address.to_string(), "value": n.host_id}))
        .collect();
    Json(Value::Array(map))
}

async fn local_host_id(State(ctx): State<NodeCtx>) -> Json<String> {
    Json(ctx.node().id.host_id.to_string())
}

/// The node a `host` parameter names, or this node when absent.
fn host_param(ctx: &NodeCtx, q: &HashMap<String, String>) -> ApiResult<usize> {
    match q.get("host").filter(|h| !h.is_empty()) {
        None => Ok(ctx.index),
        Some(h) => ctx
            .cluster
            .node_index(h)
            .ok_or_else(|| ApiError::bad_request(format!("Unknown host {h}"))),
    }
}

async fn datacenter(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<Json<String>> {
    let i = host_param(&ctx, &q)?;
    Ok(Json(ctx.cluster.topology.nodes[i].dc.clone()))
}

async fn rack(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<Json<String>> {
    let i = host_param(&ctx, &q)?;
    Ok(Json(ctx.cluster.topology.nodes[i].rack.clone()))
}

async fn live_endpoints(State(ctx): State<NodeCtx>) -> Json<Vec<String>> {
    Json(
        ctx.cluster
            .liveness()
            .into_iter()
            .filter(|(_, up)| *up)
            .map(|(a, _)| a)
            .collect(),
    )
}

async fn down_endpoints(State(ctx): State<NodeCtx>) -> Json<Vec<String>> {
    Json(
        ctx.cluster
            .liveness()
            .into_iter()
            .filter(|(_, up)| !*up)
            .map(|(a, _)| a)
            .collect(),
    )
}

async fn simple_states(State(ctx): State<NodeCtx>) -> Json<Value> {
    let states: Vec<Value> = ctx
        .cluster
        .liveness()
        .into_iter()
        .map(|(a, up)| json!({"key": a, "value": if up { "UP" } else { "DOWN" }}))
        .collect();
    Json(Value::Array(states))
}

async fn status_list(State(ctx): State<NodeCtx>, status: NodeStatus) -> Json<Vec<String>> {
    Json(ctx.cluster.with_status(status))
}

async fn scylla_version(State(ctx): State<NodeCtx>) -> Json<String> {
    Json(ctx.cluster.config.scylla_version.clone())
}

async fn keyspaces(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<Json<Vec<String>>> {
    let kind = q.get("type").map(String::as_str).unwrap_or("all");
    let replication = q.get("replication").map(String::as_str).unwrap_or("all");
    if !["all", "user", "non_local_strategy"].contains(&kind) {
        return Err(ApiError::bad_request(format!(
            "Parameter type: invalid value {kind:?} (all, user, non_local_strategy)"
        )));
    }
    if !["all", "vnodes", "tablets"].contains(&replication) {
        return Err(ApiError::bad_request(format!(
            "Parameter replication: invalid value {replication:?} (all, vnodes, tablets)"
        )));
    }
    let schema = ctx.cluster.schema();
    let names = schema
        .keyspaces
        .values()
        .filter(|k| match kind {
            "user" => !k.is_system(),
            "non_local_strategy" => k.replication != Replication::Local,
            _ => true,
        })
        .filter(|k| match replication {
            "vnodes" => !k.tablets,
            "tablets" => k.tablets,
            _ => true,
        })
        .map(|k| k.name.clone())
        .collect();
    Ok(Json(names))
}

async fn column_families(State(ctx): State<NodeCtx>) -> Json<Value> {
    let schema = ctx.cluster.schema();
    let all: Vec<Value> = schema
        .all_tables()
        .map(|(k, t)| json!({"ks": k.name, "cf": t.name, "type": "ColumnFamilies"}))
        .collect();
    Json(Value::Array(all))
}

async fn table_names(State(ctx): State<NodeCtx>) -> Json<Vec<String>> {
    Json(
        ctx.cluster
            .schema()
            .all_tables()
            .map(|(k, t)| format!("{}:{}", k.name, t.name))
            .collect(),
    )
}

async fn keyspace_names(State(ctx): State<NodeCtx>) -> Json<Vec<String>> {
    let schema = ctx.cluster.schema();
    Json(
        schema
            .keyspaces
            .values()
            .filter(|k| !k.tables.is_empty())
            .map(|k| k.name.clone())
            .collect(),
    )
}

async fn describe_ring(
    State(ctx): State<NodeCtx>,
    Path(keyspace): Path<String>,
    q: Params,
) -> ApiResult<Json<Value>> {
    let schema = ctx.cluster.schema();
    let ks = schema.keyspace(&keyspace)?;
    if let Some(table) = q.get("table").filter(|t| !t.is_empty()) {
        schema.table(&keyspace, table)?;
    } else if ks.tablets {
        return Err(ApiError::bad_request(format!(
            "Keyspace {keyspace} uses tablets: describe_ring needs a table"
        )));
    }
    let ring = ctx
        .cluster
        .topology
        .describe_ring(&ks.replication, ctx.index);
    Ok(Json(serde_json::to_value(ring).unwrap_or_default()))
}

/// The build status of a view (for an index, its `<index>_index` view) on every node, as
/// `{key: host ID, value: status}`: `STARTED` for a moment after the view is created
/// ([`super::view_builds`]), then `SUCCESS`; a view it does not know has no statuses, as in Scylla.
async fn view_build_statuses(
    State(ctx): State<NodeCtx>,
    Path((keyspace, view)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let schema = ctx.cluster.schema();
    let ks = schema.keyspace(&keyspace)?;
    let statuses: Vec<Value> = match ks.tables.get(&view) {
        Some(v) if v.is_view() => {
            let status = ctx.cluster.view_builds.status(&keyspace, &view);
            ctx.cluster
                .nodes
                .iter()
                .map(|n| json!({"key": n.id.host_id.to_string(), "value": status}))
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(Json(Value::Array(statuses)))
}

async fn local_tokens(State(ctx): State<NodeCtx>) -> Json<Vec<String>> {
    Json(ctx.node().id.tokens.iter().map(i64::to_string).collect())
}

async fn node_tokens(
    State(ctx): State<NodeCtx>,
    Path(endpoint): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    let node = ctx.cluster.topology.by_address(&endpoint).ok_or_else(|| {
        ApiError::bad_request(format!("Host {endpoint} is not a member of the ring"))
    })?;
    Ok(Json(node.tokens.iter().map(i64::to_string).collect()))
}

async fn list_snapshots(State(ctx): State<NodeCtx>) -> ApiResult<Json<Value>> {
    let tables = resolve_tables(&ctx.cluster, &[], &[])?;
    let node = ctx.node().clone();
    let details = blocking(move || Ok(node.snapshot_details(&tables)?)).await?;
    let out: Vec<Value> = details
        .into_iter()
        .map(|(tag, entries)| json!({"key": tag, "value": entries}))
        .collect();
    Ok(Json(Value::Array(out)))
}

async fn take_snapshot(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<StatusCode> {
    let tag = q
        .get("tag")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("You must supply a snapshot name."))?;
    let skip_flush = flag(&q, "sf")?.unwrap_or(false);
    let tables = resolve_tables(&ctx.cluster, &list(q.get("kn")), &list(q.get("cf")))?;
    let tablet_keyspaces: std::collections::BTreeSet<String> = {
        let schema = ctx.cluster.schema();
        tables
            .iter()
            .filter(|t| schema.keyspaces.get(&t.keyspace).is_some_and(|k| k.tablets))
            .map(|t| t.keyspace.clone())
            .collect()
    };
    let (node, tag) = (ctx.node().clone(), tag.clone());
    blocking(move || Ok(node.snapshot(&tag, &tables, skip_flush)?)).await?;
    let address = ctx.node().id.address.to_string();
    for ks in &tablet_keyspaces {
        ctx.cluster.balancing.snapshot_taken(&address, ks);
    }
    Ok(StatusCode::OK)
}

async fn delete_snapshot(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<StatusCode> {
    let keyspaces = list(q.get("kn"));
    let schema_tables = {
        let tables = resolve_tables(&ctx.cluster, &keyspaces, &[])?;
        match q.get("cf").filter(|c| !c.is_empty()) {
            Some(cf) => tables.into_iter().filter(|t| &t.table.name == cf).collect(),
            None => tables,
        }
    };
    let tag = q.get("tag").filter(|t| !t.is_empty()).cloned();
    let node = ctx.node().clone();
    blocking(move || Ok(node.delete_snapshots(tag.as_deref(), &schema_tables)?)).await?;
    Ok(StatusCode::OK)
}

async fn disk_space_used(
    State(ctx): State<NodeCtx>,
    Path(name): Path<String>,
) -> ApiResult<Json<u64>> {
    let t = resolve_name(&ctx.cluster, &name)?;
    let node = ctx.node().clone();
    Ok(Json(blocking(move || Ok(node.live_bytes(&t)?)).await?))
}

async fn keyspace_flush(
    State(ctx): State<NodeCtx>,
    Path(keyspace): Path<String>,
    q: Params,
) -> ApiResult<StatusCode> {
    let tables = resolve_tables(&ctx.cluster, &[keyspace], &list(q.get("cf")))?;
    let node = ctx.node().clone();
    blocking(move || Ok(node.flush(&tables)?)).await?;
    Ok(StatusCode::OK)
}

async fn flush_all(State(ctx): State<NodeCtx>) -> ApiResult<StatusCode> {
    let tables = resolve_tables(&ctx.cluster, &[], &[])?;
    let node = ctx.node().clone();
    blocking(move || Ok(node.flush(&tables)?)).await?;
    Ok(StatusCode::OK)
}

/// Runs a major compaction of these tables on the node.
async fn compact(
    ctx: &NodeCtx,
    tables: Vec<TableRef>,
    q: &HashMap<String, String>,
) -> ApiResult<StatusCode> {
    let flush = flag(q, "flush_memtables")?.unwrap_or(true);
    let node = ctx.node().clone();
    blocking(move || Ok(node.compact(&tables, flush)?)).await?;
    Ok(StatusCode::OK)
}

async fn keyspace_compaction(
    State(ctx): State<NodeCtx>,
    Path(keyspace): Path<String>,
    q: Params,
) -> ApiResult<StatusCode> {
    let tables = resolve_tables(&ctx.cluster, &[keyspace], &list(q.get("cf")))?;
    compact(&ctx, tables, &q).await
}

async fn major_compaction(
    State(ctx): State<NodeCtx>,
    Path(name): Path<String>,
    q: Params,
) -> ApiResult<StatusCode> {
    let t = resolve_name(&ctx.cluster, &name)?;
    compact(&ctx, vec![t], &q).await
}

async fn compact_all(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<StatusCode> {
    let tables = resolve_tables(&ctx.cluster, &[], &[])?;
    compact(&ctx, tables, &q).await
}

async fn data_file_locations(State(ctx): State<NodeCtx>) -> Json<Vec<String>> {
    Json(vec![ctx.node().data_dir.display().to_string()])
}

async fn config_value(
    State(ctx): State<NodeCtx>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let node = ctx.node();
    let config = &ctx.cluster.config;
    let address = node.id.address.to_string();
    let value = match name.as_str() {
        "data_file_directories" => json!([node.data_dir.display().to_string()]),
        "commitlog_directory" => json!(
            node.data_dir
                .with_file_name("commitlog")
                .display()
                .to_string()
        ),
        "uuid_sstable_identifiers_enabled" => json!(config.name_format == NameFormat::Uuid),
        "listen_address"
        | "rpc_address"
        | "broadcast_address"
        | "broadcast_rpc_address"
        | "api_address"
        | "prometheus_address" => {
            json!(address)
        }
        "api_port" => json!(config.api_port),
        "prometheus_port" => json!(config.prometheus_port),
        "native_transport_port" => json!(config.cql_port),
        "native_transport_port_ssl" => json!(9142),
        "alternator_port" | "alternator_https_port" => json!(0),
        "cluster_name" => json!(config.cluster_name),
        "num_tokens" => json!(config.tokens_per_node),
        "enable_tablets" => json!(false),
        "tablets_mode_for_new_keyspaces" => json!("disabled"),
        "auto_snapshot" => json!(true),
        "object_storage_endpoints" => json!([]),
        _ => {
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                message: format!("No such config entry: {name}"),
            });
        }
    };
    Ok(Json(value))
}

/// Turns the cluster's tablet load balancing on or off (a group0 setting: any node's call
/// changes it for the whole cluster), recorded in the balancing and call records.
async fn tablet_balancing(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<StatusCode> {
    let Some(enabled) = flag(&q, "enabled")? else {
        return Err(ApiError::bad_request(
            "Missing mandatory parameter 'enabled'",
        ));
    };
    let address = ctx.node().id.address.to_string();
    ctx.cluster.balancing.set(&address, enabled);
    ctx.cluster.calls.record(
        &address,
        format!("POST /storage_service/tablets/balancing?enabled={enabled}"),
    );
    Ok(StatusCode::OK)
}

/// The group0 read barrier: the emulator's schema is always in agreement, so it only records
/// the call (tests check that it comes before the schema is described).
async fn read_barrier(State(ctx): State<NodeCtx>) -> StatusCode {
    let address = ctx.node().id.address.to_string();
    ctx.cluster
        .calls
        .record(&address, "POST /raft/read_barrier");
    StatusCode::OK
}
