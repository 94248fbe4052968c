//! A Google Cloud Storage contract server for tests.
//!
//! No emulator speaks the API object_store's GCS client uses (the XML API, as in
//! `object_store/src/gcp/client.rs`), so this is a small in-memory server on `127.0.0.1` that
//! implements the subset of the published XML API that client sends:
//!
//! | request | XML API operation |
//! | --- | --- |
//! | `PUT /BUCKET/OBJECT` | upload an object (`x-goog-if-generation-match` honoured) |
//! | `PUT /BUCKET/OBJECT` + `x-goog-copy-source: BUCKET/OBJECT` | copy an object |
//! | `GET`/`HEAD /BUCKET/OBJECT` (`Range`, `If-Match`, `If-None-Match`, `?generation=`) | download / metadata |
//! | `DELETE /BUCKET/OBJECT` | delete an object |
//! | `GET /BUCKET?list-type=2&prefix&delimiter&continuation-token&start-after&max-keys` | list objects (V2) |
//! | `POST /BUCKET/OBJECT?uploads` | initiate a multipart upload |
//! | `PUT /BUCKET/OBJECT?partNumber=N&uploadId=ID` | upload a part |
//! | `POST /BUCKET/OBJECT?uploadId=ID` + `CompleteMultipartUpload` body | complete the upload |
//! | `DELETE /BUCKET/OBJECT?uploadId=ID` | abort the upload |
//!
//! Every request must carry `Authorization: Bearer <GcsServer::token()>`, as object_store sends
//! it when configured with `with_bearer_token`; every request is recorded for tests to assert on.
//! Errors are the XML API's `<Error><Code>..</Code><Message>..</Message></Error>` with its status
//! codes (404 `NoSuchKey`/`NoSuchBucket`/`NoSuchUpload`, 412 `PreconditionFailed`, 304, 416
//! `InvalidRange`, 400 `InvalidPart`/`InvalidPartOrder`/`EntityTooSmall`, 401 for a bad token).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use md5::{Digest, Md5};
use object_store::ObjectStore;
use object_store::gcp::GoogleCloudStorageBuilder;

use super::servers::{base64_encode, hex, test_retry_config};

/// The bearer token the server accepts and [`GcsServer::object_store`] sends.
pub const GCS_TOKEN: &str = "cairn-test-gcs-token";

/// GCS (like S3) requires every part of a multipart upload but the last to be at least 5 MiB.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// At most this many entries in one page of a listing (also the default).
const MAX_KEYS: usize = 1000;

const XML_DECL: &str = "<?xml version='1.0' encoding='UTF-8'?>";

/// One request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path exactly as sent (percent-encoded), e.g. `/bucket/a%2Fb`.
    pub path: String,
    /// The raw query string, empty if none.
    pub query: String,
    /// The decoded query parameters, in order.
    pub params: Vec<(String, String)>,
    /// The bucket named by the path.
    pub bucket: String,
    /// The decoded object name, empty for bucket-level requests.
    pub object: String,
    /// All headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Length of the body received.
    pub body_len: usize,
    /// The status the server answered.
    pub status: u16,
}

