//! What `backup list` and `backup files` show of a location (spec 1.11): the aggregate per
//! cluster and task of the snapshots there ([`list_backups`], under a [`ListFilter`]), and the
//! files of one snapshot per node manifest ([`snapshot_files`]). Written once against
//! [`LocationReader`], so the manager (through an agent) and `--offline` (straight from the
//! store) answer the same documents.
//!
//! A recovery tool reads what it can: a manifest that cannot be read (corrupt gzip, invalid
//! JSON, a field of the wrong type, gone between listing and reading) is passed over and
//! reported in the answer's `skipped` list ([`SkippedManifest`]) while the rest is listed; only a
//! failure that may pass (the store or the agent unreachable) fails the listing. A manifest with
//! an empty index is not shown, as upstream (it is no node of 0 B, nor a node without files).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::manifests::{
    LocationClient, LocationError, ManifestReadError, list_manifests, run_bounded, walk_any_version,
};
use super::reader::LocationReader;
use crate::format::filter::{KeyspaceFilter, Unit};
use crate::format::location::Location;
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

/// A `min_date` / `max_date` as given: RFC 3339, `now`, `now-DURATION` or `now+DURATION`
/// (sctool's forms); the error says what is expected.
pub fn parse_date(text: &str) -> Result<DateTime<Utc>, String> {
    crate::units::parse_time(text, Utc::now())
}

/// A manifest a listing passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SkippedManifest {
    /// The location holding it.
    pub location: String,
    /// Its path in the location.
    pub path: String,
    /// Why it could not be read.
    pub reason: String,
}

/// Awaits the reading of one manifest in `location`: what it gave, the manifest passed over, or
/// a failure of the whole listing.
async fn settle<T>(
    location: &Location,
    read: impl Future<Output = Result<T, ManifestReadError>>,
) -> Result<Result<T, SkippedManifest>, LocationError> {
    match read.await {
        Ok(t) => Ok(Ok(t)),
        Err(e) if e.skippable() => Ok(Err(SkippedManifest {
            location: location.to_string(),
            path: e.path().to_string(),
            reason: e.reason(),
        })),
        Err(source) => Err(LocationError::Read {
            location: location.to_string(),
            source,
        }),
    }
}

/// What the manifests gave, and the skipped ones sorted by location and path.
fn partition<T>(reads: Vec<Result<T, SkippedManifest>>) -> (Vec<T>, Vec<SkippedManifest>) {
    let mut read = Vec::with_capacity(reads.len());
    let mut skipped = Vec::new();
    for r in reads {
        match r {
            Ok(t) => read.push(t),
            Err(s) => skipped.push(s),
        }
    }
    skipped.sort();
    (read, skipped)
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

/// The `backup list` answer: the listing and the manifests passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupList {
    /// Per cluster and task, the snapshots.
    pub backups: Vec<ListItem>,
    /// The manifests that could not be read, by location and path.
    pub skipped: Vec<SkippedManifest>,
}

/// The `backup list` aggregate over `locations`: per cluster and task, the snapshots with node
/// count and summed size, and the union of selected keyspaces and tables. Temporary manifests
/// (runs in progress or failed) and manifests with an empty index are not shown; a manifest
/// present in two locations counts once; unreadable manifests are skipped (see the module).
pub async fn list_backups<R: LocationReader>(
    locations: &[LocationClient<R>],
    filter: &ListFilter,
) -> Result<BackupList, LocationError> {
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
            let read = async move {
                let mut s = ManifestSummary::default();
                walk_any_version(&lc.client, &lc.location, &m, |e| {
                    s.seen
                        .entry(e.keyspace.clone())
                        .or_default()
                        .insert(e.table.clone());
                    if filter.selects(&e.keyspace, &e.table) {
                        s.size += u64::try_from(e.size).unwrap_or(0);
                        s.selected.entry(e.keyspace).or_default().insert(e.table);
                    }
                })
                .await?;
                Ok((m, s))
            };
            settle(&lc.location, read).boxed()
        })
        .collect();
    let (summaries, skipped) = partition(run_bounded(reads, READS_IN_PARALLEL).await?);

    let mut tasks: BTreeMap<(Uuid, Uuid), TaskAggregate> = BTreeMap::new();
    // A manifest counts when it holds a selected table (an empty index holds none).
    for (m, s) in summaries
        .into_iter()
        .filter(|(_, s)| !s.selected.is_empty())
    {
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
    let backups = tasks
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
        .collect();
    Ok(BackupList { backups, skipped })
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

/// The `backup files` answer: the files per node manifest and the manifests passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotFiles {
    /// Per node manifest, the selected tables' files.
    pub files: Vec<FilesInfo>,
    /// The manifests that could not be read, by location and path.
    pub skipped: Vec<SkippedManifest>,
}

/// The files of snapshot `tag` in `locations` (of `cluster`, or any cluster when `None`), per
/// node manifest, limited to the tables `keyspace` selects; a manifest giving no file is left
/// out and unreadable ones are skipped (see the module); fails when no location holds the
/// snapshot.
pub async fn snapshot_files<R: LocationReader>(
    locations: &[LocationClient<R>],
    cluster: Option<Uuid>,
    tag: &SnapshotTag,
    keyspace: Option<&KeyspaceFilter>,
) -> Result<SnapshotFiles, LocationError> {
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
            let read = async move {
                let mut files = Vec::new();
                let content = walk_any_version(&lc.client, &lc.location, &m, |mut e| {
                    if keyspace.is_none_or(|f| f.check(&e.keyspace, &e.table)) {
                        e.path = Some(m.sstable_version_dir(&e.keyspace, &e.table, &e.version));
                        files.push(e);
                    }
                })
                .await?;
                Ok(FilesInfo {
                    location: lc.location.to_string(),
                    dc: m.dc.clone(),
                    node_id: m.node_id.clone(),
                    task_id: m.task_id,
                    schema: content.schema,
                    files,
                })
            };
            settle(&lc.location, read).boxed()
        })
        .collect();
    let (out, skipped) = partition(run_bounded(reads, READS_IN_PARALLEL).await?);
    let mut out: Vec<FilesInfo> = out.into_iter().filter(|f| !f.files.is_empty()).collect();
    out.sort_by(|a, b| {
        (&a.location, &a.dc, &a.node_id, a.task_id).cmp(&(
            &b.location,
            &b.dc,
            &b.node_id,
            b.task_id,
        ))
    });
    Ok(SnapshotFiles {
        files: out,
        skipped,
    })
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
