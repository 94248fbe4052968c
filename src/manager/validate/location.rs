//! A location's manifests as validate reads them: this cluster's (or, offline, every cluster's),
//! optionally only some snapshot tags, temporary manifests shadowed by a final one of the same
//! snapshot dropped, grouped by node directory (`backup/sst/cluster/<c>/dc/<dc>/node/<n>`).

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use crate::format::location::Location;
use crate::format::paths::{ManifestInfo, remote_sstable_base_dir};
use crate::format::tag::SnapshotTag;
use crate::manager::location::manifests::{LocationError, list_manifests};
use crate::manager::location::reader::LocationReader;

/// One node directory of a location and the manifests that reference files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeManifests {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The node's DC.
    pub dc: String,
    /// The node's host ID.
    pub node_id: String,
    /// Final manifests, oldest snapshot first.
    pub finals: Vec<ManifestInfo>,
    /// Temporary manifests with no final one of the same snapshot (runs not finished).
    pub temporaries: Vec<ManifestInfo>,
}

impl NodeManifests {
    /// The node's SSTable directory (`backup/sst/cluster/<c>/dc/<dc>/node/<n>`).
    pub fn dir(&self) -> String {
        remote_sstable_base_dir(self.cluster_id, &self.dc, &self.node_id)
    }
}

/// The node directories of `location` with their manifests: of `cluster` (every cluster when
/// `None`), of `tags` only when given; sorted by cluster, DC, node.
pub async fn node_dirs(
    reader: &impl LocationReader,
    location: &Location,
    cluster: Option<Uuid>,
    tags: &[SnapshotTag],
) -> Result<Vec<NodeManifests>, LocationError> {
    let listed = list_manifests(reader, location, cluster).await?;
    Ok(group(listed, tags))
}

/// Groups `manifests` by node directory, keeping `tags` only when given and dropping temporary
/// manifests of a snapshot whose final manifest is there too.
fn group(manifests: Vec<ManifestInfo>, tags: &[SnapshotTag]) -> Vec<NodeManifests> {
    let wanted = |m: &ManifestInfo| tags.is_empty() || tags.contains(&m.snapshot_tag);
    let manifests: Vec<ManifestInfo> = manifests.into_iter().filter(wanted).collect();
    let finals: HashSet<(Uuid, &str, &str, Uuid, &SnapshotTag)> = manifests
        .iter()
        .filter(|m| !m.temporary)
        .map(|m| {
            (
                m.cluster_id,
                m.dc.as_str(),
                m.node_id.as_str(),
                m.task_id,
                &m.snapshot_tag,
            )
        })
        .collect();
    let mut nodes: BTreeMap<(Uuid, String, String), NodeManifests> = BTreeMap::new();
    for m in &manifests {
        let key = (
            m.cluster_id,
            m.dc.as_str(),
            m.node_id.as_str(),
            m.task_id,
            &m.snapshot_tag,
        );
        if m.temporary && finals.contains(&key) {
            continue;
        }
        let node = nodes
            .entry((m.cluster_id, m.dc.clone(), m.node_id.clone()))
            .or_insert_with(|| NodeManifests {
                cluster_id: m.cluster_id,
                dc: m.dc.clone(),
                node_id: m.node_id.clone(),
                finals: Vec::new(),
                temporaries: Vec::new(),
            });
        if m.temporary {
            node.temporaries.push(m.clone());
        } else {
            node.finals.push(m.clone());
        }
    }
    let mut out: Vec<NodeManifests> = nodes.into_values().collect();
    for n in &mut out {
        let order = |m: &ManifestInfo| (m.snapshot_tag.clone(), m.task_id);
        n.finals.sort_by_key(order);
        n.temporaries.sort_by_key(order);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(cluster: Uuid, node: &str, task: Uuid, tag: &str, temporary: bool) -> ManifestInfo {
        ManifestInfo {
            cluster_id: cluster,
            dc: "dc1".into(),
            node_id: node.into(),
            task_id: task,
            snapshot_tag: tag.parse().unwrap(),
            temporary,
        }
    }

    #[test]
    fn temporaries_shadowed_by_finals_are_dropped_and_nodes_sorted() {
        let (c, task) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let t1 = "sm_20260101000000UTC";
        let t2 = "sm_20260102000000UTC";
        let groups = group(
            vec![
                info(c, "n2", task, t2, false),
                info(c, "n1", task, t2, true),
                info(c, "n1", task, t1, false),
                info(c, "n1", task, t1, true),
                info(c, "n2", task, t1, false),
            ],
            &[],
        );
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].node_id, "n1");
        assert_eq!(groups[0].finals, vec![info(c, "n1", task, t1, false)]);
        assert_eq!(groups[0].temporaries, vec![info(c, "n1", task, t2, true)]);
        assert_eq!(groups[1].node_id, "n2");
        let tags: Vec<&str> = groups[1]
            .finals
            .iter()
            .map(|m| m.snapshot_tag.as_str())
            .collect();
        assert_eq!(tags, [t1, t2]);
        let only = group(
            vec![
                info(c, "n2", task, t2, false),
                info(c, "n2", task, t1, false),
            ],
            &[t1.parse().unwrap()],
        );
        assert_eq!(only[0].finals, vec![info(c, "n2", task, t1, false)]);
    }
}
