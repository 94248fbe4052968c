//! The PURGE stage's retention: every task of the cluster keeps its snapshots in the run's
//! locations by its own policy ([`policy_of`]); the stale ones are purged node by node, each by a
//! host of the run (nodes no host of the run owns are dealt out among them). Snapshots of runs in
//! progress or to be resumed are never stale.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use uuid::Uuid;

use super::node::HostPlan;
use super::plan::{Plan, Scope};
use super::purge::{PurgeError, PurgeReport, assign_nodes, purge_node};
use super::retention::{Policy, oldest_kept, policy_of, stale_snapshots};
use super::run::RunError;
use crate::format::paths::ManifestInfo;
use crate::manager::location::manifests::list_manifests;
use crate::manager::metrics;

impl Scope<'_> {
    /// PURGE: applies the retention of every task of the cluster to the run's locations: stale
    /// snapshots (by each task's policy) are purged node by node, each by a host of the run
    /// (nodes no host of the run owns are dealt out among them). Snapshots of runs that are in
    /// progress or will be resumed are never stale.
    pub async fn apply_retention(&self, plan: &Plan) -> Result<(), RunError> {
        let key = self.key();
        let store = &self.deps.store;
        let now = Utc::now();
        let tasks = store.list_tasks(key.cluster_id, true).await?;
        let policies: HashMap<Uuid, Policy> = tasks.iter().map(|t| (t.id, policy_of(t))).collect();
        let in_progress = self.protected_snapshots().await?;
        let mut seen = HashSet::new();
        for h in &plan.hosts {
            let location = h.location.without_dc();
            if !seen.insert(location.clone()) {
                continue;
            }
            let client = plan.client.for_host(&h.address);
            let manifests = list_manifests(&client, &location, Some(key.cluster_id))
                .await
                .map_err(|e| RunError::Purge(e.to_string()))?;
            // A temporary manifest younger than age_max may belong to a run that started after
            // the runs in progress were read: it is kept, and purged once older than age_max.
            let mut in_progress = in_progress.clone();
            let young = |m: &&ManifestInfo| {
                self.deps.settings.age_max.is_none_or(|max| {
                    chrono::Duration::from_std(max)
                        .is_ok_and(|max| now - m.snapshot_tag.time() <= max)
                })
            };
            in_progress.extend(
                manifests
                    .iter()
                    .filter(|m| m.temporary)
                    .filter(young)
                    .filter(|m| m.task_id != key.task_id)
                    .map(|m| (m.task_id, m.snapshot_tag.clone())),
            );
            let stale = stale_snapshots(&manifests, &policies, &in_progress, now);
            if stale.is_empty() {
                continue;
            }
            let oldest = oldest_kept(&manifests, &stale);
            let hosts: Vec<&HostPlan> = plan
                .hosts
                .iter()
                .filter(|o| o.location.without_dc() == location)
                .collect();
            let ids: Vec<String> = hosts.iter().map(|o| o.host_id.clone()).collect();
            let work = assign_nodes(&manifests, &ids)
                .into_iter()
                .map(|(id, nodes)| {
                    let address = hosts
                        .iter()
                        .find(|o| o.host_id == id)
                        .map(|o| o.address.clone())
                        .unwrap_or_default();
                    let client = plan.client.for_host(&address);
                    let (location, stale, oldest) = (&location, &stale, oldest.as_ref());
                    async move {
                        let mut report = PurgeReport::default();
                        for n in &nodes {
                            report +=
                                purge_node(&client, location, &n.node, &n.manifests, stale, oldest)
                                    .await?;
                        }
                        metrics::purge(
                            &self.request.cluster.name,
                            &address,
                            report.files_to_delete,
                            report.files_deleted,
                        );
                        Ok::<_, PurgeError>(report)
                    }
                });
            let reports = futures::future::join_all(work).await;
            let mut total = PurgeReport::default();
            for r in reports {
                total += r.map_err(|e| RunError::Purge(e.to_string()))?;
            }
            tracing::info!(run = %key, %location, stale = stale.len(), files = total.files_deleted, manifests = total.manifests_deleted, "retention applied");
        }
        Ok(())
    }
}
