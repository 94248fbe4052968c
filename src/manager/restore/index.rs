//! What init reads of the backup locations, through the agents and never writing (read-only
//! credentials suffice): which nodes can read each location, the manifests of the tag there
//! (any cluster ID, temporary ones shadowed), the index entries of the restored tables, one
//! listing per remote SSTable directory, and the schema file.

use std::collections::{BTreeSet, HashMap};

use futures::StreamExt;

use super::manifests;
use super::schema_file::{self, SchemaRow};
use super::target::{Init, InitError};
use crate::format::location::Location;
use crate::format::manifest::{FilesMeta, ManifestContent};
use crate::format::paths::ManifestInfo;
use crate::format::tag::SnapshotTag;
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::files::Root;
use crate::manager::location::manifests::{
    LocationError, list_manifests, location_client, walk_manifest,
};
use crate::manager::location::reader::LocationReader;
use crate::manager::location::verify::list_dir;

/// Most location calls (probes, manifest reads, directory listings) in flight at once.
pub const PARALLELISM: usize = 16;

/// One location of the restore and what was found in it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The location.
    pub location: Location,
    /// Addresses of the nodes whose agents can read it.
    pub readers: Vec<String>,
    /// A client of the first of them.
    pub client: AgentClient,
    /// The final manifests of the tag in it.
    pub manifests: Vec<ManifestInfo>,
}

impl Source {
    /// The DCs of its manifests.
    pub fn dcs(&self) -> BTreeSet<String> {
        self.manifests.iter().map(|m| m.dc.clone()).collect()
    }
}

/// The nodes of `init` whose agents can list `location` (a listing only: nothing is written), and
/// a client of the first.
async fn readers(
    init: &Init,
    location: &Location,
) -> Result<(Vec<String>, AgentClient), InitError> {
    let c = &init.cluster;
    let probes = init.view.nodes.iter().map(|n| async move {
        let hosts = [n.address.clone()];
        (
            n.address.clone(),
            location_client(&hosts, c.agent_port, &c.auth_token, &c.agent_pins, location).await,
        )
    });
    let results: Vec<(String, Result<_, LocationError>)> = futures::stream::iter(probes)
        .buffered(PARALLELISM)
        .collect()
        .await;
    let mut ok = Vec::new();
    let mut first = None;
    let mut failures = Vec::new();
    for (host, r) in results {
        match r {
            Ok(lc) => {
                first.get_or_insert(lc.client);
                ok.push(host);
            }
            Err(LocationError::NoHost { failures: f, .. }) => failures.extend(f),
            Err(e) => return Err(e.into()),
        }
    }
    match first {
        Some(client) => Ok((ok, client)),
        None => Err(LocationError::NoHost {
            location: location.to_string(),
            failures,
        }
        .into()),
    }
}

/// Each location with its readers and the final manifests of `tag` (from any cluster ID).
pub async fn sources(
    init: &Init,
    locations: &[Location],
    tag: &SnapshotTag,
) -> Result<Vec<Source>, InitError> {
    let mut out = Vec::new();
    for location in locations {
        let (readers, client) = readers(init, location).await?;
        let all = list_manifests(&client, location, None).await?;
        let manifests = manifests::of_tag(&all, tag).map_err(|u| InitError::Unshadowed {
            path: location.remote_path(&u.path),
        })?;
        out.push(Source {
            location: location.clone(),
            readers,
            client,
            manifests,
        });
    }
    if out.iter().all(|s| s.manifests.is_empty()) {
        return Err(InitError::NoSnapshot {
            tag: tag.to_string(),
            locations: locations.iter().map(Location::to_string).collect(),
        });
    }
    Ok(out)
}

/// One index entry of a restored table, with where it is.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// The source (index into the sources).
    pub source: usize,
    /// The manifest it is from.
    pub manifest: ManifestInfo,
    /// The entry.
    pub entry: FilesMeta,
}

/// The index entries of every manifest of `sources` that `keep` selects, and every manifest's
/// header (what it says of its node: tokens, rack, shards).
pub async fn entries(
    sources: &[Source],
    keep: &(dyn Fn(&FilesMeta) -> bool + Sync),
) -> Result<(Vec<IndexEntry>, Vec<(ManifestInfo, ManifestContent)>), InitError> {
    let reads = sources.iter().enumerate().flat_map(|(i, s)| {
        s.manifests.iter().map(move |m| async move {
            let mut kept = Vec::new();
            walk_manifest(&s.client, &s.location, m, |e| {
                if keep(&e) {
                    kept.push(IndexEntry {
                        source: i,
                        manifest: m.clone(),
                        entry: e,
                    });
                }
            })
            .await
            .map(|header| (kept, (m.clone(), header)))
            .map_err(|source| LocationError::Read {
                location: s.location.to_string(),
                source,
            })
        })
    });
    let mut out = Vec::new();
    let mut headers = Vec::new();
    let mut stream = std::pin::pin!(futures::stream::iter(reads).buffered(PARALLELISM));
    while let Some(r) = stream.next().await {
        let (kept, header) = r?;
        out.extend(kept);
        headers.push(header);
    }
    Ok((out, headers))
}

/// Name → size of every object directly in `dir` of `location` (none when it does not exist).
pub async fn listing(
    client: &AgentClient,
    location: &Location,
    dir: &str,
) -> Result<HashMap<String, u64>, InitError> {
    Ok(list_dir(client, Root::Backup(location), dir, false)
        .await?
        .into_iter()
        .filter(|e| !e.dir)
        .map(|e| (e.path, e.size))
        .collect())
}

/// The path of the CQL schema file of `tag` in `source`, if there is one.
pub async fn schema_file_path(
    source: &Source,
    tag: &SnapshotTag,
) -> Result<Option<String>, InitError> {
    let listed = LocationReader::list_files(&source.client, &source.location, "backup/schema")
        .await
        .map_err(|e| LocationError::List {
            location: source.location.to_string(),
            source: e,
        })?;
    let clusters = source.manifests.iter().map(|m| m.cluster_id).collect();
    Ok(schema_file::find(&listed, tag, &clusters))
}

/// Reads the schema file at `path` of `source`.
pub async fn schema_rows(source: &Source, path: &str) -> Result<Vec<SchemaRow>, InitError> {
    let gz = LocationReader::read(&source.client, &source.location, path)
        .await
        .map_err(|e| LocationError::List {
            location: source.location.to_string(),
            source: e,
        })?;
    Ok(schema_file::read_rows(
        &source.location.remote_path(path),
        &gz,
    )?)
}
