//! The request and answer types of the agent's HTTP API, shared by the agent (which parses the
//! requests and builds the answers) and the manager's client (which does the reverse): the one
//! place where the manager↔agent contract is written down.
//!
//! Fields are declared in the order they go out; where the wire has always carried them in
//! alphabetical order (node info, disk usage, bandwidth, write and delete answers, the list, move
//! and delete bodies) they are declared so. JSON request bodies refuse unknown fields. Scylla's own
//! answers, which the agent's proxy passes through untouched, are typed by the client alone
//! (`crate::manager::agent_client::scylla`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::format::tag::SnapshotTag;

/// The `location` value that names the node's data directory instead of a backup location.
pub const DATA_LOCATION: &str = "data";

/// The header naming an object's store version (GCS generation, S3 version id), next to `ETag`.
pub const VERSION_HEADER: &str = "x-cairn-version";

// ---- the agent itself ----

/// An error answer, from the agent or from Scylla through the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// The HTTP status, repeated.
    #[serde(default)]
    pub code: u16,
    /// What went wrong.
    pub message: String,
}

/// An answer that carries nothing: `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {}

/// The answer to `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentVersion {
    /// Version of the agent.
    pub version: String,
}

/// What `GET /agent/node_info` reports about a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Address the agent listens on.
    pub agent_address: String,
    /// Version of the agent.
    pub agent_version: String,
    /// How requests are authenticated: `token`, or `none (insecure_no_auth)`.
    #[serde(default)]
    pub authentication: String,
    /// CPUs of the agent's machine.
    pub cpu_count: u64,
    /// The node's data directory.
    pub data_directory: String,
    /// Memory of the agent's machine, bytes.
    pub memory_total: u64,
    /// Port of the node's CQL native transport (Scylla's `native_transport_port`; 9042 when
    /// Scylla does not say).
    #[serde(default = "default_cql_port")]
    pub native_transport_port: u16,
    /// Address the node serves CQL on (Scylla's `rpc_address`; empty when Scylla does not say).
    #[serde(default)]
    pub rpc_address: String,
    /// URL of the node's Scylla REST API as the agent reaches it.
    pub scylla_api: String,
    /// Scylla release version (empty when Scylla did not answer).
    pub scylla_version: String,
    /// Whether Scylla names SSTables with UUIDs (`None` when unknown).
    pub sstable_uuid_format: Option<bool>,
    /// Free bytes on the data directory's file system.
    pub storage_free: u64,
    /// Size of the data directory's file system, bytes.
    pub storage_size: u64,
}

/// Scylla's default CQL port, for a `node_info` that does not name one.
pub const DEFAULT_CQL_PORT: u16 = 9042;

/// [`DEFAULT_CQL_PORT`], for serde.
fn default_cql_port() -> u16 {
    DEFAULT_CQL_PORT
}

// ---- transfer jobs ----

/// `POST /agent/jobs/upload`: a snapshot directory moved to its remote version directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadJob {
    /// Directory to upload, relative to the data directory (e.g. `ks/t-<id>/snapshots/<tag>`).
    pub source_dir: String,
    /// `provider:bucket` (a DC prefix is dropped).
    pub location: String,
    /// Remote directory inside the location (e.g. `backup/sst/cluster/.../<version>`).
    pub remote_dir: String,
    /// Snapshot tag whose upload this is; a clashing remote file is kept as `<name>.sm_<tag>`.
    pub tag: SnapshotTag,
    /// Files in parallel; the agent's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<usize>,
    /// New bandwidth budget of the whole agent, MiB/s (0: unlimited); unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

