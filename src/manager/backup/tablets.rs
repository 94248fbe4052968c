//! Tablets in a backup run: which keyspaces use them (as upstream detects it), and the guard that
//! keeps tablet load balancing off while the SNAPSHOT stage runs, so no tablet can move from a
//! node not yet snapshotted to one already snapshotted (or back) and escape the backup. Balancing
//! is turned on again whatever the stage's outcome: done, failed or stopped.

use std::collections::BTreeSet;

use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::error::AgentError;
use crate::manager::agent_client::scylla::{KeyspaceKind, ReplicationKind};

/// The keyspaces that use tablets. A Scylla too old to know the `replication` parameter ignores
/// it and lists every keyspace both times; then no keyspace uses tablets.
pub async fn tablet_keyspaces(client: &AgentClient) -> Result<BTreeSet<String>, AgentError> {
    let tablets: BTreeSet<String> = client
        .keyspaces(KeyspaceKind::All, ReplicationKind::Tablets)
        .await?
        .into_iter()
        .collect();
    if tablets.is_empty() {
        return Ok(tablets);
    }
    let vnodes: BTreeSet<String> = client
        .keyspaces(KeyspaceKind::All, ReplicationKind::Vnodes)
        .await?
        .into_iter()
        .collect();
    Ok(only_tablets(tablets, &vnodes))
}

/// `tablets`, unless a keyspace is listed as both tablet- and vnode-based (the parameter was
/// ignored): then none.
fn only_tablets(tablets: BTreeSet<String>, vnodes: &BTreeSet<String>) -> BTreeSet<String> {
    if tablets.intersection(vnodes).next().is_some() {
        return BTreeSet::new();
    }
    tablets
}

/// Tablet balancing turned off for as long as it lives: [`BalancingOff::restore`] turns it on
/// again; if the guard is dropped without that (the run's future dropped), a task does it.
pub struct BalancingOff {
    /// Clients of the hosts that may take the call, in the order tried.
    hosts: Vec<AgentClient>,
    /// Whether balancing is still off because of this guard.
    off: bool,
}

impl BalancingOff {
    /// Turns tablet balancing off through the first of `hosts` that takes the call (the setting
    /// is cluster-wide); the error of the last one when none does.
    pub async fn disable(hosts: Vec<AgentClient>) -> Result<BalancingOff, AgentError> {
        set_on_any(&hosts, false).await?;
        tracing::info!("tablet load balancing turned off for the snapshot");
        Ok(BalancingOff { hosts, off: true })
    }

    /// Turns tablet balancing on again (its own calls and timeouts: a stopped run's cancellation
    /// does not reach them); a failure is logged, as there is nothing else to do about it.
    pub async fn restore(mut self) {
        self.off = false;
        enable(std::mem::take(&mut self.hosts)).await;
    }
}

impl Drop for BalancingOff {
    fn drop(&mut self) {
        if !self.off {
            return;
        }
        let hosts = std::mem::take(&mut self.hosts);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(enable(hosts));
        } else {
            tracing::error!(
                "tablet load balancing is left off: turn it on with POST /storage_service/tablets/balancing?enabled=true"
            );
        }
    }
}

/// Turns balancing on through the first host that takes the call, logging the outcome.
async fn enable(hosts: Vec<AgentClient>) {
    match set_on_any(&hosts, true).await {
        Ok(()) => tracing::info!("tablet load balancing turned on again"),
        Err(e) => {
            tracing::error!(error = %e, "tablet load balancing could not be turned on again: turn it on with POST /storage_service/tablets/balancing?enabled=true")
        }
    }
}

/// Sets balancing through the first of `hosts` that takes the call.
async fn set_on_any(hosts: &[AgentClient], enabled: bool) -> Result<(), AgentError> {
    let mut last = None;
    for h in hosts {
        match h.set_tablet_balancing(enabled).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(host = h.host(), enabled, error = %e, "tablet balancing call failed");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or(AgentError::Client {
        host: "-".into(),
        reason: "no host to set tablet balancing on".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn an_old_scylla_listing_every_keyspace_twice_has_no_tablets() {
        let tablets = set(&["ks", "system"]);
        assert_eq!(only_tablets(tablets.clone(), &tablets), set(&[]));
        assert_eq!(
            only_tablets(set(&["tks"]), &set(&["ks", "system"])),
            set(&["tks"])
        );
    }
}
