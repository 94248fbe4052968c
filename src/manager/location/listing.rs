//! What `backup list` and `backup files` show of a location (spec 1.11): the aggregate per
//! cluster and task of the snapshots there ([`list_backups`], under a [`ListFilter`]), and the
//! files of one snapshot per node manifest ([`snapshot_files`]). Written once against
//! [`LocationReader`], so the manager (through an agent) and `--offline` (straight from the
//! store) answer the same documents.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::Serialize;
use uuid::Uuid;

use super::manifests::{LocationClient, LocationError, list_manifests, run_bounded, walk_manifest};
use super::reader::LocationReader;
use crate::format::filter::{KeyspaceFilter, Unit};
use crate::format::manifest::FilesMeta;
use crate::format::paths::ManifestInfo;
use crate::format::tag::SnapshotTag;

/// Manifests read at once.
const READS_IN_PARALLEL: usize = 8;

/// What `backup list` shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this cluster's backups; every cluster's when `None`.
    pub cluster: Option<Uuid>,
    /// Only this task's snapshots.
    pub task: Option<Uuid>,
    /// Only these tables (sizes count only them; a snapshot without any is not shown).
    pub keyspace: Option<KeyspaceFilter>,
    /// Only snapshots taken at or after this time.
    pub min_date: Option<DateTime<Utc>>,
    /// Only snapshots taken at or before this time.
    pub max_date: Option<DateTime<Utc>>,
}

/// A `min_date` / `max_date` as given: RFC 3339; the error says what is expected.
pub fn parse_date(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("{text:?}: {e} (expected RFC 3339, e.g. 2026-01-31T12:00:00Z)"))
}

impl ListFilter {
    /// Refuses a `max_date` before the `min_date`, naming `max_date`.
    pub fn check_dates(&self) -> Result<(), String> {
        match (self.min_date, self.max_date) {
            (Some(min), Some(max)) if max < min => Err("earlier than min_date".into()),
            _ => Ok(()),
        }
    }

    /// Whether the manifest's path passes the filter (temporary manifests never do).
    fn admits(&self, m: &ManifestInfo) -> bool {
        let t = m.snapshot_tag.time();
        !m.temporary
            && self.cluster.is_none_or(|c| c == m.cluster_id)
            && self.task.is_none_or(|task| task == m.task_id)
            && self.min_date.is_none_or(|d| t >= d)
            && self.max_date.is_none_or(|d| t <= d)
    }

    /// Whether table `ks.table` is selected.
    fn selects(&self, ks: &str, table: &str) -> bool {
        self.keyspace.as_ref().is_none_or(|f| f.check(ks, table))
    }
}

/// One snapshot of a task in the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// The tag.
    pub snapshot_tag: SnapshotTag,
    /// Nodes with a manifest of the snapshot (that holds a selected table).
    pub nodes: usize,
    /// Bytes of the selected tables, over those nodes.
    pub size: u64,
}

/// One task's backups in the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListItem {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The task.
    pub task_id: Uuid,
    /// The selected keyspaces and tables found in the task's snapshots, sorted.
    pub units: Vec<Unit>,
    /// The task's snapshots, newest first.
    pub snapshot_info: Vec<SnapshotInfo>,
}

/// What one manifest adds to the listing.
#[derive(Debug, Default)]
struct ManifestSummary {
    /// Every table in the index, by keyspace.
    seen: BTreeMap<String, BTreeSet<String>>,
    /// The selected tables, by keyspace.
    selected: BTreeMap<String, BTreeSet<String>>,
    /// Bytes of the selected tables.
    size: u64,
    /// Whether the index is empty.
    empty: bool,
}

/// One task's listing being built.
#[derive(Debug, Default)]
struct TaskAggregate {
    /// Per tag: the nodes (DC, node ID) and the summed size.
    tags: BTreeMap<SnapshotTag, (BTreeSet<(String, String)>, u64)>,
    /// Every table seen, by keyspace.
    seen: BTreeMap<String, BTreeSet<String>>,
    /// Selected tables, by keyspace.
    selected: BTreeMap<String, BTreeSet<String>>,
}

