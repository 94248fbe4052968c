//! REST endpoints of backups in a location (spec 1.11), answered through the first of the
//! cluster's hosts whose agent reaches each location.
//!
//! | method | path | parameters | answer |
//! |---|---|---|---|
//! | `GET` | `/api/v1/cluster/{cluster}/backups` | `location`…, `keyspace`, `min_date`, `max_date`, `all_clusters`, `query_cluster_id`, `task_id`, `with_skipped` | [`ListItem`]s: per cluster and task, the snapshots with node count and size; with `with_skipped=true`, [`BackupList`] `{backups, skipped}` |
//! | `GET` | `/api/v1/cluster/{cluster}/backups/files` | `snapshot_tag`, `location`…, `keyspace`, `all_clusters`, `query_cluster_id`, `with_skipped` | [`FilesInfo`] per node manifest; with `with_skipped=true`, [`SnapshotFiles`] `{files, skipped}`; 404 for an unknown tag |
//! | `DELETE` | `/api/v1/cluster/{cluster}/backups` | `snapshot_tags`, `location`… | `{deleted_manifests, deleted_files}`; 404 (nothing changed) for an unknown tag |
//! | `DELETE` | `/api/v1/cluster/{cluster}/backups/local_snapshots` | — | per node, the `sm_*` snapshots deleted |
//!
//! Locations are given as `location=a&location=b` or `locations=a,b` (both may mix); without
//! any, those of the cluster's enabled backup tasks are used. Lists (`keyspace`, `snapshot_tags`)
//! take commas or repeated parameters. Dates are RFC 3339, `now`, `now-DURATION` or
//! `now+DURATION`. An unknown parameter, or a value that does not parse, is a 400 naming the
//! parameter.
//!
//! Manifests that cannot be read are passed over ([`listing`]'s module documentation); the plain
//! arrays, kept for old clients, do not say so; `with_skipped=true` answers an object that lists
//! them, which the CLI always asks for.

use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::error::{ApiError, store_error};
use super::{ApiState, find_cluster};
use crate::format::filter::KeyspaceFilter;
use crate::format::location::Location;
use crate::format::tag::SnapshotTag;
use crate::manager::backup::delete::{self, DeleteError, DeleteReport};
use crate::manager::location::listing::{
    self, BackupList, FilesInfo, ListFilter, ListItem, SnapshotFiles,
};
use crate::manager::location::manifests::{self, LocationClient, LocationError};
use crate::manager::store::{Cluster, TaskType};

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/cluster/{cluster}/backups",
            get(list).delete(delete_snapshots),
        )
        .route("/api/v1/cluster/{cluster}/backups/files", get(files))
        .route(
            "/api/v1/cluster/{cluster}/backups/local_snapshots",
            delete(delete_local_snapshots),
        )
}

