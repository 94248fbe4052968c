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
    (Method::GET, "/storage_service/view_build_statuses/", true),
    (Method::GET, "/task_manager/task_status/", true),
    (Method::GET, "/task_manager/wait_task/", true),
    (Method::POST, "/task_manager/abort_task/", true),
    // Restore: autocompaction off while loading, repair, tablet repair, view builds.
    (Method::GET, "/column_family/autocompaction/", true),
    (Method::POST, "/column_family/autocompaction/", true),
    (Method::DELETE, "/column_family/autocompaction/", true),
    (Method::POST, "/storage_service/repair_async/", true),
    (Method::GET, "/storage_service/repair_async/", true),
    (Method::GET, "/storage_service/repair_status", false),
    (Method::GET, "/storage_service/repair_status/", false),
    (Method::POST, "/storage_service/tablets/repair", false),
    (Method::GET, "/storage_service/view_build_statuses/", true),
];

/// Checks a path exactly as received, before the allow-list is consulted: every segment,
/// percent-decoded, must be a plain name: no `.` or `..` (in any encoding), no encoded `/`, no
/// backslash, NUL or other control character, no `%` that starts no escape, and no empty
/// segment (`//`) but a trailing slash. Whoever forwards the path forwards these very bytes.
pub fn check_path(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("the path must start with /".into());
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, raw) in segments.iter().enumerate() {
        let decoded = percent_decode(raw)
            .ok_or_else(|| format!("segment {raw:?} holds a % that starts no escape"))?;
        if decoded.is_empty() && i != last {
            return Err("empty path segments (//) are not accepted".into());
        }
        if decoded == b"." || decoded == b".." {
            return Err(format!(
                "dot segments ({raw:?}) are not accepted, encoded or not"
            ));
        }
        if decoded
            .iter()
            .any(|b| *b == b'/' || *b == b'\\' || b.is_ascii_control())
        {
            return Err(format!(
                "segment {raw:?} holds an encoded slash, a backslash or a control character"
            ));
        }
    }
    Ok(())
}

/// Percent-decodes one path segment; `None` for a `%` not followed by two hex digits.
fn percent_decode(raw: &str) -> Option<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Whether the proxy lets this call through (`path` already passed [`check_path`]).
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
    pub fn new(config: &ScyllaConfig) -> Result<Self, ScyllaError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| ScyllaError::Call {
                url: format!("{}:{}", config.api_address, config.api_port),
                reason: format!("cannot set up an HTTP client: {e}"),
            })?;
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
        Ok(Scylla {
            api: format!("http://{}:{}", host(&config.api_address), config.api_port),
            prometheus: format!("http://{}:{}", host(&prom), config.prometheus_port),
            http,
        })
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
        let refuse = |reason: &str| ScyllaError::Call {
            url: url.clone(),
            reason: reason.to_string(),
        };
        let parsed = reqwest::Url::parse(&url).map_err(|e| refuse(&e.to_string()))?;
        let path = path_and_query
            .split_once('?')
            .map_or(path_and_query, |(p, _)| p);
        // The URL parser normalises some paths; send only the path that was checked.
        if parsed.path() != path {
            return Err(refuse("the path would not be sent as it was checked"));
        }
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .map_err(|e| refuse(&e.to_string()))?;
        self.http
            .request(method, parsed)
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
        // What restore calls.
        for (m, p) in [
            (Method::GET, "/column_family/autocompaction/ks:t"),
            (Method::POST, "/column_family/autocompaction/ks:t"),
            (Method::DELETE, "/column_family/autocompaction/ks:t"),
            (Method::POST, "/storage_service/repair_async/ks"),
            (Method::GET, "/storage_service/repair_status"),
            (Method::POST, "/storage_service/tablets/repair"),
            (Method::GET, "/storage_service/view_build_statuses/ks/mv"),
            (Method::POST, "/storage_service/sstables/ks"),
            (Method::GET, "/task_manager/wait_task/some-id"),
        ] {
            assert!(allowed(&m, p), "{m} {p} refused");
        }
        assert!(!allowed(&Method::POST, "/column_family/autocompaction/"));
        assert!(!allowed(
            &Method::DELETE,
            "/storage_service/repair_async/ks"
        ));
        assert!(!allowed(&Method::GET, "/storage_service/tablets/repair"));
        assert!(!allowed(
            &Method::POST,
            "/storage_service/view_build_statuses/ks/mv"
        ));
        assert!(!allowed(
            &Method::POST,
            "/storage_service/force_terminate_repair"
        ));
    }

    #[test]
    fn dot_segments_and_encoded_separators_are_refused_before_the_allow_list() {
        for ok in [
            "/storage_service/tokens/127.0.0.1",
            "/gossiper/endpoint/live/",
            "/storage_service/keyspace_flush/my%20ks",
            "/v2/config/data_file_directories",
        ] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/storage_service/tokens/../../emulator/cluster",
            "/storage_service/tokens/%2e%2e/%2e%2e/emulator/cluster",
            "/storage_service/tokens/%2E%2e/x",
            "/storage_service/tokens/.%2E/x",
            "/storage_service/tokens/./x",
            "/storage_service/tokens/%2e",
            "/storage_service/tokens/a%2f..%2fb",
            "/storage_service/tokens/a%2F..",
            "/storage_service/tokens/..\\..\\emulator",
            "/storage_service/tokens/a%5c..",
            "/storage_service/tokens/a%00",
            "/storage_service//tokens/x",
            "/storage_service/tokens/%zz",
            "/storage_service/tokens/%2",
            "storage_service/tokens/x",
        ] {
            assert!(check_path(bad).is_err(), "{bad} accepted");
        }
    }
}
