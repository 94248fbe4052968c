//! The agent's HTTP API. JSON in and out; errors as `{"message", "code"}` with the right status.
//! Every route but `/ping` and `/version` needs `Authorization: Bearer <token>`.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /ping`, `GET /version` | liveness and version, no token needed |
//! | `GET /agent/node_info` | addresses, CQL address and port, CPUs, memory, storage, Scylla version, data dir, SSTable naming |
//! | `POST /agent/jobs/upload`, `POST /agent/jobs/download` | start a transfer job → `{"id"}` |
//! | `POST /agent/jobs/check` | start a content check of stored SSTables (validate) → `{"id"}` |
//! | `GET /agent/jobs/{id}?wait=S` | progress, returned when the job ends or after S seconds |
//! | `POST /agent/jobs/{id}/stop`, `DELETE /agent/jobs/{id}`, `GET /agent/jobs` | stop, forget, list |
//! | `GET`/`PUT /agent/bandwidth` | read or change the bandwidth budget (`{"rate_limit": MiB/s}`) |
//! | `POST /agent/files/list` | `{"location","path","recursive"}` → NDJSON entries, streamed |
//! | `GET /agent/files/read?location=&path=` | a manifest, schema or checksum file; `ETag` and `x-cairn-version` name its version |
//! | `PUT /agent/files/write?location=&path=[&mode=create\|update&e_tag=&version=]` | a small object (manifests, schema); `create`/`update` (only under `backup/meta/`) write only if absent / still that version (409 / 412 otherwise, 501 where the store cannot) → `{"path","size","e_tag","version"}` |
//! | `POST /agent/files/delete` | `{"location","paths":[...]}` → `{"deleted"}`; missing paths are not errors |
//! | `POST /agent/files/move` | `{"from":{"location","path"},"to":{...},"copy"}` |
//! | `GET /agent/files/disk` | free and total bytes of the data directory's file system |
//! | `GET /metrics` | the node's Scylla metrics |
//! | anything else | proxied to Scylla if allow-listed, else 403 |
//!
//! `location` is `data` for the node's data directory or `provider:bucket` for a backup location.
//! The bodies, queries and answers are typed in [`super::wire`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::confined::{ConfinedError, ConfinedRoot, RelPath};
use super::files::{FileError, disk_usage, list_local, readable_local, readable_remote};
use super::jobs::{JobError, Jobs};
use super::scylla::{Scylla, allowed, check_path};
use super::storage::{StorageError, Stores, object_path};
use super::wire::{
    self, AgentVersion, CheckJob, DATA_LOCATION, DEFAULT_CQL_PORT, DeleteRequest, Deleted,
    DiskUsage, Done, DownloadJob, Entry, ErrorAnswer, FileQuery, JobProgress, JobStarted,
    JobStatus, JobWait, ListRequest, ListingError, MoveRequest, NodeInfo, SetBandwidth, UploadJob,
    VERSION_HEADER, WriteMode, WriteQuery, Written,
};
use crate::auth::{bearer, token_matches};

/// Delay before answering a request with a wrong or missing token.
pub const AUTH_PENALTY: Duration = Duration::from_secs(1);
/// Largest object `files/write` accepts.
const MAX_WRITE: usize = 256 << 20;
/// Most paths one `files/delete` call takes.
const MAX_DELETE: usize = 10_000;
/// Longest long poll.
const MAX_WAIT: u64 = 300;

