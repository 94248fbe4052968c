//! Backups in a location, through one agent that reaches it (spec 1.11): the manifests there,
//! the `backup list` aggregate, the files of one snapshot, deleting snapshots (purged with
//! reference counting, [`super::backup::purge`]), and deleting the `sm_*` snapshots left on the nodes.
//!
//! Manifests are read streaming: the gzip bytes are fetched whole, but their index is handed over
//! one entry at a time, so a manifest of a cluster with very many tables is never decoded whole
//! where only sums or a subset are needed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::agent_client::{AgentClient, AgentError, RetryPolicy, Root};
use super::backup::purge::{PurgeError, assign_nodes, purge_node, run_bounded};
use super::backup::retention::{self, Snapshot};
use super::discovery::{DiscoveryError, discover};
use super::lease::{self, Holder, Lease, LeaseError};
use super::location_reader::{LocationReader, ReadError};
use crate::spec::filter::{KeyspaceFilter, Unit};
use crate::spec::location::Location;
use crate::spec::manifest::{FilesMeta, Manifest, ManifestContent, ManifestError, stream_index};
use crate::spec::paths::{ManifestInfo, remote_lease_file, remote_meta_cluster_dc_dir};
use crate::spec::tag::{SnapshotTag, is_snapshot_tag};

/// Manifests read at once.
const READS_IN_PARALLEL: usize = 8;
/// Nodes purged at once through one agent.
const PURGES_IN_PARALLEL: usize = 2;
/// Nodes whose local snapshots are deleted at once.
const NODES_IN_PARALLEL: usize = 16;

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestReadError {
    /// It could not be fetched.
    #[error("reading manifest {path}: {source}")]
    Fetch {
        /// The manifest's path.
        path: String,
        /// What failed.
        #[source]
        source: ReadError,
    },
    /// It is not a manifest this crate reads.
    #[error("manifest {path}: {source} (a retry will not help)")]
    Malformed {
        /// The manifest's path.
        path: String,
        /// What is wrong with it.
        #[source]
        source: ManifestError,
    },
}

impl ManifestReadError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            ManifestReadError::Fetch { source, .. } => source.retryable(),
            ManifestReadError::Malformed { .. } => false,
        }
    }

    /// Whether the manifest does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ManifestReadError::Fetch { source, .. } if source.is_not_found())
    }
}

/// Why an operation on backups failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupsError {
    /// No host of the cluster could list the location.
    #[error(
        "location {location}: no host could reach it ({}); {}",
        host_failures(.failures),
        if .failures.is_empty() { "the cluster has no hosts" } else { "check the agents' configuration of this location" }
    )]
    NoHost {
        /// The location.
        location: String,
        /// Each host tried and why it failed.
        failures: Vec<(String, AgentError)>,
    },
    /// Listing the manifests failed.
    #[error("listing the manifests in {location}: {source}")]
    List {
        /// The location.
        location: String,
        /// What failed.
        #[source]
        source: ReadError,
    },
    /// A manifest could not be read.
    #[error("{location}: {source}")]
    Read {
        /// The location.
        location: String,
        /// What failed.
        #[source]
        source: ManifestReadError,
    },
    /// Snapshot tags asked for are in none of the locations; nothing was changed.
    #[error(
        "snapshot {} not found in {}",
        .tags.join(", "),
        .locations.join(", ")
    )]
    UnknownSnapshots {
        /// The tags not found.
        tags: Vec<String>,
        /// The locations searched.
        locations: Vec<String>,
    },
    /// Purging failed.
    #[error(transparent)]
    Purge(#[from] PurgeError),
    /// The cluster's nodes could not be found.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// Another manager holds a location's lease (DESIGN.md invariant 9).
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

/// Each host's failure, hosts that failed the same way named together (`h1, h2: what`).
fn host_failures(failures: &[(String, AgentError)]) -> String {
    let mut grouped: Vec<(Vec<&str>, String)> = Vec::new();
    for (host, e) in failures {
        let text = e.to_string();
        let mut what = text
            .strip_prefix(&format!("agent {host}: "))
            .unwrap_or(&text)
            .to_string();
        // The transport names the URL, host and all: without it, equal failures read equal.
        if let Some(start) = what.find(" for url (")
            && let Some(len) = what[start..].find(')')
        {
            what.replace_range(start..=start + len, "");
        }
        match grouped.iter_mut().find(|(_, w)| *w == what) {
            Some((hosts, _)) => hosts.push(host),
            None => grouped.push((vec![host], what)),
        }
    }
    grouped
        .into_iter()
        .map(|(hosts, what)| format!("{}: {what}", hosts.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl BackupsError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            BackupsError::NoHost { failures, .. } => failures.iter().any(|(_, e)| e.retryable()),
            BackupsError::List { source, .. } => source.retryable(),
            BackupsError::Read { source, .. } => source.retryable(),
            BackupsError::UnknownSnapshots { .. } => false,
            BackupsError::Purge(e) => e.retryable(),
            BackupsError::Discovery(e) => e.retryable(),
            BackupsError::Lease(_) => false,
        }
    }

    /// Whether the error means that what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BackupsError::UnknownSnapshots { .. })
    }
}

