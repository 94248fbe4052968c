//! The Scylla REST routes restore uses beyond backup's, answered as Scylla answers them:
//! loading `upload/` (refresh or load&stream), the autocompaction switch, vnode repair
//! (`repair_async`, `repair_status`), tablet repair and the task manager.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::load_stream::{self, LoadError};
use super::repair::{self, RepairStatus, Scope};
use super::scylla_api::{
    ApiError, ApiResult, NodeCtx, blocking, flag, list, resolve_name, resolve_tables,
};
use super::tasks::TaskError;

/// Query parameters, as given.
type Params = Query<HashMap<String, String>>;

/// The options `repair_async` accepts (others are refused, as Scylla refuses them).
const REPAIR_OPTIONS: &[&str] = &[
    "primaryRange",
    "parallelism",
    "incremental",
    "jobThreads",
    "ranges",
    "columnFamilies",
    "dataCenters",
    "hosts",
    "ignore_nodes",
    "trace",
    "startToken",
    "endToken",
    "ranges_parallelism",
    "small_table_optimization",
    "pullRepair",
    "ignoreUnreplicatedKeyspaces",
];

/// The restore routes of one node.
pub fn router(cluster: Arc<Cluster>, index: usize) -> Router {
    Router::new()
        .route(
            "/storage_service/sstables/{keyspace}",
            post(load_new_sstables),
        )
        .route(
            "/column_family/autocompaction/{name}",
            get(get_autocompaction)
                .post(|s, p| set_autocompaction(s, p, true))
                .delete(|s, p| set_autocompaction(s, p, false)),
        )
        .route(
            "/storage_service/repair_async/{keyspace}",
            post(repair_async).get(repair_async_status),
        )
        .route("/storage_service/repair_status", get(repair_status))
        .route("/storage_service/repair_status/", get(repair_status))
        .route("/storage_service/tablets/repair", post(tablet_repair))
        .route("/task_manager/task_status/{id}", get(task_status))
        .route("/task_manager/wait_task/{id}", get(wait_task))
        .route("/task_manager/abort_task/{id}", post(abort_task))
        .with_state(NodeCtx { cluster, index })
}

async fn load_new_sstables(
    State(ctx): State<NodeCtx>,
    Path(keyspace): Path<String>,
    q: Params,
) -> ApiResult<StatusCode> {
    let cf = q
        .get("cf")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("Missing mandatory parameter 'cf'"))?
        .clone();
    let mut load_and_stream = flag(&q, "load_and_stream")?.unwrap_or(false);
    let primary_replica_only = flag(&q, "primary_replica_only")?.unwrap_or(false);
    for p in ["skip_cleanup", "skip_reshape"] {
        if load_and_stream && flag(&q, p)?.unwrap_or(false) {
            return Err(ApiError::bad_request(format!(
                "{p} is invalid together with load_and_stream"
            )));
        }
    }
    match q.get("scope").map(String::as_str) {
        None | Some("") | Some("all") => {}
        Some("dc" | "rack" | "node") if load_and_stream => {}
        Some("dc" | "rack" | "node") => {
            return Err(ApiError::bad_request(
                "scope takes no effect without load-and-stream",
            ));
        }
        Some(scope) => {
            return Err(ApiError::bad_request(format!(
                "Parameter scope: invalid value {scope:?} (all, dc, rack, node)"
            )));
        }
    }
    let t = resolve_tables(
        &ctx.cluster,
        std::slice::from_ref(&keyspace),
        std::slice::from_ref(&cf),
    )?
    .into_iter()
    .next()
    .ok_or_else(|| ApiError::bad_request(format!("Column family {keyspace}.{cf} not found")))?;
    // Scylla streams tablet tables even when asked to refresh.
    load_and_stream |= ctx
        .cluster
        .schema()
        .keyspaces
        .get(&keyspace)
        .is_some_and(|k| k.tablets);
    let address = ctx.node().id.address.to_string();
    ctx.cluster.calls.record(
        &address,
        format!(
            "POST /storage_service/sstables/{keyspace}?cf={cf}&load_and_stream={load_and_stream}&primary_replica_only={primary_replica_only}"
        ),
    );
    let (cluster, index) = (ctx.cluster.clone(), ctx.index);
    blocking(move || {
        load_stream::load(&cluster, index, &t, load_and_stream, primary_replica_only).map_err(|e| {
            let what = match &e {
                LoadError::AlreadyLoading => format!("std::runtime_error ({e})"),
                LoadError::Node(_) => e.to_string(),
            };
            ApiError::internal(format!("Failed to load new sstables: {what}"))
        })
    })
    .await?;
    Ok(StatusCode::OK)
}

async fn get_autocompaction(
    State(ctx): State<NodeCtx>,
    Path(name): Path<String>,
) -> ApiResult<Json<bool>> {
    let t = resolve_name(&ctx.cluster, &name)?;
    Ok(Json(
        ctx.node()
            .autocompaction
            .enabled(&t.keyspace, &t.table.name),
    ))
}

async fn set_autocompaction(
    State(ctx): State<NodeCtx>,
    Path(name): Path<String>,
    enabled: bool,
) -> ApiResult<StatusCode> {
    let t = resolve_name(&ctx.cluster, &name)?;
    ctx.node()
        .autocompaction
        .set(&t.keyspace, &t.table.name, enabled);
    Ok(StatusCode::OK)
}

