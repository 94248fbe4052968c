//! The agent's own Prometheus metrics, served on the `prometheus` address.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `cairn_agent_bytes_total` | `result` = transferred, skipped, failed | bytes moved by transfer jobs |
//! | `cairn_agent_files_total` | `result` | files moved by transfer jobs |
//! | `cairn_agent_check_bytes_total` | | bytes read by check jobs (validate's content check) |
//! | `cairn_agent_check_findings_total` | `kind` = digest, toc, size, md5 | problems check jobs found |
//! | `cairn_agent_jobs_started_total` | `kind` | jobs started |
//! | `cairn_agent_jobs_finished_total` | `kind`, `status` | jobs ended |
//! | `cairn_agent_bandwidth_limit_bytes` | | current budget, bytes/s (0 unlimited) |
//! | `cairn_agent_unauthorized_total` | | requests refused for a wrong or missing token |
//! | `cairn_agent_unexposed_access_total` | `path` | Scylla calls refused by the proxy allow-list |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process's metrics recorder, installed once.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder for this process (once; later calls do nothing).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; agent metrics go there");
        }
        handle
    })
}

/// The metrics in Prometheus text format.
pub fn render() -> String {
    install().render()
}
