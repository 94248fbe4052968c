//! The properties of a backup task (upstream's JSON keys and defaults) and their validation
//! (spec 1.2): every problem is reported naming its field, at task creation, by the dry run and
//! when a run starts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::format::MAX_TRANSFERS;
use crate::format::dclimit::DcLimits;
use crate::format::filter::{DcFilter, KeyspaceFilter};
use crate::format::location::Location;
use crate::manager::store::TaskType;

/// The per-host rate limit when none is given, MiB/s.
pub(super) const DEFAULT_RATE_LIMIT: &str = "100";
/// Retention when neither retention field is given.
const DEFAULT_RETENTION: i64 = 3;
/// Most snapshots a task keeps.
pub const MAX_RETENTION: i64 = 100_000;
/// Most days a task keeps a snapshot (a hundred years).
pub const MAX_RETENTION_DAYS: i64 = 36_500;
/// Highest upload rate, MiB/s (per host or per DC): 1 TiB/s.
pub const MAX_RATE_MIB: u64 = 1 << 20;
/// Most hosts snapshotted or uploading at once per DC.
pub const MAX_PARALLEL: u64 = 100_000;

/// Retention of one task, as the run-time `retention_map` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Snapshots kept.
    pub retention: i64,
    /// Days kept (0: no age limit).
    pub retention_days: i64,
}

/// The properties of a backup task, with upstream's JSON keys and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskProperties {
    /// Backup locations `[dc:]provider:bucket`; required.
    pub location: Vec<String>,
    /// Keyspace/table glob filters; empty means every table.
    pub keyspace: Vec<String>,
    /// DC glob filters; empty means every DC.
    pub dc: Vec<String>,
    /// Snapshots kept per task; 3 when neither retention field is given.
    pub retention: Option<i64>,
    /// Days a snapshot is kept (0: no age limit).
    pub retention_days: Option<i64>,
    /// Run-time retention of every backup task of the cluster (injected, not user-set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_map: Option<BTreeMap<String, Retention>>,
    /// Per-host upload rate `[dc:]MiB/s` (0: unlimited); `["100"]` when absent.
    pub rate_limit: Option<Vec<String>>,
    /// Aggregate upload rate per DC `[dc:]MiB/s`, divided among the hosts uploading (Cairn's).
    pub rate_limit_total: Vec<String>,
    /// Files in parallel per host: -1 for the agent's setting, or at least 1.
    pub transfers: i64,
    /// Hosts snapshotted at once per DC `[dc:]N`; empty means all.
    pub snapshot_parallel: Vec<String>,
    /// Hosts uploading at once per DC `[dc:]N`; empty means all.
    pub upload_parallel: Vec<String>,
    /// Whether to resume the previous run.
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Run only the purge.
    pub purge_only: bool,
    /// Back up no schema.
    pub skip_schema: bool,
    /// Upload engine: `rclone` or `auto` (both the agent's jobs here; `native` is unsupported).
    pub method: String,
    /// Retention lock mode; only `disabled` is supported.
    pub retention_lock_mode: String,
    /// Whether to override a retention lock.
    pub override_retention_lock: bool,
}

impl Default for TaskProperties {
    fn default() -> Self {
        TaskProperties {
            location: Vec::new(),
            keyspace: Vec::new(),
            dc: Vec::new(),
            retention: None,
            retention_days: None,
            retention_map: None,
            rate_limit: None,
            rate_limit_total: Vec::new(),
            transfers: -1,
            snapshot_parallel: Vec::new(),
            upload_parallel: Vec::new(),
            continue_: true,
            purge_only: false,
            skip_schema: false,
            method: "rclone".into(),
            retention_lock_mode: "disabled".into(),
            override_retention_lock: false,
        }
    }
}

/// One property that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyProblem {
    /// The JSON key, with an index for list items (e.g. `location[1]`).
    pub field: String,
    /// Why the value is refused.
    pub reason: String,
}

/// Task properties that cannot be used, of any task type; every problem found is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {task_type} task properties: {} (fix the properties; a retry will not help)",
    .problems.iter().map(|p| format!("{}: {}", p.field, p.reason)).collect::<Vec<_>>().join("; ")
)]
pub struct PropertiesError {
    /// The type of the task whose properties these are.
    pub task_type: TaskType,
    /// The problems, in field order.
    pub problems: Vec<PropertyProblem>,
}

impl PropertiesError {
    /// The error of a `task_type` task's properties with these problems.
    pub fn new(task_type: TaskType, problems: Vec<PropertyProblem>) -> Self {
        PropertiesError {
            task_type,
            problems,
        }
    }

    /// A document that does not parse (malformed JSON, an unknown key), as a problem of the
    /// whole document.
    pub fn document(task_type: TaskType, e: &serde_json::Error) -> Self {
        PropertiesError::new(
            task_type,
            vec![PropertyProblem {
                field: "properties".into(),
                reason: e.to_string(),
            }],
        )
    }

    /// The problem of `field`, if there is one.
    pub fn problem(&self, field: &str) -> Option<&PropertyProblem> {
        self.problems.iter().find(|p| p.field == field)
    }
}