impl RecordedRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`, if sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether query parameter `name` was sent (with or without a value).
    pub fn has_param(&self, name: &str) -> bool {
        self.param(name).is_some()
    }
}

#[derive(Debug, Clone)]
struct Object {
    data: Bytes,
    generation: u64,
    metageneration: u64,
    etag: String,
    md5: Vec<u8>,
    updated: DateTime<Utc>,
    content_type: String,
    /// Other headers stored with the object and returned on GET/HEAD.
    stored_headers: Vec<(String, String)>,
}

#[derive(Debug)]
struct Upload {
    bucket: String,
    object: String,
    content_type: String,
    stored_headers: Vec<(String, String)>,
    /// Part number -> (data, etag without quotes, md5).
    parts: BTreeMap<u32, (Bytes, String, Vec<u8>)>,
}

#[derive(Default)]
struct Store {
    buckets: BTreeSet<String>,
    /// (bucket, object name) -> object.
    objects: BTreeMap<(String, String), Object>,
    uploads: HashMap<String, Upload>,
    requests: Vec<RecordedRequest>,
}

struct Shared {
    store: Mutex<Store>,
    next_generation: AtomicU64,
    next_upload: AtomicU64,
}

impl Shared {
    /// GCS generations are microsecond timestamps; keep them strictly increasing.
    fn generation(&self) -> u64 {
        let now = Utc::now().timestamp_micros() as u64;
        let prev = self
            .next_generation
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |g| Some(now.max(g + 1)))
            .expect("always Some");
        now.max(prev + 1)
    }
}

/// The running contract server; stops when dropped.
pub struct GcsServer {
    port: u16,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GcsServer {
    /// Starts the server on a free port of 127.0.0.1, on a thread and runtime of its own (so it
    /// outlives no test and works under any test runtime).
    pub fn start() -> GcsServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            next_generation: AtomicU64::new(0),
            next_upload: AtomicU64::new(1),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("gcs-contract-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let app = axum::Router::new().fallback(handle).with_state(state);
                    tokio::select! {
                        result = axum::serve(listener, app) => result.expect("GCS contract server"),
                        _ = rx => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("server thread");
        GcsServer {
            port,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`: the base URL object_store is given instead of
    /// `https://storage.googleapis.com`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bearer token the server accepts.
    pub fn token(&self) -> &'static str {
        GCS_TOKEN
    }

    /// Creates bucket `name` (buckets are made out of band, as in a real project).
    pub fn create_bucket(&self, name: &str) {
        self.shared
            .store
            .lock()
            .unwrap()
            .buckets
            .insert(name.to_string());
    }

    /// An object_store client for `bucket`: base URL overridden to this server, static bearer
    /// token (so no OAuth or metadata-server round trip), plain HTTP.
    pub fn object_store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            GoogleCloudStorageBuilder::new()
                .with_base_url(&self.endpoint())
                .with_bearer_token(GCS_TOKEN)
                .with_bucket_name(bucket)
                .with_retry(test_retry_config())
                .build()
                .expect("GCS object store"),
        )
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.store.lock().unwrap().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.store.lock().unwrap().requests.clear();
    }

    /// The stored bytes of `object` in `bucket`, if any.
    pub fn object(&self, bucket: &str, object: &str) -> Option<Bytes> {
        let store = self.shared.store.lock().unwrap();
        store
            .objects
            .get(&(bucket.to_string(), object.to_string()))
            .map(|o| o.data.clone())
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub fn pending_uploads(&self) -> usize {
        self.shared.store.lock().unwrap().uploads.len()
    }
}

impl Drop for GcsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidArgument", &e.to_string()),
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let params = parse_query(&query);
    let (bucket, object) = match path.trim_start_matches('/').split_once('/') {
        Some((b, o)) => (percent_decode(b), percent_decode(o)),
        None => (percent_decode(path.trim_start_matches('/')), String::new()),
    };
    let mut record = RecordedRequest {
        method: parts.method.to_string(),
        path,
        query,
        params,
        bucket,
        object,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body_len: body.len(),
        status: 0,
    };
    let mut store = shared.store.lock().unwrap();
    let response = route(
        &shared,
        &mut store,
        &parts.method,
        &parts.headers,
        &record,
        body,
    );
    record.status = response.status().as_u16();
    store.requests.push(record);
    response
}

fn route(
    shared: &Shared,
    store: &mut Store,
    method: &Method,
    headers: &HeaderMap,
    req: &RecordedRequest,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {GCS_TOKEN}"));
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "Authentication required.",
        );
    }
    if req.bucket.is_empty() {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "Listing buckets is not part of this contract server.",
        );
    }
    if !store.buckets.contains(&req.bucket) {
        return error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        );
    }
    if req.object.is_empty() {
        return match *method {
            Method::GET if req.param("list-type") == Some("2") => list_v2(store, req),
            _ => error(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "Only ListObjectsV2 (list-type=2) is implemented at bucket level.",
            ),
        };
    }
    let upload_id = req.param("uploadId").map(str::to_string);
    match (method.clone(), upload_id) {
        (Method::POST, None) if req.has_param("uploads") => {
            initiate_upload(shared, store, headers, req)
        }
        (Method::PUT, Some(id)) => upload_part(store, req, &id, body),
        (Method::POST, Some(id)) => complete_upload(shared, store, req, &id, &body),
        (Method::DELETE, Some(id)) => abort_upload(store, req, &id),
        (Method::PUT, None) if headers.contains_key("x-goog-copy-source") => {
            copy_object(shared, store, headers, req)
        }
        (Method::PUT, None) => put_object(shared, store, headers, req, body),
        (Method::GET | Method::HEAD, None) => get_object(store, method, headers, req),
        (Method::DELETE, None) => {
            match store
                .objects
                .remove(&(req.bucket.clone(), req.object.clone()))
            {
                Some(_) => empty(StatusCode::NO_CONTENT),
                None => no_such_key(req),
            }
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ),
    }
}

