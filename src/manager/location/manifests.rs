//! The manifests of a location: finding an agent that reaches the location
//! ([`location_client`]), listing the manifests there ([`list_manifests`]), and reading one,
//! either streaming its index entry by entry ([`walk_manifest`]) or whole ([`read_manifest`]).
//! Also the errors of every operation on the backups in a location ([`LocationError`]).
//!
//! Manifests are read streaming: the gzip bytes are fetched whole, but their index is handed over
//! one entry at a time, so a manifest of a cluster with very many tables is never decoded whole
//! where only sums or a subset are needed.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use super::reader::{LocationReader, ReadError};
use crate::format::location::Location;
use crate::format::manifest::{FilesMeta, Manifest, ManifestContent, ManifestError, stream_index};
use crate::format::paths::{ManifestInfo, remote_meta_cluster_dc_dir};
use crate::manager::agent_client::{
    AgentClient,
    error::{AgentError, RetryPolicy},
    files::Root,
};

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestReadError {
    /// It could not be fetched.
    #[error("reading manifest {path}: {source}")]
    Fetch {
        /// The manifest's path.
        path: String,
        /// What failed.
        #[source]
        source: ReadError,
    },
    /// It is not a manifest this crate reads.
    #[error("manifest {path}: {source} (a retry will not help)")]
    Malformed {
        /// The manifest's path.
        path: String,
        /// What is wrong with it.
        #[source]
        source: ManifestError,
    },
}

impl ManifestReadError {
    /// Whether a listing passes over this manifest (reporting it) instead of failing: it is
    /// malformed, or it vanished between listing and reading. A failed fetch is not.
    pub fn skippable(&self) -> bool {
        matches!(self, ManifestReadError::Malformed { .. }) || self.is_not_found()
    }

    /// The manifest's path.
    pub fn path(&self) -> &str {
        match self {
            ManifestReadError::Fetch { path, .. } | ManifestReadError::Malformed { path, .. } => {
                path
            }
        }
    }

    /// What was wrong, without the path.
    pub fn reason(&self) -> String {
        match self {
            ManifestReadError::Fetch { source, .. } if source.is_not_found() => {
                "it vanished between listing and reading".to_string()
            }
            ManifestReadError::Fetch { source, .. } => source.to_string(),
            ManifestReadError::Malformed { source, .. } => source.to_string(),
        }
    }

    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            ManifestReadError::Fetch { source, .. } => source.retryable(),
            ManifestReadError::Malformed { .. } => false,
        }
    }

    /// Whether the manifest does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ManifestReadError::Fetch { source, .. } if source.is_not_found())
    }
}

/// Why reading the backups in a location failed.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// No host of the cluster could list the location.
    #[error(
        "location {location}: no host could reach it ({}); {}",
        host_failures(.failures),
        if .failures.is_empty() { "the cluster has no hosts" } else { "check the agents' configuration of this location" }
    )]
    NoHost {
        /// The location.
        location: String,
        /// Each host tried and why it failed.
        failures: Vec<(String, AgentError)>,
    },
    /// Listing the manifests failed.
    #[error("listing the manifests in {location}: {source}")]
    List {
        /// The location.
        location: String,
        /// What failed.
        #[source]
        source: ReadError,
    },
    /// A manifest could not be read.
    #[error("{location}: {source}")]
    Read {
        /// The location.
        location: String,
        /// What failed.
        #[source]
        source: ManifestReadError,
    },
    /// Snapshot tags asked for are in none of the locations; nothing was changed.
    #[error(
        "snapshot {} not found in {}",
        .tags.join(", "),
        .locations.join(", ")
    )]
    UnknownSnapshots {
        /// The tags not found.
        tags: Vec<String>,
        /// The locations searched.
        locations: Vec<String>,
    },
}

/// Each host's failure, hosts that failed the same way named together (`h1, h2: what`).
fn host_failures(failures: &[(String, AgentError)]) -> String {
    let mut grouped: Vec<(Vec<&str>, String)> = Vec::new();
    for (host, e) in failures {
        let text = e.to_string();
        let mut what = text
            .strip_prefix(&format!("agent {host}: "))
            .unwrap_or(&text)
            .to_string();
        // The transport names the URL, host and all: without it, equal failures read equal.
        if let Some(start) = what.find(" for url (")
            && let Some(len) = what[start..].find(')')
        {
            what.replace_range(start..=start + len, "");
        }
        match grouped.iter_mut().find(|(_, w)| *w == what) {
            Some((hosts, _)) => hosts.push(host),
            None => grouped.push((vec![host], what)),
        }
    }
    grouped
        .into_iter()
        .map(|(hosts, what)| format!("{}: {what}", hosts.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl LocationError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            LocationError::NoHost { failures, .. } => failures.iter().any(|(_, e)| e.retryable()),
            LocationError::List { source, .. } => source.retryable(),
            LocationError::Read { source, .. } => source.retryable(),
            LocationError::UnknownSnapshots { .. } => false,
        }
    }

    /// Whether the error means that what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, LocationError::UnknownSnapshots { .. })
    }

    /// The error for snapshot `tags` found in none of `locations`.
    pub fn unknown_snapshots<R>(tags: Vec<String>, locations: &[LocationClient<R>]) -> Self {
        LocationError::UnknownSnapshots {
            tags,
            locations: locations.iter().map(|l| l.location.to_string()).collect(),
        }
    }
}

