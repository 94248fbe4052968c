//! What a validate check found: per node directory ([`NodeReport`]), per location
//! ([`LocationReport`]) and in all ([`ValidateReport`]). The online run stores node reports in its
//! progress rows, the offline check builds them directly; the CLI's tables and `-o json`, the API
//! and the metrics read the same types. Reports are stored (in progress rows) and read back by
//! later builds, so each struct takes its defaults for the fields it does not find.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::agent::wire::{ContentFinding, FindingKind};

/// Most entries kept in each list of a report (missing files, orphans, deleted files, findings);
/// the counts are always exact.
pub const MAX_LISTED: usize = 1000;

/// The files of one table directory whose listed sizes do not add up to what a manifest says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeMismatch {
    /// The remote table version directory.
    pub dir: String,
    /// Keyspace.
    pub keyspace: String,
    /// Table.
    pub table: String,
    /// The snapshots whose manifest gives this size.
    pub snapshots: Vec<String>,
    /// The size the manifest gives the table's files.
    pub expected: i64,
    /// The sum of the listed sizes of those files.
    pub found: i64,
    /// Each referenced file with its listed size (`None`: missing), so the odd one can be seen.
    pub files: Vec<(String, Option<u64>)>,
}

/// What the check of one node directory found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeReport {
    /// The node's DC (from its directory).
    pub dc: String,
    /// The node's host ID (its directory's name).
    pub node_id: String,
    /// Who checked it: the agent's host, or `offline`.
    pub checked_by: String,
    /// Final manifests of the node (of the snapshots validated).
    pub manifests: u64,
    /// Temporary manifests of the node not shadowed by a final one (runs not finished).
    pub temporary_manifests: u64,
    /// Files referenced by the manifests (data files, Scylla manifests, schema files).
    pub files: u64,
    /// Files listed in the node directory (versioned copies included).
    pub scanned_files: u64,
    /// Referenced files not in the listing.
    pub missing_files: u64,
    /// The missing files (at most [`MAX_LISTED`]).
    pub missing: Vec<String>,
    /// Snapshot tags whose manifest references a missing, mis-sized or corrupt file.
    pub broken_snapshots: Vec<String>,
    /// Table directories whose files do not add up to the manifest's size.
    pub size_mismatches: Vec<SizeMismatch>,
    /// SSTables whose content was checked this run.
    pub sstables_checked: u64,
    /// SSTables whose content was not checked this run (left to other runs by `sample`).
    pub sstables_skipped: u64,
    /// Bytes read to check content.
    pub bytes_checked: u64,
    /// Objects whose MD5 was compared with the store's (`--content full`).
    pub md5_checked: u64,
    /// Objects for which the store keeps no MD5.
    pub md5_unavailable: u64,
    /// Files whose content is wrong.
    pub corrupt_files: u64,
    /// What each content check found (at most [`MAX_LISTED`]).
    pub findings: Vec<ContentFinding>,
    /// Listed files no manifest references.
    pub orphaned_files: u64,
    /// Their bytes.
    pub orphaned_bytes: u64,
    /// The orphans (at most [`MAX_LISTED`]).
    pub orphans: Vec<String>,
    /// Orphans deleted.
    pub deleted_files: u64,
    /// The deleted files (at most [`MAX_LISTED`]).
    pub deleted: Vec<String>,
    /// Orphans kept although deletion was asked, because a safety rule protects them.
    pub kept_orphans: u64,
    /// When the check of this directory started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// Why the check could not finish, if it could not.
    pub error: Option<String>,
}

impl NodeReport {
    /// Whether anything referenced is missing, mis-sized or corrupt (orphans do not count).
    pub fn damaged(&self) -> bool {
        self.missing_files > 0 || !self.size_mismatches.is_empty() || self.corrupt_files > 0
    }
}

