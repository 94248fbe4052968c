//! The node's Scylla: a client for the calls the agent makes itself, and the allow-listed proxy
//! through which the manager makes its own (anything else is refused and counted).

use std::path::PathBuf;
use std::time::Duration;

use axum::http::Method;
use serde::de::DeserializeOwned;

use super::config::ScyllaConfig;

/// Calls the agent lets through to Scylla: (method, path, whether `path` is a prefix).
const ALLOWED: &[(Method, &str, bool)] = &[
    (Method::GET, "/storage_service/host_id", false),
    (Method::GET, "/storage_service/hostid/local", false),
    (Method::GET, "/snitch/datacenter", false),
    (Method::GET, "/snitch/rack", false),
    (Method::GET, "/gossiper/endpoint/live/", false),
    (Method::GET, "/gossiper/endpoint/live", false),
    (Method::GET, "/gossiper/endpoint/down/", false),
    (Method::GET, "/failure_detector/simple_states", false),
    (Method::GET, "/storage_service/nodes/joining", false),
    (Method::GET, "/storage_service/nodes/leaving", false),
    (
        Method::GET,
        "/storage_service/scylla_release_version",
        false,
    ),
    (Method::GET, "/storage_service/release_version", false),
    (Method::GET, "/storage_service/keyspaces", false),
    (Method::GET, "/column_family/name", false),
    (Method::GET, "/column_family/name/keyspace", false),
    (Method::GET, "/storage_service/describe_ring/", true),
    (Method::GET, "/storage_service/tokens/", true),
    (
        Method::GET,
        "/column_family/metrics/total_disk_space_used/",
        true,
    ),
    (Method::GET, "/storage_service/snapshots", false),
    (Method::POST, "/storage_service/snapshots", false),
    (Method::DELETE, "/storage_service/snapshots", false),
    (Method::POST, "/storage_service/keyspace_flush/", true),
    (Method::POST, "/storage_service/tablets/balancing", false),
    (Method::POST, "/raft/read_barrier", false),
    (Method::POST, "/storage_service/sstables/", true),
    (Method::GET, "/storage_service/data_file/locations", false),
    (Method::GET, "/v2/config/", true),
    (Method::POST, "/storage_service/backup", false),
    (Method::GET, "/task_manager/task_status/", true),
    (Method::GET, "/task_manager/wait_task/", true),
    (Method::POST, "/task_manager/abort_task/", true),
];

/// Whether the proxy lets this call through.
pub fn allowed(method: &Method, path: &str) -> bool {
    ALLOWED.iter().any(|(m, p, prefix)| {
        m == method
            && if *prefix {
                path.starts_with(p) && path.len() > p.len()
            } else {
                path == *p
            }
    })
}

/// Why a call to Scylla failed.
#[derive(Debug, thiserror::Error)]
pub enum ScyllaError {
    /// Scylla could not be reached or answered with an error.
    #[error("Scylla at {url}: {reason}")]
    Call {
        /// The URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// A client of the node's Scylla REST API and Prometheus endpoint.
#[derive(Debug, Clone)]
pub struct Scylla {
    /// `http://address:port` of the REST API.
    pub api: String,
    /// `http://address:port` of the Prometheus endpoint.
    pub prometheus: String,
    /// The HTTP client.
    http: reqwest::Client,
}

impl Scylla {
    /// A client for the configured addresses.
    pub fn new(config: &ScyllaConfig) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(600))
            .build()
            .expect("HTTP client builds");
        let host = |a: &str| {
            if a.contains(':') {
                format!("[{a}]")
            } else {
                a.to_string()
            }
        };
        let prom = config
            .prometheus_address
            .clone()
            .unwrap_or_else(|| config.api_address.clone());
        Scylla {
            api: format!("http://{}:{}", host(&config.api_address), config.api_port),
            prometheus: format!("http://{}:{}", host(&prom), config.prometheus_port),
            http,
        }
    }

    /// GETs a JSON value from the REST API.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ScyllaError> {
        let url = format!("{}{path}", self.api);
        let fail = |reason: String| ScyllaError::Call {
            url: url.clone(),
            reason,
        };
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!("{status}: {body}")));
        }
        serde_json::from_str(&body).map_err(|e| fail(format!("unexpected answer {body:?}: {e}")))
    }

    /// The node's data directory, from Scylla's configuration.
    pub async fn data_directory(&self) -> Result<PathBuf, ScyllaError> {
        let dirs: Vec<String> = self.get("/v2/config/data_file_directories").await?;
        dirs.into_iter()
            .next()
            .map(PathBuf::from)
            .ok_or_else(|| ScyllaError::Call {
                url: format!("{}/v2/config/data_file_directories", self.api),
                reason: "no data directory configured".into(),
            })
    }

    /// Forwards a request and returns Scylla's answer as it is.
    pub async fn forward(
        &self,
        method: Method,
        path_and_query: &str,
        body: bytes::Bytes,
        metrics: bool,
    ) -> Result<reqwest::Response, ScyllaError> {
        let base = if metrics { &self.prometheus } else { &self.api };
        let url = format!("{base}{path_and_query}");
        let method =
            reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
        self.http
            .request(method, &url)
            .body(body)
            .send()
            .await
            .map_err(|e| ScyllaError::Call {
                url,
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_backup_and_restore_calls_pass() {
        assert!(allowed(&Method::POST, "/storage_service/snapshots"));
        assert!(allowed(&Method::GET, "/storage_service/describe_ring/ks"));
        assert!(!allowed(&Method::GET, "/storage_service/describe_ring/"));
        assert!(!allowed(&Method::POST, "/storage_service/decommission"));
        assert!(!allowed(&Method::POST, "/storage_service/host_id"));
        assert!(!allowed(&Method::DELETE, "/column_family/name"));
    }
}