/// `POST /agent/jobs/download`: remote files copied into a local directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadJob {
    /// `provider:bucket` (a DC prefix is dropped).
    pub location: String,
    /// Remote files, relative to the location's root.
    pub files: Vec<String>,
    /// Destination directory, relative to the data directory; created if missing.
    pub dest_dir: String,
    /// The name of each file in `dest_dir`, by position in `files` (a versioned `x.sm_<tag>`
    /// lands as `x`); empty: each remote file keeps its own name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Keep a file already in `dest_dir` whose size is the remote one (and whose MD5 is the
    /// store's, where the store gives one) instead of downloading it again; it counts as skipped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_verified: bool,
    /// Files in parallel; the agent's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<usize>,
    /// New bandwidth budget of the whole agent, MiB/s (0: unlimited); unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

/// `POST /agent/jobs/check`: the content of stored SSTables checked against themselves (validate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckJob {
    /// `provider:bucket` (a DC prefix is dropped).
    pub location: String,
    /// The SSTables to check.
    pub sstables: Vec<SSTableCheck>,
    /// Also compare each object's MD5 with the one the store keeps (S3 single-part ETag, GCS
    /// md5Hash, Azure Content-MD5) where it keeps one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub md5: bool,
    /// SSTables in parallel; the agent's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<usize>,
    /// New bandwidth budget of the whole agent, MiB/s (0: unlimited); unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

/// One stored SSTable to check: its component files in one remote directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SSTableCheck {
    /// The remote table version directory, relative to the location's root.
    pub dir: String,
    /// Every component file the manifests reference, as stored in `dir`.
    pub files: Vec<CheckedFile>,
}

/// One component file of an [`SSTableCheck`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckedFile {
    /// The component's file name as the manifest lists it (`me-3g7k_..-big-Data.db`).
    pub name: String,
    /// The object's name in the directory: `name`, or a versioned `name.sm_<tag>` copy holding
    /// the snapshot's bytes.
    pub object: String,
    /// The object's size as listed.
    pub size: u64,
}

/// What a content check found wrong with one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentFinding {
    /// The object, relative to the location's root.
    pub file: String,
    /// Which check failed.
    pub kind: FindingKind,
    /// What was expected and what was found.
    pub detail: String,
}

/// Which content check a [`ContentFinding`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// `Data.db`'s CRC-32 is not the one its `Digest.crc32` holds (or the digest is unreadable).
    Digest,
    /// `TOC.txt` does not list exactly the components present (or is unreadable).
    Toc,
    /// The bytes read are not the listed size.
    Size,
    /// The object's MD5 is not the one the store keeps.
    Md5,
}

impl FindingKind {
    /// The name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Digest => "digest",
            FindingKind::Toc => "toc",
            FindingKind::Size => "size",
            FindingKind::Md5 => "md5",
        }
    }
}

/// What a check job found, in its progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// SSTables whose check finished (clean or not).
    pub sstables_checked: u64,
    /// Objects whose MD5 was compared with the store's.
    pub md5_checked: u64,
    /// Objects for which the store keeps no MD5 (multipart uploads, directories).
    pub md5_unavailable: u64,
    /// Every problem found, in the order found.
    pub findings: Vec<ContentFinding>,
}

/// The answer to a job start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStarted {
    /// The job ID.
    pub id: String,
}

/// The query of `GET /agent/jobs/{id}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobWait {
    /// Seconds to wait for the job to end before answering (0: at once).
    #[serde(default)]
    pub wait: u64,
}

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Still moving files.
    Running,
    /// Every file moved.
    Success,
    /// Finished, some files failed.
    Error,
    /// Stopped on request.
    Stopped,
    /// No such job (never started, expired, or lost in an agent restart).
    NotFound,
}

/// One failed file of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileFailure {
    /// The file name.
    pub file: String,
    /// Why it failed.
    pub error: String,
}

