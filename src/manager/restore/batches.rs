//! The DATA stage's pool of work (spec §4 "Batches"): what is left of every remote SSTable
//! directory, and the batches hosts take from it. Pure: no I/O, so every rule is unit-tested.
//!
//! A host takes from the directory with the most bytes left among the source DCs it may restore
//! and has not failed on. A batch holds SSTables of one kind (integer or UUID generation,
//! versioned or not), largest first: `batch_size × shards` of them, or with `batch_size = 0` as
//! many as fit in 5% of the host's expected share of bytes (rounded down to a multiple of its
//! shards); when fewer than `shards` SSTables of that kind would be left, the batch takes them
//! too; never more than [`MAX_BATCH_FILES`] files. A failed batch goes back to the pool and its
//! host is barred from the batch's source DC for the rest of the run.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::{RemoteDir, RemoteSSTable, TargetHost};
use crate::format::location::Location;

/// Most files in one batch.
pub const MAX_BATCH_FILES: usize = 10_000;
/// With `batch_size = 0`, a batch holds at most this percentage of the host's expected share.
const SHARE_PERCENT: u64 = 5;

/// SSTables of one remote directory taken by one host together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The remote directory, as in [`RemoteDir::path`] (and the progress row's
    /// `remote_sstable_dir`).
    pub dir: String,
    /// The keyspace.
    pub keyspace: String,
    /// The table.
    pub table: String,
    /// The DC of the node that was backed up.
    pub source_dc: String,
    /// The location the directory is in.
    pub location: Location,
    /// Its SSTables, largest first.
    pub sstables: Vec<RemoteSSTable>,
}

impl Batch {
    /// Bytes of all its files.
    pub fn size(&self) -> u64 {
        self.sstables.iter().map(|s| s.size).sum()
    }

    /// Bytes of its versioned files.
    pub fn versioned_size(&self) -> u64 {
        self.sstables
            .iter()
            .flat_map(|s| &s.files)
            .filter(|f| f.versioned)
            .map(|f| f.size)
            .sum()
    }

    /// Its SSTables' ids (the progress row's `sstable_id`).
    pub fn ids(&self) -> Vec<String> {
        self.sstables.iter().map(|s| s.id.clone()).collect()
    }

    /// The plain names of all its files (their names in `upload/`).
    pub fn file_names(&self) -> BTreeSet<String> {
        self.sstables
            .iter()
            .flat_map(|s| &s.files)
            .map(|f| f.name.clone())
            .collect()
    }
}

/// The kind of an SSTable: a batch holds one kind only.
fn kind(s: &RemoteSSTable) -> (bool, bool) {
    (s.uuid_generation, s.versioned())
}

/// What is left of one remote directory.
#[derive(Debug, Clone)]
struct DirLeft {
    /// The directory (without its SSTables).
    dir: RemoteDir,
    /// Its SSTables not taken, largest first.
    left: Vec<RemoteSSTable>,
}

impl DirLeft {
    /// Bytes not taken.
    fn bytes(&self) -> u64 {
        self.left.iter().map(|s| s.size).sum()
    }
}

/// The SSTables not yet taken, and who may take what.
#[derive(Debug, Clone)]
pub struct BatchPool {
    /// The directories, in the plan's order (largest table, then largest directory, first).
    dirs: Vec<DirLeft>,
    /// `batch_size` of the task.
    batch_size: u64,
    /// Bytes to restore in all, and shards of all hosts (for the expected share).
    total_bytes: u64,
    /// Shards of all hosts.
    total_shards: u64,
    /// Source DCs each host failed on (host address → DCs).
    barred: BTreeMap<String, BTreeSet<String>>,
}

