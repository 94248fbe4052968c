//! A validate run's progress rows (`validate_backup_run_progress`, one per DC, host and
//! location): a host's row made from the node reports it holds ([`host_row`]), and the rows of a
//! run read back as a [`ValidateReport`] ([`report_from_rows`]), which the API answers and the
//! run's outcome and metrics come from.

use std::collections::BTreeMap;

use super::properties::ValidateProperties;
use super::report::{LocationReport, NodeReport, ValidateReport};
use crate::manager::store::{RunKey, ValidateRunProgress};

/// Where a row belongs: the run, the host's DC, the host and the location.
#[derive(Debug, Clone)]
pub struct RowKey {
    /// The run.
    pub run: RunKey,
    /// The host's DC.
    pub dc: String,
    /// The host.
    pub host: String,
    /// The location.
    pub location: String,
}

/// The row of `key` holding `nodes`: upstream's counters summed over them, plus the reports.
pub fn host_row(key: &RowKey, nodes: &[NodeReport]) -> ValidateRunProgress {
    let mut broken: Vec<String> = nodes
        .iter()
        .flat_map(|n| n.broken_snapshots.iter().cloned())
        .collect();
    broken.sort();
    broken.dedup();
    let sum = |f: fn(&NodeReport) -> u64| nodes.iter().map(f).sum::<u64>();
    ValidateRunProgress {
        cluster_id: key.run.cluster_id,
        task_id: key.run.task_id,
        run_id: key.run.run_id,
        dc: key.dc.clone(),
        host: key.host.clone(),
        location: key.location.clone(),
        manifests: sum(|n| n.manifests),
        scanned_files: sum(|n| n.scanned_files),
        missing_files: sum(|n| n.missing_files),
        orphaned_files: sum(|n| n.orphaned_files),
        orphaned_bytes: sum(|n| n.orphaned_bytes),
        deleted_files: sum(|n| n.deleted_files),
        broken_snapshots: broken,
        started_at: nodes.iter().filter_map(|n| n.started_at).min(),
        completed_at: None,
        sstables_checked: sum(|n| n.sstables_checked),
        corrupt_files: sum(|n| n.corrupt_files),
        size_mismatches: sum(|n| n.size_mismatches.len() as u64),
        nodes: nodes.to_vec(),
    }
}

/// The report the rows of a run add up to: node reports grouped by location (sorted), each
/// location's nodes in DC then node order; `props` gives the settings shown with it.
pub fn report_from_rows(
    props: &ValidateProperties,
    rows: &[ValidateRunProgress],
) -> ValidateReport {
    let mut by_location: BTreeMap<&str, Vec<NodeReport>> = BTreeMap::new();
    for r in rows {
        by_location
            .entry(r.location.as_str())
            .or_default()
            .extend(r.nodes.iter().cloned());
    }
    let cluster_id = rows.first().map(|r| r.cluster_id);
    ValidateReport {
        content: props.content.as_str().to_string(),
        sample: props.sample,
        delete_orphaned_files: props.delete_orphaned_files,
        locations: by_location
            .into_iter()
            .map(|(location, mut nodes)| {
                nodes.sort_by(|a, b| (&a.dc, &a.node_id).cmp(&(&b.dc, &b.node_id)));
                LocationReport {
                    location: location.to_string(),
                    cluster_id,
                    nodes,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn node(dc: &str, id: &str, missing: u64, broken: &[&str]) -> NodeReport {
        NodeReport {
            dc: dc.into(),
            node_id: id.into(),
            manifests: 2,
            missing_files: missing,
            broken_snapshots: broken.iter().map(|s| s.to_string()).collect(),
            ..NodeReport::default()
        }
    }

    #[test]
    fn rows_sum_their_nodes_and_read_back_grouped_by_location() {
        let run = RunKey {
            cluster_id: Uuid::new_v4(),
            task_id: Uuid::new_v4(),
            run_id: Uuid::new_v4(),
        };
        let key = |host: &str, location: &str| RowKey {
            run,
            dc: "dc1".into(),
            host: host.into(),
            location: location.into(),
        };
        let a = host_row(
            &key("h1", "s3:b"),
            &[node("dc1", "n2", 1, &["sm_2"]), node("dc1", "n1", 0, &[])],
        );
        assert_eq!((a.manifests, a.missing_files), (4, 1));
        assert_eq!(a.broken_snapshots, vec!["sm_2".to_string()]);
        let b = host_row(&key("h2", "azure:a"), &[node("dc1", "n3", 0, &[])]);
        let report = report_from_rows(&ValidateProperties::default(), &[a, b]);
        let locations: Vec<&str> = report
            .locations
            .iter()
            .map(|l| l.location.as_str())
            .collect();
        assert_eq!(locations, ["azure:a", "s3:b"]);
        let nodes: Vec<&str> = report.locations[1]
            .nodes
            .iter()
            .map(|n| n.node_id.as_str())
            .collect();
        assert_eq!(nodes, ["n1", "n2"]);
        assert_eq!(report.failure().as_deref(), Some("broken snapshots: sm_2"));
    }
}
