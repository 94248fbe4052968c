//! The purge of one node's backups in one location (spec 1.10, step 6.3), shared by the backup
//! run's PURGE stage and by snapshot delete.
//!
//! [`purge_node`] reads the node's stale manifests, gathers every file they list by remote version
//! directory, and keeps out whatever a kept manifest of the node lists (reference counting by set
//! difference, [`retention::unreferenced_files`]): a deduplicated file shared with a kept snapshot
//! survives, and so does every file of a run in progress whose temporary manifest is kept. Older
//! versions of files (`<name>.sm_<tag>`) go once their tag is no later than the oldest kept
//! snapshot. Data files go first, in batches of at most [`DELETE_BATCH`] paths per directory with
//! a few directories at once; then each stale snapshot's schema files and the `.tmp` variant of
//! its manifest; the manifests themselves last, so a purge cut short is finished by the next one.
//!
//! [`assign_nodes`] decides which host purges which node's manifests in a location: each host its
//! own node, and the nodes no host claims (decommissioned or replaced nodes) shared among them.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::{FutureExt, StreamExt};

use crate::format::location::Location;
use crate::format::manifest::FilesMeta;
use crate::format::paths::{
    ManifestInfo, remote_alternator_schema_file, remote_sstable_base_dir,
    remote_unsafe_schema_file, temp_file,
};
use crate::format::tag::SnapshotTag;
use crate::manager::agent_client::{AgentClient, error::AgentError, files::Root};
use crate::manager::backup::retention::{self, Snapshot};
use crate::manager::location::manifests::{ManifestReadError, run_bounded, walk_manifest};

/// Most paths one delete call carries (upstream sends at most 1,000 per `deletepaths`).
pub const DELETE_BATCH: usize = 1000;
/// Delete calls in flight at once for one node.
const DELETES_IN_PARALLEL: usize = 8;
/// Manifests read at once for one node.
const READS_IN_PARALLEL: usize = 4;

/// What one node's purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Data files (and Scylla manifests, and expired versions) the purge set out to delete.
    pub files_to_delete: u64,
    /// Of those, the ones the store reported deleted.
    pub files_deleted: u64,
    /// Node manifests deleted.
    pub manifests_deleted: u64,
}

impl std::ops::AddAssign for PurgeReport {
    fn add_assign(&mut self, other: PurgeReport) {
        self.files_to_delete += other.files_to_delete;
        self.files_deleted += other.files_deleted;
        self.manifests_deleted += other.manifests_deleted;
    }
}

/// Why a purge stopped. Nothing is deleted before every manifest of the node has been read, so a
/// purge that fails while reading leaves the location as it was.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// A manifest of the node could not be read.
    #[error("purge in {location}: {source}")]
    Read {
        /// The location.
        location: String,
        /// What failed.
        #[source]
        source: ManifestReadError,
    },
    /// A kept manifest disappeared between the listing and the purge (moved or deleted by
    /// someone else); the purge stops rather than delete files it may protect.
    #[error(
        "purge in {location}: kept manifest {path} disappeared while purging; nothing of its node was deleted (a retry may help)"
    )]
    KeptManifestGone {
        /// The location.
        location: String,
        /// The manifest's path.
        path: String,
    },
    /// Listing the node's SSTable directory (for older versions) failed.
    #[error("purge in {location}: listing {dir}: {source}")]
    List {
        /// The location.
        location: String,
        /// The directory listed.
        dir: String,
        /// What failed.
        #[source]
        source: AgentError,
    },
    /// A delete call failed.
    #[error("purge in {location}: deleting in {dir}: {source}")]
    Delete {
        /// The location.
        location: String,
        /// The directory whose files were being deleted.
        dir: String,
        /// What failed.
        #[source]
        source: AgentError,
    },
}

impl PurgeError {
    /// Whether trying the purge again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            PurgeError::Read { source, .. } => source.retryable(),
            PurgeError::KeptManifestGone { .. } => true,
            PurgeError::List { source, .. } | PurgeError::Delete { source, .. } => {
                source.retryable()
            }
        }
    }
}

