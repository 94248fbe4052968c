//! Init of a restore (spec §2): the cluster's nodes, the manifests of the tag (temporary ones must
//! be shadowed), `dc_mapping` checks, units with tombstone_gc modes, views, the remote SSTable
//! directories with the versioned-file rule, and the dry run's checks on top ("would this
//! restore succeed": every object with its size, every table in the target, room on every node).

use scylla::client::session::Session;
use serde::Serialize;

use super::plan::RestorePlan;
use super::properties::RestoreProperties;
use crate::manager::agent_client::AgentClient;
use crate::manager::discovery::ClusterView;
use crate::manager::store::{Cluster, RestoreRun};

/// Why init (or a CQL step of a restore: views, tombstone_gc, schema) failed; each message names
/// what is wrong and, where the user can fix it, how.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Placeholder until init is written.
    #[error("restore init is not implemented yet")]
    NotYet,
}

impl InitError {
    /// Whether a later attempt may get past it (a node or store briefly away), as opposed to a
    /// problem of the backup or the properties that a retry cannot fix.
    pub fn retryable(&self) -> bool {
        false
    }
}

/// A cluster being restored into, as init found it: its nodes and a client of their agents.
#[derive(Debug, Clone)]
pub struct Init {
    /// The cluster.
    pub cluster: Cluster,
    /// Its nodes, DCs and liveness.
    pub view: ClusterView,
    /// A client of the contact node's agent (`for_host` reaches the others).
    pub client: AgentClient,
}

impl Init {
    /// Discovers the cluster's nodes through its agents; every node must be up and normal.
    pub async fn connect(cluster: &Cluster) -> Result<Init, InitError> {
        let _ = cluster;
        Err(InitError::NotYet)
    }

    /// The plan of a run of `props`: units and views inherited from `inherited` (the task's
    /// unfinished previous run) when given, else read from the backup and the cluster.
    pub async fn plan(
        &self,
        props: &RestoreProperties,
        inherited: Option<&RestoreRun>,
    ) -> Result<RestorePlan, InitError> {
        let _ = (props, inherited);
        Err(InitError::NotYet)
    }

    /// The dry run: the plan and every reason the restore would fail; touches nothing.
    pub async fn dry_run(&self, props: &RestoreProperties) -> Result<DryRunReport, InitError> {
        let _ = props;
        Err(InitError::NotYet)
    }

    /// A CQL session with the cluster (the cluster's credentials), for views, tombstone_gc and
    /// the schema.
    pub async fn cql(&self) -> Result<Session, InitError> {
        Err(InitError::NotYet)
    }
}

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