impl BatchPool {
    /// A pool over `dirs` for `hosts`, without the SSTables in `restored` (pairs of remote
    /// directory and SSTable id, already restored by this run or the one it continues).
    pub fn new(
        dirs: &[RemoteDir],
        hosts: &[TargetHost],
        batch_size: u64,
        restored: &BTreeSet<(String, String)>,
    ) -> Self {
        let dirs: Vec<DirLeft> = dirs
            .iter()
            .map(|d| {
                let mut left: Vec<RemoteSSTable> = d
                    .sstables
                    .iter()
                    .filter(|s| !restored.contains(&(d.path.clone(), s.id.clone())))
                    .cloned()
                    .collect();
                left.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
                DirLeft {
                    dir: RemoteDir {
                        sstables: Vec::new(),
                        ..d.clone()
                    },
                    left,
                }
            })
            .collect();
        BatchPool {
            total_bytes: dirs.iter().map(DirLeft::bytes).sum(),
            total_shards: hosts.iter().map(|h| h.shards.max(1)).sum::<u64>().max(1),
            dirs,
            batch_size,
            barred: BTreeMap::new(),
        }
    }

    /// Whether `host` may take from `dir`: it restores it ([`TargetHost::restores`]) and has not
    /// failed on its source DC.
    fn may_take(&self, host: &TargetHost, dir: &RemoteDir) -> bool {
        host.restores(dir)
            && !self
                .barred
                .get(&host.address)
                .is_some_and(|b| b.contains(&dir.source_dc))
    }

