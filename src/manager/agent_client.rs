//! The HTTPS client of one node's agent: the Scylla calls backup needs (through the agent's
//! allow-listed proxy), transfer jobs, files and the bandwidth budget.
//!
//! The client trusts exactly the agent certificates pinned for the cluster (see
//! [`super::agent_trust`]): a host without a pin, or presenting another certificate, is refused
//! during the TLS handshake, before `Authorization: Bearer <token>` (sent with every call) could
//! leave. Transient failures (connection errors,
//! timeouts, 503, and 5xx answers that are not Scylla's own errors) are retried with exponential
//! backoff; 4xx answers never are. Calls that are not idempotent (starting a job, taking a
//! snapshot, writing, moving, deleting) are retried only when the request never reached the
//! agent. Every error names the host, the call and the reason, and [`AgentError::retryable`]
//! says whether trying again later may help.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::agent::files::Entry;
use crate::agent::jobs::JobProgress;
use crate::spec::location::Location;
use crate::spec::tag::SnapshotTag;

/// The port agents listen on by default.
pub const DEFAULT_PORT: u16 = 10001;
/// How long connecting to an agent may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of an ordinary call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of calls that make Scylla work on disk (snapshots, flushes) or walk the ring.
const LONG_CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Timeout of a whole file listing, which is streamed.
const LIST_TIMEOUT: Duration = Duration::from_secs(3600);
/// Extra time a long poll is given on top of its `wait`.
const POLL_SLACK: Duration = Duration::from_secs(30);
/// Most of an unexpected answer quoted in an error.
const MAX_QUOTED: usize = 512;
/// The name of the node's data directory in file calls.
const DATA: &str = "data";

/// Why a call to an agent failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent could not be reached, or the connection broke.
    #[error("agent {host}: {call}: cannot connect: {reason} (a retry may help)")]
    Connect {
        /// The agent's host.
        host: String,
        /// The call, e.g. `GET /agent/node_info`.
        call: String,
        /// What the transport reported.
        reason: String,
        /// Whether the request certainly never reached the agent.
        not_sent: bool,
    },
    /// The call did not finish in time.
    #[error("agent {host}: {call}: no answer within {timeout:?} (a retry may help)")]
    Timeout {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The agent refused the token (401).
    #[error(
        "agent {host}: {call}: the agent refused the auth token (401); check that the cluster's token matches the agent's auth_token (a retry will not help)"
    )]
    Unauthorized {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
    },
    /// The agent answered with an error status.
    #[error("agent {host}: {call}: HTTP {status}: {message} ({})", retry_hint(*.retryable))]
    Status {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The message of the answer (Scylla's or the agent's).
        message: String,
        /// Whether a retry may help.
        retryable: bool,
    },
    /// A streamed listing broke off: the connection failed, or the agent reported an error.
    #[error("agent {host}: {call}: the listing broke off: {reason} ({})", retry_hint(*.retryable))]
    Listing {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// What went wrong.
        reason: String,
        /// Whether a retry may help.
        retryable: bool,
    },
    /// The answer could not be understood.
    #[error("agent {host}: {call}: unexpected answer: {reason} (a retry will not help)")]
    Decode {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The agent's certificate is not the one pinned for its host (or none is): nothing was sent.
    #[error("agent {host}: {call}: {reason} (a retry will not help)")]
    Untrusted {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// Why the certificate was refused.
        reason: super::agent_trust::TrustError,
    },
    /// The HTTP client could not be built.
    #[error("agent {host}: cannot build the HTTPS client: {reason} (a retry will not help)")]
    Client {
        /// The agent's host.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

/// The retry part of an error message.
fn retry_hint(retryable: bool) -> &'static str {
    if retryable {
        "a retry may help"
    } else {
        "a retry will not help"
    }
}

impl AgentError {
    /// Whether trying the call again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            AgentError::Connect { .. } | AgentError::Timeout { .. } => true,
            AgentError::Status { retryable, .. } | AgentError::Listing { retryable, .. } => {
                *retryable
            }
            AgentError::Unauthorized { .. }
            | AgentError::Untrusted { .. }
            | AgentError::Decode { .. }
            | AgentError::Client { .. } => false,
        }
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AgentError::Status { status, .. } => Some(*status),
            AgentError::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }

    /// Whether the agent answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether a retry is safe and useful for a call that is (or is not) idempotent: a call that
    /// is not idempotent is only repeated when it certainly never reached the agent.
    fn retry_for(&self, idempotent: bool) -> bool {
        match self {
            AgentError::Connect { not_sent, .. } => idempotent || *not_sent,
            _ => idempotent && self.retryable(),
        }
    }
}