/// Progress of a job, as the long poll (and stop, remove, the job list) returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobProgress {
    /// Job ID.
    pub id: String,
    /// `upload` or `download`.
    pub kind: String,
    /// What the job moves: the local directory of an upload, the location of a download.
    #[serde(default)]
    pub source: String,
    /// State.
    pub status: JobStatus,
    /// When the job started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the job ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// Why the job failed, if it did.
    pub error: Option<String>,
    /// Files in the job.
    pub files_total: u64,
    /// Files transferred.
    pub files_transferred: u64,
    /// Files found already in place and not sent again.
    pub files_skipped: u64,
    /// Files that failed.
    pub files_failed: u64,
    /// Bytes in the job.
    pub bytes_total: u64,
    /// Bytes transferred (confirmed by the store, or written locally).
    pub bytes_transferred: u64,
    /// Bytes of skipped files.
    pub bytes_skipped: u64,
    /// Bytes of failed files.
    pub bytes_failed: u64,
    /// Remote files kept as older versions (`<name>.sm_<tag>`).
    pub files_versioned: u64,
    /// The first failures.
    pub failures: Vec<FileFailure>,
    /// What a check job found; absent for transfers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckOutcome>,
}

impl JobProgress {
    /// A job of `kind` moving `source` that starts now, with nothing counted yet.
    pub fn running(id: &str, kind: &str, source: &str) -> Self {
        JobProgress {
            id: id.to_string(),
            kind: kind.to_string(),
            source: source.to_string(),
            status: JobStatus::Running,
            started_at: Some(Utc::now()),
            completed_at: None,
            error: None,
            files_total: 0,
            files_transferred: 0,
            files_skipped: 0,
            files_failed: 0,
            bytes_total: 0,
            bytes_transferred: 0,
            bytes_skipped: 0,
            bytes_failed: 0,
            files_versioned: 0,
            failures: Vec::new(),
            check: None,
        }
    }

    /// The answer for an unknown job ID.
    pub fn not_found(id: &str) -> Self {
        JobProgress {
            status: JobStatus::NotFound,
            started_at: None,
            ..JobProgress::running(id, "", "")
        }
    }
}

// ---- bandwidth ----

/// The agent's bandwidth budget, as `GET`/`PUT /agent/bandwidth` answer it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// Bytes per second; 0 is unlimited.
    pub bytes_per_second: u64,
    /// MiB/s; 0 is unlimited.
    pub rate_limit: f64,
}

impl Bandwidth {
    /// The budget of `bytes_per_second` (0: unlimited), also in MiB/s.
    pub fn from_bytes_per_second(bytes_per_second: u64) -> Self {
        Bandwidth {
            bytes_per_second,
            rate_limit: bytes_per_second as f64 / (1u64 << 20) as f64,
        }
    }

    /// Bytes per second of a `rate_limit` in MiB/s as requests give it (0: unlimited); the
    /// reason, worded for the `rate_limit` field, when it is negative or not a number.
    pub fn bytes_per_second_of(rate_limit: f64) -> Result<u64, &'static str> {
        if rate_limit >= 0.0 && rate_limit.is_finite() {
            Ok((rate_limit * (1u64 << 20) as f64) as u64)
        } else {
            Err("must be 0 (unlimited) or positive MiB/s")
        }
    }
}

/// `PUT /agent/bandwidth`: a new budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBandwidth {
    /// MiB/s; 0 is unlimited.
    pub rate_limit: f64,
}

// ---- files ----

/// `POST /agent/files/list`: what to list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    /// [`DATA_LOCATION`] or `provider:bucket`.
    pub location: String,
    /// Directory to list, relative to the location's root (empty: the root).
    #[serde(default)]
    pub path: String,
    /// Whether to list the whole tree below it.
    #[serde(default)]
    pub recursive: bool,
}

/// One entry of a listing: one NDJSON line of `POST /agent/files/list`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the listed directory.
    pub path: String,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Whether the entry is a directory.
    pub dir: bool,
    /// When the object was last written, where the listing gives it (remote objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
}

/// The NDJSON line that ends a listing broken off by an error: a line with an `error` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingError {
    /// What went wrong.
    pub error: String,
}

/// The query of `GET /agent/files/read`: which file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileQuery {
    /// [`DATA_LOCATION`] or `provider:bucket`.
    pub location: String,
    /// The file, relative to the location's root.
    pub path: String,
}

