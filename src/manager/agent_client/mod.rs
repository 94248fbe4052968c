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
//!
//! | module | holds |
//! |---|---|
//! | this one | [`AgentClient`]: one call (`Call`), its URL, token, timeouts and retries; ping, node info |
//! | [`error`] | [`AgentError`] and [`RetryPolicy`] |
//! | [`scylla`] | the Scylla calls through the agent's proxy and the types of Scylla's answers |
//! | [`jobs`] | upload, download and check jobs, their progress, stop and removal; the bandwidth budget |
//! | [`files`] | listings, reads, plain and conditional writes, deletes, moves, disk usage |
//! | [`restore`] | a restore's Scylla calls: load&stream, autocompaction, vnode and tablet repair |
//!
//! The request and answer types of the agent's own API are in [`crate::agent::wire`].

pub mod error;
pub mod files;
pub mod jobs;
pub mod restore;
pub mod scylla;

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use self::error::{AgentError, RetryPolicy};
use crate::agent::wire::{ErrorAnswer, NodeInfo};

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

/// One call: everything needed to send it again.
#[derive(Debug, Clone)]
struct Call {
    /// HTTP method.
    method: Method,
    /// Path, starting with `/`.
    path: String,
    /// Query parameters.
    query: Vec<(String, String)>,
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
    fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }

    /// Adds the fields of a query type of [`crate::agent::wire`] as parameters; absent ones
    /// (`null`) are left out.
    fn params(mut self, query: &impl Serialize) -> Self {
        // The query types are plain structs of strings, numbers and enums: they always serialise.
        if let Ok(Value::Object(fields)) = serde_json::to_value(query) {
            for (name, value) in fields {
                match value {
                    Value::Null => {}
                    Value::String(s) => self.query.push((name, s)),
                    other => self.query.push((name, other.to_string())),
                }
            }
        }
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
        let message = serde_json::from_slice::<ErrorAnswer>(body)
            .map(|answer| answer.message)
            .unwrap_or_else(|_| quote(body));
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

#[cfg(test)]
mod tests {
    use super::*;

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