/// Purges one node's stale snapshots from `location` through `client`.
///
/// `node` is any manifest of the node (for its cluster, DC and node ID); `manifests` are the
/// manifests found in the location (those of other nodes are ignored); `stale` are the snapshots
/// to delete ([`retention::stale_snapshots`], or the tags a user deletes); `oldest_kept` is the
/// oldest snapshot that stays ([`retention::oldest_kept`]): older versions of files up to it go,
/// and none go when it is `None`.
pub async fn purge_node(
    client: &AgentClient,
    location: &Location,
    node: &ManifestInfo,
    manifests: &[ManifestInfo],
    stale: &BTreeSet<Snapshot>,
    oldest_kept: Option<&SnapshotTag>,
) -> Result<PurgeReport, PurgeError> {
    let loc = location.to_string();
    let same_node = |m: &&ManifestInfo| {
        m.cluster_id == node.cluster_id && m.dc == node.dc && m.node_id == node.node_id
    };
    let is_stale = |m: &ManifestInfo| stale.contains(&(m.task_id, m.snapshot_tag.clone()));
    let (stale_manifests, kept_manifests): (Vec<&ManifestInfo>, Vec<&ManifestInfo>) = manifests
        .iter()
        .filter(same_node)
        .partition(|m| is_stale(m));
    if stale_manifests.is_empty() && oldest_kept.is_none() {
        return Ok(PurgeReport::default());
    }

    // Everything the stale manifests list (a manifest already gone was purged before).
    let read_err = |source| PurgeError::Read {
        location: loc.clone(),
        source,
    };
    let reads = stale_manifests
        .iter()
        .map(|m| {
            async move {
                let mut entries = Vec::new();
                match walk_manifest(client, location, m, |e| entries.push(e)).await {
                    Ok(_) => Ok(entries),
                    Err(e) if e.is_not_found() => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
            }
            .boxed()
        })
        .collect();
    let stale_entries: Vec<FilesMeta> = run_bounded(reads, READS_IN_PARALLEL)
        .await
        .map_err(read_err)?
        .into_iter()
        .flatten()
        .collect();

    // Of the kept manifests, only the entries in directories the purge would touch matter.
    let stale_dirs: HashSet<String> = stale_entries
        .iter()
        .map(|f| node.sstable_version_dir(&f.keyspace, &f.table, &f.version))
        .collect();
    let kept_entries: Vec<FilesMeta> = if stale_dirs.is_empty() {
        Vec::new()
    } else {
        let reads = kept_manifests
            .iter()
            .map(|m| read_kept(client, location, m, &stale_dirs).boxed())
            .collect();
        run_bounded(reads, READS_IN_PARALLEL)
            .await?
            .into_iter()
            .flatten()
            .collect()
    };
    let mut delete = retention::unreferenced_files(
        node.cluster_id,
        &node.dc,
        &node.node_id,
        &stale_entries,
        &kept_entries,
    );
    drop((stale_entries, kept_entries));

    if let Some(oldest) = oldest_kept {
        add_expired_versions(client, location, node, oldest, &mut delete).await?;
    }

    let mut report = PurgeReport {
        files_to_delete: delete.values().map(|f| f.len() as u64).sum(),
        ..PurgeReport::default()
    };
    report.files_deleted = delete_batches(client, location, delete_batches_of(&delete)).await?;

    let (others, manifest_paths) = cleanup_paths(&stale_manifests);
    delete_batches(client, location, batches("backup", others)).await?;
    report.manifests_deleted =
        delete_batches(client, location, batches("backup/meta", manifest_paths)).await?;
    tracing::info!(
        location = %location,
        node = %node.node_id,
        stale = stale_manifests.len(),
        files_to_delete = report.files_to_delete,
        files_deleted = report.files_deleted,
        manifests_deleted = report.manifests_deleted,
        "purged a node's stale snapshots"
    );
    Ok(report)
}

/// The entries of a kept manifest that lie in `dirs`. A temporary manifest that is gone may have
/// been committed meanwhile, so its final name is read instead.
async fn read_kept(
    client: &AgentClient,
    location: &Location,
    m: &ManifestInfo,
    dirs: &HashSet<String>,
) -> Result<Vec<FilesMeta>, PurgeError> {
    let mut candidates = vec![m.clone()];
    if m.temporary {
        candidates.push(ManifestInfo {
            temporary: false,
            ..m.clone()
        });
    }
    for info in &candidates {
        let mut entries = Vec::new();
        let walked = walk_manifest(client, location, info, |e| {
            if dirs.contains(&m.sstable_version_dir(&e.keyspace, &e.table, &e.version)) {
                entries.push(e);
            }
        })
        .await;
        match walked {
            Ok(_) => return Ok(entries),
            Err(e) if e.is_not_found() => continue,
            Err(source) => {
                return Err(PurgeError::Read {
                    location: location.to_string(),
                    source,
                });
            }
        }
    }
    Err(PurgeError::KeptManifestGone {
        location: location.to_string(),
        path: m.path(),
    })
}

/// Adds to `delete` every older version (`<name>.sm_<tag>`) in the node's SSTable tree whose tag
/// is no later than `oldest`.
async fn add_expired_versions(
    client: &AgentClient,
    location: &Location,
    node: &ManifestInfo,
    oldest: &SnapshotTag,
    delete: &mut BTreeMap<String, BTreeSet<String>>,
) -> Result<(), PurgeError> {
    let base = remote_sstable_base_dir(node.cluster_id, &node.dc, &node.node_id);
    let list_err = |source| PurgeError::List {
        location: location.to_string(),
        dir: base.clone(),
        source,
    };
    let listing = match client.list_files(Root::Backup(location), &base, true).await {
        Err(e) if e.is_not_found() => return Ok(()),
        other => other.map_err(list_err)?,
    };
    let mut listing = std::pin::pin!(listing);
    while let Some(entry) = listing.next().await {
        let entry = entry.map_err(list_err)?;
        if entry.dir {
            continue;
        }
        let Some((dir, name)) = entry.path.rsplit_once('/') else {
            continue;
        };
        if !retention::expired_versions([name], oldest).is_empty() {
            delete
                .entry(format!("{base}/{dir}"))
                .or_default()
                .insert(name.to_string());
        }
    }
    Ok(())
}

/// One delete call: the directory it works in (for messages) and the full paths.
type Batch = (String, Vec<String>);

/// The delete calls for `delete` (version dir → file names): per directory, at most
/// [`DELETE_BATCH`] paths each.
fn delete_batches_of(delete: &BTreeMap<String, BTreeSet<String>>) -> Vec<Batch> {
    delete
        .iter()
        .flat_map(|(dir, names)| {
            let paths: Vec<String> = names.iter().map(|n| format!("{dir}/{n}")).collect();
            batches(dir, paths)
        })
        .collect()
}

/// `paths` in calls of at most [`DELETE_BATCH`], labelled with `dir`.
fn batches(dir: &str, paths: Vec<String>) -> Vec<Batch> {
    paths
        .chunks(DELETE_BATCH)
        .map(|c| (dir.to_string(), c.to_vec()))
        .collect()
}

/// What goes with the stale manifests: first their snapshots' schema files and the `.tmp`
/// variants of final manifests, then the manifests themselves. Both sorted, without repeats.
fn cleanup_paths(stale: &[&ManifestInfo]) -> (Vec<String>, Vec<String>) {
    let mut others = BTreeSet::new();
    let mut manifests = BTreeSet::new();
    for m in stale {
        let (c, t, tag) = (m.cluster_id, m.task_id, &m.snapshot_tag);
        others.insert(m.schema_path());
        others.insert(remote_unsafe_schema_file(c, t, tag));
        others.insert(remote_alternator_schema_file(c, t, tag));
        if !m.temporary {
            others.insert(temp_file(&m.path()));
        }
        manifests.insert(m.path());
    }
    // A listed temporary manifest is deleted with the manifests, not before them.
    others.retain(|p| !manifests.contains(p));
    (
        others.into_iter().collect(),
        manifests.into_iter().collect(),
    )
}

/// Runs delete calls, a few at once; returns how many paths the store reported deleted.
async fn delete_batches(
    client: &AgentClient,
    location: &Location,
    batches: Vec<Batch>,
) -> Result<u64, PurgeError> {
    let calls = batches
        .into_iter()
        .map(|(dir, paths)| {
            async move {
                client
                    .delete_files(Root::Backup(location), &paths)
                    .await
                    .map_err(|source| PurgeError::Delete {
                        location: location.to_string(),
                        dir,
                        source,
                    })
            }
            .boxed()
        })
        .collect();
    Ok(run_bounded(calls, DELETES_IN_PARALLEL).await?.iter().sum())
}

/// One node's manifests in a location: what one [`purge_node`] call works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeManifests {
    /// A manifest of the node (for its cluster, DC and node ID).
    pub node: ManifestInfo,
    /// Every manifest of the node in the location.
    pub manifests: Vec<ManifestInfo>,
}

