//! Deleting backups on request: snapshots in their locations ([`delete_snapshots`]: every node's
//! manifests of the tags, purged with reference counting by [`crate::manager::backup::purge`] under the
//! locations' leases), and the `sm_*` snapshots left on the nodes ([`delete_local_snapshots`]).

use std::collections::{BTreeMap, BTreeSet};

use futures::{FutureExt, StreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::format::paths::remote_lease_file;
use crate::format::tag::{SnapshotTag, is_snapshot_tag};
use crate::manager::agent_client::AgentClient;
use crate::manager::backup::purge::{PurgeError, assign_nodes, purge_node};
use crate::manager::backup::retention::{self, Snapshot};
use crate::manager::discovery::{DiscoveryError, discover};
use crate::manager::lease::{self, Holder, Lease, LeaseError};
use crate::manager::location::manifests::{
    LocationClient, LocationError, list_manifests, run_bounded,
};

/// Nodes purged at once through one agent.
const PURGES_IN_PARALLEL: usize = 2;
/// Nodes whose local snapshots are deleted at once.
const NODES_IN_PARALLEL: usize = 16;

/// Why deleting snapshots failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// Reading the locations failed, or a snapshot asked for is in none of them.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// Purging failed.
    #[error(transparent)]
    Purge(#[from] PurgeError),
    /// The cluster's nodes could not be found.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// Another manager holds a location's lease (DESIGN.md invariant 9).
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

impl DeleteError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            DeleteError::Location(e) => e.retryable(),
            DeleteError::Purge(e) => e.retryable(),
            DeleteError::Discovery(e) => e.retryable(),
            DeleteError::Lease(_) => false,
        }
    }

    /// Whether the error means that what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DeleteError::Location(e) if e.is_not_found())
    }
}

/// What deleting snapshots did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeleteReport {
    /// Node manifests deleted.
    pub deleted_manifests: u64,
    /// Data files deleted (files still referenced by other snapshots stay).
    pub deleted_files: u64,
}

/// Deletes snapshots `tags` of `cluster` from `locations`: every node's manifests of those tags
/// go, with the files no remaining snapshot references, and older versions of files no
/// remaining snapshot can need. Refuses, changing nothing, when a tag is in none of the
/// locations, or when another manager holds a location's lease; holds the leases meanwhile.
pub async fn delete_snapshots(
    locations: &[LocationClient],
    cluster: Uuid,
    tags: &[SnapshotTag],
) -> Result<DeleteReport, DeleteError> {
    let held = locations
        .iter()
        .map(|lc| (lc.location.clone(), vec![lc.client.clone()]))
        .collect();
    let holder = Holder {
        task: None,
        run: Uuid::new_v4(),
        purpose: "backup delete",
    };
    let lost = CancellationToken::new();
    let lease = Lease::take(lease::settings(), held, cluster, holder, lost.clone()).await?;
    let result = delete_held(locations, cluster, tags).await;
    let lost = lease.lost();
    lease.release().await;
    match lost {
        Some(reason) => Err(DeleteError::Lease(LeaseError::Lost {
            location: locations
                .iter()
                .map(|l| l.location.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            path: remote_lease_file(cluster),
            reason,
        })),
        None => result,
    }
}

/// [`delete_snapshots`] once the leases are held.
async fn delete_held(
    locations: &[LocationClient],
    cluster: Uuid,
    tags: &[SnapshotTag],
) -> Result<DeleteReport, DeleteError> {
    let mut listed = Vec::new();
    for lc in locations {
        listed.push((
            lc,
            list_manifests(&lc.client, &lc.location, Some(cluster)).await?,
        ));
    }
    let present: BTreeSet<&SnapshotTag> = listed
        .iter()
        .flat_map(|(_, ms)| ms.iter().map(|m| &m.snapshot_tag))
        .collect();
    let missing: BTreeSet<String> = tags
        .iter()
        .filter(|t| !present.contains(t))
        .map(SnapshotTag::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(
            LocationError::unknown_snapshots(missing.into_iter().collect(), locations).into(),
        );
    }
    let doomed: BTreeSet<&SnapshotTag> = tags.iter().collect();
    let mut report = DeleteReport::default();
    for (lc, manifests) in &listed {
        let stale: BTreeSet<Snapshot> = manifests
            .iter()
            .filter(|m| doomed.contains(&m.snapshot_tag))
            .map(|m| (m.task_id, m.snapshot_tag.clone()))
            .collect();
        if stale.is_empty() {
            continue;
        }
        let oldest = retention::oldest_kept(manifests, &stale);
        // One agent does the whole location: every node is "unclaimed".
        let nodes = assign_nodes(manifests, &[String::new()])
            .into_iter()
            .flat_map(|(_, nodes)| nodes);
        let (stale, oldest) = (&stale, oldest.as_ref());
        let purges = nodes
            .map(|n| {
                async move {
                    purge_node(
                        &lc.client,
                        &lc.location,
                        &n.node,
                        &n.manifests,
                        stale,
                        oldest,
                    )
                    .await
                }
                .boxed()
            })
            .collect();
        for done in run_bounded(purges, PURGES_IN_PARALLEL).await? {
            report.deleted_manifests += done.manifests_deleted;
            report.deleted_files += done.files_deleted;
        }
    }
    Ok(report)
}

/// What deleting one node's local snapshots did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSnapshots {
    /// The node's address.
    pub host: String,
    /// The node's DC.
    pub dc: String,
    /// The `sm_*` snapshot tags deleted, sorted.
    pub deleted: Vec<String>,
    /// Why the node was skipped or failed, if it was.
    pub error: Option<String>,
}

/// On every node of the cluster that `hosts` reach (agents on `port`, with `token`, their
/// certificates in `pins`), deletes
/// every snapshot whose tag is a backup tag (`sm_YYYYMMDDhhmmssUTC`); other snapshots stay. Nodes
/// that are down are reported, not fatal.
pub async fn delete_local_snapshots(
    hosts: &[String],
    port: u16,
    token: &str,
    pins: &BTreeMap<String, String>,
) -> Result<Vec<HostSnapshots>, DeleteError> {
    let view = discover(hosts, port, token, pins).await?;
    let contact = AgentClient::new(&view.contact, port, token, pins).map_err(|e| {
        DiscoveryError::Contact {
            host: view.contact.clone(),
            source: e,
        }
    })?;
    Ok(futures::stream::iter(view.nodes)
        .map(|node| {
            let client = contact.for_host(&node.address);
            async move {
                let mut out = HostSnapshots {
                    host: node.address.clone(),
                    dc: node.dc.clone(),
                    deleted: Vec::new(),
                    error: node.down_reason(),
                };
                if out.error.is_some() {
                    return out;
                }
                let tags: BTreeSet<String> = match client.snapshots().await {
                    Ok(s) => s
                        .into_iter()
                        .map(|s| s.tag)
                        .filter(|t| is_snapshot_tag(t))
                        .collect(),
                    Err(e) => {
                        out.error = Some(e.to_string());
                        return out;
                    }
                };
                for tag in tags {
                    match client.delete_snapshot(Some(&tag), None, None).await {
                        Ok(()) => out.deleted.push(tag),
                        Err(e) => {
                            out.error = Some(e.to_string());
                            break;
                        }
                    }
                }
                out
            }
        })
        .buffered(NODES_IN_PARALLEL)
        .collect()
        .await)
}
