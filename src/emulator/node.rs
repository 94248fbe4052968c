//! One emulated node's storage: its table directories, memtables, flushes, compactions,
//! snapshots and the `upload/` directory, laid out on disk exactly as Scylla lays them out.
//!
//! ```text
//! <data dir>/<keyspace>/<table>-<32 hex id>/
//!     me-<generation>-big-{Data.db,Index.db,...,TOC.txt}     live SSTables
//!     snapshots/<tag>/{<hard links>, manifest.json, schema.cql}
//!     upload/                                                  SSTables to load
//!     staging/
//! ```
//! Disk work is synchronous; the REST layer runs it on the blocking pool. One mutex per node
//! serialises changes to the node's files, as Scylla's per-table locks would.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::format::sstable::{DATA_COMPONENT, Generation, SSTableName, TOC_COMPONENT};

use super::autocompaction::Autocompaction;
use super::config::NameFormat;
use super::faults::Faults;
use super::load_stream::Loading;
use super::records::{self, Record, RecordId};
use super::repair::Repairs;
use super::rng::{Rng, mix};
use super::schema::{Table, statements};
use super::sstable_writer::{Contents, WrittenSSTable, read_toc, write_sstable};
use super::topology::NodeIdentity;

/// Directory under a table dir that holds snapshots.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// Directory under a table dir from which `load_new_ss_tables` loads SSTables.
pub const UPLOAD_DIR: &str = "upload";
/// Directory under a table dir for SSTables awaiting view updates.
const STAGING_DIR: &str = "staging";
/// SSTable format version the emulator writes.
const FORMAT_VERSION: &str = "me";
/// Unix time (100 ns ticks) at which generated-at-start UUID generations begin: 2025-06-01.
const DATASET_EPOCH_TICKS: u64 = 1_748_736_000 * 10_000_000;
/// Time between two SSTables of the initial dataset (a little over 37 s), so their UUID
/// generations look like flushes spread over time rather than one burst.
const DATASET_STEP_TICKS: u64 = 371_234_567;

/// Why a node-side operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A snapshot with this tag exists already (Scylla's wording).
    #[error("Keyspace {keyspace}: snapshot {tag} already exists.")]
    SnapshotExists {
        /// Keyspace that already has the snapshot.
        keyspace: String,
        /// The tag.
        tag: String,
    },
    /// An SSTable in `upload/` lacks a component its TOC lists.
    #[error("SSTable {sstable} in {dir} is incomplete: missing component {component}")]
    Incomplete {
        /// The upload directory.
        dir: PathBuf,
        /// The SSTable (its TOC name).
        sstable: String,
        /// The missing component.
        component: String,
    },
}

/// Attaches the operation and path to an I/O error.
fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> NodeError + 'a {
    move |source| NodeError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A table as the node's operations name it.
#[derive(Debug, Clone)]
pub struct TableRef {
    /// Keyspace name.
    pub keyspace: String,
    /// The table (name, ID, CQL).
    pub table: Table,
}

/// One table's share of a snapshot, as `GET /storage_service/snapshots` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotEntry {
    /// Keyspace.
    pub ks: String,
    /// Table.
    pub cf: String,
    /// Bytes of every file in the snapshot directory.
    pub total: u64,
    /// Bytes held only by the snapshot (files no longer live in the table).
    pub live: u64,
}

/// Gossip status of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Serving normally.
    Normal,
    /// Bootstrapping into the ring.
    Joining,
    /// Decommissioning.
    Leaving,
}

/// One table's unflushed writes: bytes, and the ring ranges (start exclusive, end inclusive)
/// their tokens fall in.
type Memtable = (u64, Vec<(i64, i64)>);

/// Mutable storage state, behind the node's mutex.
#[derive(Debug, Default)]
struct Disk {
    /// Unflushed bytes per (keyspace, table), with the token ranges the writes fall in.
    memtables: BTreeMap<(String, String), Memtable>,
    /// Next integer generation per table directory.
    next_integer: HashMap<PathBuf, u64>,
    /// Last time (100 ns ticks) used for a UUID generation.
    uuid_clock: u64,
    /// Whether new UUID generations follow the wall clock (after the initial dataset).
    wall_clock: bool,
}

