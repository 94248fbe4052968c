//! Whether the agents can use a task's locations, asked when a task is created or changed and by
//! the dry run: every agent of the DCs a location serves lists the location's `backup`
//! directory. The check only reads (a listing), so read-only credentials pass it: a backup
//! task's uploads need write permission, which its run finds out; a restore task needs no more
//! than reading (upstream demands write permission for both). An agent that answers that the
//! location is not configured (or otherwise refuses it) makes the location refused, naming the
//! hosts; an agent that does not answer in time is only logged, as the run checks again.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::format::location::Location;
use crate::manager::agent_client::{
    AgentClient,
    error::{AgentError, RetryPolicy},
    files::Root,
};
use crate::manager::backup::properties::CheckedProperties;
use crate::manager::discovery::ClusterView;

/// How long the agents' answers are waited for.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(4);

/// A location some agents refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("location {location} cannot be used by the agent of {}: {reason}", .hosts.join(", "))]
pub struct LocationRefused {
    /// The index of the location in the task's `location` list.
    pub index: usize,
    /// The location.
    pub location: String,
    /// The hosts whose agents refused it.
    pub hosts: Vec<String>,
    /// The first agent's answer.
    pub reason: String,
}

/// The hosts whose agents use location `index` of `checked`: the nodes of its DC, or for a
/// location without a DC those of the backed-up DCs that have no location of their own.
fn hosts_of(view: &ClusterView, checked: &CheckedProperties, location: &Location) -> Vec<String> {
    let serves = |dc: &str| match &location.dc {
        Some(own) => own == dc,
        None => !checked.location.iter().any(|l| l.dc.as_deref() == Some(dc)),
    };
    view.nodes
        .iter()
        .filter(|n| checked.dcs.iter().any(|d| d == &n.dc) && serves(&n.dc))
        .filter(|n| n.agent_ok)
        .map(|n| n.address.clone())
        .collect()
}

/// The hosts that read location `location` in a restore: the nodes of its DC when the cluster
/// has that DC, else every node (a restore's location DC may name a DC of the backed-up cluster).
fn readers_of(view: &ClusterView, location: &Location) -> Vec<String> {
    let own_dc = location
        .dc
        .as_deref()
        .filter(|dc| view.nodes.iter().any(|n| n.dc == *dc));
    view.nodes
        .iter()
        .filter(|n| own_dc.is_none_or(|dc| n.dc == dc))
        .filter(|n| n.agent_ok)
        .map(|n| n.address.clone())
        .collect()
}

/// Asks the agents about every location of a backup task's `checked` properties; the first
/// location refused is the error.
pub async fn check_locations(
    client: &AgentClient,
    view: &ClusterView,
    checked: &CheckedProperties,
) -> Result<(), LocationRefused> {
    let asks = checked
        .location
        .iter()
        .enumerate()
        .map(|(index, location)| (index, location, hosts_of(view, checked, location)))
        .collect();
    ask_agents(client, asks).await
}

/// Asks the agents whether they can read a restore task's `locations` (a listing, never a
/// write: read-only credentials suffice); the first location refused is the error.
pub async fn check_readable(
    client: &AgentClient,
    view: &ClusterView,
    locations: &[Location],
) -> Result<(), LocationRefused> {
    let asks = locations
        .iter()
        .enumerate()
        .map(|(index, location)| (index, location, readers_of(view, location)))
        .collect();
    ask_agents(client, asks).await
}

/// Has each host of each `(index, location, hosts)` list the location's `backup` directory.
async fn ask_agents(
    client: &AgentClient,
    locations: Vec<(usize, &Location, Vec<String>)>,
) -> Result<(), LocationRefused> {
    let client = client.clone().with_retry(RetryPolicy::none());
    let mut asks = Vec::new();
    for (index, location, hosts) in locations {
        for host in hosts {
            let agent = client.for_host(&host);
            let location = location.clone();
            asks.push(async move {
                let answer = tokio::time::timeout(
                    CHECK_TIMEOUT,
                    agent.list_files(Root::Backup(&location), "backup", false),
                )
                .await
                .map(|r| r.map(drop));
                (index, location, host, answer)
            });
        }
    }
    let mut refused: BTreeMap<usize, LocationRefused> = BTreeMap::new();
    for (index, location, host, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.is_not_found() => {}
            Ok(Err(AgentError::Status {
                status, message, ..
            })) if (400..500).contains(&status) => {
                refused
                    .entry(index)
                    .or_insert_with(|| LocationRefused {
                        index,
                        location: location.to_string(),
                        hosts: Vec::new(),
                        reason: message.clone(),
                    })
                    .hosts
                    .push(host);
            }
            Ok(Err(e)) => {
                tracing::warn!(%location, %host, error = %e, "the agent could not check the location; the task is accepted and its run checks again");
            }
            Err(_) => {
                tracing::warn!(%location, %host, timeout = ?CHECK_TIMEOUT, "the agent did not answer about the location in time; the task is accepted and its run checks again");
            }
        }
    }
    match refused.into_values().next() {
        Some(r) => Err(r),
        None => Ok(()),
    }
}