/// Headers stored with an object and returned with it.
fn stored_headers(headers: &HeaderMap) -> (String, Vec<(String, String)>) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let kept = headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k.starts_with("x-goog-meta-")
                || matches!(
                    k,
                    "cache-control"
                        | "content-disposition"
                        | "content-encoding"
                        | "content-language"
                )
        })
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    (content_type, kept)
}

/// Checks `x-goog-if-generation-match` against the current object (0: must not exist).
fn generation_precondition(
    store: &Store,
    headers: &HeaderMap,
    bucket: &str,
    object: &str,
) -> Option<Response> {
    let wanted = headers
        .get("x-goog-if-generation-match")
        .and_then(|v| v.to_str().ok())?;
    let current = store
        .objects
        .get(&(bucket.to_string(), object.to_string()))
        .map(|o| o.generation)
        .unwrap_or(0);
    if wanted.parse::<u64>() == Ok(current) {
        None
    } else {
        Some(error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        ))
    }
}

fn put_object(
    shared: &Shared,
    store: &mut Store,
    headers: &HeaderMap,
    req: &RecordedRequest,
    body: Bytes,
) -> Response {
    if let Some(resp) = generation_precondition(store, headers, &req.bucket, &req.object) {
        return resp;
    }
    let md5 = Md5::digest(&body).to_vec();
    if let Some(declared) = headers.get("content-md5").and_then(|v| v.to_str().ok())
        && declared != base64_encode(&md5)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "BadDigest",
            "The Content-MD5 you specified did not match what was received.",
        );
    }
    let (content_type, kept) = stored_headers(headers);
    let object = Object {
        etag: hex(&md5),
        md5,
        data: body,
        generation: shared.generation(),
        metageneration: 1,
        updated: now(),
        content_type,
        stored_headers: kept,
    };
    let response = write_response(&object, Body::empty(), false);
    store
        .objects
        .insert((req.bucket.clone(), req.object.clone()), object);
    response
}

fn copy_object(
    shared: &Shared,
    store: &mut Store,
    headers: &HeaderMap,
    req: &RecordedRequest,
) -> Response {
    // "x-goog-copy-source: BUCKET/OBJECT", the object name percent-encoded.
    let source = headers
        .get("x-goog-copy-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some((src_bucket, src_object)) = source.trim_start_matches('/').split_once('/') else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Invalid x-goog-copy-source.",
        );
    };
    let (src_bucket, src_object) = (percent_decode(src_bucket), percent_decode(src_object));
    let Some(source) = store.objects.get(&(src_bucket, src_object)).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    if let Some(resp) = generation_precondition(store, headers, &req.bucket, &req.object) {
        return resp;
    }
    let object = Object {
        generation: shared.generation(),
        metageneration: 1,
        updated: now(),
        ..source
    };
    let body = format!(
        "{XML_DECL}<CopyObjectResult><LastModified>{}</LastModified><ETag>\"{}\"</ETag></CopyObjectResult>",
        iso_time(&object.updated),
        object.etag
    );
    let response = write_response(&object, Body::from(body), true);
    store
        .objects
        .insert((req.bucket.clone(), req.object.clone()), object);
    response
}

/// The answer to an upload: ETag, generation and hashes.
fn write_response(object: &Object, body: Body, xml: bool) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, format!("\"{}\"", object.etag))
        .header("x-goog-generation", object.generation.to_string())
        .header("x-goog-metageneration", object.metageneration.to_string())
        .header(
            "x-goog-stored-content-length",
            object.data.len().to_string(),
        )
        .header("x-goog-stored-content-encoding", "identity");
    if !object.md5.is_empty() {
        builder = builder.header("x-goog-hash", format!("md5={}", base64_encode(&object.md5)));
    }
    if xml {
        builder = builder.header(header::CONTENT_TYPE, "application/xml; charset=UTF-8");
    }
    builder.body(body).expect("response")
}