/// One emulated node.
#[derive(Debug)]
pub struct Node {
    /// Identity shared with peers.
    pub id: NodeIdentity,
    /// The node's data directory (`data_file_directories`).
    pub data_dir: PathBuf,
    /// Cluster seed; SSTable contents follow from it.
    seed: u64,
    /// Generation form of new SSTables.
    name_format: NameFormat,
    /// Storage state.
    disk: Mutex<Disk>,
    /// Whether the node's API answers.
    pub up: AtomicBool,
    /// Gossip status.
    pub status: Mutex<NodeStatus>,
    /// Injected latency and errors.
    pub faults: Faults,
    /// Writes counted per shard, for `scylla_database_total_writes`.
    pub writes: Vec<AtomicU64>,
    /// Tables with a load of `upload/` under way.
    pub loading: Loading,
    /// Tables whose autocompaction the user disabled.
    pub autocompaction: Autocompaction,
    /// Repairs this node coordinates (`repair_async`).
    pub repairs: Repairs,
}

impl Node {
    /// A node whose data lives under `data_dir`.
    pub fn new(
        id: NodeIdentity,
        data_dir: PathBuf,
        seed: u64,
        name_format: NameFormat,
        shards: u32,
    ) -> Self {
        let clock = DATASET_EPOCH_TICKS + id.index as u64 * 36_000_000_000;
        Node {
            id,
            data_dir,
            seed,
            name_format,
            // Nodes start their dataset clocks an hour apart, as nodes of a cluster do not flush in step.
            disk: Mutex::new(Disk {
                uuid_clock: clock,
                ..Disk::default()
            }),
            up: AtomicBool::new(true),
            status: Mutex::new(NodeStatus::Normal),
            faults: Faults::default(),
            writes: (0..shards.max(1)).map(|_| AtomicU64::new(0)).collect(),
            loading: Loading::default(),
            autocompaction: Autocompaction::default(),
            repairs: Repairs::default(),
        }
    }

    /// Whether the node's API is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Makes new UUID generations follow the wall clock from now on.
    pub fn use_wall_clock(&self) {
        self.lock().wall_clock = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory of a table on this node.
    pub fn table_dir(&self, t: &TableRef) -> PathBuf {
        self.data_dir.join(&t.keyspace).join(t.table.dir_name())
    }

    /// Creates the table's directory with its `upload/` and `staging/` subdirectories.
    pub fn create_table_dir(&self, t: &TableRef) -> Result<PathBuf, NodeError> {
        let dir = self.table_dir(t);
        for sub in [UPLOAD_DIR, STAGING_DIR] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        Ok(dir)
    }

    /// A fresh generation for a new SSTable in `dir`.
    fn new_generation(&self, disk: &mut Disk, dir: &Path) -> Result<Generation, NodeError> {
        match self.name_format {
            NameFormat::Integer => {
                let next = match disk.next_integer.get(dir) {
                    Some(n) => *n,
                    None => {
                        let live = live_sstables(dir)?;
                        let max = live.keys().filter_map(|n| match n.generation {
                            Generation::Integer(g) => Some(g),
                            Generation::Uuid(_) => None,
                        });
                        max.max().unwrap_or(0) + 1
                    }
                };
                disk.next_integer.insert(dir.to_path_buf(), next + 1);
                Ok(Generation::Integer(next))
            }
            NameFormat::Uuid => {
                let now = if disk.wall_clock {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| (d.as_nanos() / 100) as u64)
                        .unwrap_or(0)
                } else {
                    0
                };
                let step = if disk.wall_clock {
                    1
                } else {
                    DATASET_STEP_TICKS
                };
                disk.uuid_clock = now.max(disk.uuid_clock + step);
                // The low bits play the part of the time-UUID's clock sequence and node: fixed per node.
                // Variant bits `10`, as RFC 4122 asks.
                let lsb = (mix(self.seed, &["uuid-node", &self.id.index.to_string()]) | (1 << 63))
                    & !(1 << 62);
                Ok(Generation::uuid_at(disk.uuid_clock, lsb))
            }
        }
    }

