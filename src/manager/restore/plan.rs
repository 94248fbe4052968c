//! What a restore run works from, as init builds it (spec §2 and §4 "Index the work"): the
//! target hosts, the remote SSTable directories with the file chosen for each component
//! (versioned-file rule applied), the units and the views. Built by [`super::target`], consumed
//! by the supervisor, the batches and the node actors, and shown by the dry run.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::format::location::Location;
use crate::format::tag::SnapshotTag;
use crate::manager::store::{RestoreUnit, RestoreView};

/// One file of an SSTable in the location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteFile {
    /// The component's plain file name: its name in `upload/`.
    pub name: String,
    /// The object to download, relative to the location's root: the plain file or the
    /// `<name>.sm_<tag>` version chosen by upstream's versioned-file rule.
    pub remote: String,
    /// Its size as the manifest's index implies it (and the listing confirmed it).
    pub size: u64,
    /// Whether `remote` is a versioned copy (`.sm_<tag>`).
    pub versioned: bool,
}

/// One SSTable to restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteSSTable {
    /// Its generation as written in its file names (integer or UUID form).
    pub id: String,
    /// Whether the generation is a UUID (a batch holds SSTables of one kind).
    pub uuid_generation: bool,
    /// Every component file.
    pub files: Vec<RemoteFile>,
    /// Bytes of all its files.
    pub size: u64,
}

impl RemoteSSTable {
    /// Whether any of its files is a versioned copy (a batch holds SSTables of one kind).
    pub fn versioned(&self) -> bool {
        self.files.iter().any(|f| f.versioned)
    }
}

/// One remote SSTable directory: one table of one backed-up node in one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteDir {
    /// The location it is in.
    pub location: Location,
    /// The DC of the node that was backed up.
    pub source_dc: String,
    /// The host ID of the node that was backed up.
    pub node_id: String,
    /// The keyspace.
    pub keyspace: String,
    /// The table.
    pub table: String,
    /// The directory, relative to the location's root
    /// (`backup/sst/cluster/<c>/dc/<dc>/node/<n>/keyspace/<ks>/table/<t>/<version>`).
    pub path: String,
    /// Its SSTables, largest first.
    pub sstables: Vec<RemoteSSTable>,
    /// Bytes of all its SSTables.
    pub size: u64,
}

/// One node of the cluster restored into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetHost {
    /// The agent's address.
    pub address: String,
    /// Its DC.
    pub dc: String,
    /// Its Scylla host ID.
    pub host_id: String,
    /// Its shard count (series of `scylla_database_total_writes` on its Prometheus metrics).
    pub shards: u64,
    /// Free bytes on its data directory's file system.
    pub disk_free: u64,
    /// Size of that file system.
    pub disk_total: u64,
    /// The source DCs whose SSTables it may restore (with `dc_mapping`: those mapped to its DC;
    /// without: every source DC of a location it can read).
    pub source_dcs: Vec<String>,
    /// A 1-1 restore: the host ID of the backed-up node whose SSTables it loads, and only those,
    /// without streaming them; `None` for a regular restore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_node: Option<String>,
}

impl TargetHost {
    /// Whether it restores SSTables of `dir`: one of its source DCs', and with a 1-1 restore its
    /// source node's only.
    pub fn restores(&self, dir: &RemoteDir) -> bool {
        self.source_dcs.contains(&dir.source_dc)
            && self.source_node.as_ref().is_none_or(|n| *n == dir.node_id)
    }
}

/// Everything a restore run (or its dry run) works from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestorePlan {
    /// The snapshot restored.
    pub tag: SnapshotTag,
    /// Keyspaces and tables restored, with sizes and tombstone_gc modes.
    pub units: Vec<RestoreUnit>,
    /// Views and indexes over restored tables.
    pub views: Vec<RestoreView>,
    /// The nodes restored into.
    pub hosts: Vec<TargetHost>,
    /// The remote SSTable directories, largest table first, then largest directory.
    pub dirs: Vec<RemoteDir>,
    /// Each restored table's directory in the target's data directory
    /// (`<ks>/<table>-<id without dashes>`), by (keyspace, table); not serialized (JSON keys
    /// are text, and the tables are in `units`, their remote directories in `dirs`).
    #[serde(skip)]
    pub table_dirs: BTreeMap<(String, String), String>,
    /// For a schema restore: the location and path of the schema file.
    pub schema_file: Option<(Location, String)>,
}