/// How failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (0: none).
    pub retries: usize,
    /// Pause before the first retry; doubled each time.
    pub min_delay: Duration,
    /// Longest pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries: every failure is returned at once.
    pub fn none() -> Self {
        RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        }
    }
}

/// What `GET /agent/node_info` reports about a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Version of the agent.
    pub agent_version: String,
    /// Address the agent listens on.
    pub agent_address: String,
    /// URL of the node's Scylla REST API as the agent reaches it.
    pub scylla_api: String,
    /// Scylla release version (empty when Scylla did not answer).
    pub scylla_version: String,
    /// The node's data directory.
    pub data_directory: String,
    /// CPUs of the agent's machine.
    pub cpu_count: u64,
    /// Memory of the agent's machine, bytes.
    pub memory_total: u64,
    /// Size of the data directory's file system, bytes.
    pub storage_size: u64,
    /// Free bytes on the data directory's file system.
    pub storage_free: u64,
    /// Whether Scylla names SSTables with UUIDs (`None` when unknown).
    pub sstable_uuid_format: Option<bool>,
}

/// Which keyspaces `GET /storage_service/keyspaces` lists, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyspaceKind {
    /// Every keyspace.
    All,
    /// Keyspaces that are not system keyspaces.
    User,
    /// Keyspaces whose replication strategy is not `LocalStrategy`.
    NonLocalStrategy,
}

impl KeyspaceKind {
    /// The value of the `type` parameter.
    fn as_param(self) -> &'static str {
        match self {
            KeyspaceKind::All => "all",
            KeyspaceKind::User => "user",
            KeyspaceKind::NonLocalStrategy => "non_local_strategy",
        }
    }
}

/// Which keyspaces `GET /storage_service/keyspaces` lists, by replication mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationKind {
    /// Every keyspace.
    All,
    /// Keyspaces that use vnodes.
    Vnodes,
    /// Keyspaces that use tablets.
    Tablets,
}

impl ReplicationKind {
    /// The value of the `replication` parameter.
    fn as_param(self) -> &'static str {
        match self {
            ReplicationKind::All => "all",
            ReplicationKind::Vnodes => "vnodes",
            ReplicationKind::Tablets => "tablets",
        }
    }
}

/// One replica of a token range, as `describe_ring` details it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointDetail {
    /// Replica address.
    pub host: String,
    /// Replica DC.
    pub datacenter: String,
    /// Replica rack.
    #[serde(default)]
    pub rack: String,
}

/// One token range of a keyspace's (or tablet table's) ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRange {
    /// Range start (exclusive), decimal.
    pub start_token: String,
    /// Range end (inclusive), decimal.
    pub end_token: String,
    /// Replica addresses, primary first.
    pub endpoints: Vec<String>,
    /// Replica RPC addresses.
    #[serde(default)]
    pub rpc_endpoints: Vec<String>,
    /// Replica hosts with their DC and rack.
    #[serde(default)]
    pub endpoint_details: Vec<EndpointDetail>,
}

/// One table's part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotTable {
    /// Keyspace.
    pub ks: String,
    /// Table.
    pub cf: String,
    /// Bytes in the snapshot.
    pub total: u64,
    /// Bytes held only by the snapshot (no longer live).
    pub live: u64,
}

/// One snapshot tag of a node and the tables it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The tag.
    #[serde(rename = "key")]
    pub tag: String,
    /// The tables.
    #[serde(rename = "value")]
    pub tables: Vec<SnapshotTable>,
}

/// A `{key, value}` pair as Scylla's maps are answered.
#[derive(Debug, Deserialize)]
struct KeyValue {
    /// The key.
    key: String,
    /// The value.
    value: String,
}

/// An upload job: a snapshot directory moved to its remote version directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadJob {
    /// Directory to upload, relative to the data directory.
    pub source_dir: String,
    /// `provider:bucket` (a DC prefix is dropped).
    pub location: String,
    /// Remote directory inside the location.
    pub remote_dir: String,
    /// The snapshot tag the upload belongs to.
    pub tag: SnapshotTag,
    /// Files in parallel; the agent's default when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfers: Option<usize>,
    /// New bandwidth budget of the agent, MiB/s (0: unlimited); unchanged when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

/// A download job: remote files copied into a local directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DownloadJob {
    /// `provider:bucket` (a DC prefix is dropped).
    pub location: String,
    /// Remote files, relative to the location's root.
    pub files: Vec<String>,
    /// Destination directory, relative to the data directory.
    pub dest_dir: String,
    /// Files in parallel; the agent's default when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfers: Option<usize>,
    /// New bandwidth budget of the agent, MiB/s (0: unlimited); unchanged when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