/// A location and what reads it: an agent that reaches it (the default), or its store.
#[derive(Debug, Clone)]
pub struct LocationClient<R = AgentClient> {
    /// The location.
    pub location: Location,
    /// What lists and reads it.
    pub client: R,
}

/// The first of `hosts` whose agent (on `port`, with `token`, its certificate in `pins`) lists `location`'s `backup` dir (a
/// location with no backups yet answers too).
pub async fn location_client(
    hosts: &[String],
    port: u16,
    token: &str,
    pins: &BTreeMap<String, String>,
    location: &Location,
) -> Result<LocationClient, BackupsError> {
    let quick = RetryPolicy {
        retries: 1,
        ..RetryPolicy::default()
    };
    let mut failures = Vec::new();
    for host in hosts {
        let probe = async {
            let client = AgentClient::new(host, port, token, pins)?;
            let listed = client
                .clone()
                .with_retry(quick)
                .list_files(Root::Backup(location), "backup", false)
                .await;
            match listed {
                Ok(entries) => {
                    if let Some(Err(e)) = std::pin::pin!(entries).next().await {
                        return Err(e);
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            Ok(client)
        };
        match probe.await {
            Ok(client) => {
                return Ok(LocationClient {
                    location: location.clone(),
                    client,
                });
            }
            Err(e) => {
                tracing::debug!(%host, %location, error = %e, "host cannot reach the location");
                failures.push((host.clone(), e));
            }
        }
    }
    Err(BackupsError::NoHost {
        location: location.to_string(),
        failures,
    })
}

/// Every manifest in `location`: of `cluster`, or of every cluster when `None`. Paths that are not
/// manifests are skipped; a location without backups has none.
pub async fn list_manifests(
    client: &impl LocationReader,
    location: &Location,
    cluster: Option<Uuid>,
) -> Result<Vec<ManifestInfo>, BackupsError> {
    let dir = match cluster {
        Some(c) => remote_meta_cluster_dc_dir(c),
        None => "backup/meta".to_string(),
    };
    let list_err = |source| BackupsError::List {
        location: location.to_string(),
        source,
    };
    let mut out = Vec::new();
    for path in client.list_files(location, &dir).await.map_err(list_err)? {
        match ManifestInfo::parse(&format!("{dir}/{path}")) {
            Ok(m) => out.push(m),
            Err(e) => tracing::debug!(%path, error = %e, "not a manifest"),
        }
    }
    out.sort_by_cached_key(ManifestInfo::path);
    Ok(out)
}

/// Reads a manifest, handing each index entry to `on_entry` as it is parsed; returns the header.
pub async fn walk_manifest(
    client: &impl LocationReader,
    location: &Location,
    info: &ManifestInfo,
    mut on_entry: impl FnMut(FilesMeta),
) -> Result<ManifestContent, ManifestReadError> {
    let path = info.path();
    let bytes = client
        .read(location, &path)
        .await
        .map_err(|source| ManifestReadError::Fetch {
            path: path.clone(),
            source,
        })?;
    stream_index(&bytes[..], |e| {
        on_entry(e);
        Ok::<(), ManifestError>(())
    })
    .map_err(|source| ManifestReadError::Malformed { path, source })
}

/// Reads a whole manifest (for manifests small enough to hold; [`walk_manifest`] otherwise).
pub async fn read_manifest(
    client: &impl LocationReader,
    location: &Location,
    info: &ManifestInfo,
) -> Result<Manifest, BackupsError> {
    let mut index = Vec::new();
    let content = walk_manifest(client, location, info, |e| index.push(e))
        .await
        .map_err(|source| BackupsError::Read {
            location: location.to_string(),
            source,
        })?;
    Ok(Manifest { content, index })
}

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
) -> Result<Vec<ListItem>, BackupsError> {
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
                .map_err(|source| BackupsError::Read {
                    location: lc.location.to_string(),
                    source,
                })?;
                Ok::<_, BackupsError>((m, s))
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
) -> Result<Vec<FilesInfo>, BackupsError> {
    let mut wanted = Vec::new();
    for lc in locations {
        for m in list_manifests(&lc.client, &lc.location, cluster).await? {
            if !m.temporary && m.snapshot_tag == *tag {
                wanted.push((lc, m));
            }
        }
    }
    if wanted.is_empty() {
        return Err(unknown(vec![tag.to_string()], locations));
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
                .map_err(|source| BackupsError::Read {
                    location: lc.location.to_string(),
                    source,
                })?;
                Ok::<_, BackupsError>(FilesInfo {
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

/// The error for snapshot tags found nowhere.
fn unknown<R>(tags: Vec<String>, locations: &[LocationClient<R>]) -> BackupsError {
    BackupsError::UnknownSnapshots {
        tags,
        locations: locations.iter().map(|l| l.location.to_string()).collect(),
    }
}

/// What deleting snapshots did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeleteReport {
    /// Node manifests deleted.
    pub deleted_manifests: u64,
    /// Data files deleted (files still referenced by other snapshots stay).
    pub deleted_files: u64,
}

/// Deletes snapshots `tags` of `cluster` from `locations`: every node's manifests of those tags
/// go, with the files no remaining snapshot references, and older versions of files no
/// remaining snapshot can need. Refuses, changing nothing, when a tag is in none of the
/// locations, or when another manager holds a location's lease; holds the leases meanwhile.
pub async fn delete_snapshots(
    locations: &[LocationClient],
    cluster: Uuid,
    tags: &[SnapshotTag],
) -> Result<DeleteReport, BackupsError> {
    let held = locations
        .iter()
        .map(|lc| (lc.location.clone(), vec![lc.client.clone()]))
        .collect();
    let holder = Holder {
        task: None,
        run: Uuid::new_v4(),
        purpose: "backup delete",
    };
    let lost = CancellationToken::new();
    let lease = Lease::take(lease::settings(), held, cluster, holder, lost.clone()).await?;
    let result = delete_held(locations, cluster, tags).await;
    let lost = lease.lost();
    lease.release().await;
    match lost {
        Some(reason) => Err(BackupsError::Lease(LeaseError::Lost {
            location: locations
                .iter()
                .map(|l| l.location.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            path: remote_lease_file(cluster),
            reason,
        })),
        None => result,
    }
}

/// [`delete_snapshots`] once the leases are held.
async fn delete_held(
    locations: &[LocationClient],
    cluster: Uuid,
    tags: &[SnapshotTag],
) -> Result<DeleteReport, BackupsError> {
    let mut listed = Vec::new();
    for lc in locations {
        listed.push((
            lc,
            list_manifests(&lc.client, &lc.location, Some(cluster)).await?,
        ));
    }
    let present: BTreeSet<&SnapshotTag> = listed
        .iter()
        .flat_map(|(_, ms)| ms.iter().map(|m| &m.snapshot_tag))
        .collect();
    let missing: BTreeSet<String> = tags
        .iter()
        .filter(|t| !present.contains(t))
        .map(SnapshotTag::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(unknown(missing.into_iter().collect(), locations));
    }
    let doomed: BTreeSet<&SnapshotTag> = tags.iter().collect();
    let mut report = DeleteReport::default();
    for (lc, manifests) in &listed {
        let stale: BTreeSet<Snapshot> = manifests
            .iter()
            .filter(|m| doomed.contains(&m.snapshot_tag))
            .map(|m| (m.task_id, m.snapshot_tag.clone()))
            .collect();
        if stale.is_empty() {
            continue;
        }
        let oldest = retention::oldest_kept(manifests, &stale);
        // One agent does the whole location: every node is "unclaimed".
        let nodes = assign_nodes(manifests, &[String::new()])
            .into_iter()
            .flat_map(|(_, nodes)| nodes);
        let (stale, oldest) = (&stale, oldest.as_ref());
        let purges = nodes
            .map(|n| {
                async move {
                    purge_node(
                        &lc.client,
                        &lc.location,
                        &n.node,
                        &n.manifests,
                        stale,
                        oldest,
                    )
                    .await
                }
                .boxed()
            })
            .collect();
        for done in run_bounded(purges, PURGES_IN_PARALLEL).await? {
            report.deleted_manifests += done.manifests_deleted;
            report.deleted_files += done.files_deleted;
        }
    }
    Ok(report)
}

/// What deleting one node's local snapshots did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSnapshots {
    /// The node's address.
    pub host: String,
    /// The node's DC.
    pub dc: String,
    /// The `sm_*` snapshot tags deleted, sorted.
    pub deleted: Vec<String>,
    /// Why the node was skipped or failed, if it was.
    pub error: Option<String>,
}

/// On every node of the cluster that `hosts` reach (agents on `port`, with `token`, their
/// certificates in `pins`), deletes
/// every snapshot whose tag is a backup tag (`sm_YYYYMMDDhhmmssUTC`); other snapshots stay. Nodes
/// that are down are reported, not fatal.
pub async fn delete_local_snapshots(
    hosts: &[String],
    port: u16,
    token: &str,
    pins: &BTreeMap<String, String>,
) -> Result<Vec<HostSnapshots>, BackupsError> {
    let view = discover(hosts, port, token, pins).await?;
    let contact = AgentClient::new(&view.contact, port, token, pins).map_err(|e| {
        DiscoveryError::Contact {
            host: view.contact.clone(),
            source: e,
        }
    })?;
    Ok(futures::stream::iter(view.nodes)
        .map(|node| {
            let client = contact.for_host(&node.address);
            async move {
                let mut out = HostSnapshots {
                    host: node.address.clone(),
                    dc: node.dc.clone(),
                    deleted: Vec::new(),
                    error: node.down_reason(),
                };
                if out.error.is_some() {
                    return out;
                }
                let tags: BTreeSet<String> = match client.snapshots().await {
                    Ok(s) => s
                        .into_iter()
                        .map(|s| s.tag)
                        .filter(|t| is_snapshot_tag(t))
                        .collect(),
                    Err(e) => {
                        out.error = Some(e.to_string());
                        return out;
                    }
                };
                for tag in tags {
                    match client.delete_snapshot(Some(&tag), None, None).await {
                        Ok(()) => out.deleted.push(tag),
                        Err(e) => {
                            out.error = Some(e.to_string());
                            break;
                        }
                    }
                }
                out
            }
        })
        .buffered(NODES_IN_PARALLEL)
        .collect()
        .await)
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
    fn hosts_failing_alike_are_named_together() {
        let refused = |host: &str| AgentError::Connect {
            host: host.into(),
            call: "POST /agent/files/list".into(),
            reason: format!(
                "error sending request for url (https://{host}:10001/agent/files/list): connection refused"
            ),
            not_sent: true,
        };
        let failures = vec![
            ("10.0.0.1".to_string(), refused("10.0.0.1")),
            ("10.0.0.2".to_string(), refused("10.0.0.2")),
        ];
        assert_eq!(
            host_failures(&failures),
            "10.0.0.1, 10.0.0.2: POST /agent/files/list: cannot connect: error sending request: connection refused (a retry may help)"
        );
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
