//! `cairn backup validate --offline`: the whole check of one location from the store alone, with
//! this machine's credentials, no manager and no agent. Node directories are checked through
//! [`super::node::validate_node`] as the online run checks them; runs that may still resume are
//! known here only by their temporary manifests, so the deletion cut-off is the earlier of the
//! grace period and the oldest unfinished snapshot's tag.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::location::{NodeManifests, node_dirs};
use super::node::{NodeOptions, validate_node};
use super::report::{LocationReport, NodeReport};
use super::source::ValidateSource;
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
/// Orphans are looked for only when no tags are given (whatever `request.node.find_orphans`
/// says); a node directory whose check fails has the error in its report, the others going on.
pub async fn validate_location(
    remote: &Remote,
    location: &Location,
    request: &OfflineRequest,
    on_node: &(dyn Fn(&NodeReport) + Send + Sync),
) -> Result<LocationReport, LocationError> {
    validate_location_with(
        remote,
        location,
        request,
        &CancellationToken::new(),
        on_node,
    )
    .await
}

/// [`validate_location`] through any [`ValidateSource`], stopping between steps once `cancel`
/// fires.
pub async fn validate_location_with<S: ValidateSource>(
    source: &S,
    location: &Location,
    request: &OfflineRequest,
    cancel: &CancellationToken,
    on_node: &(dyn Fn(&NodeReport) + Send + Sync),
) -> Result<LocationReport, LocationError> {
    let nodes = node_dirs(source, location, request.cluster, &request.tags).await?;
    let mut options = request.node.clone();
    options.cutoff = cutoff(&nodes, options.cutoff);
    options.find_orphans = request.tags.is_empty();
    options.delete_orphans &= options.find_orphans;
    let options = &options;
    let reports: Vec<NodeReport> = futures::stream::iter(nodes.iter())
        .map(|node| async move {
            let report = validate_node(source, location, node, options, cancel, &|_| {})
                .await
                .unwrap_or_else(|e| NodeReport {
                    dc: node.dc.clone(),
                    node_id: node.node_id.clone(),
                    checked_by: source.checked_by(),
                    error: Some(e.to_string()),
                    completed_at: Some(Utc::now()),
                    ..NodeReport::default()
                });
            on_node(&report);
            report
        })
        .buffered(request.parallel.max(1))
        .collect()
        .await;
    Ok(LocationReport {
        location: location.to_string(),
        cluster_id: request.cluster,
        nodes: reports,
    })
}

/// The deletion cut-off: `cutoff`, or the tag time of the oldest unfinished snapshot (a
/// temporary manifest) of any of `nodes` when earlier.
pub fn cutoff(nodes: &[NodeManifests], cutoff: DateTime<Utc>) -> DateTime<Utc> {
    nodes
        .iter()
        .flat_map(|n| &n.temporaries)
        .map(|m| m.snapshot_tag.time())
        .fold(cutoff, DateTime::min)
}
