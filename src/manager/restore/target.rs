//! Init of a restore (spec §2): the cluster's nodes, the manifests of the tag (temporary ones must
//! be shadowed), `dc_mapping` checks, units with tombstone_gc modes, views, the remote SSTable
//! directories with the versioned-file rule, and the dry run's checks on top ("would this
//! restore succeed": every object with its size, every table in the target, room on every node).

use serde::Serialize;

use super::plan::RestorePlan;

/// One object the restore needs that the location does not hold as the manifest says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingObject {
    /// The object, relative to the location's root, with the location (`provider:bucket/path`).
    pub path: String,
    /// The size the manifest implies.
    pub expected_size: u64,
    /// The size found, if the object exists with another size.
    pub found_size: Option<u64>,
}

/// One target node's room for its share of the restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRoom {
    /// The agent's address.
    pub host: String,
    /// Its DC.
    pub dc: String,
    /// Bytes it is expected to hold in `upload/` at most at once (two batches with pipelining).
    pub needed: u64,
    /// Free bytes on its data file system.
    pub free: u64,
    /// Whether `free` stays above the free-space floor after `needed`.
    pub ok: bool,
}

/// What `--dry-run` answers: the plan and every reason the restore would fail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRunReport {
    /// The plan the run would work from.
    pub plan: RestorePlan,
    /// Objects checked in the location.
    pub objects_checked: u64,
    /// Objects missing or of another size.
    pub missing_objects: Vec<MissingObject>,
    /// `ks.table` of backed-up tables the target lacks (restore the schema first).
    pub missing_tables: Vec<String>,
    /// Room on every target node.
    pub hosts: Vec<HostRoom>,
    /// Every problem in words; empty when the restore would go ahead.
    pub problems: Vec<String>,
}