/// Everything the handlers share.
#[derive(Debug)]
pub struct AgentState {
    /// The token requests must carry; `None` only with `insecure_no_auth: true`.
    pub token: Option<String>,
    /// The node's Scylla.
    pub scylla: Scylla,
    /// The data directory.
    pub root: ConfinedRoot,
    /// Location clients.
    pub stores: Arc<Stores>,
    /// Transfer jobs.
    pub jobs: Jobs,
    /// The HTTPS address the agent listens on.
    pub listen: String,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    status: StatusCode,
    /// What went wrong.
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorAnswer {
                code: self.status.as_u16(),
                message: self.message,
            }),
        )
            .into_response()
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        let status = match &e {
            FileError::NotFound(_) => StatusCode::NOT_FOUND,
            FileError::Confined(ConfinedError::BadInput { .. }) => StatusCode::BAD_REQUEST,
            FileError::Confined(ConfinedError::Escape { .. }) | FileError::NotAllowed { .. } => {
                StatusCode::FORBIDDEN
            }
            FileError::Confined(ConfinedError::Io { source, .. }) => match source.kind() {
                std::io::ErrorKind::NotFound => StatusCode::NOT_FOUND,
                std::io::ErrorKind::IsADirectory | std::io::ErrorKind::NotADirectory => {
                    StatusCode::BAD_REQUEST
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        let status = match &e {
            StorageError::BadLocation { .. } | StorageError::BadPath { .. } => {
                StatusCode::BAD_REQUEST
            }
            StorageError::NotConfigured { .. } => StatusCode::BAD_REQUEST,
            StorageError::Store { source, .. }
                if matches!(**source, object_store::Error::PermissionDenied { .. }) =>
            {
                StatusCode::FORBIDDEN
            }
            _ if e.is_not_found() => StatusCode::NOT_FOUND,
            _ if e.retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::File(f) => f.into(),
            JobError::Storage(s) => s.into(),
            JobError::Invalid { .. } => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON body; a malformed one is refused as `{"message","code":400}` naming the field.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                rejection.body_text(),
            )),
        }
    }
}

/// Query parameters; malformed ones are refused as `{"message","code":400}`.
struct Params<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                rejection.body_text(),
            )),
        }
    }
}
type St = State<Arc<AgentState>>;

/// The whole API.
pub fn router(state: Arc<AgentState>) -> Router {
    let public = Router::new()
        .route("/ping", get(|| async { Json(Done {}) }))
        .route(
            "/version",
            get(|| async {
                Json(AgentVersion {
                    version: env!("CARGO_PKG_VERSION").to_string(),
                })
            }),
        );
    let protected = Router::new()
        .route("/agent/node_info", get(node_info))
        .route("/agent/jobs", get(list_jobs))
        .route("/agent/jobs/upload", post(start_upload))
        .route("/agent/jobs/download", post(start_download))
        .route("/agent/jobs/check", post(start_check))
        .route("/agent/jobs/{id}", get(job_progress).delete(remove_job))
        .route("/agent/jobs/{id}/stop", post(stop_job))
        .route("/agent/bandwidth", get(get_bandwidth).put(set_bandwidth))
        .route("/agent/files/list", post(list_files))
        .route("/agent/files/read", get(read_file))
        .route("/agent/files/write", axum::routing::put(write_file))
        .route("/agent/files/delete", post(delete_files))
        .route("/agent/files/move", post(move_file))
        .route("/agent/files/disk", get(disk))
        .route("/metrics", get(scylla_metrics))
        .fallback(proxy)
        .layer(DefaultBodyLimit::max(MAX_WRITE))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    public.merge(protected).with_state(state)
}

/// Checks the bearer token in constant time; a wrong one is answered after a delay.
async fn authenticate(State(state): St, req: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        metrics::counter!("cairn_agent_unauthenticated_requests_total").increment(1);
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .unwrap_or("");
    if token_matches(given.as_bytes(), token.as_bytes()) {
        return next.run(req).await;
    }
    metrics::counter!("cairn_agent_unauthorized_total").increment(1);
    tracing::warn!(path = %req.uri().path(), "request with a wrong or missing token");
    tokio::time::sleep(AUTH_PENALTY).await;
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized").into_response()
}

