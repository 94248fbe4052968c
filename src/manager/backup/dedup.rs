//! The DEDUPLICATE decision: which files of a table's snapshot are already in its remote version
//! directory, so they need not be uploaded again (every backup is logically full, physically
//! incremental).
//!
//! Files are grouped into SSTable bundles by generation. A local bundle is a duplicate when the
//! remote has a bundle of the same generation with exactly the same component names and sizes;
//! for integer generations (which restart after a node is replaced) the `Digest.crc32` contents
//! must also be equal. Scylla's per-table manifests and versioned files (`<name>.sm_<tag>`) take no
//! part. A bundle with a same-generation remote counterpart that differs will create versioned
//! files when uploaded, and is counted.

use std::collections::{BTreeMap, HashMap};

use crate::format::sstable::{DIGEST_COMPONENT, Generation, SSTableName, split_versioned};

/// One file: name and size.
pub type FileSize = (String, u64);

/// What deduplication found for one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dedup {
    /// Local files already in the location: delete them from the snapshot, count them skipped.
    pub duplicates: Vec<String>,
    /// Bytes of the duplicates.
    pub duplicate_bytes: u64,
    /// Local bundles whose generation exists remotely with other content (versioning ahead).
    pub versioned_bundles: usize,
}

/// Groups SSTable component files by generation (other files are left out).
fn bundles(files: &[FileSize]) -> HashMap<Generation, BTreeMap<String, u64>> {
    let mut out: HashMap<Generation, BTreeMap<String, u64>> = HashMap::new();
    for (name, size) in files {
        if split_versioned(name).is_some() {
            continue;
        }
        if let Ok(n) = name.parse::<SSTableName>() {
            out.entry(n.generation)
                .or_default()
                .insert(name.clone(), *size);
        }
    }
    out
}

/// Decides which local files are duplicates of remote ones. `digest(local, name)` returns the
/// content of a `Digest.crc32` file, locally (`true`) or remotely (`false`); it is asked only
/// for integer-generation bundles that match by names and sizes.
pub fn deduplicate(
    local: &[FileSize],
    remote: &[FileSize],
    mut digest: impl FnMut(bool, &str) -> Option<String>,
) -> Dedup {
    let (ours, theirs) = (bundles(local), bundles(remote));
    let mut out = Dedup::default();
    let mut generations: Vec<&Generation> = ours.keys().collect();
    generations.sort();
    for g in generations {
        let mine = &ours[g];
        let Some(other) = theirs.get(g) else { continue };
        let mut same = mine == other;
        if same && g.is_integer() {
            let digest_name = mine.keys().find(|n| n.ends_with(DIGEST_COMPONENT));
            same = match digest_name {
                Some(d) => {
                    matches!((digest(true, d), digest(false, d)), (Some(a), Some(b)) if a.trim() == b.trim())
                }
                None => false,
            };
        }
        if same {
            out.duplicate_bytes += mine.values().sum::<u64>();
            out.duplicates.extend(mine.keys().cloned());
        } else {
            out.versioned_bundles += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(generation: &str, sizes: &[(&str, u64)]) -> Vec<FileSize> {
        sizes
            .iter()
            .map(|(c, s)| (format!("me-{generation}-big-{c}"), *s))
            .collect()
    }

    const UUID_GEN: &str = "3gqr_00de_3lnq32by7oc733wnxg";

    #[test]
    fn uuid_bundles_match_by_names_and_sizes() {
        let local = [
            bundle(UUID_GEN, &[("Data.db", 100), ("TOC.txt", 9)]),
            bundle("3gqr_00hj_0l62f2by7oc733wnxg", &[("Data.db", 5)]),
        ]
        .concat();
        let mut remote = bundle(UUID_GEN, &[("Data.db", 100), ("TOC.txt", 9)]);
        remote.push(("tag_sm_20260101000000UTC_node_n_manifest.json".into(), 10));
        remote.push((format!("me-{UUID_GEN}-big-Data.db.sm_20260101000000UTC"), 1));
        let d = deduplicate(&local, &remote, |_, _| {
            panic!("UUID generations need no digest")
        });
        assert_eq!(d.duplicates.len(), 2);
        assert_eq!(d.duplicate_bytes, 109);
        assert_eq!(d.versioned_bundles, 0);

        let changed = bundle(UUID_GEN, &[("Data.db", 101), ("TOC.txt", 9)]);
        let d = deduplicate(&local, &changed, |_, _| None);
        assert!(d.duplicates.is_empty());
        assert_eq!(
            d.versioned_bundles, 1,
            "same generation, other sizes: uploading versions it"
        );
    }

    #[test]
    fn integer_bundles_also_need_equal_digests() {
        let files = bundle("7", &[("Data.db", 100), ("Digest.crc32", 10)]);
        let equal = deduplicate(&files, &files, |_, _| Some("12345".into()));
        assert_eq!(equal.duplicates.len(), 2);
        let differ = deduplicate(&files, &files, |local, _| {
            Some(if local { "1" } else { "2" }.into())
        });
        assert!(differ.duplicates.is_empty());
        assert_eq!(
            differ.versioned_bundles, 1,
            "a replaced node reused the generation"
        );
        let unreadable = deduplicate(&files, &files, |_, _| None);
        assert!(unreadable.duplicates.is_empty(), "when in doubt, upload");
    }
}