fn get_object(
    store: &Store,
    method: &Method,
    headers: &HeaderMap,
    req: &RecordedRequest,
) -> Response {
    let Some(object) = store.objects.get(&(req.bucket.clone(), req.object.clone())) else {
        return no_such_key(req);
    };
    if let Some(generation) = req.param("generation")
        && generation.parse::<u64>() != Ok(object.generation)
    {
        return no_such_key(req);
    }
    let etag = format!("\"{}\"", object.etag);
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let etag_listed = |list: &str| {
        list.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_matches('"') == object.etag)
    };
    let date = |v: &str| {
        DateTime::parse_from_rfc2822(v)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    };
    if let Some(v) = header_str(header::IF_MATCH)
        && !etag_listed(v)
    {
        return precondition_failed();
    }
    if let Some(d) = header_str(header::IF_UNMODIFIED_SINCE).and_then(date)
        && object.updated > d
    {
        return precondition_failed();
    }
    if let Some(v) = header_str(header::IF_NONE_MATCH)
        && etag_listed(v)
    {
        return empty(StatusCode::NOT_MODIFIED);
    }
    if let Some(d) = header_str(header::IF_MODIFIED_SINCE).and_then(date)
        && object.updated <= d
    {
        return empty(StatusCode::NOT_MODIFIED);
    }

    let size = object.data.len();
    let range = match header_str(header::RANGE) {
        None => None,
        Some(spec) => match parse_range(spec, size) {
            Some(r) => Some(r),
            None => {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_TYPE, "application/xml; charset=UTF-8")
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                    .body(Body::from(error_body(
                        "InvalidRange",
                        "The requested range cannot be satisfied.",
                    )))
                    .expect("response");
            }
        },
    };
    let (status, data) = match &range {
        Some((start, end)) => (
            StatusCode::PARTIAL_CONTENT,
            object.data.slice(*start..=*end),
        ),
        None => (StatusCode::OK, object.data.clone()),
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::ETAG, etag)
        .header(header::LAST_MODIFIED, http_date(&object.updated))
        .header(header::CONTENT_TYPE, object.content_type.as_str())
        .header(header::CONTENT_LENGTH, data.len().to_string())
        .header(header::ACCEPT_RANGES, "bytes")
        .header("x-goog-generation", object.generation.to_string())
        .header("x-goog-metageneration", object.metageneration.to_string())
        .header("x-goog-stored-content-length", size.to_string())
        .header("x-goog-stored-content-encoding", "identity")
        .header("x-goog-storage-class", "STANDARD");
    if !object.md5.is_empty() {
        builder = builder.header("x-goog-hash", format!("md5={}", base64_encode(&object.md5)));
    }
    if let Some((start, end)) = range {
        builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
    }
    for (k, v) in &object.stored_headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(data)
    };
    builder.body(body).expect("response")
}