async fn node_info(State(s): St) -> ApiResult<Json<NodeInfo>> {
    let version: String = s
        .scylla
        .get("/storage_service/scylla_release_version")
        .await
        .unwrap_or_default();
    let uuid: Option<bool> = s
        .scylla
        .get("/v2/config/uuid_sstable_identifiers_enabled")
        .await
        .ok();
    let cql_port: u16 = s
        .scylla
        .get("/v2/config/native_transport_port")
        .await
        .unwrap_or(DEFAULT_CQL_PORT);
    let rpc_address: String = s
        .scylla
        .get("/v2/config/rpc_address")
        .await
        .unwrap_or_default();
    let disk = disk_usage(s.root.path())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kib| kib.saturating_mul(1024))
        .unwrap_or(0);
    let authentication = if s.token.is_some() {
        "token"
    } else {
        "none (insecure_no_auth)"
    };
    Ok(Json(NodeInfo {
        agent_address: s.listen.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        authentication: authentication.to_string(),
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()) as u64,
        data_directory: s.root.path().display().to_string(),
        memory_total: memory,
        native_transport_port: cql_port,
        rpc_address,
        scylla_api: s.scylla.api.clone(),
        scylla_version: version,
        sstable_uuid_format: uuid,
        storage_free: disk.free,
        storage_size: disk.total,
    }))
}

async fn list_jobs(State(s): St) -> Json<Vec<JobProgress>> {
    Json(s.jobs.list())
}

async fn start_upload(
    State(s): St,
    JsonBody(req): JsonBody<UploadJob>,
) -> ApiResult<Json<JobStarted>> {
    Ok(Json(JobStarted {
        id: s.jobs.start_upload(req)?,
    }))
}

async fn start_download(
    State(s): St,
    JsonBody(req): JsonBody<DownloadJob>,
) -> ApiResult<Json<JobStarted>> {
    Ok(Json(JobStarted {
        id: s.jobs.start_download(req)?,
    }))
}

async fn start_check(
    State(s): St,
    JsonBody(req): JsonBody<CheckJob>,
) -> ApiResult<Json<JobStarted>> {
    Ok(Json(JobStarted {
        id: s.jobs.start_check(req)?,
    }))
}

async fn job_progress(
    State(s): St,
    Path(id): Path<String>,
    Params(w): Params<JobWait>,
) -> Response {
    let p = s
        .jobs
        .progress(&id, Duration::from_secs(w.wait.min(MAX_WAIT)))
        .await;
    let status = if p.status == JobStatus::NotFound {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    (status, Json(p)).into_response()
}

async fn stop_job(State(s): St, Path(id): Path<String>) -> ApiResult<Json<JobProgress>> {
    let p = s
        .jobs
        .stop(&id)
        .await
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))?;
    Ok(Json(p))
}

async fn remove_job(State(s): St, Path(id): Path<String>) -> ApiResult<Json<JobProgress>> {
    let p = s
        .jobs
        .remove(&id)
        .await
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))?;
    Ok(Json(p))
}

async fn get_bandwidth(State(s): St) -> Json<wire::Bandwidth> {
    Json(wire::Bandwidth::from_bytes_per_second(
        s.jobs.data().bandwidth.rate(),
    ))
}

async fn set_bandwidth(
    State(s): St,
    JsonBody(b): JsonBody<SetBandwidth>,
) -> ApiResult<Json<wire::Bandwidth>> {
    let rate = wire::Bandwidth::bytes_per_second_of(b.rate_limit).map_err(|reason| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("rate_limit: {reason}"))
    })?;
    s.jobs.data().bandwidth.set_rate(rate);
    tracing::info!(rate_mib = b.rate_limit, "bandwidth budget changed");
    Ok(Json(wire::Bandwidth::from_bytes_per_second(rate)))
}