/// The query parameters of a request, in order, with the names an endpoint accepts.
struct Params {
    /// `(name, value)` pairs as given.
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The parameters, refusing any name not in `known`.
    fn new(pairs: Vec<(String, String)>, known: &[&str]) -> Result<Params, ApiError> {
        if let Some((name, _)) = pairs.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            let expected = if known.is_empty() {
                "this endpoint takes none".to_string()
            } else {
                format!("expected one of: {}", known.join(", "))
            };
            return Err(ApiError::bad_field(
                name.clone(),
                format!("unknown parameter ({expected})"),
            ));
        }
        Ok(Params { pairs })
    }

    /// Every value of `name`, commas splitting values, blanks dropped.
    fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The last value of `name`, parsed; a value that does not parse is a 400 naming `name`.
    fn parsed<T>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.pairs.iter().rev().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, v)) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| ApiError::bad_field(name, format!("{v:?}: {e}"))),
        }
    }

    /// An RFC 3339 date.
    fn date(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(text) = self.parsed::<String>(name)? else {
            return Ok(None);
        };
        listing::parse_date(&text)
            .map(Some)
            .map_err(|e| ApiError::bad_field(name, e))
    }

    /// The keyspace filter, when `keyspace` is given.
    fn keyspace(&self) -> Result<Option<KeyspaceFilter>, ApiError> {
        let patterns = self.list("keyspace");
        if patterns.is_empty() {
            return Ok(None);
        }
        KeyspaceFilter::new(&patterns)
            .map(Some)
            .map_err(|e| ApiError::bad_field("keyspace", e))
    }

    /// The cluster whose backups are asked for: `None` for all (`all_clusters=true`), else
    /// `query_cluster_id`, else the path's cluster.
    fn cluster(&self, path_cluster: Uuid) -> Result<Option<Uuid>, ApiError> {
        if self.parsed::<bool>("all_clusters")?.unwrap_or(false) {
            return Ok(None);
        }
        Ok(Some(
            self.parsed::<Uuid>("query_cluster_id")?
                .unwrap_or(path_cluster),
        ))
    }

    /// The locations given (`location` and `locations`), parsed, without repeats.
    fn locations(&self) -> Result<Vec<Location>, ApiError> {
        let mut out = BTreeSet::new();
        for name in ["location", "locations"] {
            for text in self.list(name) {
                let l: Location = text.parse().map_err(|e| ApiError::bad_field(name, e))?;
                out.insert(l);
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// The names every location-taking endpoint accepts.
const LOCATION_PARAMS: [&str; 2] = ["location", "locations"];

/// The parameters of a request, allowing `extra` names beside the locations.
fn params(pairs: Vec<(String, String)>, extra: &[&str]) -> Result<Params, ApiError> {
    let known: Vec<&str> = LOCATION_PARAMS.iter().chain(extra).copied().collect();
    Params::new(pairs, &known)
}

/// The given locations or, without any, those of the cluster's enabled backup tasks; each with
/// the first host whose agent reaches it.
async fn location_clients(
    state: &ApiState,
    cluster: &Cluster,
    params: &Params,
) -> Result<Vec<LocationClient>, ApiError> {
    let mut locations = params.locations()?;
    if locations.is_empty() {
        locations = task_locations(state, cluster).await?;
    }
    if locations.is_empty() {
        return Err(ApiError::bad_field(
            "location",
            "required: give location=[dc:]provider:bucket (the cluster has no enabled backup task to take locations from)",
        ));
    }
    let mut out = Vec::with_capacity(locations.len());
    for l in &locations {
        let lc = manifests::location_client(
            &cluster.hosts,
            cluster.agent_port,
            &cluster.auth_token,
            &cluster.agent_pins,
            l,
        )
        .await
        .map_err(location_error)?;
        out.push(lc);
    }
    Ok(out)
}

/// The locations of the cluster's enabled backup tasks (ones that do not parse are skipped).
async fn task_locations(state: &ApiState, cluster: &Cluster) -> Result<Vec<Location>, ApiError> {
    let tasks = state
        .store
        .list_tasks(cluster.id, false)
        .await
        .map_err(store_error)?;
    let mut out = BTreeSet::new();
    for t in tasks
        .iter()
        .filter(|t| t.enabled && t.task_type == TaskType::Backup)
    {
        let given = t.properties.get("location").and_then(|v| v.as_array());
        for text in given.into_iter().flatten().filter_map(|v| v.as_str()) {
            match text.parse::<Location>() {
                Ok(l) => {
                    out.insert(l);
                }
                Err(e) => tracing::warn!(task = %t.id, error = %e, "task location skipped"),
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// A failure reading the locations as an answer: an unknown snapshot is a 404, a location no
/// agent can use is a 400 naming `location`, a transient failure a 503, anything else a 502.
fn location_error(e: LocationError) -> ApiError {
    let status = if e.is_not_found() {
        StatusCode::NOT_FOUND
    } else if e.retryable() {
        StatusCode::SERVICE_UNAVAILABLE
    } else if matches!(e, LocationError::NoHost { .. }) {
        return ApiError::bad_field("location", e);
    } else {
        StatusCode::BAD_GATEWAY
    };
    ApiError::new(status, e.to_string())
}

/// A failed delete as an answer: the locations' failures as [`location_error`] answers them,
/// another manager's lease a 409, a transient failure a 503, anything else a 502.
fn delete_error(e: DeleteError) -> ApiError {
    let status = match e {
        DeleteError::Location(e) => return location_error(e),
        DeleteError::Lease(_) => StatusCode::CONFLICT,
        _ if e.retryable() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    ApiError::new(status, e.to_string())
}

/// A listing's answer: the plain array old clients read, or, with `with_skipped=true`, the
/// object naming the manifests passed over.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Answer<Plain, WithSkipped> {
    /// Without `with_skipped`.
    Plain(Plain),
    /// With `with_skipped=true`.
    WithSkipped(WithSkipped),
}

impl Params {
    /// Whether `with_skipped=true` was given.
    fn with_skipped(&self) -> Result<bool, ApiError> {
        Ok(self.parsed::<bool>("with_skipped")?.unwrap_or(false))
    }
}

/// `GET /api/v1/cluster/{cluster}/backups`.
async fn list(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Answer<Vec<ListItem>, BackupList>>, ApiError> {
    let p = params(
        pairs,
        &[
            "keyspace",
            "min_date",
            "max_date",
            "all_clusters",
            "query_cluster_id",
            "task_id",
            "with_skipped",
        ],
    )?;
    let with_skipped = p.with_skipped()?;
    let cluster = find_cluster(&state, &name).await?;
    let filter = ListFilter {
        cluster: p.cluster(cluster.id)?,
        task: p.parsed("task_id")?,
        keyspace: p.keyspace()?,
        min_date: p.date("min_date")?,
        max_date: p.date("max_date")?,
    };
    filter
        .check_dates()
        .map_err(|e| ApiError::bad_field("max_date", e))?;
    let locations = location_clients(&state, &cluster, &p).await?;
    let list = listing::list_backups(&locations, &filter)
        .await
        .map_err(location_error)?;
    Ok(Json(if with_skipped {
        Answer::WithSkipped(list)
    } else {
        Answer::Plain(list.backups)
    }))
}

/// `GET /api/v1/cluster/{cluster}/backups/files`.
async fn files(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Answer<Vec<FilesInfo>, SnapshotFiles>>, ApiError> {
    let p = params(
        pairs,
        &[
            "snapshot_tag",
            "keyspace",
            "all_clusters",
            "query_cluster_id",
            "with_skipped",
        ],
    )?;
    let with_skipped = p.with_skipped()?;
    let tag: SnapshotTag = p
        .parsed("snapshot_tag")?
        .ok_or_else(|| ApiError::bad_field("snapshot_tag", "required"))?;
    let keyspace = p.keyspace()?;
    let cluster = find_cluster(&state, &name).await?;
    let query_cluster = p.cluster(cluster.id)?;
    let locations = location_clients(&state, &cluster, &p).await?;
    let files = listing::snapshot_files(&locations, query_cluster, &tag, keyspace.as_ref())
        .await
        .map_err(location_error)?;
    Ok(Json(if with_skipped {
        Answer::WithSkipped(files)
    } else {
        Answer::Plain(files.files)
    }))
}

/// `DELETE /api/v1/cluster/{cluster}/backups`.
async fn delete_snapshots(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<DeleteReport>, ApiError> {
    let p = params(pairs, &["snapshot_tags"])?;
    let tags = p
        .list("snapshot_tags")
        .iter()
        .map(|t| t.parse::<SnapshotTag>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_field("snapshot_tags", e))?;
    if tags.is_empty() {
        return Err(ApiError::bad_field(
            "snapshot_tags",
            "required: give one or more tags, e.g. snapshot_tags=sm_20260101000000UTC",
        ));
    }
    let cluster = find_cluster(&state, &name).await?;
    let locations = location_clients(&state, &cluster, &p).await?;
    let report = delete::delete_snapshots(&locations, cluster.id, &tags)
        .await
        .map_err(delete_error)?;
    if report.deleted_manifests == 0 {
        return Err(ApiError::not_found(format!(
            "snapshot {}",
            tags.iter()
                .map(SnapshotTag::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(Json(report))
}

/// One node in the answer of `DELETE .../backups/local_snapshots`.
#[derive(Debug, Serialize)]
struct HostDeleted {
    /// The node's address.
    host: String,
    /// The node's DC.
    dc: String,
    /// How many snapshot tags were deleted.
    deleted: usize,
    /// Those tags.
    tags: Vec<String>,
    /// Why the node was skipped or failed, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The answer of `DELETE .../backups/local_snapshots`.
#[derive(Debug, Serialize)]
struct LocalSnapshotsDeleted {
    /// Every node of the cluster.
    hosts: Vec<HostDeleted>,
}

/// `DELETE /api/v1/cluster/{cluster}/backups/local_snapshots`.
async fn delete_local_snapshots(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<LocalSnapshotsDeleted>, ApiError> {
    Params::new(pairs, &[])?;
    let cluster = find_cluster(&state, &name).await?;
    let hosts = delete::delete_local_snapshots(
        &cluster.hosts,
        cluster.agent_port,
        &cluster.auth_token,
        &cluster.agent_pins,
    )
    .await
    .map_err(delete_error)?;
    Ok(Json(LocalSnapshotsDeleted {
        hosts: hosts
            .into_iter()
            .map(|h| HostDeleted {
                host: h.host,
                dc: h.dc,
                deleted: h.deleted.len(),
                tags: h.deleted,
                error: h.error,
            })
            .collect(),
    }))
}