/// Parses a single `bytes=` range into inclusive bounds, `None` if unsatisfiable.
fn parse_range(spec: &str, size: usize) -> Option<(usize, usize)> {
    let spec = spec.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    if start.is_empty() {
        let n: usize = end.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let start: usize = start.parse().ok()?;
    if start >= size {
        return None;
    }
    let end = if end.is_empty() {
        size - 1
    } else {
        end.parse::<usize>().ok()?.min(size - 1)
    };
    (start <= end).then_some((start, end))
}

fn list_v2(store: &Store, req: &RecordedRequest) -> Response {
    let prefix = req.param("prefix").unwrap_or("");
    let delimiter = req.param("delimiter").filter(|d| !d.is_empty());
    let max_keys = match req.param("max-keys").map(str::parse::<usize>) {
        None => MAX_KEYS,
        Some(Ok(n)) => n.min(MAX_KEYS),
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Invalid max-keys.",
            );
        }
    };
    // The continuation token is opaque to clients: "k"/"p" (key or common prefix) + hex name.
    let resume = match req.param("continuation-token") {
        Some(token) => match decode_token(token) {
            Some(r) => Some(r),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "Invalid continuation token.",
                );
            }
        },
        None => req.param("start-after").map(|s| (false, s.to_string())),
    };

    let mut contents: Vec<&Object> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut last: Option<(bool, String)> = None;
    let mut truncated = false;
    let keys = store
        .objects
        .range((req.bucket.clone(), prefix.to_string())..)
        .take_while(|((b, k), _)| *b == req.bucket && k.starts_with(prefix));
    for ((_, key), object) in keys {
        if let Some((is_prefix, after)) = &resume
            && (key.as_str() <= after.as_str() || (*is_prefix && key.starts_with(after.as_str())))
        {
            continue;
        }
        let entry = match delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_string())
        }) {
            Some(common) => {
                if prefixes.last() == Some(&common) {
                    continue;
                }
                (true, common)
            }
            None => (false, key.clone()),
        };
        if contents.len() + prefixes.len() == max_keys {
            truncated = true;
            break;
        }
        if entry.0 {
            prefixes.push(entry.1.clone());
        } else {
            contents.push(object);
            names.push(key);
        }
        last = Some(entry);
    }

    let mut xml = format!(
        "{XML_DECL}<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01\">\
         <Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
        xml_escape(&req.bucket),
        xml_escape(prefix),
        contents.len() + prefixes.len(),
    );
    if let Some(d) = delimiter {
        xml += &format!("<Delimiter>{}</Delimiter>", xml_escape(d));
    }
    if let Some(token) = req.param("continuation-token") {
        xml += &format!(
            "<ContinuationToken>{}</ContinuationToken>",
            xml_escape(token)
        );
    }
    if let Some(s) = req.param("start-after") {
        xml += &format!("<StartAfter>{}</StartAfter>", xml_escape(s));
    }
    xml += &format!("<IsTruncated>{truncated}</IsTruncated>");
    if truncated && let Some((is_prefix, name)) = &last {
        xml += &format!(
            "<NextContinuationToken>{}{}</NextContinuationToken>",
            if *is_prefix { "p" } else { "k" },
            hex(name.as_bytes())
        );
    }
    for (object, name) in contents.iter().zip(&names) {
        xml += &format!(
            "<Contents><Key>{}</Key><Generation>{}</Generation><MetaGeneration>{}</MetaGeneration>\
             <LastModified>{}</LastModified><ETag>\"{}\"</ETag><Size>{}</Size></Contents>",
            xml_escape(name),
            object.generation,
            object.metageneration,
            iso_time(&object.updated),
            object.etag,
            object.data.len()
        );
    }
    for p in &prefixes {
        xml += &format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            xml_escape(p)
        );
    }
    xml += "</ListBucketResult>";
    xml_response(StatusCode::OK, xml)
}

fn decode_token(token: &str) -> Option<(bool, String)> {
    let is_prefix = match token.as_bytes().first()? {
        b'p' => true,
        b'k' => false,
        _ => return None,
    };
    let hex_name = &token[1..];
    if !hex_name.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..hex_name.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex_name.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((is_prefix, String::from_utf8(bytes).ok()?))
}

fn initiate_upload(
    shared: &Shared,
    store: &mut Store,
    headers: &HeaderMap,
    req: &RecordedRequest,
) -> Response {
    let n = shared.next_upload.fetch_add(1, Ordering::SeqCst);
    let id = format!("ABPnzm{n:08}{}", Utc::now().timestamp_micros());
    let (content_type, kept) = stored_headers(headers);
    store.uploads.insert(
        id.clone(),
        Upload {
            bucket: req.bucket.clone(),
            object: req.object.clone(),
            content_type,
            stored_headers: kept,
            parts: BTreeMap::new(),
        },
    );
    xml_response(
        StatusCode::OK,
        format!(
            "{XML_DECL}<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
            xml_escape(&req.bucket),
            xml_escape(&req.object)
        ),
    )
}

fn find_upload<'a>(
    store: &'a mut Store,
    req: &RecordedRequest,
    id: &str,
) -> Option<&'a mut Upload> {
    store
        .uploads
        .get_mut(id)
        .filter(|u| u.bucket == req.bucket && u.object == req.object)
}

fn no_such_upload() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The requested upload was not found.",
    )
}