/// Where a file call works: the node's data directory or a backup location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root<'a> {
    /// The node's data directory.
    Data,
    /// A backup location (its DC prefix is ignored).
    Backup(&'a Location),
}

impl Root<'_> {
    /// The `location` value the agent expects.
    fn as_param(self) -> String {
        match self {
            Root::Data => DATA.to_string(),
            Root::Backup(l) => l.without_dc().to_string(),
        }
    }
}

/// An object's version as its store names it (S3/Azure ETag, GCS generation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// The ETag, if the store gives one.
    #[serde(default)]
    pub e_tag: Option<String>,
    /// The store's version (GCS generation, S3 version id), if any.
    #[serde(default)]
    pub version: Option<String>,
}

/// When a conditional write may happen.
#[derive(Debug, Clone, Copy)]
pub enum WriteCondition<'a> {
    /// Only if no object is at the path.
    Create,
    /// Only if the object is still at this version.
    Update(&'a ObjectVersion),
}

/// Free and total bytes of the data directory's file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Free bytes.
    pub free: u64,
    /// Total bytes.
    pub total: u64,
    /// Used bytes.
    pub used: u64,
}

/// The agent's bandwidth budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// MiB/s; 0 is unlimited.
    pub rate_limit: f64,
    /// Bytes per second; 0 is unlimited.
    pub bytes_per_second: u64,
}

