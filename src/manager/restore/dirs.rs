//! The remote SSTable directories of a restore (spec §4 "Index the work"): one manifest index
//! entry's files grouped by SSTable, each file resolved against ONE listing of its directory with
//! the versioned-file rule, every file required, sizes taken from the listing and checked against
//! the index; and the order batches take directories in. Pure: the listing is given.

use std::collections::{BTreeMap, HashMap};

use super::plan::{RemoteDir, RemoteFile, RemoteSSTable};
use super::target::MissingObject;
use crate::format::location::Location;
use crate::format::manifest::FilesMeta;
use crate::format::paths::ManifestInfo;
use crate::format::sstable::{SSTableName, SSTableNameError};
use crate::format::tag::SnapshotTag;

/// One directory resolved: what could be found, and what could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The directory with the files found.
    pub dir: RemoteDir,
    /// Objects missing, or the directory's total when the listed sizes do not add up to the index's.
    pub missing: Vec<MissingObject>,
    /// Objects checked.
    pub checked: u64,
}

/// Resolves the files of `entry` (of the node of `manifest`, in `location`) against `listing`
/// (`name → size` of every object in its directory), choosing each file's version for `tag`.
pub fn resolve(
    location: &Location,
    manifest: &ManifestInfo,
    entry: &FilesMeta,
    listing: &HashMap<String, u64>,
    tag: &SnapshotTag,
) -> Result<Resolved, SSTableNameError> {
    let path = manifest.sstable_version_dir(&entry.keyspace, &entry.table, &entry.version);
    let mut groups: BTreeMap<String, (SSTableName, Vec<&String>)> = BTreeMap::new();
    for file in &entry.files {
        let name: SSTableName = file.parse()?;
        let key = name.with_component("").to_string();
        groups
            .entry(key)
            .or_insert_with(|| (name, Vec::new()))
            .1
            .push(file);
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    let mut sstables = Vec::new();
    for (name, files) in groups.into_values() {
        let mut out = Vec::new();
        for file in files {
            checked += 1;
            let chosen = crate::format::sstable::version_for_tag(
                file,
                tag,
                listing.keys().map(String::as_str),
            );
            match chosen.and_then(|c| listing.get(&c).map(|s| (c, *s))) {
                Some((chosen, size)) => out.push(RemoteFile {
                    name: file.clone(),
                    versioned: chosen != *file,
                    remote: format!("{path}/{chosen}"),
                    size,
                }),
                None => missing.push(MissingObject {
                    path: location.remote_path(&format!("{path}/{file}")),
                    expected_size: 0,
                    found_size: None,
                }),
            }
        }
        let size = out.iter().map(|f| f.size).sum();
        sstables.push(RemoteSSTable {
            id: name.generation.to_string(),
            uuid_generation: !name.generation.is_integer(),
            files: out,
            size,
        });
    }
    sstables.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
    let size: u64 = sstables.iter().map(|s| s.size).sum();
    let expected = u64::try_from(entry.size).unwrap_or_default();
    if missing.is_empty() && size != expected {
        missing.push(MissingObject {
            path: location.remote_path(&path),
            expected_size: expected,
            found_size: Some(size),
        });
    }
    Ok(Resolved {
        dir: RemoteDir {
            location: location.clone(),
            source_dc: manifest.dc.clone(),
            node_id: manifest.node_id.clone(),
            keyspace: entry.keyspace.clone(),
            table: entry.table.clone(),
            path,
            sstables,
            size,
        },
        missing,
        checked,
    })
}

/// Sorts directories as batches take them: by their table's total size, then their own size,
/// both descending (ties by path, for a stable plan).
pub fn sort(dirs: &mut [RemoteDir]) {
    let mut table_size: HashMap<(String, String), u64> = HashMap::new();
    for d in dirs.iter() {
        *table_size
            .entry((d.keyspace.clone(), d.table.clone()))
            .or_default() += d.size;
    }
    dirs.sort_by_cached_key(|d| {
        let t = table_size
            .get(&(d.keyspace.clone(), d.table.clone()))
            .copied()
            .unwrap_or_default();
        (
            std::cmp::Reverse(t),
            d.keyspace.clone(),
            d.table.clone(),
            std::cmp::Reverse(d.size),
            d.path.clone(),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const TAG: &str = "sm_20260101000000UTC";

    fn manifest() -> ManifestInfo {
        ManifestInfo {
            cluster_id: Uuid::from_u128(1),
            dc: "dc1".into(),
            node_id: "n1".into(),
            task_id: Uuid::from_u128(2),
            snapshot_tag: TAG.parse().unwrap(),
            temporary: false,
        }
    }

    fn entry(files: &[&str], size: i64) -> FilesMeta {
        FilesMeta {
            keyspace: "ks".into(),
            table: "t".into(),
            replication_type: None,
            version: "0123456789abcdef0123456789abcdef".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
            size,
            scylla_manifests: Vec::new(),
            path: None,
        }
    }

    fn location() -> Location {
        "s3:bucket".parse().unwrap()
    }

    #[test]
    fn files_group_by_sstable_with_the_version_of_the_tag() {
        let files = [
            "mc-1-big-Data.db",
            "mc-1-big-TOC.txt",
            "mc-2-big-Data.db",
            "mc-2-big-TOC.txt",
        ];
        let listing: HashMap<String, u64> = [
            ("mc-1-big-Data.db", 100),
            ("mc-1-big-TOC.txt", 10),
            // A later snapshot replaced Data.db of generation 2; ours is the versioned copy.
            ("mc-2-big-Data.db", 999),
            ("mc-2-big-Data.db.sm_20260102000000UTC", 50),
            ("mc-2-big-TOC.txt", 10),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
        let got = resolve(
            &location(),
            &manifest(),
            &entry(&files, 170),
            &listing,
            &TAG.parse().unwrap(),
        )
        .unwrap();
        assert!(got.missing.is_empty(), "{:?}", got.missing);
        assert_eq!(got.checked, 4);
        assert_eq!(got.dir.size, 170);
        let ids: Vec<&str> = got.dir.sstables.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"], "largest first");
        let two = &got.dir.sstables[1];
        assert!(two.versioned());
        assert!(!two.uuid_generation);
        let data = two
            .files
            .iter()
            .find(|f| f.name == "mc-2-big-Data.db")
            .unwrap();
        assert!(
            data.remote
                .ends_with("/mc-2-big-Data.db.sm_20260102000000UTC")
        );
        assert!(data.remote.starts_with("backup/sst/cluster/"));
        assert_eq!(data.size, 50);
    }

    #[test]
    fn a_missing_file_and_a_wrong_total_are_reported() {
        let listing: HashMap<String, u64> = [("mc-1-big-Data.db".to_string(), 100)].into();
        let got = resolve(
            &location(),
            &manifest(),
            &entry(&["mc-1-big-Data.db", "mc-1-big-TOC.txt"], 110),
            &listing,
            &TAG.parse().unwrap(),
        )
        .unwrap();
        assert_eq!(got.missing.len(), 1);
        assert!(got.missing[0].path.starts_with("s3:bucket/backup/sst/"));
        assert!(got.missing[0].path.ends_with("/mc-1-big-TOC.txt"));
        let full: HashMap<String, u64> = [
            ("mc-1-big-Data.db".to_string(), 100),
            ("mc-1-big-TOC.txt".to_string(), 5),
        ]
        .into();
        let got = resolve(
            &location(),
            &manifest(),
            &entry(&["mc-1-big-Data.db", "mc-1-big-TOC.txt"], 110),
            &full,
            &TAG.parse().unwrap(),
        )
        .unwrap();
        assert_eq!(got.missing[0].expected_size, 110);
        assert_eq!(got.missing[0].found_size, Some(105));
    }

    #[test]
    fn a_name_that_is_no_sstable_is_an_error() {
        let err = resolve(
            &location(),
            &manifest(),
            &entry(&["notes.txt"], 1),
            &HashMap::new(),
            &TAG.parse().unwrap(),
        );
        assert!(err.is_err());
    }

    #[test]
    fn dirs_sort_by_table_size_then_dir_size() {
        let dir = |t: &str, size: u64, p: &str| RemoteDir {
            location: location(),
            source_dc: "dc1".into(),
            node_id: "n".into(),
            keyspace: "ks".into(),
            table: t.into(),
            path: p.into(),
            sstables: Vec::new(),
            size,
        };
        let mut dirs = vec![
            dir("a", 5, "1"),
            dir("b", 4, "2"),
            dir("b", 3, "3"),
            dir("a", 1, "4"),
        ];
        sort(&mut dirs);
        let order: Vec<&str> = dirs.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(order, ["2", "3", "1", "4"]);
    }
}