/// Streams entries as NDJSON, one object per line; an error ends the stream with an
/// `{"error": ...}` line.
fn ndjson(stream: impl futures::Stream<Item = Result<Entry, String>> + Send + 'static) -> Response {
    let lines = stream.map(|item| {
        let mut line = match item {
            Ok(e) => serde_json::to_vec(&e).unwrap_or_default(),
            Err(error) => serde_json::to_vec(&ListingError { error }).unwrap_or_default(),
        };
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response()
}

async fn list_files(State(s): St, JsonBody(req): JsonBody<ListRequest>) -> ApiResult<Response> {
    if req.location == DATA_LOCATION {
        let rel = RelPath::parse("path", &req.path).map_err(FileError::from)?;
        let dir = s.root.dir(&rel, false).map_err(|e| {
            if e.is_not_found() {
                FileError::NotFound(req.path.clone())
            } else {
                e.into()
            }
        })?;
        let rx = list_local(dir, req.recursive);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|item| (item.map_err(|e| e.to_string()), rx))
        });
        return Ok(ndjson(stream));
    }
    let remote = s.stores.get(&req.location)?;
    let prefix = remote_path("path", &req.path)?;
    let base = prefix.clone();
    let relative = move |p: &object_store::path::Path| -> String {
        p.prefix_match(&base)
            .map(|parts| {
                parts
                    .map(|x| x.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| p.to_string())
    };
    if req.recursive {
        let stream = remote.store.list(Some(&prefix)).map(move |r| {
            r.map(|m| Entry {
                path: relative(&m.location),
                size: m.size,
                dir: false,
                modified: Some(m.last_modified),
            })
            .map_err(|e| e.to_string())
        });
        Ok(ndjson(stream))
    } else {
        let listing = remote
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(remote.err("list", &prefix))?;
        let dirs = listing.common_prefixes.iter().map(|p| {
            Ok(Entry {
                path: relative(p),
                size: 0,
                dir: true,
                modified: None,
            })
        });
        let files = listing.objects.iter().map(|m| {
            Ok(Entry {
                path: relative(&m.location),
                size: m.size,
                dir: false,
                modified: Some(m.last_modified),
            })
        });
        let all: Vec<Result<Entry, String>> = dirs.chain(files).collect();
        Ok(ndjson(futures::stream::iter(all)))
    }
}

async fn read_file(State(s): St, Params(q): Params<FileQuery>) -> ApiResult<Response> {
    let octets = [(header::CONTENT_TYPE, "application/octet-stream")];
    if q.location == DATA_LOCATION {
        let rel = RelPath::parse_file("path", &q.path).map_err(FileError::from)?;
        if !readable_local(&format!("/{}", q.path)) {
            return Err(FileError::NotAllowed {
                path: q.path,
                reason: "only manifest.json, schema.cql and .crc32 files can be read",
            }
            .into());
        }
        let root = s.root.clone();
        let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, FileError> {
            use std::io::Read;
            let (dir, name) = root.parent(&rel, false)?;
            let mut file = dir.open_read(name)?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|source| ConfinedError::Io {
                    op: "read",
                    path: rel.as_str().to_string(),
                    source,
                })?;
            Ok(bytes)
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
        return Ok((octets, bytes).into_response());
    }
    let path = remote_file_path("path", &q.path)?;
    if !readable_remote(&q.path) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{}: only manifests, schema and .crc32 files can be read",
                q.path
            ),
        ));
    }
    let remote = s.stores.get(&q.location)?;
    let got = remote
        .store
        .get(&path)
        .await
        .map_err(remote.err("read", &path))?;
    let version = version_headers(got.meta.e_tag.as_deref(), got.meta.version.as_deref());
    let stream = got.into_stream().map_err(std::io::Error::other);
    Ok((octets, version, Body::from_stream(stream)).into_response())
}

/// `ETag` and [`VERSION_HEADER`] of an object, as far as the store gives them (values that are
/// not valid header text are left out).
fn version_headers(e_tag: Option<&str>, version: Option<&str>) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in [(header::ETAG.as_str(), e_tag), (VERSION_HEADER, version)] {
        if let Some(v) = value.and_then(|v| header::HeaderValue::from_str(v).ok())
            && let Ok(name) = header::HeaderName::from_bytes(name.as_bytes())
        {
            headers.insert(name, v);
        }
    }
    headers
}