/// One call: everything needed to send it again.
#[derive(Debug, Clone)]
struct Call {
    /// HTTP method.
    method: Method,
    /// Path, starting with `/`.
    path: String,
    /// Query parameters.
    query: Vec<(&'static str, String)>,
    /// Body, if any, with its content type.
    body: Option<(Bytes, &'static str)>,
    /// Time allowed for the whole call.
    timeout: Duration,
    /// Whether repeating the call is harmless.
    idempotent: bool,
}

impl Call {
    /// A call with no parameters and the ordinary timeout; GETs are idempotent.
    fn new(method: Method, path: impl Into<String>) -> Self {
        Call {
            idempotent: method == Method::GET,
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            timeout: CALL_TIMEOUT,
        }
    }

    /// Adds a query parameter.
    fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// Sets a JSON body.
    fn json(mut self, body: &impl Serialize) -> Self {
        // The bodies sent are plain structs and maps with string keys, which always serialise.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.body = Some((Bytes::from(bytes), "application/json"));
        self
    }

    /// Sets the timeout.
    fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Marks the call as safe to repeat.
    fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Whether the call goes through the agent to Scylla.
    fn to_scylla(&self) -> bool {
        !(self.path.starts_with("/agent/") || self.path == "/ping" || self.path == "/version")
    }

    /// `METHOD /path`, for messages.
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Percent-encodes one path segment (keyspace, table and host names, job IDs).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The start of a body, for messages.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A client of one agent.
#[derive(Clone)]
pub struct AgentClient {
    /// The node's address, as the cluster knows it.
    host: String,
    /// The agent's port.
    port: u16,
    /// `https://host:port`.
    base: String,
    /// The bearer token.
    token: String,
    /// The HTTPS client.
    http: reqwest::Client,
    /// How failures are retried.
    retry: RetryPolicy,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never printed.
        f.debug_struct("AgentClient")
            .field("url", &self.base)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl AgentClient {
    /// A client of the agent at `https://host:port` using `token`, with the default retries,
    /// trusting the agent certificates `pins` holds (fingerprint by host; see
    /// [`super::agent_trust`]) and no other.
    pub fn new(
        host: &str,
        port: u16,
        token: &str,
        pins: &BTreeMap<String, String>,
    ) -> Result<Self, AgentError> {
        let unusable = |reason: String| AgentError::Client {
            host: host.to_string(),
            reason,
        };
        let tls = super::agent_trust::client_config(Some(std::sync::Arc::new(pins.clone())))
            .map_err(|e| unusable(e.to_string()))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .tls_backend_preconfigured(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| unusable(e.to_string()))?;
        Ok(AgentClient {
            host: host.to_string(),
            port,
            base: base_url(host, port),
            token: token.to_string(),
            http,
            retry: RetryPolicy::default(),
        })
    }

    /// A client of another node's agent on the same port with the same token, retries and
    /// connection pool.
    pub fn for_host(&self, host: &str) -> Self {
        AgentClient {
            host: host.to_string(),
            base: base_url(host, self.port),
            ..self.clone()
        }
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The node's address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `https://host:port` of the agent.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Maps a transport error.
    fn transport(&self, call: &Call, e: reqwest::Error) -> AgentError {
        if e.is_timeout() {
            AgentError::Timeout {
                host: self.host.clone(),
                call: call.name(),
                timeout: call.timeout,
            }
        } else if let Some(reason) = super::agent_trust::refusal_in(&e) {
            AgentError::Untrusted {
                host: self.host.clone(),
                call: call.name(),
                reason,
            }
        } else {
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                reason = format!("{reason}: {s}");
                source = s.source();
            }
            AgentError::Connect {
                host: self.host.clone(),
                call: call.name(),
                reason,
                not_sent: e.is_connect(),
            }
        }
    }

    /// Maps an error answer.
    fn status_error(&self, call: &Call, status: StatusCode, body: &[u8]) -> AgentError {
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| quote(body));
        if status == StatusCode::UNAUTHORIZED {
            return AgentError::Unauthorized {
                host: self.host.clone(),
                call: call.name(),
            };
        }
        // Scylla's own errors come back through the proxy as they are (500 with its message):
        // they are answers, not outages. The agent's 502/504 mean Scylla could not be reached.
        let scylla_error = call.to_scylla()
            && status.is_server_error()
            && !matches!(
                status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
        let retryable = status == StatusCode::SERVICE_UNAVAILABLE
            || (status.is_server_error() && !scylla_error);
        AgentError::Status {
            host: self.host.clone(),
            call: call.name(),
            status: status.as_u16(),
            message,
            retryable,
        }
    }

    /// Sends a call once and returns the successful answer with its body unread.
    async fn attempt(&self, call: &Call) -> Result<reqwest::Response, AgentError> {
        let mut req = self
            .http
            .request(call.method.clone(), format!("{}{}", self.base, call.path))
            .bearer_auth(&self.token)
            .timeout(call.timeout);
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some((body, content_type)) = &call.body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, *content_type)
                .body(body.clone());
        }
        let resp = req.send().await.map_err(|e| self.transport(call, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(self.status_error(call, status, &body))
    }

    /// The backoff of this client.
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.retries)
            .with_jitter()
    }

    /// Runs `op` (one try of `call`), retrying the failures the policy and the call allow.
    async fn retrying<T, Fut>(&self, call: &Call, op: impl FnMut() -> Fut) -> Result<T, AgentError>
    where
        Fut: Future<Output = Result<T, AgentError>>,
    {
        op.retry(self.backoff())
            .when(|e| e.retry_for(call.idempotent))
            .notify(|e, delay| tracing::debug!(error = %e, ?delay, "retrying an agent call"))
            .await
    }

    /// Sends a call, retrying transient failures, and returns the successful answer with its
    /// body unread.
    async fn send(&self, call: &Call) -> Result<reqwest::Response, AgentError> {
        self.retrying(call, || self.attempt(call)).await
    }

    /// Sends a call, retrying transient failures, and returns the whole body.
    async fn fetch(&self, call: &Call) -> Result<Bytes, AgentError> {
        self.retrying(call, || async {
            let resp = self.attempt(call).await?;
            resp.bytes().await.map_err(|e| self.transport(call, e))
        })
        .await
    }

    /// Sends a call and decodes its JSON answer.
    async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, AgentError> {
        let body = self.fetch(&call).await?;
        serde_json::from_slice(&body).map_err(|e| AgentError::Decode {
            host: self.host.clone(),
            call: call.name(),
            reason: format!("{e} in {:?}", quote(&body)),
        })
    }

    /// Sends a call whose answer carries nothing.
    async fn void(&self, call: Call) -> Result<(), AgentError> {
        self.fetch(&call).await.map(|_| ())
    }

    // ---- the agent itself ----

    /// Whether the agent answers at all (`GET /ping`, no token needed).
    pub async fn ping(&self) -> Result<(), AgentError> {
        self.void(Call::new(Method::GET, "/ping")).await
    }

    /// The node's and agent's description; also proves that the token is accepted.
    pub async fn node_info(&self) -> Result<NodeInfo, AgentError> {
        self.json(Call::new(Method::GET, "/agent/node_info")).await
    }

    // ---- Scylla, through the agent's proxy ----

    /// Address → host ID of every node of the cluster, as this node sees it.
    pub async fn host_id_map(&self) -> Result<BTreeMap<String, String>, AgentError> {
        let pairs: Vec<KeyValue> = self
            .json(Call::new(Method::GET, "/storage_service/host_id"))
            .await?;
        Ok(pairs.into_iter().map(|kv| (kv.key, kv.value)).collect())
    }

    /// The DC of `host`, or of this node when `None`.
    pub async fn datacenter(&self, host: Option<&str>) -> Result<String, AgentError> {
        let mut call = Call::new(Method::GET, "/snitch/datacenter");
        if let Some(h) = host {
            call = call.param("host", h);
        }
        self.json(call).await
    }

    /// The rack of `host`, or of this node when `None`.
    pub async fn rack(&self, host: Option<&str>) -> Result<String, AgentError> {
        let mut call = Call::new(Method::GET, "/snitch/rack");
        if let Some(h) = host {
            call = call.param("host", h);
        }
        self.json(call).await
    }

    /// Addresses of the nodes gossip sees up.
    pub async fn live_endpoints(&self) -> Result<Vec<String>, AgentError> {
        self.json(Call::new(Method::GET, "/gossiper/endpoint/live/"))
            .await
    }

    /// Addresses of the nodes joining the ring.
    pub async fn joining(&self) -> Result<Vec<String>, AgentError> {
        self.json(Call::new(Method::GET, "/storage_service/nodes/joining"))
            .await
    }

    /// Addresses of the nodes leaving the ring.
    pub async fn leaving(&self) -> Result<Vec<String>, AgentError> {
        self.json(Call::new(Method::GET, "/storage_service/nodes/leaving"))
            .await
    }

    /// Scylla's release version; also the way upstream pings a node's Scylla.
    pub async fn release_version(&self) -> Result<String, AgentError> {
        self.json(Call::new(
            Method::GET,
            "/storage_service/scylla_release_version",
        ))
        .await
    }

    /// Keyspace names of a kind and replication mechanism.
    pub async fn keyspaces(
        &self,
        kind: KeyspaceKind,
        replication: ReplicationKind,
    ) -> Result<Vec<String>, AgentError> {
        self.json(
            Call::new(Method::GET, "/storage_service/keyspaces")
                .param("type", kind.as_param())
                .param("replication", replication.as_param()),
        )
        .await
    }

    /// Every table as `(keyspace, table)`, from Scylla's `ks:table` names.
    pub async fn table_names(&self) -> Result<Vec<(String, String)>, AgentError> {
        let call = Call::new(Method::GET, "/column_family/name");
        let name = call.name();
        let names: Vec<String> = self.json(call).await?;
        names
            .into_iter()
            .map(|n| match n.split_once(':') {
                Some((ks, t)) => Ok((ks.to_string(), t.to_string())),
                None => Err(AgentError::Decode {
                    host: self.host.clone(),
                    call: name.clone(),
                    reason: format!("table name {n:?} is not keyspace:table"),
                }),
            })
            .collect()
    }

    /// The token ranges of a keyspace and their replicas; `table` is needed for tablet
    /// keyspaces.
    pub async fn describe_ring(
        &self,
        keyspace: &str,
        table: Option<&str>,
    ) -> Result<Vec<TokenRange>, AgentError> {
        let mut call = Call::new(
            Method::GET,
            format!("/storage_service/describe_ring/{}", segment(keyspace)),
        )
        .timeout(LONG_CALL_TIMEOUT);
        if let Some(t) = table {
            call = call.param("table", t);
        }
        self.json(call).await
    }

    /// The tokens owned by `endpoint`.
    pub async fn tokens(&self, endpoint: &str) -> Result<Vec<i64>, AgentError> {
        let call = Call::new(
            Method::GET,
            format!("/storage_service/tokens/{}", segment(endpoint)),
        );
        let name = call.name();
        let tokens: Vec<String> = self.json(call).await?;
        tokens
            .iter()
            .map(|t| {
                t.parse().map_err(|_| AgentError::Decode {
                    host: self.host.clone(),
                    call: name.clone(),
                    reason: format!("token {t:?} is not a 64-bit integer"),
                })
            })
            .collect()
    }

    /// Every snapshot of the node.
    pub async fn snapshots(&self) -> Result<Vec<Snapshot>, AgentError> {
        self.json(Call::new(Method::GET, "/storage_service/snapshots").timeout(LONG_CALL_TIMEOUT))
            .await
    }

    /// Snapshots `tables` of `keyspace` (every table when empty) as `tag`; `skip_flush` skips
    /// flushing memtables first.
    pub async fn take_snapshot(
        &self,
        tag: &SnapshotTag,
        keyspace: &str,
        tables: &[String],
        skip_flush: bool,
    ) -> Result<(), AgentError> {
        let mut call = Call::new(Method::POST, "/storage_service/snapshots")
            .param("tag", tag.as_str())
            .param("kn", keyspace)
            .timeout(LONG_CALL_TIMEOUT);
        if !tables.is_empty() {
            call = call.param("cf", tables.join(","));
        }
        if skip_flush {
            call = call.param("sf", "true");
        }
        self.void(call).await
    }

    /// Deletes snapshot `tag` (every snapshot when `None`) of `keyspace` (all when `None`),
    /// optionally of one table.
    pub async fn delete_snapshot(
        &self,
        tag: Option<&str>,
        keyspace: Option<&str>,
        table: Option<&str>,
    ) -> Result<(), AgentError> {
        let mut call =
            Call::new(Method::DELETE, "/storage_service/snapshots").timeout(LONG_CALL_TIMEOUT);
        for (name, value) in [("tag", tag), ("kn", keyspace), ("cf", table)] {
            if let Some(v) = value {
                call = call.param(name, v);
            }
        }
        self.void(call.idempotent()).await
    }

    /// Bytes on disk of a table on this node (live SSTables).
    pub async fn table_disk_size(&self, keyspace: &str, table: &str) -> Result<u64, AgentError> {
        self.json(Call::new(
            Method::GET,
            format!(
                "/column_family/metrics/total_disk_space_used/{}:{}",
                segment(keyspace),
                segment(table)
            ),
        ))
        .await
    }

    /// Flushes the memtables of `tables` of `keyspace` (every table when empty).
    pub async fn flush_keyspace(
        &self,
        keyspace: &str,
        tables: &[String],
    ) -> Result<(), AgentError> {
        let mut call = Call::new(
            Method::POST,
            format!("/storage_service/keyspace_flush/{}", segment(keyspace)),
        )
        .timeout(LONG_CALL_TIMEOUT)
        .idempotent();
        if !tables.is_empty() {
            call = call.param("cf", tables.join(","));
        }
        self.void(call).await
    }

    // ---- transfer jobs ----

    /// Starts an upload job and returns its ID.
    pub async fn start_upload(&self, job: &UploadJob) -> Result<String, AgentError> {
        self.start_job("/agent/jobs/upload", job).await
    }

    /// Starts a download job and returns its ID.
    pub async fn start_download(&self, job: &DownloadJob) -> Result<String, AgentError> {
        self.start_job("/agent/jobs/download", job).await
    }

    /// Starts a job and returns its ID.
    async fn start_job(&self, path: &str, job: &impl Serialize) -> Result<String, AgentError> {
        /// The answer to a job start.
        #[derive(Deserialize)]
        struct Started {
            /// The job ID.
            id: String,
        }
        let started: Started = self.json(Call::new(Method::POST, path).json(job)).await?;
        Ok(started.id)
    }

    /// A job's progress, returned when it ends or after `wait` (zero: at once); an unknown job
    /// (never started, expired, lost in an agent restart) has status `not_found`.
    pub async fn job_progress(&self, id: &str, wait: Duration) -> Result<JobProgress, AgentError> {
        let call = Call::new(Method::GET, format!("/agent/jobs/{}", segment(id)))
            .param("wait", wait.as_secs().to_string())
            .timeout(wait + POLL_SLACK);
        self.job_call(id, call).await
    }

    /// Stops a job; in-flight uploads are aborted.
    pub async fn stop_job(&self, id: &str) -> Result<JobProgress, AgentError> {
        let call = Call::new(Method::POST, format!("/agent/jobs/{}/stop", segment(id)))
            .timeout(LONG_CALL_TIMEOUT)
            .idempotent();
        self.job_call(id, call).await
    }

    /// Forgets a job (stopping it first if it runs).
    pub async fn remove_job(&self, id: &str) -> Result<JobProgress, AgentError> {
        let call = Call::new(Method::DELETE, format!("/agent/jobs/{}", segment(id)))
            .timeout(LONG_CALL_TIMEOUT)
            .idempotent();
        self.job_call(id, call).await
    }

    /// Every job the agent knows.
    pub async fn jobs(&self) -> Result<Vec<JobProgress>, AgentError> {
        self.json(Call::new(Method::GET, "/agent/jobs")).await
    }

    /// A call about one job, where 404 means the job is unknown.
    async fn job_call(&self, id: &str, call: Call) -> Result<JobProgress, AgentError> {
        match self.json::<JobProgress>(call).await {
            Err(e) if e.is_not_found() => Ok(JobProgress::not_found(id)),
            other => other,
        }
    }

    // ---- files ----

    /// Lists a directory (recursively if asked) as a stream of entries with paths relative to
    /// it; an error the agent meets while listing ends the stream with an error.
    pub async fn list_files(
        &self,
        root: Root<'_>,
        path: &str,
        recursive: bool,
    ) -> Result<impl Stream<Item = Result<Entry, AgentError>> + Send + 'static, AgentError> {
        let call = Call::new(Method::POST, "/agent/files/list")
            .json(&json!({"location": root.as_param(), "path": path, "recursive": recursive}))
            .timeout(LIST_TIMEOUT)
            .idempotent();
        let resp = self.send(&call).await?;
        let (host, name) = (self.host.clone(), call.name());
        let failed = move |reason: String, transport: bool| AgentError::Listing {
            host: host.clone(),
            call: name.clone(),
            reason,
            retryable: transport,
        };
        let state = (resp.bytes_stream().boxed(), Vec::<u8>::new(), false);
        Ok(futures::stream::unfold(
            state,
            move |(mut body, mut buf, mut done)| {
                let failed = failed.clone();
                async move {
                    loop {
                        if let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buf.drain(..=nl).collect();
                            let line = &line[..line.len() - 1];
                            if line.iter().all(u8::is_ascii_whitespace) {
                                continue;
                            }
                            let item = parse_entry(line).map_err(|r| failed(r, false));
                            return Some((item, (body, buf, done)));
                        }
                        if done {
                            if buf.iter().all(u8::is_ascii_whitespace) {
                                return None;
                            }
                            buf.push(b'\n');
                            continue;
                        }
                        match body.next().await {
                            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                            Some(Err(e)) => {
                                return Some((Err(failed(e.to_string(), true)), (body, buf, true)));
                            }
                            None => done = true,
                        }
                    }
                }
            },
        ))
    }

