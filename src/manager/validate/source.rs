//! `ValidateSource`: what a validate check needs of a location — a recursive listing with sizes
//! and modification times, reading small objects (manifests, via [`LocationReader`]), deleting
//! objects, and checking SSTable content. Implemented through an agent (the online run: listings
//! and deletes over the files API, content by an agent check job) and straight from the store
//! (`--offline`: the same content check, run in this process).

use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::agent::storage::Remote;
use crate::agent::wire::{CheckOutcome, Entry, SSTableCheck};
use crate::format::location::Location;
use crate::manager::agent_client::AgentClient;
use crate::manager::location::reader::{LocationReader, ReadError};

/// Progress of a content check, as it goes: SSTables and bytes done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckProgress {
    /// SSTables checked so far.
    pub sstables: u64,
    /// Bytes read so far.
    pub bytes: u64,
}

/// Options of a content check.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CheckOptions {
    /// Also compare MD5s with the store's.
    pub md5: bool,
    /// SSTables in parallel (`None`: the agent's, or this machine's, default).
    pub transfers: Option<usize>,
    /// Bandwidth budget, MiB/s (`None`: unchanged / unlimited offline).
    pub rate_limit: Option<f64>,
}

/// A location as validate reaches it.
pub trait ValidateSource: LocationReader {
    /// Every file under `dir` (recursively; paths relative to `dir`) with its size and
    /// modification time; none when `dir` does not exist.
    fn list_entries(
        &self,
        location: &Location,
        dir: &str,
    ) -> impl Future<Output = Result<Vec<Entry>, ReadError>> + Send;

    /// Deletes `paths` (relative to the location's root); returns how many were deleted (a
    /// path already gone counts as deleted).
    fn delete(
        &self,
        location: &Location,
        paths: &[String],
    ) -> impl Future<Output = Result<u64, ReadError>> + Send;

    /// Checks the content of `sstables`; `on_progress` is called as SSTables finish. Stops early
    /// (with what was found so far) once `cancel` fires.
    fn check_content(
        &self,
        location: &Location,
        sstables: Vec<SSTableCheck>,
        options: CheckOptions,
        cancel: &CancellationToken,
        on_progress: &(dyn Fn(CheckProgress) + Send + Sync),
    ) -> impl Future<Output = Result<CheckOutcome, ReadError>> + Send;

    /// Who checks through this source, for reports (an agent's host, or `offline`).
    fn checked_by(&self) -> String;
}

impl ValidateSource for AgentClient {
    async fn list_entries(
        &self,
        _location: &Location,
        _dir: &str,
    ) -> Result<Vec<Entry>, ReadError> {
        todo_source()
    }

    async fn delete(&self, _location: &Location, _paths: &[String]) -> Result<u64, ReadError> {
        todo_source()
    }

    async fn check_content(
        &self,
        _location: &Location,
        _sstables: Vec<SSTableCheck>,
        _options: CheckOptions,
        _cancel: &CancellationToken,
        _on_progress: &(dyn Fn(CheckProgress) + Send + Sync),
    ) -> Result<CheckOutcome, ReadError> {
        todo_source()
    }

    fn checked_by(&self) -> String {
        self.host().to_string()
    }
}

impl ValidateSource for Remote {
    async fn list_entries(
        &self,
        _location: &Location,
        _dir: &str,
    ) -> Result<Vec<Entry>, ReadError> {
        todo_source()
    }

    async fn delete(&self, _location: &Location, _paths: &[String]) -> Result<u64, ReadError> {
        todo_source()
    }

    async fn check_content(
        &self,
        _location: &Location,
        _sstables: Vec<SSTableCheck>,
        _options: CheckOptions,
        _cancel: &CancellationToken,
        _on_progress: &(dyn Fn(CheckProgress) + Send + Sync),
    ) -> Result<CheckOutcome, ReadError> {
        todo_source()
    }

    fn checked_by(&self) -> String {
        "offline".to_string()
    }
}

/// Placeholder until the agent side lands (interface commit); never reached by a user.
fn todo_source<T>() -> Result<T, ReadError> {
    Err(ReadError::Storage(
        crate::agent::storage::StorageError::NotConfigured {
            location: "validate".into(),
            reason: "not built yet".into(),
        },
    ))
}
