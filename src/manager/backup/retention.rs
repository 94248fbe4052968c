//! Retention and purge decisions, over the manifests found in a location.
//!
//! Manifests are the source of truth: a snapshot is kept or stale by its task's policy, and a
//! file is deleted only when no kept manifest of its node references it (reference counting by
//! set difference), so a deduplicated file shared with a kept snapshot survives. Older versions
//! of files (`<name>.sm_<tag>`) go once their tag is no later than the oldest kept snapshot.
//!
//! One deliberate difference from upstream: a temporary manifest is stale only when its run is
//! not in progress. Upstream treats every temporary manifest as stale, so a purge by one task can
//! delete the data of another task's running backup.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::properties::TaskProperties;
use crate::format::manifest::FilesMeta;
use crate::format::paths::{ManifestInfo, remote_sstable_version_dir};
use crate::format::sstable::split_versioned;
use crate::format::tag::SnapshotTag;
use crate::manager::store::Task;

/// How long the snapshots of tasks this manager does not know are kept (upstream: 30 days).
pub const UNKNOWN_TASK_DAYS: u32 = 30;

/// A task's retention policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Newest snapshots kept (0: no count limit).
    pub retention: u32,
    /// Days a snapshot is kept (0: no age limit).
    pub retention_days: u32,
}

impl Policy {
    /// The policy of snapshots whose task is unknown or deleted: by age only.
    pub fn for_unknown_task() -> Self {
        Policy {
            retention: 0,
            retention_days: UNKNOWN_TASK_DAYS,
        }
    }
}

/// A snapshot of one task: what retention decides about.
pub type Snapshot = (Uuid, SnapshotTag);

/// The snapshots to delete: per task, a tag is stale when it is older than `retention_days` or
/// not among the newest `retention` tags; a temporary manifest's tag is stale unless its run is in
/// `in_progress`. A tag that is both final somewhere and temporary elsewhere is judged as final.
pub fn stale_snapshots(
    manifests: &[ManifestInfo],
    policies: &HashMap<Uuid, Policy>,
    in_progress: &HashSet<Snapshot>,
    now: DateTime<Utc>,
) -> BTreeSet<Snapshot> {
    let final_tags: HashSet<Snapshot> = manifests
        .iter()
        .filter(|m| !m.temporary)
        .map(|m| (m.task_id, m.snapshot_tag.clone()))
        .collect();
    let mut stale = BTreeSet::new();
    let mut candidates: BTreeMap<Uuid, BTreeSet<SnapshotTag>> = BTreeMap::new();
    for m in manifests {
        let key = (m.task_id, m.snapshot_tag.clone());
        if in_progress.contains(&key) {
            continue;
        }
        if m.temporary && !final_tags.contains(&key) {
            stale.insert(key);
            continue;
        }
        let policy = policies
            .get(&m.task_id)
            .copied()
            .unwrap_or_else(Policy::for_unknown_task);
        let too_old = policy.retention_days > 0
            && Duration::try_days(policy.retention_days.into())
                .and_then(|d| now.checked_sub_signed(d))
                .is_some_and(|limit| m.snapshot_tag.time() < limit);
        if too_old {
            stale.insert(key);
        } else if policy.retention > 0 {
            candidates
                .entry(m.task_id)
                .or_default()
                .insert(m.snapshot_tag.clone());
        }
    }
    for (task, tags) in candidates {
        let keep = policies
            .get(&task)
            .copied()
            .unwrap_or_else(Policy::for_unknown_task)
            .retention as usize;
        let drop = tags.len().saturating_sub(keep);
        stale.extend(tags.into_iter().take(drop).map(|t| (task, t)));
    }
    stale
}

/// The oldest snapshot tag that stays (older versioned files may go), if any stays.
pub fn oldest_kept(manifests: &[ManifestInfo], stale: &BTreeSet<Snapshot>) -> Option<SnapshotTag> {
    manifests
        .iter()
        .filter(|m| !stale.contains(&(m.task_id, m.snapshot_tag.clone())))
        .map(|m| m.snapshot_tag.clone())
        .min()
}

/// The files one node's purge deletes, by remote version directory: everything the stale
/// manifests list (data files and Scylla manifests) that no kept manifest lists.
pub fn unreferenced_files<'a>(
    cluster: Uuid,
    dc: &str,
    node: &str,
    stale: impl IntoIterator<Item = &'a FilesMeta>,
    kept: impl IntoIterator<Item = &'a FilesMeta>,
) -> BTreeMap<String, BTreeSet<String>> {
    let dir = |f: &FilesMeta| {
        remote_sstable_version_dir(cluster, dc, node, &f.keyspace, &f.table, &f.version)
    };
    let mut delete: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in stale {
        delete
            .entry(dir(f))
            .or_default()
            .extend(f.files.iter().chain(&f.scylla_manifests).cloned());
    }
    for f in kept {
        if let Some(files) = delete.get_mut(&dir(f)) {
            for name in &f.files {
                files.remove(name);
            }
        }
    }
    delete.retain(|_, files| !files.is_empty());
    delete
}