/// Where conditional writes are allowed: small metadata objects such as the lease.
const CONDITIONAL_PREFIX: &str = "backup/meta/";

async fn write_file(
    State(s): St,
    Params(q): Params<WriteQuery>,
    body: Bytes,
) -> ApiResult<Json<Written>> {
    if q.location == DATA_LOCATION {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "files/write writes to backup locations only",
        ));
    }
    let path = remote_file_path("path", &q.path)?;
    let remote = s.stores.get(&q.location)?;
    let mode = match q.mode {
        WriteMode::Overwrite => PutMode::Overwrite,
        _ if !q.path.starts_with(CONDITIONAL_PREFIX) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("mode: conditional writes are allowed under {CONDITIONAL_PREFIX} only"),
            ));
        }
        WriteMode::Create => PutMode::Create,
        WriteMode::Update if q.e_tag.is_none() && q.version.is_none() => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "e_tag: mode=update needs the e_tag (or version) the object must still have",
            ));
        }
        WriteMode::Update => PutMode::Update(UpdateVersion {
            e_tag: q.e_tag.clone(),
            version: q.version.clone(),
        }),
    };
    let size = body.len() as u64;
    let written = remote
        .store
        .put_opts(&path, PutPayload::from_bytes(body), PutOptions::from(mode))
        .await;
    let written = match written {
        Ok(w) => w,
        Err(e @ object_store::Error::AlreadyExists { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("write {}/{}: already exists ({e})", remote.location, q.path),
            ));
        }
        Err(e @ object_store::Error::Precondition { .. }) => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                format!(
                    "write {}/{}: changed since read ({e})",
                    remote.location, q.path
                ),
            ));
        }
        Err(e @ object_store::Error::NotImplemented { .. }) => {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "write {}/{}: the store does not support this mode ({e})",
                    remote.location, q.path
                ),
            ));
        }
        Err(e) => return Err(remote.err("write", &path)(e).into()),
    };
    Ok(Json(Written {
        e_tag: written.e_tag,
        path: q.path,
        size,
        version: written.version,
    }))
}

async fn delete_files(
    State(s): St,
    JsonBody(req): JsonBody<DeleteRequest>,
) -> ApiResult<Json<Deleted>> {
    if req.paths.len() > MAX_DELETE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "paths: {} given, at most {MAX_DELETE} per call",
                req.paths.len()
            ),
        ));
    }
    let mut deleted = 0u64;
    if req.location == DATA_LOCATION {
        // Every path is checked before anything is deleted.
        let checked: Vec<RelPath> = req
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| RelPath::parse_file(&format!("paths[{i}]"), p))
            .collect::<Result<_, _>>()
            .map_err(FileError::from)?;
        let root = s.root.clone();
        deleted = tokio::task::spawn_blocking(move || -> Result<u64, FileError> {
            // Every path is resolved (and a directory refused) before anything is deleted.
            let mut found = Vec::with_capacity(checked.len());
            for rel in &checked {
                let (dir, name) = match root.parent(rel, false) {
                    Ok(found) => found,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                };
                if dir.kind(name)? == Some(super::confined::Kind::Dir) {
                    return Err(ConfinedError::BadInput {
                        field: rel.field().to_string(),
                        reason: format!(
                            "{} is a directory; files/delete deletes files",
                            rel.as_str()
                        ),
                    }
                    .into());
                }
                found.push((dir, name.to_string()));
            }
            let mut deleted = 0;
            for (dir, name) in found {
                if dir.remove_file(&name)? {
                    deleted += 1;
                }
            }
            Ok(deleted)
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    } else {
        let paths: Vec<_> = req
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| remote_file_path(&format!("paths[{i}]"), p))
            .collect::<Result<_, _>>()?;
        let remote = s.stores.get(&req.location)?;
        let stream = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut results = remote.store.delete_stream(stream);
        while let Some(r) = results.next().await {
            match r {
                Ok(_) => deleted += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(StorageError::Store {
                        op: "delete",
                        location: remote.location.to_string(),
                        path: String::new(),
                        source: Box::new(e),
                    }
                    .into());
                }
            }
        }
    }
    Ok(Json(Deleted { deleted }))
}