/// How `PUT /agent/files/write` writes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Replaces whatever is there.
    #[default]
    Overwrite,
    /// Only if nothing is there (409 otherwise).
    Create,
    /// Only if the object is still the version given by `e_tag`/`version` (412 otherwise).
    Update,
}

impl WriteMode {
    /// Whether this is the default mode, which is not sent.
    fn is_overwrite(&self) -> bool {
        *self == WriteMode::Overwrite
    }
}

/// The query of `PUT /agent/files/write`: where and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteQuery {
    /// `provider:bucket` (writes to the data directory are refused).
    pub location: String,
    /// The object, relative to the location's root.
    pub path: String,
    /// `overwrite` (default), `create` or `update`.
    #[serde(default, skip_serializing_if = "WriteMode::is_overwrite")]
    pub mode: WriteMode,
    /// For `update`: the ETag the object must still have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    /// For `update`: the store version (GCS generation) the object must still have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The answer to `PUT /agent/files/write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The new object's ETag, if the store gives one.
    pub e_tag: Option<String>,
    /// The path written.
    pub path: String,
    /// Bytes written.
    pub size: u64,
    /// The new object's store version, if any.
    pub version: Option<String>,
}

/// An object's version as its store names it (S3/Azure ETag, GCS generation): from the headers
/// of `GET /agent/files/read` ([`VERSION_HEADER`]) or the answer of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// The ETag, if the store gives one.
    #[serde(default)]
    pub e_tag: Option<String>,
    /// The store's version (GCS generation, S3 version id), if any.
    #[serde(default)]
    pub version: Option<String>,
}

impl From<Written> for ObjectVersion {
    fn from(w: Written) -> Self {
        ObjectVersion {
            e_tag: w.e_tag,
            version: w.version,
        }
    }
}

/// `POST /agent/files/delete`: files to delete; missing ones are not errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    /// [`DATA_LOCATION`] or `provider:bucket`.
    pub location: String,
    /// The files, relative to the location's root.
    pub paths: Vec<String>,
}

/// The answer to `POST /agent/files/delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// How many paths existed and were deleted.
    pub deleted: u64,
}

/// One end of a move or copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// [`DATA_LOCATION`] or `provider:bucket`.
    pub location: String,
    /// The file, relative to the location's root.
    pub path: String,
}

/// `POST /agent/files/move`: one file moved (or copied) within one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// Copy instead of moving.
    #[serde(default)]
    pub copy: bool,
    /// The file now.
    pub from: Place,
    /// Where it goes.
    pub to: Place,
}

/// Free and total bytes of the data directory's file system (`GET /agent/files/disk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Free bytes.
    pub free: u64,
    /// Total bytes.
    pub total: u64,
    /// Used bytes.
    pub used: u64,
}

impl DiskUsage {
    /// The usage of a file system with `free` of `total` bytes free.
    pub fn new(free: u64, total: u64) -> Self {
        DiskUsage {
            free,
            total,
            used: total.saturating_sub(free),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_request_fields_are_left_out() {
        let q = WriteQuery {
            location: "s3:b".into(),
            path: "p".into(),
            mode: WriteMode::Overwrite,
            e_tag: None,
            version: None,
        };
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"location":"s3:b","path":"p"}"#
        );
        let p = JobProgress::not_found("x");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["status"], "not_found");
        assert!(v["started_at"].is_null());
    }

    #[test]
    fn a_rate_in_mib_per_second_becomes_bytes_and_nonsense_is_refused() {
        assert_eq!(Bandwidth::bytes_per_second_of(0.0), Ok(0));
        assert_eq!(Bandwidth::bytes_per_second_of(1.5), Ok(3 << 19));
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                Bandwidth::bytes_per_second_of(bad),
                Err("must be 0 (unlimited) or positive MiB/s")
            );
        }
    }
}