    /// Reads a manifest, schema or checksum file.
    pub async fn read_file(&self, root: Root<'_>, path: &str) -> Result<Bytes, AgentError> {
        self.fetch(
            &Call::new(Method::GET, "/agent/files/read")
                .param("location", root.as_param())
                .param("path", path)
                .timeout(LONG_CALL_TIMEOUT),
        )
        .await
    }

    /// Writes a small object to a backup location.
    pub async fn write_file(
        &self,
        location: &Location,
        path: &str,
        content: Bytes,
    ) -> Result<(), AgentError> {
        let mut call = Call::new(Method::PUT, "/agent/files/write")
            .param("location", Root::Backup(location).as_param())
            .param("path", path)
            .timeout(LONG_CALL_TIMEOUT)
            .idempotent();
        call.body = Some((content, "application/octet-stream"));
        self.void(call).await
    }

    /// Reads a small file of a backup location with its version (for a later
    /// [`write_file_if`](Self::write_file_if) with [`WriteCondition::Update`]).
    pub async fn read_file_versioned(
        &self,
        location: &Location,
        path: &str,
    ) -> Result<(Bytes, ObjectVersion), AgentError> {
        let call = Call::new(Method::GET, "/agent/files/read")
            .param("location", Root::Backup(location).as_param())
            .param("path", path);
        self.retrying(&call, || async {
            let resp = self.attempt(&call).await?;
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let version = ObjectVersion {
                e_tag: header("etag"),
                version: header(crate::agent::api::VERSION_HEADER),
            };
            let body = resp.bytes().await.map_err(|e| self.transport(&call, e))?;
            Ok((body, version))
        })
        .await
    }