async fn repair_async(
    State(ctx): State<NodeCtx>,
    Path(keyspace): Path<String>,
    q: Params,
) -> ApiResult<Json<i64>> {
    if let Some(unknown) = q.keys().find(|k| !REPAIR_OPTIONS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "option {unknown} is not supported"
        )));
    }
    let primary_only = flag(&q, "primaryRange")?.unwrap_or(false);
    let tables = resolve_tables(
        &ctx.cluster,
        std::slice::from_ref(&keyspace),
        &list(q.get("columnFamilies")),
    )?;
    if ctx
        .cluster
        .schema()
        .keyspaces
        .get(&keyspace)
        .is_some_and(|k| k.tablets)
    {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            message: "Cannot repair tablet keyspace. Use /storage_service/tablets/repair to repair tablet keyspaces.".into(),
        });
    }
    let (cluster, index) = (ctx.cluster.clone(), ctx.index);
    let id = ctx.node().repairs.start();
    cluster.calls.record(
        &ctx.node().id.address.to_string(),
        format!(
            "POST /storage_service/repair_async/{keyspace}?columnFamilies={}&primaryRange={primary_only}",
            tables
                .iter()
                .map(|t| t.table.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    tokio::task::spawn_blocking(move || {
        let scope = Scope::Node {
            index,
            primary_only,
        };
        let result = repair::repair_tables(&cluster, &tables, scope, &AtomicBool::new(false));
        if let Err(e) = &result {
            tracing::warn!(repair = id, "emulated repair failed: {e}");
        }
        if let Some(node) = cluster.nodes.get(index) {
            node.repairs.finish(id, result.is_ok());
        }
    });
    Ok(Json(id))
}

/// The `id` query parameter of a repair status call.
fn repair_id(q: &HashMap<String, String>) -> ApiResult<i64> {
    let id = q
        .get("id")
        .ok_or_else(|| ApiError::bad_request("Missing mandatory parameter 'id'"))?;
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("id {id:?}: not an integer")))
}

async fn repair_async_status(
    State(ctx): State<NodeCtx>,
    Path(_keyspace): Path<String>,
    q: Params,
) -> ApiResult<Json<RepairStatus>> {
    let id = repair_id(&q)?;
    ctx.node()
        .repairs
        .status(id)
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(format!("unknown repair id {id}")))
}

async fn repair_status(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<Json<RepairStatus>> {
    let id = repair_id(&q)?;
    let timeout = match q.get("timeout").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match t.parse::<i64>() {
            Ok(-1) => None,
            Ok(s) if s >= 0 => Some(Duration::from_secs(s as u64)),
            _ => {
                return Err(ApiError::bad_request(
                    "timeout can only be -1 (means no timeout) or non negative integer",
                ));
            }
        },
    };
    ctx.node()
        .repairs
        .wait(id, timeout)
        .await
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(format!("unknown repair id {id}")))
}

async fn tablet_repair(State(ctx): State<NodeCtx>, q: Params) -> ApiResult<Json<Value>> {
    let get = |name: &str| {
        q.get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| ApiError::bad_request(format!("Missing mandatory parameter '{name}'")))
    };
    let (keyspace, table, tokens) = (get("ks")?, get("table")?, get("tokens")?);
    if tokens != "all" {
        return Err(ApiError::bad_request(format!(
            "tokens {tokens:?}: the emulator repairs tablets with tokens=all only"
        )));
    }
    let tables = resolve_tables(
        &ctx.cluster,
        std::slice::from_ref(&keyspace),
        std::slice::from_ref(&table),
    )?;
    if !ctx
        .cluster
        .schema()
        .keyspaces
        .get(&keyspace)
        .is_some_and(|k| k.tablets)
    {
        return Err(ApiError::bad_request(format!(
            "Table {keyspace}.{table} does not use tablets"
        )));
    }
    let cluster = ctx.cluster.clone();
    let total = cluster.topology.ranges().len() as f64;
    let (id, abort) = cluster.tasks.start("repair", &keyspace, &table, total);
    cluster.calls.record(
        &ctx.node().id.address.to_string(),
        format!("POST /storage_service/tablets/repair?ks={keyspace}&table={table}&tokens=all"),
    );
    tokio::task::spawn_blocking(move || {
        let result = repair::repair_tables(&cluster, &tables, Scope::All, &abort);
        cluster
            .tasks
            .finish(id, result.map(|_| ()).map_err(|e| e.to_string()));
    });
    Ok(Json(json!({"tablet_task_id": id.to_string()})))
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::NotFound(_) => ApiError::bad_request(e.to_string()),
            TaskError::Timeout(_) => ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: e.to_string(),
            },
        }
    }
}

async fn task_status(State(ctx): State<NodeCtx>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let status = ctx.cluster.tasks.status(&id)?;
    Ok(Json(serde_json::to_value(status).unwrap_or_default()))
}

async fn wait_task(
    State(ctx): State<NodeCtx>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Json<Value>> {
    let timeout = match q.get("timeout").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(Duration::from_secs(
            t.parse::<u32>()
                .map_err(|_| ApiError::bad_request(format!("timeout {t:?}: expected seconds")))?
                as u64,
        )),
    };
    let status = ctx.cluster.tasks.wait(&id, timeout).await?;
    Ok(Json(serde_json::to_value(status).unwrap_or_default()))
}

async fn abort_task(State(ctx): State<NodeCtx>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    ctx.cluster.tasks.abort(&id)?;
    Ok(StatusCode::OK)
}
