//! Controls Scylla has no REST for, under `/emulator/`, served by every node: write data, compact,
//! create and drop tables, take nodes down and up, change gossip status, inject faults.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /emulator/cluster` | every node's address, host ID, DC, rack, data dir, up/down, status; the ports |
//! | `POST /emulator/nodes/{address}/write?keyspace=&table=&bytes=` | adds writes to a memtable; a new SSTable appears at the next flush |
//! | `POST /emulator/nodes/{address}/compact?keyspace=&table=` | major compaction: a new generation replaces the table's SSTables |
//! | `POST /emulator/nodes/{address}/down`, `/up` | stops (connections refused, peers see it down) or restarts a node's API |
//! | `POST /emulator/nodes/{address}/status?value=normal\|joining\|leaving` | sets the gossip status |
//! | `GET`, `POST`, `DELETE /emulator/nodes/{address}/faults` | lists, adds (JSON [`Fault`]) or clears injected faults |
//! | `POST /emulator/tables?keyspace=&table=[&replication=dc1:3,dc2:3][&tablets=true]` | creates a table on every node |
//! | `DELETE /emulator/tables?keyspace=&table=` | drops a table on every node |
//! | `GET /emulator/calls` | the cluster's call record ([`super::calls`]): CQL statements and order-sensitive REST calls, numbered |
//! | `GET /emulator/tablets/balancing` | tablet balancing now and its record ([`super::tablets`]): `{enabled, events}` |
//! | `GET /emulator/placement/{keyspace}/{table}` | every record of the table held anywhere ([`super::placement::PlacementReport`]): token, hash, the nodes holding it, its replicas now; and the count misplaced |
//! | `GET /emulator/autocompaction` | per node address, the tables (`ks.table`) whose autocompaction is disabled |

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::config::parse_size;
use super::faults::Fault;
use super::node::NodeStatus;
use super::placement::{self, PlacementReport};
use super::records::RecordId;
use super::schema::Replication;
use super::scylla_api::{ApiError, ApiResult, NodeCtx, blocking, flag, resolve_tables};

/// Query parameters, as given.
type Params = Query<std::collections::HashMap<String, String>>;

/// The `/emulator/` routes of one node.
pub fn router(cluster: Arc<Cluster>, index: usize) -> Router {
    Router::new()
        .route("/emulator/cluster", get(describe))
        .route("/emulator/nodes/{address}/write", post(write))
        .route("/emulator/nodes/{address}/compact", post(compact))
        .route(
            "/emulator/nodes/{address}/down",
            post(|s, p| set_up(s, p, false)),
        )
        .route(
            "/emulator/nodes/{address}/up",
            post(|s, p| set_up(s, p, true)),
        )
        .route("/emulator/nodes/{address}/status", post(set_status))
        .route(
            "/emulator/nodes/{address}/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/emulator/tables", post(create_table).delete(drop_table))
        .route("/emulator/calls", get(calls))
        .route("/emulator/tablets/balancing", get(balancing))
        .route("/emulator/placement/{keyspace}/{table}", get(placement))
        .route("/emulator/autocompaction", get(autocompaction))
        .with_state(NodeCtx { cluster, index })
}

/// The node an `{address}` path segment names.
fn node_index(ctx: &NodeCtx, address: &str) -> ApiResult<usize> {
    ctx.cluster.node_index(address).ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no emulated node has address {address}"),
    })
}

/// A required, non-empty query parameter.
fn required<'a>(q: &'a Params, name: &str) -> ApiResult<&'a String> {
    q.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("missing parameter {name}")))
}

async fn calls(State(ctx): State<NodeCtx>) -> Json<Value> {
    Json(json!(ctx.cluster.calls.entries()))
}

async fn balancing(State(ctx): State<NodeCtx>) -> Json<Value> {
    let b = &ctx.cluster.balancing;
    Json(json!({"enabled": b.enabled(), "events": b.events()}))
}

async fn placement(
    State(ctx): State<NodeCtx>,
    Path((keyspace, table)): Path<(String, String)>,
) -> ApiResult<Json<PlacementReport>> {
    let t = resolve_tables(&ctx.cluster, &[keyspace], &[table])?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::bad_request("no such table"))?;
    let (cluster, local) = (ctx.cluster.clone(), ctx.index);
    let report = blocking(move || {
        let mut held: BTreeMap<RecordId, BTreeSet<usize>> = BTreeMap::new();
        for (i, node) in cluster.nodes.iter().enumerate() {
            for id in node.held_records(&t)? {
                held.entry(id).or_default().insert(i);
            }
        }
        let replication = cluster.replication(&t.keyspace);
        Ok(placement::report(
            &held,
            |token| {
                cluster
                    .topology
                    .replicas_of_token(&replication, token, local)
            },
            |i| {
                cluster
                    .nodes
                    .get(i)
                    .map(|n| n.id.address.to_string())
                    .unwrap_or_default()
            },
        ))
    })
    .await?;
    Ok(Json(report))
}

async fn autocompaction(State(ctx): State<NodeCtx>) -> Json<BTreeMap<String, Vec<String>>> {
    Json(
        ctx.cluster
            .nodes
            .iter()
            .map(|n| (n.id.address.to_string(), n.autocompaction.disabled()))
            .collect(),
    )
}

