//! The manifests a restore reads (spec §2.2): those of the restored tag in a location, from any
//! cluster ID in the bucket, each temporary (`.tmp`) manifest shadowed by a final one of the same
//! name (else the backup did not finish), and, with `dc_mapping`, only those of mapped DCs.

use std::collections::{BTreeMap, BTreeSet};

use crate::format::paths::ManifestInfo;
use crate::format::tag::SnapshotTag;

/// A temporary manifest of the tag without a final one of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unshadowed {
    /// The temporary manifest's path.
    pub path: String,
}

/// The final manifests of `tag` among `all` (every manifest of a location, any cluster), or the
/// first temporary manifest of the tag that no final one shadows.
pub fn of_tag(all: &[ManifestInfo], tag: &SnapshotTag) -> Result<Vec<ManifestInfo>, Unshadowed> {
    let finals: BTreeSet<String> = all
        .iter()
        .filter(|m| m.snapshot_tag == *tag && !m.temporary)
        .map(ManifestInfo::path)
        .collect();
    for m in all.iter().filter(|m| m.snapshot_tag == *tag && m.temporary) {
        let final_one = ManifestInfo {
            temporary: false,
            ..m.clone()
        };
        if !finals.contains(&final_one.path()) {
            return Err(Unshadowed { path: m.path() });
        }
    }
    let mut out: Vec<ManifestInfo> = all
        .iter()
        .filter(|m| m.snapshot_tag == *tag && !m.temporary)
        .cloned()
        .collect();
    out.sort_by_cached_key(ManifestInfo::path);
    Ok(out)
}

/// Keeps the manifests of the DCs `dc_mapping` maps (all of them when it is empty).
pub fn of_mapped_dcs(
    manifests: Vec<ManifestInfo>,
    dc_mapping: &BTreeMap<String, String>,
) -> Vec<ManifestInfo> {
    if dc_mapping.is_empty() {
        return manifests;
    }
    manifests
        .into_iter()
        .filter(|m| dc_mapping.contains_key(&m.dc))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn manifest(dc: &str, node: &str, tag: &str, temporary: bool) -> ManifestInfo {
        ManifestInfo {
            cluster_id: Uuid::from_u128(1),
            dc: dc.into(),
            node_id: node.into(),
            task_id: Uuid::from_u128(2),
            snapshot_tag: tag.parse().unwrap(),
            temporary,
        }
    }

    const TAG: &str = "sm_20260101000000UTC";
    const OTHER: &str = "sm_20260102000000UTC";

    #[test]
    fn a_shadowed_temporary_manifest_is_dropped_and_other_tags_ignored() {
        let all = vec![
            manifest("dc1", "n1", TAG, true),
            manifest("dc1", "n1", TAG, false),
            manifest("dc1", "n2", TAG, false),
            manifest("dc1", "n3", OTHER, true),
        ];
        let got = of_tag(&all, &TAG.parse().unwrap()).unwrap();
        let nodes: Vec<&str> = got.iter().map(|m| m.node_id.as_str()).collect();
        assert_eq!(nodes, ["n1", "n2"]);
        assert!(got.iter().all(|m| !m.temporary));
    }

    #[test]
    fn an_unshadowed_temporary_manifest_fails_naming_it() {
        let all = vec![
            manifest("dc1", "n1", TAG, false),
            manifest("dc1", "n2", TAG, true),
        ];
        let err = of_tag(&all, &TAG.parse().unwrap()).unwrap_err();
        assert!(err.path.ends_with(".tmp"), "{}", err.path);
        assert!(err.path.contains("/node/n2/"), "{}", err.path);
    }

    #[test]
    fn manifests_of_other_clusters_count_too() {
        let mut other = manifest("dc1", "n9", TAG, false);
        other.cluster_id = Uuid::from_u128(7);
        let all = vec![manifest("dc1", "n1", TAG, false), other];
        assert_eq!(of_tag(&all, &TAG.parse().unwrap()).unwrap().len(), 2);
    }

    #[test]
    fn dc_mapping_keeps_mapped_dcs_only() {
        let all = vec![
            manifest("dc1", "n1", TAG, false),
            manifest("dc2", "n2", TAG, false),
        ];
        let mapping = BTreeMap::from([("dc2".to_string(), "west".to_string())]);
        let kept = of_mapped_dcs(all.clone(), &mapping);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].dc, "dc2");
        assert_eq!(of_mapped_dcs(all, &BTreeMap::new()).len(), 2);
    }
}