/// What the check of one location found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocationReport {
    /// The location (`[dc:]provider:bucket`).
    pub location: String,
    /// The cluster whose backups were checked (`None` offline across every cluster).
    pub cluster_id: Option<uuid::Uuid>,
    /// One report per node directory, in DC then node order.
    pub nodes: Vec<NodeReport>,
}

/// What a whole validate found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidateReport {
    /// How much content was checked (`none`, `digest`, `full`).
    pub content: String,
    /// Percent of SSTables whose content was checked.
    pub sample: u8,
    /// Whether orphans were deleted.
    pub delete_orphaned_files: bool,
    /// One report per location.
    pub locations: Vec<LocationReport>,
}

/// Sums over node reports, for summaries and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Final manifests.
    pub manifests: u64,
    /// Referenced files.
    pub files: u64,
    /// Missing files.
    pub missing_files: u64,
    /// Broken snapshots (counted per node).
    pub broken_snapshots: u64,
    /// Table directories whose sizes do not add up.
    pub size_mismatches: u64,
    /// SSTables whose content was checked.
    pub sstables_checked: u64,
    /// Corrupt files.
    pub corrupt_files: u64,
    /// Orphaned files.
    pub orphaned_files: u64,
    /// Orphaned bytes.
    pub orphaned_bytes: u64,
    /// Deleted orphans.
    pub deleted_files: u64,
}

impl Totals {
    /// Adds one node's counts.
    pub fn add(&mut self, n: &NodeReport) {
        self.manifests += n.manifests;
        self.files += n.files;
        self.missing_files += n.missing_files;
        self.broken_snapshots += n.broken_snapshots.len() as u64;
        self.size_mismatches += n.size_mismatches.len() as u64;
        self.sstables_checked += n.sstables_checked;
        self.corrupt_files += n.corrupt_files;
        self.orphaned_files += n.orphaned_files;
        self.orphaned_bytes += n.orphaned_bytes;
        self.deleted_files += n.deleted_files;
    }
}

impl ValidateReport {
    /// Every node report of every location.
    pub fn nodes(&self) -> impl Iterator<Item = (&LocationReport, &NodeReport)> {
        self.locations
            .iter()
            .flat_map(|l| l.nodes.iter().map(move |n| (l, n)))
    }

    /// The sums over every node.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for (_, n) in self.nodes() {
            t.add(n);
        }
        t
    }

    /// The broken snapshot tags, each once, sorted.
    pub fn broken_snapshots(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .nodes()
            .flat_map(|(_, n)| n.broken_snapshots.iter().cloned())
            .collect();
        tags.sort();
        tags.dedup();
        tags
    }

    /// Whether nothing referenced is missing, mis-sized or corrupt, and every node was checked.
    pub fn healthy(&self) -> bool {
        self.nodes().all(|(_, n)| !n.damaged() && n.error.is_none())
    }

    /// Why the run fails, upstream's wording first ("broken snapshots: ..."), or `None` when it
    /// passes; orphans fail it only when they were not being deleted.
    pub fn failure(&self) -> Option<String> {
        let mut parts = Vec::new();
        let broken = self.broken_snapshots();
        if !broken.is_empty() {
            parts.push(format!("broken snapshots: {}", broken.join(", ")));
        }
        let t = self.totals();
        if t.corrupt_files > 0 {
            parts.push(format!("{} corrupt files", t.corrupt_files));
        }
        let errors: Vec<String> = self
            .nodes()
            .filter_map(|(l, n)| {
                n.error
                    .as_ref()
                    .map(|e| format!("{} node {}: {e}", l.location, n.node_id))
            })
            .collect();
        parts.extend(errors);
        if !self.delete_orphaned_files && t.orphaned_files > 0 {
            parts.push(format!(
                "orphaned files: {} ({} bytes)",
                t.orphaned_files, t.orphaned_bytes
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Pushes `item` onto `list` unless it already holds [`MAX_LISTED`] entries.
pub fn push_listed<T>(list: &mut Vec<T>, item: T) {
    if list.len() < MAX_LISTED {
        list.push(item);
    }
}