async fn describe(State(ctx): State<NodeCtx>) -> Json<Value> {
    let c = &ctx.cluster;
    let nodes: Vec<Value> = c
        .nodes
        .iter()
        .map(|n| {
            json!({
                "address": n.id.address.to_string(),
                "host_id": n.id.host_id,
                "dc": n.id.dc,
                "rack": n.id.rack,
                "data_dir": n.data_dir.display().to_string(),
                "up": n.is_up(),
                "status": *n.status.lock().unwrap_or_else(|p| p.into_inner()),
            })
        })
        .collect();
    Json(json!({
        "api_port": c.config.api_port,
        "prometheus_port": c.config.prometheus_port,
        "cql_port": c.config.cql_port,
        "scylla_version": c.config.scylla_version,
        "shards": c.config.shards,
        "stream_rate": c.config.stream_rate,
        "nodes": nodes,
    }))
}

async fn write(
    State(ctx): State<NodeCtx>,
    Path(address): Path<String>,
    q: Params,
) -> ApiResult<StatusCode> {
    let i = node_index(&ctx, &address)?;
    let bytes = required(&q, "bytes")?;
    let bytes = parse_size(bytes).ok_or_else(|| {
        ApiError::bad_request(format!(
            "bytes {bytes:?}: expected a size such as 4096 or 8MiB"
        ))
    })?;
    let t = resolve_tables(
        &ctx.cluster,
        &[required(&q, "keyspace")?.clone()],
        &[required(&q, "table")?.clone()],
    )?
    .remove(0);
    let ranges = ctx.cluster.owned_ranges(&t.keyspace, i);
    ctx.cluster.nodes[i].write(&t, bytes, ranges);
    Ok(StatusCode::OK)
}

async fn compact(
    State(ctx): State<NodeCtx>,
    Path(address): Path<String>,
    q: Params,
) -> ApiResult<StatusCode> {
    let i = node_index(&ctx, &address)?;
    let t = resolve_tables(
        &ctx.cluster,
        &[required(&q, "keyspace")?.clone()],
        &[required(&q, "table")?.clone()],
    )?;
    let node = ctx.cluster.nodes[i].clone();
    blocking(move || Ok(node.compact(&t, true)?)).await?;
    Ok(StatusCode::OK)
}

async fn set_up(
    State(ctx): State<NodeCtx>,
    Path(address): Path<String>,
    up: bool,
) -> ApiResult<StatusCode> {
    let i = node_index(&ctx, &address)?;
    ctx.cluster.set_up(i, up).await?;
    Ok(StatusCode::OK)
}

async fn set_status(
    State(ctx): State<NodeCtx>,
    Path(address): Path<String>,
    q: Params,
) -> ApiResult<StatusCode> {
    let i = node_index(&ctx, &address)?;
    let value = required(&q, "value")?;
    let status: NodeStatus = serde_json::from_value(json!(value)).map_err(|_| {
        ApiError::bad_request(format!(
            "value {value:?}: expected normal, joining or leaving"
        ))
    })?;
    *ctx.cluster.nodes[i]
        .status
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = status;
    Ok(StatusCode::OK)
}

async fn list_faults(
    State(ctx): State<NodeCtx>,
    Path(address): Path<String>,
) -> ApiResult<Json<Vec<Fault>>> {
    let i = node_index(&ctx, &address)?;
    Ok(Json(ctx.cluster.nodes[i].faults.list()))
}

async fn add_fault(
    State(ctx): State<NodeCtx>,
    Path(address): Path<String>,
    Json(fault): Json<Fault>,
) -> ApiResult<StatusCode> {
    let i = node_index(&ctx, &address)?;
    if !fault.path.starts_with('/') {
        return Err(ApiError::bad_request(format!(
            "fault path {:?} must start with /",
            fault.path
        )));
    }
    if let Some(status) = fault.status.filter(|s| !(400..=599).contains(s)) {
        return Err(ApiError::bad_request(format!(
            "fault status {status} must be an error status (400-599)"
        )));
    }
    ctx.cluster.nodes[i].faults.add(fault);
    Ok(StatusCode::OK)
}

async fn clear_faults(
    State(ctx): State<NodeCtx>,
    Path(address): Path<String>,
) -> ApiResult<StatusCode> {
    let i = node_index(&ctx, &address)?;
    ctx.cluster.nodes[i].faults.clear();
    Ok(StatusCode::OK)
}

async fn create_table(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<StatusCode> {
    let (ks, table) = (
        required(&q, "keyspace")?.clone(),
        required(&q, "table")?.clone(),
    );
    let replication = match q.get("replication").filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => Some(Replication::parse_nts(r).ok_or_else(|| {
            ApiError::bad_request(format!(
                "replication {r:?}: expected dc:rf pairs such as dc1:3,dc2:3"
            ))
        })?),
    };
    let tablets = flag(&q, "tablets")?.unwrap_or(false);
    let cluster = ctx.cluster.clone();
    blocking(move || Ok(cluster.create_table(&ks, &table, replication, tablets)?)).await?;
    Ok(StatusCode::OK)
}

async fn drop_table(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<StatusCode> {
    let (ks, table) = (
        required(&q, "keyspace")?.clone(),
        required(&q, "table")?.clone(),
    );
    let cluster = ctx.cluster.clone();
    blocking(move || Ok(cluster.drop_table(&ks, &table)?)).await?;
    Ok(StatusCode::OK)
}