    /// Writes a small object under `backup/meta/` only if `condition` holds: it is absent
    /// (`Create`, else 409) or still at the version read (`Update`, else 412); a store that
    /// cannot check answers 501. Not retried (a lost answer may hide a write that happened);
    /// returns the new version.
    pub async fn write_file_if(
        &self,
        location: &Location,
        path: &str,
        content: Bytes,
        condition: WriteCondition<'_>,
    ) -> Result<ObjectVersion, AgentError> {
        let mut call = Call::new(Method::PUT, "/agent/files/write")
            .param("location", Root::Backup(location).as_param())
            .param("path", path);
        call = match condition {
            WriteCondition::Create => call.param("mode", "create"),
            WriteCondition::Update(v) => {
                call = call.param("mode", "update");
                if let Some(e) = &v.e_tag {
                    call = call.param("e_tag", e.clone());
                }
                if let Some(g) = &v.version {
                    call = call.param("version", g.clone());
                }
                call
            }
        };
        call.body = Some((content, "application/octet-stream"));
        self.json(call).await
    }

    /// Deletes paths (at most 10,000 per call); returns how many existed and were deleted.
    pub async fn delete_files(&self, root: Root<'_>, paths: &[String]) -> Result<u64, AgentError> {
        /// The answer to a delete.
        #[derive(Deserialize)]
        struct Deleted {
            /// How many paths were deleted.
            deleted: u64,
        }
        let d: Deleted = self
            .json(
                Call::new(Method::POST, "/agent/files/delete")
                    .json(&json!({"location": root.as_param(), "paths": paths}))
                    .timeout(LONG_CALL_TIMEOUT)
                    .idempotent(),
            )
            .await?;
        Ok(d.deleted)
    }