/// The `backup list` aggregate over `locations`: per cluster and task, the snapshots with node
/// count and summed size, and the union of selected keyspaces and tables. Temporary manifests
/// (runs in progress or failed) are not shown; a manifest present in two locations counts once.
pub async fn list_backups<R: LocationReader>(
    locations: &[LocationClient<R>],
    filter: &ListFilter,
) -> Result<Vec<ListItem>, LocationError> {
    let mut wanted: Vec<(&LocationClient<R>, ManifestInfo)> = Vec::new();
    let mut seen = HashSet::new();
    for lc in locations {
        for m in list_manifests(&lc.client, &lc.location, filter.cluster).await? {
            if filter.admits(&m) && seen.insert(m.clone()) {
                wanted.push((lc, m));
            }
        }
    }
    let reads = wanted
        .into_iter()
        .map(|(lc, m)| {
            async move {
                let mut s = ManifestSummary {
                    empty: true,
                    ..ManifestSummary::default()
                };
                walk_manifest(&lc.client, &lc.location, &m, |e| {
                    s.empty = false;
                    s.seen
                        .entry(e.keyspace.clone())
                        .or_default()
                        .insert(e.table.clone());
                    if filter.selects(&e.keyspace, &e.table) {
                        s.size += u64::try_from(e.size).unwrap_or(0);
                        s.selected.entry(e.keyspace).or_default().insert(e.table);
                    }
                })
                .await
                .map_err(|source| LocationError::Read {
                    location: lc.location.to_string(),
                    source,
                })?;
                Ok::<_, LocationError>((m, s))
            }
            .boxed()
        })
        .collect();
    let summaries: Vec<(ManifestInfo, ManifestSummary)> =
        run_bounded(reads, READS_IN_PARALLEL).await?;

    let mut tasks: BTreeMap<(Uuid, Uuid), TaskAggregate> = BTreeMap::new();
    for (m, s) in summaries {
        let counts = !s.selected.is_empty() || (s.empty && filter.keyspace.is_none());
        if !counts {
            continue;
        }
        let agg = tasks.entry((m.cluster_id, m.task_id)).or_default();
        let (nodes, size) = agg.tags.entry(m.snapshot_tag.clone()).or_default();
        nodes.insert((m.dc.clone(), m.node_id.clone()));
        *size += s.size;
        for (into, from) in [(&mut agg.seen, s.seen), (&mut agg.selected, s.selected)] {
            for (ks, tables) in from {
                into.entry(ks).or_default().extend(tables);
            }
        }
    }
    Ok(tasks
        .into_iter()
        .map(|((cluster_id, task_id), agg)| ListItem {
            cluster_id,
            task_id,
            units: agg
                .selected
                .into_iter()
                .map(|(keyspace, tables)| Unit {
                    all_tables: agg.seen.get(&keyspace).is_some_and(|all| *all == tables),
                    tables: tables.into_iter().collect(),
                    keyspace,
                })
                .collect(),
            snapshot_info: agg
                .tags
                .into_iter()
                .rev()
                .map(|(snapshot_tag, (nodes, size))| SnapshotInfo {
                    snapshot_tag,
                    nodes: nodes.len(),
                    size,
                })
                .collect(),
        })
        .collect())
}

/// The files of one node's manifest of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilesInfo {
    /// The location holding them.
    pub location: String,
    /// The node's DC.
    pub dc: String,
    /// The node's host ID.
    pub node_id: String,
    /// The task that took the snapshot.
    pub task_id: Uuid,
    /// The snapshot's schema file, relative to the location's root (empty when not backed up).
    pub schema: String,
    /// The selected tables' files, each with `path` set to its remote version dir.
    pub files: Vec<FilesMeta>,
}

/// The files of snapshot `tag` in `locations` (of `cluster`, or any cluster when `None`), per
/// node manifest, limited to the tables `keyspace` selects; fails when no location holds the
/// snapshot.
pub async fn snapshot_files<R: LocationReader>(
    locations: &[LocationClient<R>],
    cluster: Option<Uuid>,
    tag: &SnapshotTag,
    keyspace: Option<&KeyspaceFilter>,
) -> Result<Vec<FilesInfo>, LocationError> {
    let mut wanted = Vec::new();
    for lc in locations {
        for m in list_manifests(&lc.client, &lc.location, cluster).await? {
            if !m.temporary && m.snapshot_tag == *tag {
                wanted.push((lc, m));
            }
        }
    }
    if wanted.is_empty() {
        return Err(LocationError::unknown_snapshots(
            vec![tag.to_string()],
            locations,
        ));
    }
    let reads = wanted
        .into_iter()
        .map(|(lc, m)| {
            async move {
                let mut files = Vec::new();
                let content = walk_manifest(&lc.client, &lc.location, &m, |mut e| {
                    if keyspace.is_none_or(|f| f.check(&e.keyspace, &e.table)) {
                        e.path = Some(m.sstable_version_dir(&e.keyspace, &e.table, &e.version));
                        files.push(e);
                    }
                })
                .await
                .map_err(|source| LocationError::Read {
                    location: lc.location.to_string(),
                    source,
                })?;
                Ok::<_, LocationError>(FilesInfo {
                    location: lc.location.to_string(),
                    dc: m.dc.clone(),
                    node_id: m.node_id.clone(),
                    task_id: m.task_id,
                    schema: content.schema,
                    files,
                })
            }
            .boxed()
        })
        .collect();
    let mut out: Vec<FilesInfo> = run_bounded(reads, READS_IN_PARALLEL).await?;
    out.sort_by(|a, b| {
        (&a.location, &a.dc, &a.node_id, a.task_id).cmp(&(
            &b.location,
            &b.dc,
            &b.node_id,
            b.task_id,
        ))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(task: u128, tag: &str, temporary: bool) -> ManifestInfo {
        ManifestInfo {
            cluster_id: Uuid::from_u128(9),
            dc: "dc1".into(),
            node_id: "n".into(),
            task_id: Uuid::from_u128(task),
            snapshot_tag: tag.parse().unwrap(),
            temporary,
        }
    }

    #[test]
    fn the_list_filter_hides_tmp_manifests_and_bounds_dates_inclusively() {
        let f = ListFilter {
            task: Some(Uuid::from_u128(1)),
            min_date: Some("2026-01-02T00:00:00Z".parse().unwrap()),
            max_date: Some("2026-01-03T00:00:00Z".parse().unwrap()),
            ..ListFilter::default()
        };
        assert!(f.admits(&info(1, "sm_20260102000000UTC", false)));
        assert!(f.admits(&info(1, "sm_20260103000000UTC", false)));
        assert!(!f.admits(&info(1, "sm_20260102000000UTC", true)), "tmp");
        assert!(!f.admits(&info(2, "sm_20260102000000UTC", false)), "task");
        assert!(!f.admits(&info(1, "sm_20260101235959UTC", false)), "min");
        assert!(!f.admits(&info(1, "sm_20260103000001UTC", false)), "max");
        let other_cluster = ListFilter {
            cluster: Some(Uuid::from_u128(8)),
            ..ListFilter::default()
        };
        assert!(!other_cluster.admits(&info(1, "sm_20260102000000UTC", false)));
    }
}
