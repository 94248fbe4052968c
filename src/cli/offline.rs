//! `--offline` for `cairn backup list` and `cairn backup files`: the backups in a location read
//! straight from its object store with this machine's credentials, never through the manager, for
//! when the manager or its database is the thing that was lost.
//!
//! Credentials come from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_STORAGE_*`, as the agent
//! reads them) or from `--storage-config FILE`: a file in the agent's format, of which only the
//! `s3`, `gcs`, `azure` and `localstorage` sections are used, so a node's own
//! `/etc/cairn/agent.yaml` works as is. The answers are the documents the manager's API gives
//! with `with_skipped=true` ([`BackupList`](crate::manager::location::listing::BackupList),
//! [`SnapshotFiles`](crate::manager::location::listing::SnapshotFiles)), so `-o json` is the same
//! online and offline, unreadable manifests listed in `skipped` as the manager lists them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::Value;
use uuid::Uuid;

use super::client::{ClientError, one_line};
use crate::agent::config::AgentConfig;
use crate::agent::storage::{Remote, Stores};
use crate::config_file::read_yaml;
use crate::format::filter::KeyspaceFilter;
use crate::format::location::{Location, Provider};
use crate::format::tag::SnapshotTag;
use crate::manager::location::listing::{ListFilter, list_backups, parse_date, snapshot_files};
use crate::manager::location::manifests::{
    LocationClient, LocationError, list_manifests, walk_any_version,
};

/// `--offline` and where its credentials come from.
#[derive(Debug, Clone, Args)]
pub struct OfflineArgs {
    /// Read the locations directly (no manager): for when the manager or its database is lost.
    /// Needs -L.
    #[arg(long)]
    pub offline: bool,
    /// With --offline: the locations' credentials and endpoints, in the agent's configuration
    /// format (only s3, gcs, azure and localstorage are read; an agent.yaml works as is). The
    /// standard AWS_*, GOOGLE_* and AZURE_STORAGE_* environment variables are read too; the
    /// file's values win.
    #[arg(long, env = "CAIRN_STORAGE_CONFIG", value_name = "FILE")]
    pub storage_config: Option<PathBuf>,
}

/// What `backup list --offline` is asked.
#[derive(Debug)]
pub struct ListQuery<'a> {
    /// `-L`.
    pub locations: &'a [String],
    /// `-c`: a cluster's ID or name; every cluster's when `None`.
    pub cluster: Option<&'a str>,
    /// `-K`.
    pub keyspace: &'a [String],
    /// `--min-date`.
    pub min_date: Option<&'a str>,
    /// `--max-date`.
    pub max_date: Option<&'a str>,
}

/// The `backup list` document of the locations, read directly.
pub async fn list(args: &OfflineArgs, q: ListQuery<'_>) -> Result<Value, ClientError> {
    let readers = readers(args, q.locations)?;
    let filter = ListFilter {
        cluster: cluster_id(&readers, q.cluster).await?,
        task: None,
        keyspace: keyspace(q.keyspace)?,
        min_date: date("--min-date", q.min_date)?,
        max_date: date("--max-date", q.max_date)?,
    };
    filter
        .check_dates()
        .map_err(|e| ClientError::Invalid(format!("--max-date: {e}")))?;
    let items = list_backups(&readers, &filter)
        .await
        .map_err(backups_error)?;
    Ok(serde_json::to_value(items).expect("a listing serialises"))
}

/// The `backup files` document of snapshot `tag` in the locations, read directly.
pub async fn files(
    args: &OfflineArgs,
    locations: &[String],
    cluster: Option<&str>,
    tag: &str,
    keyspace_patterns: &[String],
) -> Result<Value, ClientError> {
    let tag: SnapshotTag = tag
        .parse()
        .map_err(|e| ClientError::Invalid(format!("-T/--snapshot-tag {tag:?}: {e}")))?;
    let readers = readers(args, locations)?;
    let cluster = cluster_id(&readers, cluster).await?;
    let filter = keyspace(keyspace_patterns)?;
    let files = snapshot_files(&readers, cluster, &tag, filter.as_ref())
        .await
        .map_err(backups_error)?;
    Ok(serde_json::to_value(files).expect("a file list serialises"))
}

/// The storage configuration: the file given, or the agent's defaults (credentials from the
/// environment).
fn storage_config(path: Option<&Path>) -> Result<AgentConfig, ClientError> {
    match path {
        Some(p) => read_yaml(p).map_err(|e| ClientError::Invalid(format!("--storage-config {e}"))),
        None => Ok(serde_yaml_ng::from_str("{}").expect("the defaults parse")),
    }
}

/// A store client per location given; nothing is created in any of them.
pub(crate) fn readers(
    args: &OfflineArgs,
    given: &[String],
) -> Result<Vec<LocationClient<Remote>>, ClientError> {
    if given.is_empty() {
        return Err(ClientError::Usage(
            "--offline reads the locations directly and has no manager to ask which: give -L/--location".into(),
        ));
    }
    let config = storage_config(args.storage_config.as_deref())?;
    let stores = Stores::interactive(config.clone());
    given
        .iter()
        .map(|text| open(args, &config, &stores, text))
        .collect()
}