/// Of the given file names, the older versions whose tag is no later than `oldest`.
pub fn expired_versions<'a>(
    files: impl IntoIterator<Item = &'a str>,
    oldest: &SnapshotTag,
) -> Vec<&'a str> {
    files
        .into_iter()
        .filter(|f| split_versioned(f).is_some_and(|(_, tag)| tag <= *oldest))
        .collect()
}

/// The retention policy of a task (upstream defaults: 3 snapshots when neither field is given;
/// a deleted task keeps its snapshots by age only, at least 30 days).
pub fn policy_of(task: &Task) -> Policy {
    let props: TaskProperties = serde_json::from_value(task.properties.clone()).unwrap_or_default();
    let days = u32::try_from(props.retention_days.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
    let count = match (props.retention, props.retention_days) {
        (Some(r), _) => u32::try_from(r.max(0)).unwrap_or(u32::MAX),
        (None, None) => 3,
        (None, Some(_)) => 0,
    };
    if task.deleted {
        return Policy {
            retention: 0,
            retention_days: days.max(UNKNOWN_TASK_DAYS),
        };
    }
    Policy {
        retention: count,
        retention_days: days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> SnapshotTag {
        s.parse().unwrap()
    }

    fn manifest(task: Uuid, t: &str, temporary: bool) -> ManifestInfo {
        ManifestInfo {
            cluster_id: Uuid::nil(),
            dc: "dc1".into(),
            node_id: "n1".into(),
            task_id: task,
            snapshot_tag: tag(t),
            temporary,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn keeps_the_newest_n_within_the_days_and_protects_runs_in_progress() {
        let (a, b, unknown) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let manifests = vec![
            manifest(a, "sm_20261120000000UTC", false),
            manifest(a, "sm_20261121000000UTC", false),
            manifest(a, "sm_20261122000000UTC", false),
            manifest(a, "sm_20261123000000UTC", false),
            manifest(b, "sm_20261001000000UTC", false),
            manifest(b, "sm_20261123000000UTC", false),
            manifest(a, "sm_20261124000000UTC", true),
            manifest(b, "sm_20261124100000UTC", true),
            manifest(unknown, "sm_20261001000000UTC", false),
            manifest(unknown, "sm_20261101000000UTC", false),
        ];
        let policies = HashMap::from([
            (
                a,
                Policy {
                    retention: 2,
                    retention_days: 0,
                },
            ),
            (
                b,
                Policy {
                    retention: 5,
                    retention_days: 30,
                },
            ),
        ]);
        let running = HashSet::from([(a, tag("sm_20261124000000UTC"))]);
        let stale = stale_snapshots(&manifests, &policies, &running, now());
        let expected: BTreeSet<Snapshot> = [
            (a, tag("sm_20261120000000UTC")),
            (a, tag("sm_20261121000000UTC")),
            (b, tag("sm_20261001000000UTC")),
            (b, tag("sm_20261124100000UTC")),
            (unknown, tag("sm_20261001000000UTC")),
        ]
        .into();
        assert_eq!(
            stale, expected,
            "a: newest 2 kept and the running tmp protected; b: 30 days; b's abandoned tmp goes; unknown task: 30 days"
        );
        assert_eq!(
            oldest_kept(&manifests, &stale),
            Some(tag("sm_20261101000000UTC"))
        );
    }

    #[test]
    fn a_file_shared_with_a_kept_snapshot_survives() {
        let meta = |files: &[&str]| FilesMeta {
            keyspace: "ks".into(),
            table: "t".into(),
            version: "0".repeat(32),
            files: files.iter().map(|s| s.to_string()).collect(),
            scylla_manifests: vec![],
            ..Default::default()
        };
        let old = meta(&["me-1-big-Data.db", "me-2-big-Data.db"]);
        let mut old = old;
        old.scylla_manifests = vec!["tag_sm_20261120000000UTC_node_n1_manifest.json".into()];
        let new = meta(&["me-2-big-Data.db", "me-3-big-Data.db"]);
        let delete = unreferenced_files(Uuid::nil(), "dc1", "n1", [&old], [&new]);
        assert_eq!(delete.len(), 1);
        let files: Vec<&String> = delete.values().next().unwrap().iter().collect();
        assert_eq!(
            files,
            [
                "me-1-big-Data.db",
                "tag_sm_20261120000000UTC_node_n1_manifest.json"
            ]
        );
        assert!(
            delete
                .keys()
                .next()
                .unwrap()
                .ends_with("/keyspace/ks/table/t/00000000000000000000000000000000")
        );
    }

    #[test]
    fn versions_older_than_the_oldest_kept_snapshot_go() {
        let files = [
            "me-1-big-Data.db",
            "me-1-big-Data.db.sm_20261101000000UTC",
            "me-1-big-Data.db.sm_20261201000000UTC",
        ];
        assert_eq!(
            expired_versions(files, &tag("sm_20261115000000UTC")),
            ["me-1-big-Data.db.sm_20261101000000UTC"]
        );
    }
}