/// Properties after validation against the cluster's DCs.
#[derive(Debug, Clone)]
pub struct CheckedProperties {
    /// Parsed locations.
    pub location: Vec<Location>,
    /// The keyspace filter.
    pub keyspace: KeyspaceFilter,
    /// The DCs the run backs up, sorted.
    pub dcs: Vec<String>,
    /// Snapshots kept.
    pub retention: i64,
    /// Days kept.
    pub retention_days: i64,
    /// Per-host rates.
    pub rate_limit: DcLimits,
    /// Aggregate rates per DC.
    pub rate_limit_total: DcLimits,
    /// Hosts snapshotted at once.
    pub snapshot_parallel: DcLimits,
    /// Hosts uploading at once.
    pub upload_parallel: DcLimits,
}

impl TaskProperties {
    /// Parses properties JSON over the defaults; a malformed document or an unknown key is
    /// reported as a problem of the whole document.
    pub fn from_json(json: &str) -> Result<TaskProperties, PropertiesError> {
        serde_json::from_str(json).map_err(|e| PropertiesError::document(TaskType::Backup, &e))
    }

    /// Checks every rule of spec 4.3 against a cluster with DCs `cluster_dcs`, and applies the
    /// defaults; every problem is reported with its field.
    pub fn validate(&self, cluster_dcs: &[String]) -> Result<CheckedProperties, PropertiesError> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, reason: String| {
            problems.push(PropertyProblem {
                field: field.to_string(),
                reason,
            })
        };
        let known = if cluster_dcs.is_empty() {
            "none".to_string()
        } else {
            cluster_dcs.join(", ")
        };
        let check_dc = |dc: &str| -> Option<String> {
            (!cluster_dcs.iter().any(|k| k == dc))
                .then(|| format!("unknown DC {dc:?} (the cluster has DCs: {known})"))
        };

        let mut location = Vec::new();
        if self.location.is_empty() {
            problem(
                "location",
                "required: give at least one [dc:]provider:bucket, e.g. s3:my-bucket".into(),
            );
        }
        for (i, l) in self.location.iter().enumerate() {
            let field = format!("location[{i}]");
            match l.parse::<Location>() {
                Ok(loc) => {
                    if let Err(e) = loc.check_bucket_name() {
                        problem(&field, e.to_string());
                    } else if let Some(reason) = loc.dc.as_deref().and_then(check_dc) {
                        problem(&field, reason);
                    } else if location.iter().any(|o: &Location| o.dc == loc.dc) {
                        problem(
                            &field,
                            match &loc.dc {
                                Some(dc) => {
                                    format!("DC {dc:?} has two locations (at most one each)")
                                }
                                None => "two default locations without a DC (at most one)".into(),
                            },
                        );
                    }
                    location.push(loc);
                }
                Err(e) => problem(&field, e.to_string()),
            }
        }

        let keyspace = KeyspaceFilter::new(&self.keyspace)
            .map_err(|e| problem("keyspace", e.to_string()))
            .ok();
        let dcs = match DcFilter::new(&self.dc) {
            Ok(f) => f
                .apply(cluster_dcs)
                .map_err(|e| problem("dc", e.to_string()))
                .ok(),
            Err(e) => {
                problem("dc", e.to_string());
                None
            }
        };

        let (retention, retention_days) = match (self.retention, self.retention_days) {
            (None, None) => (DEFAULT_RETENTION, 0),
            (r, d) => (r.unwrap_or(0), d.unwrap_or(0)),
        };
        for (field, v, max) in [
            ("retention", retention, MAX_RETENTION),
            ("retention_days", retention_days, MAX_RETENTION_DAYS),
        ] {
            if v < 0 {
                problem(field, format!("{v} is negative (expected 0 or more)"));
            } else if v > max {
                problem(field, format!("{v} is more than {max}"));
            }
        }
        let max_transfers = i64::try_from(MAX_TRANSFERS).unwrap_or(i64::MAX);
        if self.transfers == 0 || self.transfers < -1 || self.transfers > max_transfers {
            problem(
                "transfers",
                format!(
                    "{} is not allowed (expected -1 for the agent's setting, or 1 to {MAX_TRANSFERS}, the agent's limit)",
                    self.transfers
                ),
            );
        }
        match self.method.as_str() {
            "rclone" | "auto" => {}
            "native" => problem(
                "method",
                "native (Scylla's own upload) is not supported by Cairn; use rclone or auto".into(),
            ),
            m => problem(
                "method",
                format!("unknown method {m:?} (expected rclone, auto or native)"),
            ),
        }
        match self.retention_lock_mode.as_str() {
            "disabled" => {
                if self.override_retention_lock {
                    problem(
                        "override_retention_lock",
                        "only meaningful with a retention lock, and retention_lock_mode is disabled"
                            .into(),
                    );
                }
            }
            m @ ("unlocked" | "locked" | "event-based-hold") => problem(
                "retention_lock_mode",
                format!("{m} is not supported by Cairn (only disabled)"),
            ),
            m => problem(
                "retention_lock_mode",
                format!(
                    "unknown mode {m:?} (expected disabled, unlocked, locked or event-based-hold)"
                ),
            ),
        }

