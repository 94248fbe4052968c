//! The properties of a restore task (upstream's JSON keys and defaults, spec §1) and their
//! validation; which of them `restore update` may change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::format::MAX_TRANSFERS;
use crate::format::dclimit::DcLimits;
use crate::format::filter::KeyspaceFilter;
use crate::format::location::Location;
use crate::format::tag::SnapshotTag;
use crate::manager::backup::properties::{MAX_RATE_MIB, PropertiesError, PropertyProblem};
use crate::manager::store::TaskType;
use uuid::Uuid;

use super::one_to_one::{self, NodeMapping};

/// The properties of a restore task, with upstream's JSON keys and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreProperties {
    /// Locations `[dc:]provider:bucket` to restore from; at least one, no duplicates.
    pub location: Vec<String>,
    /// Keyspace/table glob filters; empty means every table (a schema restore takes none).
    pub keyspace: Vec<String>,
    /// The snapshot tag to restore (`sm_YYYYMMDDhhmmssUTC`); required.
    pub snapshot_tag: String,
    /// SSTables per shard in a batch; 0 means at most 5% of the node's expected share of bytes.
    pub batch_size: i64,
    /// Hosts restoring at once; 0 means all.
    pub parallel: i64,
    /// Files in parallel per host: -1 for the agent's setting, 0 for 2 × shards, or at least 1.
    pub transfers: i64,
    /// Download rate per host `[dc:]MiB/s` (0: unlimited); empty means unlimited.
    pub rate_limit: Vec<String>,
    /// Keep autocompaction on for the restored tables during DATA.
    pub allow_compaction: bool,
    /// Accepted for compatibility; the agent pins no CPU.
    pub unpin_agent_cpu: bool,
    /// Restore the schema (exactly one of the two is true).
    pub restore_schema: bool,
    /// Restore the tables' data (exactly one of the two is true).
    pub restore_tables: bool,
    /// Continue the task's unfinished run at its stage (`--no-continue` starts over, still
    /// inheriting units and views).
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Source DC → target DC; a source DC not named is not restored (when set).
    pub dc_mapping: BTreeMap<String, String>,
    /// `rclone` or `auto` (both the agent's download jobs here); `native` is refused.
    pub method: String,
    /// Only the manifests of this cluster ID are read (any cluster's when unset); required by a
    /// 1-1 restore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_cluster_id: Option<Uuid>,
    /// A 1-1 restore ([`one_to_one`](super::one_to_one)): each backed-up node and the node of
    /// this cluster that loads its SSTables without streaming; empty for a regular restore.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes_mapping: Vec<NodeMapping>,
}

impl Default for RestoreProperties {
    fn default() -> Self {
        RestoreProperties {
            location: Vec::new(),
            keyspace: Vec::new(),
            snapshot_tag: String::new(),
            batch_size: 2,
            parallel: 0,
            transfers: 0,
            rate_limit: Vec::new(),
            allow_compaction: false,
            unpin_agent_cpu: false,
            restore_schema: false,
            restore_tables: false,
            continue_: true,
            dc_mapping: BTreeMap::new(),
            method: "rclone".into(),
            source_cluster_id: None,
            nodes_mapping: Vec::new(),
        }
    }
}

/// Most SSTables per shard in a batch.
pub const MAX_BATCH_SIZE: i64 = 1_000_000;
/// Most hosts restoring at once.
pub const MAX_PARALLEL: i64 = 100_000;
/// The only method a schema restore takes (upstream's default).
pub const DEFAULT_METHOD: &str = "rclone";

/// Restore properties after validation against the cluster's DCs.
#[derive(Debug, Clone)]
pub struct CheckedRestoreProperties {
    /// Parsed locations, in the order given.
    pub location: Vec<Location>,
    /// The keyspace filter (every table when none was given).
    pub keyspace: KeyspaceFilter,
    /// The snapshot restored.
    pub snapshot_tag: SnapshotTag,
    /// Download rate per host.
    pub rate_limit: DcLimits,
}

