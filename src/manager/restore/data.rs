//! The DATA stage (spec §4): autocompaction off for every restored table on every host (unless
//! `allow_compaction`) and always back on however the stage ends (DESIGN invariant 8); one
//! [`RestoreNode`] per host, `parallel` hosts at a time, taking batches from the shared pool; a
//! batch a host gave back is offered again to the hosts still allowed to take it; any SSTable
//! left fails the run, naming `N sstables of ks.t`.

use std::sync::Arc;

use actix::Actor;

use super::node::{NodeError, NodeSetup, RestoreBatches, RestoreNode};
use super::plan::TargetHost;
use super::run::{DataContext, RestoreError, RestoreResult};
use crate::format::dclimit::DcLimits;
use crate::manager::agent_client::AgentClient;
use crate::manager::fleet::run_limited;
use crate::manager::store::RestoreRunProgress;

/// How many times the hosts go over the pool again for batches given back by a failing host.
const ROUNDS: usize = 3;

/// What the DATA stage works on.
pub struct DataStage<'a> {
    /// What the node actors share (the pool among it).
    pub ctx: Arc<DataContext>,
    /// The hosts restoring.
    pub hosts: &'a [TargetHost],
    /// A client of the contact node's agent (`for_host` reaches the others).
    pub client: &'a AgentClient,
    /// The rows of batches the continued run left unfinished.
    pub interrupted: Vec<RestoreRunProgress>,
    /// Hosts restoring at once (0: all).
    pub parallel: u64,
    /// Keep autocompaction on.
    pub allow_compaction: bool,
}

impl DataStage<'_> {
    /// Runs the stage.
    pub async fn run(self) -> RestoreResult<()> {
        let tables: Vec<(String, String)> = self.ctx.table_dirs.keys().cloned().collect();
        if !self.allow_compaction
            && let Err(e) = self.autocompaction(&tables, false).await
        {
            self.autocompaction(&tables, true).await.ok();
            return Err(e.into());
        }
        let result = self.hosts_restore().await;
        if !self.allow_compaction
            && let Err(e) = self.autocompaction(&tables, true).await
        {
            tracing::error!(run = %self.ctx.key, error = %e, "could not turn autocompaction back on");
            if result.is_ok() {
                return Err(e.into());
            }
        }
        result
    }

    /// Turns autocompaction of `tables` on or off on every host; every call is made, the
    /// first error is returned.
    async fn autocompaction(
        &self,
        tables: &[(String, String)],
        enabled: bool,
    ) -> Result<(), crate::manager::agent_client::error::AgentError> {
        let hosts = self
            .hosts
            .iter()
            .map(|h| (h.dc.clone(), self.client.for_host(&h.address)))
            .collect();
        let results = run_limited(hosts, &DcLimits::default(), |client| async move {
            for (ks, t) in tables {
                client.set_autocompaction(ks, t, enabled).await?;
            }
            Ok(())
        })
        .await;
        tracing::info!(run = %self.ctx.key, enabled, "autocompaction of the restored tables set");
        results.into_iter().collect()
    }

    /// Every host restores batches until the pool has none left that a host may take.
    async fn hosts_restore(&self) -> RestoreResult<()> {
        let limits = DcLimits::parse(&[self.parallel.to_string()]).unwrap_or_default();
        let mut host_errors = Vec::new();
        for round in 0..ROUNDS {
            let hosts = self
                .hosts
                .iter()
                .map(|h| {
                    let interrupted = if round == 0 {
                        self.interrupted
                            .iter()
                            .filter(|r| r.host == h.address)
                            .cloned()
                            .collect()
                    } else {
                        Vec::new()
                    };
                    (h.dc.clone(), (h.clone(), interrupted))
                })
                .collect();
            let results = run_limited(hosts, &limits, |(host, interrupted)| async move {
                let address = host.address.clone();
                let node = RestoreNode::new(NodeSetup {
                    ctx: self.ctx.clone(),
                    client: self.client.for_host(&address),
                    host,
                    interrupted,
                })
                .start();
                let r = match node.send(RestoreBatches).await {
                    Ok(r) => r,
                    Err(e) => Err(NodeError::Actor {
                        host: address.clone(),
                        reason: e.to_string(),
                    }),
                };
                (address, r)
            })
            .await;
            for (host, r) in results {
                match r {
                    Ok(()) => {}
                    Err(NodeError::Stopped { .. }) => return Err(RestoreError::Stopped),
                    Err(e) => {
                        tracing::warn!(run = %self.ctx.key, %host, error = %e, "host failed");
                        host_errors.push(e.to_string());
                    }
                }
            }
            if self.ctx.cancel.is_cancelled() {
                return Err(RestoreError::Stopped);
            }
            if !self.takeable() {
                break;
            }
            tracing::info!(run = %self.ctx.key, round, "batches were given back; the hosts go over the pool again");
        }
        let left = self.ctx.pool.lock().map(|p| p.left()).unwrap_or_default();
        if left.is_empty() {
            return Ok(());
        }
        let left = left
            .iter()
            .map(|(table, n)| format!("{n} sstables of {table}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut causes = host_errors;
        causes.extend(
            self.ctx
                .errors
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default(),
        );
        Err(RestoreError::NotRestored { left, causes })
    }

    /// Whether a host may still take a batch from the pool.
    fn takeable(&self) -> bool {
        let Ok(pool) = self.ctx.pool.lock() else {
            return false;
        };
        let mut probe = pool.clone();
        self.hosts.iter().any(|h| probe.take(h).is_some())
    }
}