    /// Writes a new SSTable holding `contents` into the table.
    fn write_new(
        &self,
        disk: &mut Disk,
        t: &TableRef,
        contents: Contents<'_>,
    ) -> Result<WrittenSSTable, NodeError> {
        let dir = self.table_dir(t);
        let generation = self.new_generation(disk, &dir)?;
        let name = SSTableName::new(FORMAT_VERSION, generation, DATA_COMPONENT);
        let rng = Rng::for_parts(
            self.seed,
            &[
                "data",
                &self.id.index.to_string(),
                &t.keyspace,
                &t.table.name,
                &generation.to_string(),
            ],
        );
        write_sstable(&dir, &name, contents, rng).map_err(io_err("write SSTable in", &dir))
    }

    /// Writes `records` into the table as new SSTables (the framed records in one, each
    /// opaque record in its own); used by load&stream and repair.
    pub fn add_records(
        &self,
        t: &TableRef,
        records: &[Record<'_>],
    ) -> Result<Vec<WrittenSSTable>, NodeError> {
        let mut disk = self.lock();
        records::group_for_files(records)
            .iter()
            .map(|group| self.write_new(&mut disk, t, Contents::Records(group)))
            .collect()
    }

    /// Writes the initial SSTables of a table with the given `Data.db` sizes, their records'
    /// tokens inside `ranges` (the ranges the node replicates for the table's keyspace).
    pub fn seed_table(
        &self,
        t: &TableRef,
        data_sizes: &[u64],
        ranges: &[(i64, i64)],
    ) -> Result<(), NodeError> {
        let mut disk = self.lock();
        for size in data_sizes {
            self.write_new(
                &mut disk,
                t,
                Contents::Generated {
                    bytes: *size,
                    ranges,
                },
            )?;
        }
        Ok(())
    }

    /// The contents of every live `Data.db` of the table.
    pub fn live_data(&self, t: &TableRef) -> Result<Vec<Vec<u8>>, NodeError> {
        let _disk = self.lock();
        let dir = self.table_dir(t);
        live_sstables(&dir)?
            .keys()
            .map(|name| {
                let p = dir.join(name.with_component(DATA_COMPONENT).to_string());
                fs::read(&p).map_err(io_err("read", &p))
            })
            .collect()
    }

    /// The identities of the records the table's live SSTables hold.
    pub fn held_records(&self, t: &TableRef) -> Result<Vec<RecordId>, NodeError> {
        Ok(self
            .live_data(t)?
            .iter()
            .flat_map(|d| records::ids(d))
            .collect())
    }

    /// Adds `bytes` of writes to the table's memtable, at tokens inside `ranges` (those the
    /// node replicates); they become an SSTable at the next flush.
    pub fn write(&self, t: &TableRef, bytes: u64, ranges: Vec<(i64, i64)>) {
        let mut disk = self.lock();
        let entry = disk
            .memtables
            .entry((t.keyspace.clone(), t.table.name.clone()))
            .or_default();
        entry.0 += bytes;
        entry.1 = ranges;
        drop(disk);
        let shard = (bytes as usize) % self.writes.len();
        self.writes[shard].fetch_add(bytes / 100 + 1, Ordering::Relaxed);
    }

    /// Flushes the memtables of these tables: each non-empty one becomes a new SSTable.
    pub fn flush(&self, tables: &[TableRef]) -> Result<Vec<WrittenSSTable>, NodeError> {
        let mut disk = self.lock();
        self.flush_locked(&mut disk, tables)
    }

    fn flush_locked(
        &self,
        disk: &mut Disk,
        tables: &[TableRef],
    ) -> Result<Vec<WrittenSSTable>, NodeError> {
        let mut written = Vec::new();
        for t in tables {
            let key = (t.keyspace.clone(), t.table.name.clone());
            if let Some((bytes, ranges)) = disk.memtables.remove(&key).filter(|m| m.0 > 0) {
                let contents = Contents::Generated {
                    bytes,
                    ranges: &ranges,
                };
                written.push(self.write_new(disk, t, contents)?);
            }
        }
        Ok(written)
    }

    /// Major compaction: all live SSTables of each table are replaced by one new SSTable holding
    /// their records, each once (an opaque record keeps an SSTable of its own). Snapshots keep
    /// the old files.
    pub fn compact(&self, tables: &[TableRef], flush_memtables: bool) -> Result<(), NodeError> {
        let mut disk = self.lock();
        if flush_memtables {
            self.flush_locked(&mut disk, tables)?;
        }
        for t in tables {
            let dir = self.table_dir(t);
            let live = live_sstables(&dir)?;
            if live.is_empty() {
                continue;
            }
            let mut data = Vec::new();
            for name in live.keys() {
                let p = dir.join(name.with_component(DATA_COMPONENT).to_string());
                data.push(fs::read(&p).map_err(io_err("read", &p))?);
            }
            let mut seen = std::collections::BTreeSet::new();
            let merged: Vec<Record<'_>> = data
                .iter()
                .flat_map(|d| records::parse(d))
                .filter(|r| seen.insert(r.id()))
                .collect();
            for group in records::group_for_files(&merged) {
                self.write_new(&mut disk, t, Contents::Records(&group))?;
            }
            for (name, sstable) in &live {
                // TOC first, so a crash never leaves a complete-looking partial SSTable.
                let toc = dir.join(name.with_component(TOC_COMPONENT).to_string());
                fs::remove_file(&toc).map_err(io_err("remove", &toc))?;
                for file in &sstable.files {
                    let p = dir.join(file);
                    if p != toc {
                        fs::remove_file(&p).map_err(io_err("remove", &p))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes snapshot `tag` of these tables: flush (unless skipped), then hard links of every live
    /// SSTable plus `manifest.json` and `schema.cql`. Fails, changing nothing, if any of the
    /// tables has the tag already.
    pub fn snapshot(
        &self,
        tag: &str,
        tables: &[TableRef],
        skip_flush: bool,
    ) -> Result<(), NodeError> {
        let mut disk = self.lock();
        if let Some(t) = tables
            .iter()
            .find(|t| self.table_dir(t).join(SNAPSHOTS_DIR).join(tag).exists())
        {
            return Err(NodeError::SnapshotExists {
                keyspace: t.keyspace.clone(),
                tag: tag.to_string(),
            });
        }
        if !skip_flush {
            self.flush_locked(&mut disk, tables)?;
        }
        for t in tables {
            let dir = self.table_dir(t);
            let snap = dir.join(SNAPSHOTS_DIR).join(tag);
            fs::create_dir_all(&snap).map_err(io_err("create", &snap))?;
            let live = live_sstables(&dir)?;
            for sstable in live.values() {
                for file in &sstable.files {
                    let (from, to) = (dir.join(file), snap.join(file));
                    fs::hard_link(&from, &to).map_err(io_err("hard-link", &to))?;
                }
            }
            let manifest = self.snapshot_manifest(tag, t, &live);
            let path = snap.join("manifest.json");
            fs::write(&path, manifest).map_err(io_err("write", &path))?;
            let path = snap.join("schema.cql");
            fs::write(&path, statements::table(&t.keyspace, &t.table, false))
                .map_err(io_err("write", &path))?;
        }
        Ok(())
    }

    /// Scylla's per-table snapshot `manifest.json` (the newer, node-scoped form).
    fn snapshot_manifest(
        &self,
        tag: &str,
        t: &TableRef,
        live: &BTreeMap<SSTableName, LiveSSTable>,
    ) -> String {
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let sstables: Vec<serde_json::Value> = live
            .iter()
            .map(|(name, s)| {
                let mut rng = Rng::for_parts(self.seed, &["range", &name.to_string()]);
                let (a, b) = (rng.next_u64() as i64, rng.next_u64() as i64);
                serde_json::json!({
                    "id": name.generation.to_string(),
                    "toc_name": name.with_component(TOC_COMPONENT).to_string(),
                    "data_size": s.data_size,
                    "index_size": s.index_size,
                    "first_token": a.min(b),
                    "last_token": a.max(b),
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "manifest": {"version": "1.0", "scope": "node"},
            "node": {"host_id": self.id.host_id, "datacenter": self.id.dc, "rack": self.id.rack},
            "snapshot": {"name": tag, "created_at": created_at},
            "table": {
                "keyspace_name": t.keyspace,
                "table_name": t.table.name,
                "table_id": t.table.id,
                "tablets_type": "none",
            },
            "sstables": sstables,
        });
        serde_json::to_string_pretty(&manifest).unwrap_or_default()
    }

    /// Every snapshot on the node with each table's share, as `GET /storage_service/snapshots`.
    pub fn snapshot_details(
        &self,
        tables: &[TableRef],
    ) -> Result<BTreeMap<String, Vec<SnapshotEntry>>, NodeError> {
        let _disk = self.lock();
        let mut out: BTreeMap<String, Vec<SnapshotEntry>> = BTreeMap::new();
        for t in tables {
            let dir = self.table_dir(t);
            let snaps = dir.join(SNAPSHOTS_DIR);
            for tag in list_dir(&snaps)?.into_iter().filter(|p| p.is_dir()) {
                let (mut total, mut live) = (0, 0);
                for file in list_dir(&tag)? {
                    let size = fs::metadata(&file).map_err(io_err("stat", &file))?.len();
                    total += size;
                    if let Some(name) = file.file_name()
                        && !dir.join(name).exists()
                    {
                        live += size;
                    }
                }
                let tag = tag
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.entry(tag).or_default().push(SnapshotEntry {
                    ks: t.keyspace.clone(),
                    cf: t.table.name.clone(),
                    total,
                    live,
                });
            }
        }
        Ok(out)
    }

    /// Removes snapshot `tag` (every snapshot when `None`) from these tables.
    pub fn delete_snapshots(
        &self,
        tag: Option<&str>,
        tables: &[TableRef],
    ) -> Result<(), NodeError> {
        let _disk = self.lock();
        for t in tables {
            let snaps = self.table_dir(t).join(SNAPSHOTS_DIR);
            let dirs = match tag {
                Some(tag) => vec![snaps.join(tag)],
                None => list_dir(&snaps)?,
            };
            for d in dirs.into_iter().filter(|d| d.is_dir()) {
                fs::remove_dir_all(&d).map_err(io_err("remove", &d))?;
            }
        }
        Ok(())
    }

    /// Loads the SSTables found in the table's `upload/` directory: each complete SSTable is
    /// moved into the table under a new generation. Returns how many were loaded. Incomplete
    /// SSTables fail the call before anything moves.
    pub fn load_uploaded(&self, t: &TableRef) -> Result<usize, NodeError> {
        let mut disk = self.lock();
        let dir = self.table_dir(t);
        let upload = dir.join(UPLOAD_DIR);
        let found = complete_uploads(&upload)?;
        for (name, s) in &found {
            let generation = self.new_generation(&mut disk, &dir)?;
            let renamed = SSTableName {
                generation,
                ..name.clone()
            };
            // TOC last, so the SSTable becomes visible whole.
            let mut files: Vec<&String> = s.files.iter().collect();
            files.sort_by_key(|f| f.ends_with(TOC_COMPONENT));
            for file in files {
                let component = file
                    .parse::<SSTableName>()
                    .map(|n| n.component)
                    .unwrap_or_default();
                let (from, to) = (
                    upload.join(file),
                    dir.join(renamed.with_component(&component).to_string()),
                );
                fs::rename(&from, &to).map_err(io_err("move", &from))?;
            }
        }
        Ok(found.len())
    }

    /// The complete SSTables of the table's `upload/` with the contents of their `Data.db`;
    /// fails, reading nothing more, at the first incomplete one.
    pub fn read_uploads(&self, t: &TableRef) -> Result<Vec<UploadedSSTable>, NodeError> {
        let _disk = self.lock();
        let upload = self.table_dir(t).join(UPLOAD_DIR);
        complete_uploads(&upload)?
            .into_iter()
            .map(|(name, s)| {
                let p = upload.join(name.with_component(DATA_COMPONENT).to_string());
                let data = fs::read(&p).map_err(io_err("read", &p))?;
                Ok(UploadedSSTable {
                    files: s.files,
                    data,
                })
            })
            .collect()
    }

    /// Removes these SSTables from the table's `upload/` (TOC first, so none looks complete
    /// half-removed).
    pub fn remove_uploads(
        &self,
        t: &TableRef,
        sstables: &[UploadedSSTable],
    ) -> Result<(), NodeError> {
        let _disk = self.lock();
        let upload = self.table_dir(t).join(UPLOAD_DIR);
        for s in sstables {
            let mut files: Vec<&String> = s.files.iter().collect();
            files.sort_by_key(|f| !f.ends_with(TOC_COMPONENT));
            for file in files {
                let p = upload.join(file);
                fs::remove_file(&p).map_err(io_err("remove", &p))?;
            }
        }
        Ok(())
    }

    /// Bytes of the table's live SSTables.
    pub fn live_bytes(&self, t: &TableRef) -> Result<u64, NodeError> {
        Ok(live_sstables(&self.table_dir(t))?
            .values()
            .map(|s| s.total_size)
            .sum())
    }

    /// Removes a dropped table's live SSTables; its snapshots stay, as with Scylla's auto-snapshot.
    pub fn drop_table_data(&self, t: &TableRef) -> Result<(), NodeError> {
        let _disk = self.lock();
        let dir = self.table_dir(t);
        for s in live_sstables(&dir)?.values() {
            for file in &s.files {
                let p = dir.join(file);
                fs::remove_file(&p).map_err(io_err("remove", &p))?;
            }
        }
        Ok(())
    }
}

/// The SSTables in an `upload/` directory, each checked complete: a TOC, and every component it
/// lists present. The first incomplete one fails the whole call.
fn complete_uploads(upload: &Path) -> Result<BTreeMap<SSTableName, LiveSSTable>, NodeError> {
    let found = live_sstables(upload)?;
    for (name, s) in &found {
        let toc = name.with_component(TOC_COMPONENT);
        if !s.files.contains(&toc.to_string()) {
            return Err(NodeError::Incomplete {
                dir: upload.to_path_buf(),
                sstable: name.to_string(),
                component: TOC_COMPONENT.into(),
            });
        }
        let listed = read_toc(upload, &toc).map_err(io_err("read", upload))?;
        if let Some(missing) = listed
            .iter()
            .find(|c| !s.files.contains(&name.with_component(c).to_string()))
        {
            return Err(NodeError::Incomplete {
                dir: upload.to_path_buf(),
                sstable: toc.to_string(),
                component: missing.clone(),
            });
        }
    }
    Ok(found)
}

/// One complete SSTable read from `upload/`.
#[derive(Debug, Clone)]
pub struct UploadedSSTable {
    /// File names of its components in `upload/`.
    pub files: Vec<String>,
    /// The contents of its `Data.db`.
    pub data: Vec<u8>,
}

/// The files of one SSTable found in a directory.
#[derive(Debug, Clone, Default)]
pub struct LiveSSTable {
    /// File names of its components.
    pub files: Vec<String>,
    /// Bytes of `Data.db`.
    pub data_size: u64,
    /// Bytes of `Index.db`.
    pub index_size: u64,
    /// Bytes of all components.
    pub total_size: u64,
}

/// The SSTables in `dir`, keyed by their name with an empty component. Files that are not SSTable
/// components (and subdirectories) are ignored; a missing directory has none.
pub fn live_sstables(dir: &Path) -> Result<BTreeMap<SSTableName, LiveSSTable>, NodeError> {
    let mut out: BTreeMap<SSTableName, LiveSSTable> = BTreeMap::new();
    for path in list_dir(dir)? {
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Ok(name) = file.parse::<SSTableName>() else {
            continue;
        };
        let meta = fs::metadata(&path).map_err(io_err("stat", &path))?;
        if !meta.is_file() {
            continue;
        }
        let entry = out.entry(name.with_component("")).or_default();
        entry.files.push(file.to_string());
        entry.total_size += meta.len();
        match name.component.as_str() {
            "Data.db" => entry.data_size = meta.len(),
            "Index.db" => entry.index_size = meta.len(),
            _ => {}
        }
    }
    Ok(out)
}

/// Entries of a directory, sorted; a missing directory is empty.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, NodeError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries {
        out.push(e.map_err(io_err("list", dir))?.path());
    }
    out.sort();
    Ok(out)
}
