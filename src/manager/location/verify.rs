//! Whether a node manifest's files are all in its location: every file it lists in its table
//! version directory, with the listed total size per table, and the schema file it names. The
//! backup's MOVE_MANIFEST stage checks this before a manifest becomes final; validate checks the
//! same of every manifest it reads.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::agent::wire::Entry;
use crate::format::location::Location;
use crate::format::manifest::Manifest;
use crate::format::paths::remote_sstable_version_dir;
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::error::AgentError;
use crate::manager::agent_client::files::Root;

/// How many missing files a [`VerifyError::Files`] names.
const MISSING_NAMED: usize = 3;

/// The node a manifest belongs to: where its table version directories are.
#[derive(Debug, Clone, Copy)]
pub struct ManifestNode<'a> {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The node's DC.
    pub dc: &'a str,
    /// The node's Scylla host ID.
    pub node_id: &'a str,
}

/// What is wrong with a manifest's files, or why they could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A call to the agent failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The check was stopped.
    #[error("stopped")]
    Stopped,
    /// The schema file the manifest names is missing.
    #[error("the schema file {schema} it names is not in {location}")]
    Schema {
        /// The schema file's path.
        schema: String,
        /// The location.
        location: String,
    },
    /// Files of a table are missing, or their sizes do not add up.
    #[error(
        "{keyspace}.{table}: {missing} of its {files} files are not in {location} ({named}), {found} of {size} bytes found"
    )]
    Files {
        /// Keyspace.
        keyspace: String,
        /// Table.
        table: String,
        /// How many files are missing.
        missing: usize,
        /// How many files the manifest lists for the table.
        files: usize,
        /// The location.
        location: String,
        /// The first few missing files, comma separated.
        named: String,
        /// Bytes found of the listed files.
        found: i64,
        /// Bytes the manifest lists.
        size: i64,
    },
}

/// Lists a directory through the agent; a directory that does not exist lists as empty.
pub async fn list_dir(
    client: &AgentClient,
    root: Root<'_>,
    path: &str,
    recursive: bool,
) -> Result<Vec<Entry>, AgentError> {
    use futures::TryStreamExt;
    match client.list_files(root, path, recursive).await {
        Ok(stream) => match stream.try_collect().await {
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            other => other,
        },
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Whether `path` (a file) is in `location`.
pub async fn file_exists(
    client: &AgentClient,
    location: &Location,
    path: &str,
) -> Result<bool, AgentError> {
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
    Ok(list_dir(client, Root::Backup(location), dir, false)
        .await?
        .iter()
        .any(|e| format!("{dir}/{}", e.path) == *path))
}

/// Checks that every file `manifest` lists is in `location` (listed through `client`) with the
/// listed total size per table, and that its schema file is there; stops between tables once
/// `cancel` fires.
pub async fn verify_manifest(
    client: &AgentClient,
    location: &Location,
    node: ManifestNode<'_>,
    manifest: &Manifest,
    cancel: &CancellationToken,
) -> Result<(), VerifyError> {
    let schema = &manifest.content.schema;
    if !schema.is_empty() && !file_exists(client, location, schema).await? {
        return Err(VerifyError::Schema {
            schema: schema.clone(),
            location: location.to_string(),
        });
    }
    for f in &manifest.index {
        if cancel.is_cancelled() {
            return Err(VerifyError::Stopped);
        }
        let dir = remote_sstable_version_dir(
            node.cluster_id,
            node.dc,
            node.node_id,
            &f.keyspace,
            &f.table,
            &f.version,
        );
        let present: HashMap<String, u64> = list_dir(client, Root::Backup(location), &dir, false)
            .await?
            .into_iter()
            .filter(|e| !e.dir)
            .map(|e| (e.path, e.size))
            .collect();
        let missing: Vec<&String> = f
            .files
            .iter()
            .chain(&f.scylla_manifests)
            .filter(|n| !present.contains_key(*n))
            .collect();
        let found: i64 = f
            .files
            .iter()
            .filter_map(|n| present.get(n))
            .map(|s| *s as i64)
            .sum();
        if !missing.is_empty() || found != f.size {
            return Err(VerifyError::Files {
                keyspace: f.keyspace.clone(),
                table: f.table.clone(),
                missing: missing.len(),
                files: f.files.len(),
                location: location.to_string(),
                named: missing
                    .iter()
                    .take(MISSING_NAMED)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                found,
                size: f.size,
            });
        }
    }
    Ok(())
}
