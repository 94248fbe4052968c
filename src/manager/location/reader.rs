//! Listing and reading the objects of a backup location, either through an agent that reaches it
//! (the manager's way) or straight from its object store with this machine's credentials (the
//! client's `--offline` way, for when the manager or its database is gone). Manifests
//! ([`super::manifests`]) and listings ([`super::listing`]) are written once against
//! [`LocationReader`].

use std::future::Future;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

use crate::agent::storage::{Remote, StorageError, object_path};
use crate::format::location::Location;
use crate::manager::agent_client::{AgentClient, error::AgentError, files::Root};

/// Why a listing or a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Through an agent.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// Directly from the object store.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ReadError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            ReadError::Agent(e) => e.retryable(),
            ReadError::Storage(e) => e.retryable(),
        }
    }

    /// Whether what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            ReadError::Agent(e) => e.is_not_found(),
            ReadError::Storage(e) => e.is_not_found(),
        }
    }
}

/// Something that lists and reads objects in a backup location.
pub trait LocationReader: Sync {
    /// The paths, relative to `dir`, of every file under `dir` in `location` (recursively);
    /// none when `dir` does not exist.
    fn list_files(
        &self,
        location: &Location,
        dir: &str,
    ) -> impl Future<Output = Result<Vec<String>, ReadError>> + Send;

    /// The whole object at `path` in `location` (a manifest: small enough to hold).
    fn read(
        &self,
        location: &Location,
        path: &str,
    ) -> impl Future<Output = Result<Bytes, ReadError>> + Send;
}

impl LocationReader for AgentClient {
    async fn list_files(&self, location: &Location, dir: &str) -> Result<Vec<String>, ReadError> {
        let listing = match AgentClient::list_files(self, Root::Backup(location), dir, true).await {
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            other => other?,
        };
        let mut listing = std::pin::pin!(listing);
        let mut out = Vec::new();
        while let Some(entry) = listing.next().await {
            let entry = entry?;
            if !entry.dir {
                out.push(entry.path);
            }
        }
        Ok(out)
    }

    async fn read(&self, location: &Location, path: &str) -> Result<Bytes, ReadError> {
        Ok(self.read_file(Root::Backup(location), path).await?)
    }
}

/// Every object under `dir` in `remote` (recursively), with its path relative to `dir`; none when
/// `dir` does not exist.
pub async fn list_objects(
    remote: &Remote,
    dir: &str,
) -> Result<Vec<(String, object_store::ObjectMeta)>, ReadError> {
    let prefix = object_path(dir)?;
    let strip = format!("{prefix}/");
    let listed: Vec<_> = remote
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .or_else(|e| match e {
            // A directory not made yet. (On S3 a missing prefix lists empty, and a 404 means the
            // bucket is missing, which must not pass for "no backups".)
            object_store::Error::NotFound { .. } if remote.local_dir.is_some() => Ok(Vec::new()),
            e => Err(remote.err("list", &prefix)(e)),
        })?;
    Ok(listed
        .into_iter()
        .filter_map(|meta| {
            let full = meta.location.to_string();
            let relative = full.strip_prefix(&strip)?.to_string();
            Some((relative, meta))
        })
        .collect())
}

/// A store reached directly; the `location` argument is the one the store was built for.
impl LocationReader for Remote {
    async fn list_files(&self, _location: &Location, dir: &str) -> Result<Vec<String>, ReadError> {
        Ok(list_objects(self, dir)
            .await?
            .into_iter()
            .map(|(path, _)| path)
            .collect())
    }

    async fn read(&self, _location: &Location, path: &str) -> Result<Bytes, ReadError> {
        let path = object_path(path)?;
        let got = self
            .store
            .get(&path)
            .await
            .map_err(self.err("read", &path))?;
        Ok(got.bytes().await.map_err(self.err("read", &path))?)
    }
}