        let rate_default = vec![DEFAULT_RATE_LIMIT.to_string()];
        let mut limits = |field: &str, items: &[String], max: u64, unit: &str| -> DcLimits {
            let parsed = DcLimits::parse(items)
                .map_err(|e| problem(field, e.to_string()))
                .unwrap_or_default();
            if let Some(reason) = parsed.dcs().into_iter().find_map(check_dc) {
                problem(field, reason);
            } else if let Some(l) = parsed.as_slice().iter().find(|l| l.limit > max) {
                problem(field, format!("{l}: {} is more than {max}{unit}", l.limit));
            }
            parsed
        };
        let rate_limit = limits(
            "rate_limit",
            self.rate_limit.as_deref().unwrap_or(&rate_default),
            MAX_RATE_MIB,
            " MiB/s",
        );
        let rate_limit_total = limits(
            "rate_limit_total",
            &self.rate_limit_total,
            MAX_RATE_MIB,
            " MiB/s",
        );
        let snapshot_parallel = limits(
            "snapshot_parallel",
            &self.snapshot_parallel,
            MAX_PARALLEL,
            " hosts",
        );
        let upload_parallel = limits(
            "upload_parallel",
            &self.upload_parallel,
            MAX_PARALLEL,
            " hosts",
        );

        if let Some(dcs) = &dcs {
            let default = location.iter().any(|l| l.dc.is_none());
            let uncovered: Vec<&str> = dcs
                .iter()
                .filter(|dc| !default && !location.iter().any(|l| l.dc.as_ref() == Some(*dc)))
                .map(String::as_str)
                .collect();
            if !uncovered.is_empty() && !location.is_empty() {
                problem(
                    "location",
                    format!(
                        "no location for DC {} (give dc:provider:bucket for it, or a default location without a DC)",
                        uncovered.join(", ")
                    ),
                );
            }
        }

        match (keyspace, dcs) {
            (Some(keyspace), Some(dcs)) if problems.is_empty() => Ok(CheckedProperties {
                location,
                keyspace,
                dcs,
                retention,
                retention_days,
                rate_limit,
                rate_limit_total,
                snapshot_parallel,
                upload_parallel,
            }),
            _ => Err(PropertiesError::new(TaskType::Backup, problems)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(json: &str) -> TaskProperties {
        TaskProperties::from_json(json).unwrap()
    }

    fn dcs() -> Vec<String> {
        vec!["dc1".into(), "dc2".into()]
    }

    fn problems(p: &TaskProperties) -> PropertiesError {
        p.validate(&dcs()).unwrap_err()
    }

    #[test]
    fn defaults_follow_upstream() {
        let p = props(r#"{"location":["s3:bkt"]}"#);
        assert_eq!(p.transfers, -1);
        assert!(p.continue_);
        assert_eq!(p.method, "rclone");
        let c = p.validate(&dcs()).unwrap();
        assert_eq!((c.retention, c.retention_days), (3, 0));
        assert_eq!(c.rate_limit.for_dc("dc1"), Some(100));
        assert_eq!(c.dcs, dcs());
        let c = props(r#"{"location":["s3:bkt"],"retention_days":7}"#)
            .validate(&dcs())
            .unwrap();
        assert_eq!((c.retention, c.retention_days), (0, 7));
    }

    #[test]
    fn every_problem_names_its_field() {
        let e = problems(&props(
            r#"{"location":["s3:Bad"],"retention":-1,"transfers":0,"method":"native",
                "rate_limit":["dc9:10"],"keyspace":["ks.[a"],"retention_lock_mode":"locked"}"#,
        ));
        for field in [
            "location[0]",
            "retention",
            "transfers",
            "method",
            "rate_limit",
            "keyspace",
            "retention_lock_mode",
        ] {
            assert!(e.problem(field).is_some(), "{field}: {e}");
        }
        assert!(e.problem("rate_limit").unwrap().reason.contains("dc9"));
        assert!(
            e.to_string()
                .starts_with("invalid backup task properties: "),
            "{e}"
        );
        assert!(
            e.problem("method")
                .unwrap()
                .reason
                .contains("not supported")
        );
        let missing = problems(&TaskProperties::default());
        assert!(
            missing
                .problem("location")
                .unwrap()
                .reason
                .contains("required")
        );
    }

    #[test]
    fn each_selected_dc_needs_a_location() {
        let e = problems(&props(r#"{"location":["dc1:s3:bkt"]}"#));
        assert!(e.problem("location").unwrap().reason.contains("dc2"), "{e}");
        props(r#"{"location":["dc1:s3:bkt"],"dc":["dc1"]}"#)
            .validate(&dcs())
            .unwrap();
        let e = problems(&props(r#"{"location":["s3:bkt"],"dc":["dc7"]}"#));
        assert!(e.problem("dc").is_some(), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = TaskProperties::from_json(r#"{"locaton":["s3:b"]}"#).unwrap_err();
        assert!(e.to_string().contains("locaton"), "{e}");
    }
}
