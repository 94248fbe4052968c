//! What an online validate works on: the task's locations (by default those of the cluster's
//! enabled backup tasks), the cluster's live nodes, and per location the hosts whose agents reach
//! it and the node directories it holds. Shared by the run and the API's dry run
//! (`POST .../tasks/validate_backup/target`).

use std::collections::BTreeSet;

use uuid::Uuid;

use super::location::{NodeManifests, node_dirs};
use crate::format::location::Location;
use crate::manager::agent_client::AgentClient;
use crate::manager::backup::properties::TaskProperties;
use crate::manager::discovery::{ClusterView, DiscoveryError, NodeView, discover};
use crate::manager::location::manifests::{LocationError, location_client};
use crate::manager::store::{Cluster, Store, StoreError, TaskType};

/// Why no location could be chosen.
pub const NO_DEFAULT_LOCATION: &str = "no location given and no enabled backup task has one";

/// A live node of the cluster that may validate.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its address (the agent's host).
    pub address: String,
    /// Its host ID.
    pub host_id: String,
    /// Its DC.
    pub dc: String,
}

/// One location as a run finds it: the hosts that reach it and its node directories.
#[derive(Debug, Clone)]
pub struct LocationTarget {
    /// The location.
    pub location: Location,
    /// The hosts of the location's DCs whose agents reach it, each with its client.
    pub hosts: Vec<(Host, AgentClient)>,
    /// The hosts that do not reach it, and why.
    pub unreachable: Vec<(String, String)>,
    /// The location's node directories of the cluster (nodes no longer in it included).
    pub dirs: Vec<NodeManifests>,
}

/// Why the targets of a run could not be found.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The cluster's nodes could not be asked.
    #[error("cluster {cluster}: its nodes could not be asked: {source}")]
    Discovery {
        /// The cluster's name.
        cluster: String,
        /// What failed.
        #[source]
        source: Box<DiscoveryError>,
    },
    /// No node of the cluster is up with its agent answering.
    #[error("cluster {cluster}: no node is up with its agent answering")]
    NoLiveNodes {
        /// The cluster's name.
        cluster: String,
    },
    /// A location of the task's could not be parsed.
    #[error("location {location:?}: {reason}")]
    BadLocation {
        /// The text.
        location: String,
        /// Why.
        reason: String,
    },
    /// The location could not be read.
    #[error(transparent)]
    Location(Box<LocationError>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No location given and none to default to.
    #[error("{NO_DEFAULT_LOCATION}")]
    NoLocation,
}

impl From<LocationError> for TargetError {
    fn from(e: LocationError) -> Self {
        TargetError::Location(Box::new(e))
    }
}

/// The locations of the cluster's enabled backup tasks, each once, in task order.
pub async fn default_locations(
    store: &dyn Store,
    cluster_id: Uuid,
) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    for t in store.list_tasks(cluster_id, false).await? {
        if t.task_type != TaskType::Backup || !t.enabled {
            continue;
        }
        // A stored document that no longer parses contributes nothing.
        if let Ok(p) = serde_json::from_value::<TaskProperties>(t.properties.clone()) {
            for l in p.location {
                if !out.contains(&l) {
                    out.push(l);
                }
            }
        }
    }
    Ok(out)
}

/// `given` parsed, or when empty the cluster's backup tasks' locations.
pub async fn locations(
    store: &dyn Store,
    cluster_id: Uuid,
    given: &[String],
) -> Result<Vec<Location>, TargetError> {
    let texts = if given.is_empty() {
        default_locations(store, cluster_id).await?
    } else {
        given.to_vec()
    };
    if texts.is_empty() {
        return Err(TargetError::NoLocation);
    }
    texts
        .iter()
        .map(|t| {
            t.parse::<Location>().map_err(|e| TargetError::BadLocation {
                location: t.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The cluster's nodes that can validate: up and normal, their agents answering.
pub async fn live_hosts(cluster: &Cluster) -> Result<(ClusterView, Vec<Host>), TargetError> {
    let view = discover(
        &cluster.hosts,
        cluster.agent_port,
        &cluster.auth_token,
        &cluster.agent_pins,
    )
    .await
    .map_err(|source| TargetError::Discovery {
        cluster: cluster.name.clone(),
        source: Box::new(source),
    })?;
    let hosts: Vec<Host> = view
        .nodes
        .iter()
        .filter(|n| n.is_live())
        .map(host_of)
        .collect();
    if hosts.is_empty() {
        return Err(TargetError::NoLiveNodes {
            cluster: cluster.name.clone(),
        });
    }
    Ok((view, hosts))
}

/// A node as a validating host.
fn host_of(n: &NodeView) -> Host {
    Host {
        address: n.address.clone(),
        host_id: n.host_id.clone(),
        dc: n.dc.clone(),
    }
}

/// The hosts serving `location`: those of its DC when it names one, else all.
pub fn serving<'a>(hosts: &'a [Host], location: &Location) -> Vec<&'a Host> {
    hosts
        .iter()
        .filter(|h| location.dc.as_deref().is_none_or(|dc| dc == h.dc))
        .collect()
}

/// `location` as the run finds it: each serving host probed (concurrently), the node
/// directories of `cluster` read through the first host that reaches it.
pub async fn location_target(
    cluster: &Cluster,
    hosts: &[Host],
    location: &Location,
) -> Result<LocationTarget, TargetError> {
    let serving = serving(hosts, location);
    let probes = serving.iter().map(|h| async move {
        let probed = location_client(
            std::slice::from_ref(&h.address),
            cluster.agent_port,
            &cluster.auth_token,
            &cluster.agent_pins,
            location,
        )
        .await;
        ((*h).clone(), probed)
    });
    let mut target = LocationTarget {
        location: location.clone(),
        hosts: Vec::new(),
        unreachable: Vec::new(),
        dirs: Vec::new(),
    };
    let mut failures = Vec::new();
    for (host, probed) in futures::future::join_all(probes).await {
        match probed {
            Ok(lc) => target.hosts.push((host, lc.client)),
            Err(LocationError::NoHost { failures: f, .. }) => {
                for (h, e) in &f {
                    target.unreachable.push((h.clone(), e.to_string()));
                }
                failures.extend(f);
            }
            Err(e) => target.unreachable.push((host.address, e.to_string())),
        }
    }
    let Some((_, reader)) = target.hosts.first() else {
        return Err(LocationError::NoHost {
            location: location.to_string(),
            failures,
        }
        .into());
    };
    target.dirs = node_dirs(reader, location, Some(cluster.id), &[]).await?;
    Ok(target)
}

/// The DCs of `locations` that the cluster does not have (a `dc:` prefix naming an unknown DC).
pub fn unknown_dcs(locations: &[Location], dcs: &[String]) -> Vec<(usize, String)> {
    let known: BTreeSet<&str> = dcs.iter().map(String::as_str).collect();
    locations
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            l.dc.as_ref()
                .filter(|dc| !known.contains(dc.as_str()))
                .map(|dc| (i, dc.clone()))
        })
        .collect()
}