/// The store of `location` for downloading files: patient requests, as the agent's transfers
/// (a listing's quick retries and short requests would cut large files off).
pub(crate) fn transfer_store(args: &OfflineArgs, location: &str) -> Result<Remote, ClientError> {
    let config = storage_config(args.storage_config.as_deref())?;
    let stores = Stores::for_transfers(config.clone());
    Ok(open(args, &config, &stores, location)?.client)
}

/// The client of one location given with `-L`.
fn open(
    args: &OfflineArgs,
    config: &AgentConfig,
    stores: &Stores,
    text: &str,
) -> Result<LocationClient<Remote>, ClientError> {
    let location: Location = text
        .parse()
        .map_err(|e| ClientError::Invalid(format!("-L/--location: {e}")))?;
    if location.provider == Provider::LocalStorage {
        local_dir(config, &location, args.storage_config.as_deref())?;
    }
    let client = stores
        .get(text)
        .map_err(|e| ClientError::Invalid(one_line(&e)))?;
    Ok(LocationClient { location, client })
}

/// Checks that a `localstorage` location's directory is configured and exists (the agent would
/// create it; a listing must not).
fn local_dir(
    config: &AgentConfig,
    location: &Location,
    file: Option<&Path>,
) -> Result<(), ClientError> {
    let bucket = &location.bucket;
    let Some(dir) = config.localstorage.get(bucket) else {
        let hint = match file {
            Some(f) => format!("{} has no localstorage.{bucket} entry", f.display()),
            None => "give --storage-config FILE (e.g. the agent's agent.yaml) naming its directory under localstorage".into(),
        };
        return Err(ClientError::Invalid(format!(
            "location {location}: where is bucket {bucket:?}? {hint}"
        )));
    };
    if !dir.is_dir() {
        return Err(ClientError::Invalid(format!(
            "location {location}: localstorage.{bucket} is {}, which is not a directory on this machine",
            dir.display()
        )));
    }
    Ok(())
}

/// `-K` as a filter.
pub(crate) fn keyspace(patterns: &[String]) -> Result<Option<KeyspaceFilter>, ClientError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    KeyspaceFilter::new(patterns)
        .map(Some)
        .map_err(|e| ClientError::Invalid(format!("-K/--keyspace: {e}")))
}

/// An RFC 3339 date flag.
fn date(flag: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, ClientError> {
    text.map(parse_date)
        .transpose()
        .map_err(|e| ClientError::Invalid(format!("{flag} {e}")))
}

/// The cluster `-c` names: an ID as is; a name by the `cluster_name` its manifests carry (the
/// manager that knew the names may be gone). `None` (every cluster) without `-c`.
pub(crate) async fn cluster_id(
    readers: &[LocationClient<Remote>],
    given: Option<&str>,
) -> Result<Option<Uuid>, ClientError> {
    let Some(given) = given else {
        return Ok(None);
    };
    if let Ok(id) = given.parse::<Uuid>() {
        return Ok(Some(id));
    }
    // The newest final manifest of each cluster tells its name (a renamed cluster goes by its
    // latest name).
    let mut names: BTreeMap<Uuid, String> = BTreeMap::new();
    for lc in readers {
        let mut manifests = list_manifests(&lc.client, &lc.location, None)
            .await
            .map_err(backups_error)?;
        manifests.sort_by(|a, b| b.snapshot_tag.cmp(&a.snapshot_tag));
        for m in manifests.iter().filter(|m| !m.temporary) {
            if names.contains_key(&m.cluster_id) {
                continue;
            }
            let content = match walk_any_version(&lc.client, &lc.location, m, |_| {}).await {
                Ok(content) => content,
                // The listing names it; an older manifest may tell the name.
                Err(e) if e.skippable() => continue,
                Err(source) => {
                    return Err(backups_error(LocationError::Read {
                        location: lc.location.to_string(),
                        source,
                    }));
                }
            };
            names.insert(m.cluster_id, content.cluster_name);
        }
    }
    let matching: Vec<Uuid> = names
        .iter()
        .filter(|(_, name)| name.as_str() == given)
        .map(|(id, _)| *id)
        .collect();
    match matching[..] {
        [id] => Ok(Some(id)),
        [] => {
            let there = if names.is_empty() {
                "there are no backups there".to_string()
            } else {
                let known: Vec<String> = names
                    .iter()
                    .map(|(id, name)| format!("{name} ({id})"))
                    .collect();
                format!("clusters there: {}", known.join(", "))
            };
            Err(ClientError::NotFound(format!(
                "no backups of a cluster named {given:?} in {}; {there}",
                readers
                    .iter()
                    .map(|lc| lc.location.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
        _ => Err(ClientError::Invalid(format!(
            "several clusters are named {given:?} there ({}): give -c the cluster's ID",
            matching
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A failure reading the locations as one line: an unknown snapshot is not found; anything
/// else is the store's answer (refused credentials, a missing bucket, a server down), which the
/// message quotes.
pub(crate) fn backups_error(e: LocationError) -> ClientError {
    let text = one_line(&e);
    if e.is_not_found() {
        ClientError::NotFound(text)
    } else {
        ClientError::Storage(text)
    }
}