fn upload_part(store: &mut Store, req: &RecordedRequest, id: &str, body: Bytes) -> Response {
    let number = match req.param("partNumber").map(str::parse::<u32>) {
        Some(Ok(n)) if (1..=10_000).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive.",
            );
        }
    };
    let Some(upload) = find_upload(store, req, id) else {
        return no_such_upload();
    };
    let md5 = Md5::digest(&body).to_vec();
    let etag = hex(&md5);
    upload
        .parts
        .insert(number, (body, etag.clone(), md5.clone()));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, format!("\"{etag}\""))
        .header("x-goog-hash", format!("md5={}", base64_encode(&md5)))
        .body(Body::empty())
        .expect("response")
}

fn complete_upload(
    shared: &Shared,
    store: &mut Store,
    req: &RecordedRequest,
    id: &str,
    body: &[u8],
) -> Response {
    let text = String::from_utf8_lossy(body);
    // <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"..."</ETag></Part>...
    let mut listed = Vec::new();
    for part in text.split("<Part>").skip(1) {
        let number = tag_text(part, "PartNumber").and_then(|n| n.trim().parse::<u32>().ok());
        let etag = tag_text(part, "ETag").map(|e| e.trim().trim_matches('"').to_string());
        match (number, etag) {
            (Some(n), Some(e)) => listed.push((n, e)),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "MalformedXML",
                    "The XML you provided was not well-formed.",
                );
            }
        }
    }
    if listed.is_empty() || !text.contains("<CompleteMultipartUpload") {
        return error(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed.",
        );
    }
    let Some(upload) = find_upload(store, req, id) else {
        return no_such_upload();
    };
    if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order.",
        );
    }
    let mut data = Vec::new();
    let mut md5s = Vec::new();
    for (i, (number, etag)) in listed.iter().enumerate() {
        let Some((bytes, stored_etag, md5)) = upload.parts.get(number) else {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                "One or more of the specified parts could not be found.",
            );
        };
        if stored_etag != etag {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                "One or more of the specified parts could not be found.",
            );
        }
        if i + 1 < listed.len() && bytes.len() < MIN_PART_SIZE {
            return error(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            );
        }
        data.extend_from_slice(bytes);
        md5s.extend_from_slice(md5);
    }
    let upload = store.uploads.remove(id).expect("upload");
    let object = Object {
        etag: format!("{}-{}", hex(&Md5::digest(&md5s)), listed.len()),
        md5: Vec::new(),
        data: data.into(),
        generation: shared.generation(),
        metageneration: 1,
        updated: now(),
        content_type: upload.content_type,
        stored_headers: upload.stored_headers,
    };
    let body = format!(
        "{XML_DECL}<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Location>/{}/{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>\"{}\"</ETag>\
         </CompleteMultipartUploadResult>",
        xml_escape(&req.bucket),
        xml_escape(&req.object),
        xml_escape(&req.bucket),
        xml_escape(&req.object),
        object.etag
    );
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml; charset=UTF-8")
        .header("x-goog-generation", object.generation.to_string())
        .header("x-goog-metageneration", "1")
        .body(Body::from(body))
        .expect("response");
    store
        .objects
        .insert((req.bucket.clone(), req.object.clone()), object);
    response
}

fn abort_upload(store: &mut Store, req: &RecordedRequest, id: &str) -> Response {
    if find_upload(store, req, id).is_none() {
        return no_such_upload();
    }
    store.uploads.remove(id);
    empty(StatusCode::NO_CONTENT)
}

fn tag_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(&xml[start..end])
}

fn no_such_key(req: &RecordedRequest) -> Response {
    let body = format!(
        "{XML_DECL}<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>\
         <Details>No such object: {}/{}</Details></Error>",
        xml_escape(&req.bucket),
        xml_escape(&req.object)
    );
    xml_response(StatusCode::NOT_FOUND, body)
}

fn precondition_failed() -> Response {
    error(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold.",
    )
}

fn error_body(code: &str, message: &str) -> String {
    format!("{XML_DECL}<Error><Code>{code}</Code><Message>{message}</Message></Error>")
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    xml_response(status, error_body(code, message))
}

fn xml_response(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml; charset=UTF-8")
        .body(Body::from(body))
        .expect("response")
}

fn empty(status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .expect("response")
}

fn now() -> DateTime<Utc> {
    // HTTP dates have whole seconds; keep stored times comparable with them.
    Utc::now().trunc_subsecs(0)
}

fn http_date(t: &DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn iso_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `application/x-www-form-urlencoded` query parameters (`+` is a space).
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}