/// Which host purges which nodes of a location ("pop node IDs", spec 1.10 step 6.2).
///
/// `hosts` are the node IDs of the hosts that take part, in order. Each gets its own node's
/// manifests first; the nodes no host claims (decommissioned or replaced nodes, or nodes not in
/// this run) are dealt to the hosts in turn, so every node of the location is purged exactly once.
/// With no host, nothing is assigned. The answer has one entry per host, in the given order.
pub fn assign_nodes(
    manifests: &[ManifestInfo],
    hosts: &[String],
) -> Vec<(String, Vec<NodeManifests>)> {
    let mut nodes: BTreeMap<(uuid::Uuid, &str, &str), Vec<ManifestInfo>> = BTreeMap::new();
    for m in manifests {
        nodes
            .entry((m.cluster_id, m.dc.as_str(), m.node_id.as_str()))
            .or_default()
            .push(m.clone());
    }
    let mut out: Vec<(String, Vec<NodeManifests>)> =
        hosts.iter().map(|h| (h.clone(), Vec::new())).collect();
    if out.is_empty() {
        return out;
    }
    let group = |ms: Vec<ManifestInfo>| NodeManifests {
        node: ms[0].clone(),
        manifests: ms,
    };
    let mut unclaimed = Vec::new();
    for ((_, _, node_id), ms) in nodes {
        match out.iter_mut().find(|(h, _)| h == node_id) {
            Some((_, mine)) => mine.push(group(ms)),
            None => unclaimed.push(group(ms)),
        }
    }
    let hosts_count = out.len();
    for (i, n) in unclaimed.into_iter().enumerate() {
        out[i % hosts_count].1.push(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn info(node: &str, tag: &str, temporary: bool) -> ManifestInfo {
        ManifestInfo {
            cluster_id: Uuid::from_u128(7),
            dc: "dc1".into(),
            node_id: node.into(),
            task_id: Uuid::from_u128(1),
            snapshot_tag: tag.parse().unwrap(),
            temporary,
        }
    }

    #[test]
    fn every_node_is_assigned_once_and_hosts_keep_their_own() {
        let manifests = vec![
            info("a", "sm_20260101000000UTC", false),
            info("a", "sm_20260102000000UTC", false),
            info("b", "sm_20260101000000UTC", false),
            info("gone1", "sm_20260101000000UTC", false),
            info("gone2", "sm_20260101000000UTC", false),
            info("gone3", "sm_20260101000000UTC", true),
        ];
        let hosts = vec!["b".to_string(), "a".to_string(), "c".to_string()];
        let got = assign_nodes(&manifests, &hosts);
        let names: Vec<(&str, Vec<&str>)> = got
            .iter()
            .map(|(h, ns)| {
                (
                    h.as_str(),
                    ns.iter().map(|n| n.node.node_id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("b", vec!["b", "gone1"]),
                ("a", vec!["a", "gone2"]),
                ("c", vec!["gone3"]),
            ]
        );
        assert_eq!(got[1].1[0].manifests.len(), 2, "both of a's manifests");
        assert!(assign_nodes(&manifests, &[]).is_empty());
    }

    #[test]
    fn batches_stay_within_one_directory_and_hold_at_most_a_thousand_paths() {
        let mut delete = BTreeMap::new();
        delete.insert(
            "d1".to_string(),
            (0..2500)
                .map(|i| format!("f{i:04}"))
                .collect::<BTreeSet<_>>(),
        );
        delete.insert("d2".to_string(), BTreeSet::from(["x".to_string()]));
        let got = delete_batches_of(&delete);
        let shape: Vec<(&str, usize)> = got.iter().map(|(d, p)| (d.as_str(), p.len())).collect();
        assert_eq!(shape, [("d1", 1000), ("d1", 1000), ("d1", 500), ("d2", 1)]);
        assert_eq!(got[0].1[0], "d1/f0000");
        assert!(
            got.iter()
                .all(|(d, ps)| ps.iter().all(|p| p.starts_with(d)))
        );
    }

    #[test]
    fn manifests_go_after_their_schema_files_and_tmp_variants() {
        let final_m = info("a", "sm_20260101000000UTC", false);
        let tmp_m = info("a", "sm_20260102000000UTC", true);
        let (others, manifests) = cleanup_paths(&[&final_m, &tmp_m]);
        assert_eq!(manifests, {
            let mut v = vec![final_m.path(), tmp_m.path()];
            v.sort();
            v
        });
        assert!(others.contains(&temp_file(&final_m.path())));
        assert!(
            !others.contains(&tmp_m.path()),
            "deleted with the manifests"
        );
        for m in [&final_m, &tmp_m] {
            assert!(others.contains(&m.schema_path()));
            assert!(others.iter().any(|p| p.ends_with(&format!(
                "task_{}_tag_{}_schema.tar.gz",
                m.task_id, m.snapshot_tag
            ))));
            assert!(
                others
                    .iter()
                    .any(|p| p.ends_with("alternator_schema.json.gz")
                        && p.contains(m.snapshot_tag.as_str()))
            );
        }
        assert_eq!(others.len(), 7, "3 schema files each and one tmp variant");
    }
}