/// The properties `restore update` may never change, as their JSON keys (`type` stands for the
/// pair restore_schema / restore_tables).
pub const FIXED_ON_UPDATE: &[&str] = &[
    "location",
    "keyspace",
    "snapshot_tag",
    "type",
    "dc_mapping",
    "source_cluster_id",
    "nodes_mapping",
];

impl RestoreProperties {
    /// Parses properties JSON over the defaults; a malformed document or an unknown key is
    /// reported as a problem of the whole document.
    pub fn from_json(json: &str) -> Result<RestoreProperties, PropertiesError> {
        serde_json::from_str(json).map_err(|e| PropertiesError::document(TaskType::Restore, &e))
    }

    /// Checks every rule of upstream's validation (spec §1) against a cluster with DCs
    /// `cluster_dcs`; every problem is reported with its field.
    pub fn validate(
        &self,
        cluster_dcs: &[String],
    ) -> Result<CheckedRestoreProperties, PropertiesError> {
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
        let unknown_dc = |dc: &str| -> Option<String> {
            (!cluster_dcs.iter().any(|k| k == dc))
                .then(|| format!("unknown DC {dc:?} (the cluster has DCs: {known})"))
        };

        let mut location: Vec<Location> = Vec::new();
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
                    } else if let Some(first) = location.iter().position(|o| *o == loc) {
                        problem(
                            &field,
                            format!("{l} is given twice (see location[{first}])"),
                        );
                    }
                    location.push(loc);
                }
                Err(e) => problem(&field, e.to_string()),
            }
        }

        let snapshot_tag = if self.snapshot_tag.trim().is_empty() {
            problem(
                "snapshot_tag",
                "required: give the tag of the snapshot to restore (sm_YYYYMMDDhhmmssUTC; cairn backup list shows them)".into(),
            );
            None
        } else {
            self.snapshot_tag
                .parse::<SnapshotTag>()
                .map_err(|e| problem("snapshot_tag", e.to_string()))
                .ok()
        };

        let keyspace = KeyspaceFilter::new(&self.keyspace)
            .map_err(|e| problem("keyspace", e.to_string()))
            .ok();

        for (field, v, max) in [
            ("batch_size", self.batch_size, MAX_BATCH_SIZE),
            ("parallel", self.parallel, MAX_PARALLEL),
        ] {
            if v < 0 {
                problem(field, format!("{v} is negative (expected 0 or more)"));
            } else if v > max {
                problem(field, format!("{v} is more than {max}"));
            }
        }
        let max_transfers = i64::try_from(MAX_TRANSFERS).unwrap_or(i64::MAX);
        if self.transfers < -1 || self.transfers > max_transfers {
            problem(
                "transfers",
                format!(
                    "{} is not allowed (expected -1 for the agent's setting, 0 for twice the shards, or 1 to {MAX_TRANSFERS}, the agent's limit)",
                    self.transfers
                ),
            );
        }

        match (self.restore_schema, self.restore_tables) {
            (true, false) | (false, true) => {}
            (both, _) => problem(
                "restore_tables",
                format!(
                    "exactly one of restore_schema and restore_tables must be true ({}); restore the schema first, then the tables",
                    if both { "both are" } else { "neither is" }
                ),
            ),
        }
        match self.method.as_str() {
            "rclone" | "auto" => {}
            "native" => problem(
                "method",
                "native (Scylla's own download) is not supported: use rclone".into(),
            ),
            m => problem(
                "method",
                format!("unknown method {m:?} (expected rclone, auto or native)"),
            ),
        }
        if self.restore_schema {
            if !self.keyspace.is_empty() {
                problem(
                    "keyspace",
                    "a schema restore takes no keyspace filter: it restores the whole schema (filter the tables restore instead)".into(),
                );
            }
            if self.method == "auto" {
                problem(
                    "method",
                    format!("a schema restore takes the default method ({DEFAULT_METHOD})"),
                );
            }
        }

        let rate_limit = match DcLimits::parse(&self.rate_limit) {
            Ok(parsed) => {
                if let Some(reason) = parsed.dcs().into_iter().find_map(unknown_dc) {
                    problem("rate_limit", reason);
                } else if let Some(l) = parsed.as_slice().iter().find(|l| l.limit > MAX_RATE_MIB) {
                    problem(
                        "rate_limit",
                        format!("{l}: {} is more than {MAX_RATE_MIB} MiB/s", l.limit),
                    );
                }
                parsed
            }
            Err(e) => {
                problem("rate_limit", e.to_string());
                DcLimits::default()
            }
        };

        for (source, target) in &self.dc_mapping {
            let field = format!("dc_mapping.{source}");
            if source.trim().is_empty() || target.trim().is_empty() {
                problem(
                    "dc_mapping",
                    format!("{source:?}={target:?}: a DC name is empty (expected source=target)"),
                );
            } else if let Some(reason) = unknown_dc(target) {
                problem(&field, format!("target {reason}"));
            }
        }

        if !self.nodes_mapping.is_empty() {
            if !self.restore_tables {
                problem(
                    "nodes_mapping",
                    "a 1-1 restore restores tables: set restore_tables (restore the schema first with a regular restore)".into(),
                );
            }
            if !self.dc_mapping.is_empty() {
                problem(
                    "dc_mapping",
                    "a 1-1 restore maps nodes with nodes_mapping: dc_mapping does not apply".into(),
                );
            }
            if self.source_cluster_id.is_none() {
                problem(
                    "source_cluster_id",
                    "required with nodes_mapping: the cluster ID of the backup (cairn backup list --all-clusters shows it)".into(),
                );
            }
            for (field, reason) in one_to_one::property_problems(&self.nodes_mapping, cluster_dcs) {
                problem(&field, reason);
            }
        }

        match (snapshot_tag, keyspace) {
            (Some(snapshot_tag), Some(keyspace)) if problems.is_empty() => {
                Ok(CheckedRestoreProperties {
                    location,
                    keyspace,
                    snapshot_tag,
                    rate_limit,
                })
            }
            _ => Err(PropertiesError::new(TaskType::Restore, problems)),
        }
    }

    /// Checks that `self` (the new properties of a task) changes none of the properties fixed at
    /// creation ([`FIXED_ON_UPDATE`]) of `old`; each refusal names the field.
    pub fn check_update(&self, old: &RestoreProperties) -> Result<(), PropertiesError> {
        let changed = [
            ("location", self.location != old.location),
            ("keyspace", self.keyspace != old.keyspace),
            ("snapshot_tag", self.snapshot_tag != old.snapshot_tag),
            (
                "type",
                (self.restore_schema, self.restore_tables)
                    != (old.restore_schema, old.restore_tables),
            ),
            ("dc_mapping", self.dc_mapping != old.dc_mapping),
            (
                "source_cluster_id",
                self.source_cluster_id != old.source_cluster_id,
            ),
            ("nodes_mapping", self.nodes_mapping != old.nodes_mapping),
        ];
        let problems: Vec<PropertyProblem> = changed
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(field, _)| PropertyProblem {
                field: if field == "type" {
                    "restore_tables".into()
                } else {
                    field.into()
                },
                reason: format!(
                    "{} cannot change once the task exists (create another restore task instead)",
                    if field == "type" {
                        "the restore type (restore_schema / restore_tables)"
                    } else {
                        field
                    }
                ),
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PropertiesError::new(TaskType::Restore, problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "sm_20250101000000UTC";

    fn props(json: &str) -> RestoreProperties {
        RestoreProperties::from_json(json).unwrap()
    }

    fn dcs() -> Vec<String> {
        vec!["dc1".into(), "dc2".into()]
    }

    fn tables() -> RestoreProperties {
        props(&format!(
            r#"{{"location":["s3:bkt"],"snapshot_tag":"{TAG}","restore_tables":true}}"#
        ))
    }

    #[test]
    fn defaults_follow_upstream_and_validate() {
        let p = tables();
        assert_eq!((p.batch_size, p.parallel, p.transfers), (2, 0, 0));
        assert_eq!(p.method, "rclone");
        assert!(p.continue_);
        let c = p.validate(&dcs()).unwrap();
        assert_eq!(c.snapshot_tag.as_str(), TAG);
        assert!(c.keyspace.check("ks", "t"));
        assert_eq!(c.location.len(), 1);
    }

    #[test]
    fn every_problem_names_its_field() {
        let e = props(
            r#"{"location":["s3:Bad","s3:ok","s3:ok"],"snapshot_tag":"sm_2025","batch_size":-1,
                "parallel":-2,"transfers":-3,"method":"native","rate_limit":["dc9:10"],
                "keyspace":["ks.[a"],"dc_mapping":{"dc1":"east"}}"#,
        )
        .validate(&dcs())
        .unwrap_err();
        for field in [
            "location[0]",
            "location[2]",
            "snapshot_tag",
            "batch_size",
            "parallel",
            "transfers",
            "method",
            "rate_limit",
            "keyspace",
            "restore_tables",
            "dc_mapping.dc1",
        ] {
            assert!(e.problem(field).is_some(), "{field}: {e}");
        }
        assert!(
            e.to_string()
                .starts_with("invalid restore task properties: "),
            "{e}"
        );
        assert!(e.problem("method").unwrap().reason.contains("use rclone"));
        assert!(e.problem("dc_mapping.dc1").unwrap().reason.contains("east"));
        let missing = RestoreProperties::default().validate(&dcs()).unwrap_err();
        for field in ["location", "snapshot_tag"] {
            let reason = &missing.problem(field).unwrap().reason;
            assert!(reason.contains("required"), "{missing}");
        }
        let reason = &missing.problem("restore_tables").unwrap().reason;
        assert!(reason.contains("neither"), "{missing}");
    }

    #[test]
    fn a_schema_restore_takes_no_keyspace_filter() {
        let mut p = tables();
        p.restore_tables = false;
        p.restore_schema = true;
        p.validate(&dcs()).unwrap();
        p.keyspace = vec!["ks".into()];
        p.method = "auto".into();
        let e = p.validate(&dcs()).unwrap_err();
        assert!(e.problem("keyspace").is_some(), "{e}");
        assert!(e.problem("method").is_some(), "{e}");
        p.restore_tables = true;
        let e = p.validate(&dcs()).unwrap_err();
        assert!(
            e.problem("restore_tables").unwrap().reason.contains("both"),
            "{e}"
        );
    }

    #[test]
    fn transfers_accept_minus_one_zero_and_positive() {
        for t in [-1, 0, 1, 256] {
            let mut p = tables();
            p.transfers = t;
            p.validate(&dcs()).unwrap();
        }
        let mut p = tables();
        p.transfers = 257;
        assert!(
            p.validate(&dcs())
                .unwrap_err()
                .problem("transfers")
                .is_some()
        );
    }

    #[test]
    fn update_refuses_fixed_fields_by_name() {
        let old = tables();
        let mut new = old.clone();
        new.batch_size = 10;
        new.parallel = 3;
        new.rate_limit = vec!["dc1:50".into()];
        new.method = "auto".into();
        new.check_update(&old).unwrap();
        new.location = vec!["s3:other".into()];
        new.keyspace = vec!["ks".into()];
        new.snapshot_tag = "sm_20250202000000UTC".into();
        new.dc_mapping.insert("dc1".into(), "dc2".into());
        new.restore_tables = false;
        new.restore_schema = true;
        let e = new.check_update(&old).unwrap_err();
        for field in [
            "location",
            "keyspace",
            "snapshot_tag",
            "dc_mapping",
            "restore_tables",
        ] {
            assert!(
                e.problem(field).unwrap().reason.contains("cannot change"),
                "{field}: {e}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = RestoreProperties::from_json(r#"{"snapshot":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("snapshot"), "{e}");
    }
}