    /// Moves (or copies) one file within the data directory or within one location.
    pub async fn move_file(
        &self,
        root: Root<'_>,
        from: &str,
        to: &str,
        copy: bool,
    ) -> Result<(), AgentError> {
        let place = |path: &str| json!({"location": root.as_param(), "path": path});
        let mut call = Call::new(Method::POST, "/agent/files/move")
            .json(&json!({"from": place(from), "to": place(to), "copy": copy}))
            .timeout(LONG_CALL_TIMEOUT);
        call.idempotent = copy;
        self.void(call).await
    }

    /// Free and total bytes of the data directory's file system.
    pub async fn disk(&self) -> Result<DiskUsage, AgentError> {
        self.json(Call::new(Method::GET, "/agent/files/disk")).await
    }

    // ---- bandwidth ----

    /// The agent's bandwidth budget.
    pub async fn bandwidth(&self) -> Result<Bandwidth, AgentError> {
        self.json(Call::new(Method::GET, "/agent/bandwidth")).await
    }

    /// Changes the agent's bandwidth budget (MiB/s, 0: unlimited) and returns the new one.
    pub async fn set_bandwidth(&self, mib_per_second: f64) -> Result<Bandwidth, AgentError> {
        self.json(
            Call::new(Method::PUT, "/agent/bandwidth")
                .json(&json!({"rate_limit": mib_per_second}))
                .idempotent(),
        )
        .await
    }

