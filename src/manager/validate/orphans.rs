//! Orphans: listed files no manifest (final or temporary) references, and which of them may be
//! deleted. A file is never deleted when it was modified after the cut-off (the oldest run that
//! may still resume, or the grace period before validation started, whichever is earlier), or
//! when the listing gives it no modification time. Deletion goes in batches of 1,000.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::agent::wire::Entry;
use crate::format::sstable::split_versioned;
use crate::format::tag::SnapshotTag;

/// Files in one delete call.
pub const DELETE_BATCH: usize = 1000;

/// Whether the orphan `entry` may be deleted: only when it was last modified at or before
/// `cutoff`.
pub fn deletable(entry: &Entry, cutoff: DateTime<Utc>) -> bool {
    entry.modified.is_some_and(|m| m <= cutoff)
}

/// The files the manifests of a node (final and temporary) reference, each with the earliest
/// snapshot that references it, for telling orphans.
#[derive(Debug, Default)]
pub struct References {
    /// `<dir>/<name>` → the earliest snapshot referencing it.
    earliest: HashMap<String, SnapshotTag>,
}

impl References {
    /// Records that snapshot `tag` references file `name` of directory `dir`.
    pub fn add(&mut self, dir: &str, name: &str, tag: &SnapshotTag) {
        let key = format!("{dir}/{name}");
        match self.earliest.get_mut(&key) {
            Some(t) if *t <= *tag => {}
            Some(t) => *t = tag.clone(),
            None => {
                self.earliest.insert(key, tag.clone());
            }
        }
    }

    /// Whether the listed file `name` of `dir` is referenced: named by a manifest, or a versioned
    /// copy `f.sm_X` of a file `f` that a snapshot earlier than `X` references (the copy may hold
    /// that snapshot's bytes).
    pub fn is_referenced(&self, dir: &str, name: &str) -> bool {
        if self.earliest.contains_key(&format!("{dir}/{name}")) {
            return true;
        }
        split_versioned(name).is_some_and(|(base, x)| {
            self.earliest
                .get(&format!("{dir}/{base}"))
                .is_some_and(|t| *t < x)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_copies_are_referenced_only_by_earlier_snapshots() {
        let t = |s: &str| s.parse::<SnapshotTag>().unwrap();
        let mut refs = References::default();
        refs.add("d", "me-1-big-Data.db", &t("sm_20260102000000UTC"));
        refs.add("d", "me-1-big-Data.db", &t("sm_20260105000000UTC"));
        assert!(refs.is_referenced("d", "me-1-big-Data.db"));
        assert!(refs.is_referenced("d", "me-1-big-Data.db.sm_20260103000000UTC"));
        assert!(!refs.is_referenced("d", "me-1-big-Data.db.sm_20260101000000UTC"));
        assert!(!refs.is_referenced("d", "me-1-big-Data.db.sm_20260102000000UTC"));
        assert!(!refs.is_referenced("e", "me-1-big-Data.db"));
        assert!(!refs.is_referenced("d", "me-2-big-Data.db"));
    }

    #[test]
    fn only_files_known_old_enough_are_deletable() {
        let now = Utc::now();
        let entry = |modified| Entry {
            path: "x".into(),
            size: 1,
            dir: false,
            modified,
        };
        assert!(deletable(&entry(Some(now)), now));
        assert!(!deletable(
            &entry(Some(now)),
            now - chrono::Duration::seconds(1)
        ));
        assert!(!deletable(&entry(None), now));
    }
}