async fn move_file(State(s): St, JsonBody(req): JsonBody<MoveRequest>) -> ApiResult<Json<Done>> {
    let (from, to) = (&req.from, &req.to);
    if from.location != to.location {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "from and to must be in the same location; use transfer jobs to move data between the node and a location",
        ));
    }
    if from.location == DATA_LOCATION {
        let src = RelPath::parse_file("from.path", &from.path).map_err(FileError::from)?;
        let dst = RelPath::parse_file("to.path", &to.path).map_err(FileError::from)?;
        let (root, copy) = (s.root.clone(), req.copy);
        tokio::task::spawn_blocking(move || -> Result<(), FileError> {
            let (src_dir, src_name) = root.parent(&src, false)?;
            let (dst_dir, dst_name) = root.parent(&dst, true)?;
            if copy {
                src_dir.copy(src_name, &dst_dir, dst_name)?;
            } else {
                src_dir.rename(src_name, &dst_dir, dst_name)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    } else {
        let (src, dst) = (
            remote_file_path("from.path", &from.path)?,
            remote_file_path("to.path", &to.path)?,
        );
        let remote = s.stores.get(&from.location)?;
        let r = if req.copy {
            remote.store.copy(&src, &dst).await
        } else {
            remote.store.rename(&src, &dst).await
        };
        r.map_err(remote.err(if req.copy { "copy" } else { "move" }, &src))?;
    }
    Ok(Json(Done {}))
}

/// Checks a path inside a location, naming the request field when it is refused.
fn remote_path(field: &str, path: &str) -> ApiResult<object_store::path::Path> {
    object_path(path).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("{field}: {e}")))
}

/// Like [`remote_path`], for a path that must name an object (not the location's root).
fn remote_file_path(field: &str, path: &str) -> ApiResult<object_store::path::Path> {
    let p = remote_path(field, path)?;
    if p.filename().is_none() {
        let reason = if path.is_empty() {
            "empty path".to_string()
        } else {
            format!("{path:?} names no file")
        };
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{field}: {reason}"),
        ));
    }
    Ok(p)
}

async fn disk(State(s): St) -> ApiResult<Json<DiskUsage>> {
    let usage = disk_usage(s.root.path())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(usage))
}

async fn scylla_metrics(State(s): St, req: Request) -> ApiResult<Response> {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    forward(&s, Method::GET, &pq, Bytes::new(), true).await
}

/// Everything else: Scylla's REST API, if the call is on the allow-list.
async fn proxy(State(s): St, method: Method, req: Request) -> ApiResult<Response> {
    let path = req.uri().path().to_string();
    if let Err(reason) = check_path(&path) {
        metrics::counter!("cairn_agent_unexposed_access_total", "path" => "refused path")
            .increment(1);
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("path: {reason}"),
        ));
    }
    if !allowed(&method, &path) {
        metrics::counter!("cairn_agent_unexposed_access_total", "path" => path.clone())
            .increment(1);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{method} {path} is not exposed by the agent"),
        ));
    }
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or(path);
    let body = axum::body::to_bytes(req.into_body(), MAX_WRITE)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    forward(&s, method, &pq, body, false).await
}

async fn forward(
    s: &AgentState,
    method: Method,
    pq: &str,
    body: Bytes,
    metrics: bool,
) -> ApiResult<Response> {
    let resp = s
        .scylla
        .forward(method, pq, body, metrics)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = Body::from_stream(resp.bytes_stream());
    Ok((status, [(header::CONTENT_TYPE, content_type)], body).into_response())
}