    /// The next batch for `host`, or `None` when nothing is left that it may restore.
    pub fn take(&mut self, host: &TargetHost) -> Option<Batch> {
        let best = self
            .dirs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.left.is_empty() && self.may_take(host, &d.dir))
            // The first of the largest: ties keep the plan's order.
            .fold(None::<(usize, u64)>, |best, (i, d)| {
                let bytes = d.bytes();
                match best {
                    Some((_, b)) if b >= bytes => best,
                    _ => Some((i, bytes)),
                }
            })?
            .0;
        let count = self.batch_count(best, host);
        let d = self.dirs.get_mut(best)?;
        let first_kind = kind(d.left.first()?);
        let mut taken = Vec::new();
        let mut rest = Vec::new();
        for s in d.left.drain(..) {
            if taken.len() < count && kind(&s) == first_kind {
                taken.push(s);
            } else {
                rest.push(s);
            }
        }
        d.left = rest;
        Some(Batch {
            dir: d.dir.path.clone(),
            keyspace: d.dir.keyspace.clone(),
            table: d.dir.table.clone(),
            source_dc: d.dir.source_dc.clone(),
            location: d.dir.location.clone(),
            sstables: taken,
        })
    }

    /// How many SSTables of directory `i` the next batch of `host` takes.
    fn batch_count(&self, i: usize, host: &TargetHost) -> usize {
        let Some(d) = self.dirs.get(i) else {
            return 0;
        };
        let shards = host.shards.max(1) as usize;
        let Some(first) = d.left.first() else {
            return 0;
        };
        let same: Vec<&RemoteSSTable> = d.left.iter().filter(|s| kind(s) == kind(first)).collect();
        let mut n = if self.batch_size > 0 {
            (self.batch_size as usize).saturating_mul(shards)
        } else {
            let share = self.total_bytes / self.total_shards * host.shards.max(1);
            let limit = share * SHARE_PERCENT / 100;
            let mut bytes = 0u64;
            let fit = same
                .iter()
                .take_while(|s| {
                    bytes += s.size;
                    bytes <= limit
                })
                .count()
                .max(1);
            if fit >= shards {
                fit - fit % shards
            } else {
                fit
            }
        };
        n = n.min(same.len());
        if same.len() - n < shards {
            n = same.len();
        }
        let mut files = 0usize;
        let fit_files = same
            .iter()
            .take(n)
            .take_while(|s| {
                files += s.files.len();
                files <= MAX_BATCH_FILES
            })
            .count()
            .max(1);
        n.min(fit_files)
    }

    /// Takes exactly the SSTables `ids` of directory `dir` (a host's interrupted batch, taken
    /// again first on resume); `None` when none of them is left.
    pub fn take_exact(&mut self, dir: &str, ids: &[String]) -> Option<Batch> {
        let d = self.dirs.iter_mut().find(|d| d.dir.path == dir)?;
        let (taken, rest): (Vec<_>, Vec<_>) = d.left.drain(..).partition(|s| ids.contains(&s.id));
        d.left = rest;
        if taken.is_empty() {
            return None;
        }
        Some(Batch {
            dir: d.dir.path.clone(),
            keyspace: d.dir.keyspace.clone(),
            table: d.dir.table.clone(),
            source_dc: d.dir.source_dc.clone(),
            location: d.dir.location.clone(),
            sstables: taken,
        })
    }

    /// Puts `batch` back untouched (the host could not take it now, e.g. for lack of disk).
    pub fn put_back(&mut self, batch: Batch) {
        if let Some(d) = self.dirs.iter_mut().find(|d| d.dir.path == batch.dir) {
            d.left.extend(batch.sstables);
            d.left
                .sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
        }
    }

    /// Gives a failed batch back and bars `host` from its source DC for the rest of the run.
    pub fn failed(&mut self, host: &str, batch: Batch) {
        self.barred
            .entry(host.to_string())
            .or_default()
            .insert(batch.source_dc.clone());
        self.put_back(batch);
    }

    /// Bytes not taken yet.
    pub fn bytes_left(&self) -> u64 {
        self.dirs.iter().map(DirLeft::bytes).sum()
    }

    /// The SSTables nobody took, by `ks.t`, as counts (for the run's final check).
    pub fn left(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for d in self.dirs.iter().filter(|d| !d.left.is_empty()) {
            *out.entry(format!("{}.{}", d.dir.keyspace, d.dir.table))
                .or_default() += d.left.len();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::restore::plan::RemoteFile;

    fn sst(id: &str, size: u64, uuid: bool, versioned: bool) -> RemoteSSTable {
        let file = |c: &str, size: u64, versioned: bool| RemoteFile {
            name: format!("me-{id}-big-{c}"),
            remote: format!("dir/me-{id}-big-{c}"),
            size,
            versioned,
        };
        RemoteSSTable {
            id: id.into(),
            uuid_generation: uuid,
            files: vec![
                file("Data.db", size - 1, versioned),
                file("TOC.txt", 1, false),
            ],
            size,
        }
    }

    fn dir(path: &str, dc: &str, table: &str, sstables: Vec<RemoteSSTable>) -> RemoteDir {
        RemoteDir {
            location: "s3:b".parse().unwrap(),
            source_dc: dc.into(),
            node_id: "n".into(),
            keyspace: "ks".into(),
            table: table.into(),
            path: path.into(),
            size: sstables.iter().map(|s| s.size).sum(),
            sstables,
        }
    }

    fn host(address: &str, shards: u64, dcs: &[&str]) -> TargetHost {
        TargetHost {
            address: address.into(),
            dc: "dc1".into(),
            host_id: address.into(),
            shards,
            disk_free: 0,
            disk_total: 0,
            source_dcs: dcs.iter().map(|s| s.to_string()).collect(),
            source_node: None,
        }
    }

    fn ids(b: &Batch) -> Vec<&str> {
        b.sstables.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn a_host_takes_batch_size_times_shards_largest_first_from_the_fullest_dir() {
        let small = dir("d1", "dc1", "t1", vec![sst("1", 10, false, false)]);
        let big = dir(
            "d2",
            "dc1",
            "t2",
            (1..=7)
                .map(|i| sst(&i.to_string(), 100 + i, false, false))
                .collect(),
        );
        let h = host("h1", 2, &["dc1"]);
        let mut pool = BatchPool::new(&[small, big], std::slice::from_ref(&h), 1, &BTreeSet::new());
        let b = pool.take(&h).unwrap();
        assert_eq!((b.dir.as_str(), ids(&b)), ("d2", vec!["7", "6"]));
        let b = pool.take(&h).unwrap();
        assert_eq!(ids(&b), vec!["5", "4"]);
        // Three left, fewer than shards would remain after two: the batch takes all three.
        let b = pool.take(&h).unwrap();
        assert_eq!(ids(&b), vec!["3", "2", "1"]);
        let b = pool.take(&h).unwrap();
        assert_eq!((b.dir.as_str(), ids(&b)), ("d1", vec!["1"]));
        assert!(pool.take(&h).is_none());
        assert!(pool.left().is_empty());
    }

    #[test]
    fn a_batch_holds_one_kind_of_sstable() {
        let d = dir(
            "d",
            "dc1",
            "t",
            vec![
                sst("a", 50, true, false),
                sst("1", 40, false, false),
                sst("b", 30, true, true),
                sst("c", 20, true, false),
            ],
        );
        let h = host("h", 1, &["dc1"]);
        let mut pool = BatchPool::new(&[d], std::slice::from_ref(&h), 2, &BTreeSet::new());
        let batches: Vec<Batch> = std::iter::from_fn(|| pool.take(&h)).collect();
        let kinds: Vec<Vec<&str>> = batches.iter().map(ids).collect();
        assert_eq!(kinds, vec![vec!["a", "c"], vec!["1"], vec!["b"]]);
    }

    #[test]
    fn batch_size_zero_takes_five_percent_of_the_hosts_share() {
        // 100 SSTables of 10 bytes, two hosts of 1 shard: share 500, 5% = 25 → 2 SSTables.
        let d = dir(
            "d",
            "dc1",
            "t",
            (0..100)
                .map(|i| sst(&format!("{i:03}"), 10, false, false))
                .collect(),
        );
        let hosts = [host("a", 1, &["dc1"]), host("b", 1, &["dc1"])];
        let mut pool = BatchPool::new(&[d], &hosts, 0, &BTreeSet::new());
        assert_eq!(pool.take(&hosts[0]).unwrap().sstables.len(), 2);
        assert_eq!(pool.bytes_left(), 980);
    }

    #[test]
    fn hosts_take_only_their_source_dcs_and_a_failure_bars_the_dc() {
        let d1 = dir("d1", "dc1", "t", vec![sst("1", 10, false, false)]);
        let d2 = dir("d2", "dc2", "t", vec![sst("2", 20, false, false)]);
        let h = host("h", 1, &["dc1"]);
        let mut pool = BatchPool::new(&[d1, d2], std::slice::from_ref(&h), 1, &BTreeSet::new());
        let b = pool.take(&h).unwrap();
        assert_eq!(b.dir, "d1");
        pool.failed("h", b);
        assert!(pool.take(&h).is_none(), "barred from dc1, may not take dc2");
        let other = host("o", 1, &["dc1", "dc2"]);
        assert_eq!(pool.take(&other).unwrap().dir, "d2");
        assert_eq!(pool.take(&other).unwrap().dir, "d1");
    }

    #[test]
    fn restored_sstables_are_left_out_and_interrupted_batches_taken_exactly() {
        let d = dir(
            "d",
            "dc1",
            "t",
            (1..=4)
                .map(|i| sst(&i.to_string(), 10 * i, false, false))
                .collect(),
        );
        let h = host("h", 1, &["dc1"]);
        let restored = BTreeSet::from([("d".to_string(), "4".to_string())]);
        let mut pool = BatchPool::new(&[d], std::slice::from_ref(&h), 1, &restored);
        let b = pool.take_exact("d", &["1".into(), "2".into()]).unwrap();
        assert_eq!(ids(&b), vec!["2", "1"]);
        assert_eq!(pool.left(), BTreeMap::from([("ks.t".to_string(), 1)]));
        assert_eq!(ids(&pool.take(&h).unwrap()), vec!["3"]);
        assert!(pool.take_exact("d", &["4".into()]).is_none());
    }

    #[test]
    fn a_batch_has_at_most_ten_thousand_files() {
        let many: Vec<RemoteSSTable> = (0..6000)
            .map(|i| sst(&format!("{i:05}"), 10, false, false))
            .collect();
        let d = dir("d", "dc1", "t", many);
        let h = host("h", 10, &["dc1"]);
        let mut pool = BatchPool::new(&[d], std::slice::from_ref(&h), 1000, &BTreeSet::new());
        let b = pool.take(&h).unwrap();
        assert_eq!(b.sstables.len(), MAX_BATCH_FILES / 2);
    }
}