    /// Sends any call with the token and returns the body of a successful answer; for checks
    /// of what the agent exposes.
    pub async fn raw(&self, method: Method, path: &str) -> Result<Bytes, AgentError> {
        self.fetch(&Call::new(method, path)).await
    }
}

/// `https://host:port`, with an IPv6 address in brackets.
fn base_url(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    }
}

/// One NDJSON line of a listing: an entry, or `{"error": ...}`.
fn parse_entry(line: &[u8]) -> Result<Entry, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("{e} in {:?}", quote(line)))?;
    if let Some(err) = v.get("error") {
        return Err(err.as_str().map(str::to_string).unwrap_or(err.to_string()));
    }
    serde_json::from_value(v).map_err(|e| format!("{e} in {:?}", quote(line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_lines_parse_and_errors_end_them() {
        let e = parse_entry(br#"{"path":"a/b","size":3,"dir":false}"#).unwrap();
        assert_eq!((e.path.as_str(), e.size, e.dir), ("a/b", 3, false));
        assert_eq!(
            parse_entry(br#"{"error":"permission denied"}"#).unwrap_err(),
            "permission denied"
        );
        assert!(parse_entry(b"not json").is_err());
    }

    #[test]
    fn retries_follow_the_status_and_the_call() {
        let c = AgentClient::new("10.0.0.1", 10001, "t", &BTreeMap::new()).unwrap();
        let scylla = Call::new(Method::GET, "/storage_service/host_id");
        let agent = Call::new(Method::GET, "/agent/node_info");
        let err = |call: &Call, s: u16| {
            c.status_error(
                call,
                StatusCode::from_u16(s).unwrap(),
                br#"{"message":"m"}"#,
            )
        };
        assert!(!err(&scylla, 500).retryable(), "Scylla's own error");
        assert!(err(&scylla, 502).retryable(), "Scylla unreachable");
        assert!(err(&scylla, 503).retryable());
        assert!(err(&agent, 500).retryable());
        for s in [400, 403, 404] {
            assert!(!err(&agent, s).retryable(), "{s}");
        }
        let unauthorized = err(&agent, 401);
        assert!(!unauthorized.retryable());
        assert!(unauthorized.to_string().contains("refused the auth token"));
        let post = Call::new(Method::POST, "/agent/jobs/upload");
        assert!(!err(&post, 503).retry_for(post.idempotent));
        assert!(err(&scylla, 503).to_string().contains("10.0.0.1"));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("ks:t"), "ks:t");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
