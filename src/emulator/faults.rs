//! Injected latency and errors, per node and per endpoint, to make slow and failing nodes testable.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One injected fault: requests whose path starts with `path` (and whose method matches, when
/// given) are delayed by `latency_ms` and then, when `status` is set, answered with that error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Path prefix the fault applies to, e.g. `/storage_service/snapshots`.
    pub path: String,
    /// HTTP method the fault applies to; every method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Delay before the request is handled (or failed).
    #[serde(default)]
    pub latency_ms: u64,
    /// Error status to answer with instead of handling the request.
    #[serde(default)]
    pub status: Option<u16>,
    /// How many requests the fault applies to before it is removed; forever when absent.
    #[serde(default)]
    pub count: Option<u32>,
}

/// What a request must suffer before (or instead of) being handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    /// Delay to apply.
    pub latency: Duration,
    /// Error status to answer with, if any.
    pub status: Option<u16>,
}

/// The faults active on one node.
#[derive(Debug, Default)]
pub struct Faults {
    /// Active faults, first match wins.
    list: Mutex<Vec<Fault>>,
}

impl Faults {
    /// Adds a fault.
    pub fn add(&self, fault: Fault) {
        self.lock().push(fault);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The active faults.
    pub fn list(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// The injection for a request, consuming one use of the matching fault.
    pub fn take(&self, method: &str, path: &str) -> Option<Injection> {
        let mut list = self.lock();
        let i = list.iter().position(|f| {
            path.starts_with(&f.path)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let fault = &mut list[i];
        let injection = Injection {
            latency: Duration::from_millis(fault.latency_ms),
            status: fault.status,
        };
        if let Some(count) = fault.count.as_mut() {
            *count = count.saturating_sub(1);
            if *count == 0 {
                list.remove(i);
            }
        }
        Some(injection)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_expire_and_method_filters() {
        let faults = Faults::default();
        faults.add(Fault {
            path: "/a".into(),
            method: Some("POST".into()),
            latency_ms: 0,
            status: Some(500),
            count: Some(2),
        });
        assert_eq!(faults.take("GET", "/a/b"), None);
        assert_eq!(
            faults.take("post", "/a/b").and_then(|i| i.status),
            Some(500)
        );
        assert!(faults.take("POST", "/a").is_some());
        assert_eq!(
            faults.take("POST", "/a"),
            None,
            "fault should expire after its count"
        );
    }
}