/// A location and what reads it: an agent that reaches it (the default), or its store.
#[derive(Debug, Clone)]
pub struct LocationClient<R = AgentClient> {
    /// The location.
    pub location: Location,
    /// What lists and reads it.
    pub client: R,
}

/// The first of `hosts` whose agent (on `port`, with `token`, its certificate in `pins`) lists `location`'s `backup` dir (a
/// location with no backups yet answers too).
pub async fn location_client(
    hosts: &[String],
    port: u16,
    token: &str,
    pins: &BTreeMap<String, String>,
    location: &Location,
) -> Result<LocationClient, LocationError> {
    let quick = RetryPolicy {
        retries: 1,
        ..RetryPolicy::default()
    };
    let mut failures = Vec::new();
    for host in hosts {
        let probe = async {
            let client = AgentClient::new(host, port, token, pins)?;
            let listed = client
                .clone()
                .with_retry(quick)
                .list_files(Root::Backup(location), "backup", false)
                .await;
            match listed {
                Ok(entries) => {
                    if let Some(Err(e)) = std::pin::pin!(entries).next().await {
                        return Err(e);
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            Ok(client)
        };
        match probe.await {
            Ok(client) => {
                return Ok(LocationClient {
                    location: location.clone(),
                    client,
                });
            }
            Err(e) => {
                tracing::debug!(%host, %location, error = %e, "host cannot reach the location");
                failures.push((host.clone(), e));
            }
        }
    }
    Err(LocationError::NoHost {
        location: location.to_string(),
        failures,
    })
}

/// Every manifest in `location`: of `cluster`, or of every cluster when `None`. Paths that are not
/// manifests are skipped; a location without backups has none.
pub async fn list_manifests(
    client: &impl LocationReader,
    location: &Location,
    cluster: Option<Uuid>,
) -> Result<Vec<ManifestInfo>, LocationError> {
    let dir = match cluster {
        Some(c) => remote_meta_cluster_dc_dir(c),
        None => "backup/meta".to_string(),
    };
    let list_err = |source| LocationError::List {
        location: location.to_string(),
        source,
    };
    let mut out = Vec::new();
    for path in client.list_files(location, &dir).await.map_err(list_err)? {
        match ManifestInfo::parse(&format!("{dir}/{path}")) {
            Ok(m) => out.push(m),
            Err(e) => tracing::debug!(%path, error = %e, "not a manifest"),
        }
    }
    out.sort_by_cached_key(ManifestInfo::path);
    Ok(out)
}

/// Reads a manifest, handing each index entry to `on_entry` as it is parsed; returns the header.
/// A manifest of a version other than v2 (or of none) is read as v2, as upstream reads it, with
/// a warning in the log: restore, validate and purge act on it.
pub async fn walk_manifest(
    client: &impl LocationReader,
    location: &Location,
    info: &ManifestInfo,
    on_entry: impl FnMut(FilesMeta),
) -> Result<ManifestContent, ManifestReadError> {
    let content = walk_any_version(client, location, info, on_entry).await?;
    if !content.is_known_version() {
        tracing::warn!(
            %location,
            path = %info.path(),
            version = %content.version,
            "manifest version is not v2; read as v2"
        );
    }
    Ok(content)
}

/// [`walk_manifest`] without the warning, for the listings, which show every version as read.
pub async fn walk_any_version(
    client: &impl LocationReader,
    location: &Location,
    info: &ManifestInfo,
    mut on_entry: impl FnMut(FilesMeta),
) -> Result<ManifestContent, ManifestReadError> {
    let path = info.path();
    let bytes = client
        .read(location, &path)
        .await
        .map_err(|source| ManifestReadError::Fetch {
            path: path.clone(),
            source,
        })?;
    stream_index(&bytes[..], |e| {
        on_entry(e);
        Ok::<(), ManifestError>(())
    })
    .map_err(|source| ManifestReadError::Malformed { path, source })
}

/// Reads a whole manifest (for manifests small enough to hold; [`walk_manifest`] otherwise).
pub async fn read_manifest(
    client: &impl LocationReader,
    location: &Location,
    info: &ManifestInfo,
) -> Result<Manifest, LocationError> {
    let mut index = Vec::new();
    let content = walk_manifest(client, location, info, |e| index.push(e))
        .await
        .map_err(|source| LocationError::Read {
            location: location.to_string(),
            source,
        })?;
    Ok(Manifest { content, index })
}

/// Runs `futures` (manifest reads, or calls in a location such as deletes), at most `limit` at
/// once, and collects their results in the order they finish; the first error is returned.
/// (Boxed futures keep the callers' futures `Send` for axum.)
pub(crate) async fn run_bounded<'a, T, E>(
    futures: Vec<BoxFuture<'a, Result<T, E>>>,
    limit: usize,
) -> Result<Vec<T>, E> {
    futures::stream::iter(futures)
        .buffer_unordered(limit)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_failing_alike_are_named_together() {
        let refused = |host: &str| AgentError::Connect {
            host: host.into(),
            call: "POST /agent/files/list".into(),
            reason: format!(
                "error sending request for url (https://{host}:10001/agent/files/list): connection refused"
            ),
            not_sent: true,
        };
        let failures = vec![
            ("10.0.0.1".to_string(), refused("10.0.0.1")),
            ("10.0.0.2".to_string(), refused("10.0.0.2")),
        ];
        assert_eq!(
            host_failures(&failures),
            "10.0.0.1, 10.0.0.2: POST /agent/files/list: cannot connect: error sending request: connection refused (a retry may help)"
        );
    }
}
