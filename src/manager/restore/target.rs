//! Init of a restore (spec §2): the cluster's nodes, the manifests of the tag (temporary ones must
//! be shadowed), `dc_mapping` checks, units with tombstone_gc modes, views, the remote SSTable
//! directories with the versioned-file rule, and the dry run's checks on top ("would this
//! restore succeed": every object with its size, every table in the target, room on every node).

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use scylla::client::session::Session;
use serde::Serialize;

pub use super::error::InitError;

use super::cql::{self as restore_cql, TableInfo};
use super::dc_mapping;
use super::dirs;
use super::index::{self, PARALLELISM, Source};
use super::manifests;
use super::one_to_one::{self, SourceNode, TargetNode};
use super::plan::{RemoteDir, RestorePlan, TargetHost};
use super::properties::RestoreProperties;
use super::room;
use super::schema_file;
use super::units::{self, Selection};
use crate::format::filter::KeyspaceFilter;
use crate::format::location::Location;
use crate::format::manifest::{ManifestContent, ReplicationType};
use crate::format::paths::ManifestInfo;
use crate::format::tag::SnapshotTag;
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::scylla::{KeyspaceKind, ReplicationKind};
use crate::manager::discovery::{ClusterView, discover};
use crate::manager::store::{Cluster, RestoreRun, RestoreView};

/// A cluster being restored into, as init found it: its nodes and a client of their agents.
#[derive(Debug, Clone)]
pub struct Init {
    /// The cluster.
    pub cluster: Cluster,
    /// Its nodes, DCs and liveness.
    pub view: ClusterView,
    /// A client of the contact node's agent (`for_host` reaches the others).
    pub client: AgentClient,
}

/// What a plan build found wrong, collected (dry run) or failing at once (a run).
#[derive(Debug, Default)]
struct Findings {
    /// Whether to collect instead of failing.
    collect: bool,
    /// Objects checked.
    objects_checked: u64,
    /// Objects missing or of another size.
    missing_objects: Vec<MissingObject>,
    /// Tables the target lacks.
    missing_tables: Vec<String>,
    /// How the cluster fails to mirror the backup as a 1-1 restore's mapping says.
    not_mirrored: Vec<String>,
}

impl Findings {
    /// Records missing objects; fails unless collecting.
    fn objects(&mut self, objects: Vec<MissingObject>) -> Result<(), InitError> {
        if objects.is_empty() {
            Ok(())
        } else if self.collect {
            self.missing_objects.extend(objects);
            Ok(())
        } else {
            Err(InitError::MissingObjects { objects })
        }
    }

    /// Records how the cluster fails to mirror the backup (1-1 restore); fails unless collecting.
    fn mirror(&mut self, problems: Vec<String>) -> Result<(), InitError> {
        if problems.is_empty() {
            Ok(())
        } else if self.collect {
            self.not_mirrored.extend(problems);
            Ok(())
        } else {
            Err(InitError::OneToOne { problems })
        }
    }

    /// Records missing tables; fails unless collecting.
    fn tables(&mut self, tables: Vec<String>) -> Result<(), InitError> {
        if tables.is_empty() {
            Ok(())
        } else if self.collect {
            self.missing_tables.extend(tables);
            Ok(())
        } else {
            Err(InitError::MissingTables { tables })
        }
    }
}

impl Init {
    /// Discovers the cluster's nodes through its agents; every node must be up and normal.
    pub async fn connect(cluster: &Cluster) -> Result<Init, InitError> {
        let view = discover(
            &cluster.hosts,
            cluster.agent_port,
            &cluster.auth_token,
            &cluster.agent_pins,
        )
        .await?;
        let down: Vec<(String, String)> = view
            .nodes
            .iter()
            .filter_map(|n| n.down_reason().map(|r| (n.address.clone(), r)))
            .collect();
        if !down.is_empty() {
            return Err(InitError::NodesDown { nodes: down });
        }
        let client = AgentClient::new(
            &view.contact,
            cluster.agent_port,
            &cluster.auth_token,
            &cluster.agent_pins,
        )?;
        Ok(Init {
            cluster: cluster.clone(),
            view,
            client,
        })
    }

    /// The plan of a run of `props`: units and views inherited from `inherited` (the task's
    /// unfinished previous run) when given, else read from the backup and the cluster.
    pub async fn plan(
        &self,
        props: &RestoreProperties,
        inherited: Option<&RestoreRun>,
    ) -> Result<RestorePlan, InitError> {
        self.build(props, inherited, &mut Findings::default()).await
    }

    /// The dry run: the plan and every reason the restore would fail; touches nothing.
    pub async fn dry_run(&self, props: &RestoreProperties) -> Result<DryRunReport, InitError> {
        let mut findings = Findings {
            collect: true,
            ..Findings::default()
        };
        let plan = self.build(props, None, &mut findings).await?;
        let hosts = room::rooms(&plan, props.batch_size);
        let mut problems: Vec<String> = Vec::new();
        problems.extend(findings.missing_objects.iter().map(|o| match o.found_size {
            Some(found) => format!(
                "object {} holds {found} bytes, the manifest says {}",
                o.path, o.expected_size
            ),
            None => format!("object {} is missing", o.path),
        }));
        problems.extend(
            findings
                .not_mirrored
                .iter()
                .map(|p| format!("1-1 restore: {p}")),
        );
        problems.extend(findings.missing_tables.iter().map(|t| {
            format!(
                "{t} is missing in the restored cluster: exclude it with -K or restore the schema first with --restore-schema"
            )
        }));
        if props.restore_schema {
            let rows = super::schema::read(self, &plan).await?;
            if let Err(e) = super::schema::statements(&rows, props, &self.dcs()) {
                problems.push(e.to_string());
            }
        }
        problems.extend(hosts.iter().filter(|h| !h.ok).map(|h| {
            format!(
                "host {} ({}) needs {} in upload/ at once but has {} free, and {}% of its disk must stay free",
                h.host,
                h.dc,
                crate::units::format_bytes(h.needed),
                crate::units::format_bytes(h.free),
                room::MIN_FREE_PERCENT
            )
        }));
        Ok(DryRunReport {
            plan,
            objects_checked: findings.objects_checked,
            missing_objects: findings.missing_objects,
            missing_tables: findings.missing_tables,
            hosts,
            problems,
        })
    }

    /// A CQL session with the cluster (the cluster's credentials), for views, tombstone_gc and
    /// the schema.
    pub async fn cql(&self) -> Result<Session, InitError> {
        restore_cql::open(self).await
    }

    /// The DCs of the cluster.
    pub fn dcs(&self) -> BTreeSet<String> {
        self.view.dcs().into_iter().collect()
    }

    /// Builds the plan; problems of the backup and the target go to `findings`.
    async fn build(
        &self,
        props: &RestoreProperties,
        inherited: Option<&RestoreRun>,
        findings: &mut Findings,
    ) -> Result<RestorePlan, InitError> {
        let tag: SnapshotTag = props
            .snapshot_tag
            .parse()
            .map_err(|e| InitError::Properties(format!("snapshot_tag: {e}")))?;
        let locations = props
            .location
            .iter()
            .map(|l| {
                l.parse::<Location>()
                    .map_err(|e| InitError::Properties(format!("location {l:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if locations.is_empty() {
            return Err(InitError::Properties("no location given".into()));
        }
        let mut sources = index::sources(self, &locations, &tag).await?;
        if let Some(cluster) = props.source_cluster_id {
            for s in &mut sources {
                s.manifests.retain(|m| m.cluster_id == cluster);
            }
            if sources.iter().all(|s| s.manifests.is_empty()) {
                return Err(InitError::NoSnapshot {
                    tag: format!("{tag} of cluster {cluster}"),
                    locations: locations.iter().map(Location::to_string).collect(),
                });
            }
        }
        let backup_dcs: BTreeSet<String> = sources.iter().flat_map(Source::dcs).collect();
        if !props.dc_mapping.is_empty() {
            dc_mapping::check(&props.dc_mapping, &backup_dcs, &self.dcs())?;
        }
        for s in &mut sources {
            s.manifests =
                manifests::of_mapped_dcs(std::mem::take(&mut s.manifests), &props.dc_mapping);
        }
        let hosts = self.hosts(&sources, &props.dc_mapping).await?;
        let mut plan = RestorePlan {
            tag: tag.clone(),
            units: Vec::new(),
            views: Vec::new(),
            hosts,
            dirs: Vec::new(),
            table_dirs: BTreeMap::new(),
            schema_file: None,
        };
        let first = sources.first();
        let schema_path = match first {
            Some(s) => index::schema_file_path(s, &tag).await?,
            None => None,
        };
        if props.restore_schema {
            let (Some(source), Some(path)) = (first, schema_path) else {
                return Err(InitError::NoSchemaFile {
                    tag: tag.to_string(),
                    location: locations
                        .first()
                        .map(Location::to_string)
                        .unwrap_or_default(),
                });
            };
            plan.schema_file = Some((source.location.clone(), path));
            return Ok(plan);
        }

        let session = self.cql().await?;
        let tables = restore_cql::tables(&session).await?;
        let cluster_views = restore_cql::views(&session).await?;
        let selection = match inherited {
            Some(run) => Selection::inherited(&run.units),
            None => {
                let mut views: BTreeSet<(String, String)> = cluster_views
                    .iter()
                    .map(|v| (v.keyspace.clone(), v.view_table()))
                    .collect();
                if let (Some(source), Some(path)) = (first, &schema_path) {
                    views.extend(schema_file::view_tables(
                        &index::schema_rows(source, path).await?,
                    ));
                }
                Selection::Filter {
                    filter: KeyspaceFilter::new(&props.keyspace)
                        .map_err(|e| InitError::Properties(format!("keyspace: {e}")))?,
                    local_keyspaces: self.local_keyspaces().await?,
                    views,
                }
            }
        };
        let (entries, headers) =
            index::entries(&sources, &|e| selection.restores(&e.keyspace, &e.table)).await?;
        if !props.nodes_mapping.is_empty() {
            self.mirror(props, &entries, &headers, &mut plan.hosts, findings)
                .await?;
        }
        let mut sizes: BTreeMap<(String, String), u64> = BTreeMap::new();
        for e in &entries {
            *sizes
                .entry((e.entry.keyspace.clone(), e.entry.table.clone()))
                .or_default() += u64::try_from(e.entry.size).unwrap_or_default();
        }
        if sizes.is_empty() {
            return Err(InitError::NoTables {
                patterns: props.keyspace.clone(),
                tag: tag.to_string(),
            });
        }

        let existing: BTreeSet<(String, String)> =
            self.client.table_names().await?.into_iter().collect();
        let missing: Vec<String> = sizes
            .keys()
            .filter(|k| !existing.contains(*k) || !tables.contains_key(*k))
            .map(|(ks, t)| format!("{ks}.{t}"))
            .collect();
        findings.tables(missing)?;

        plan.units = match inherited {
            Some(run) => run.units.clone(),
            None => units::build(&sizes, &tables),
        };
        plan.views = match inherited {
            Some(run) => run.views.clone(),
            None => self.views(&session, &cluster_views, &sizes).await?,
        };
        plan.table_dirs = table_dirs(&sizes, &tables);
        plan.dirs = self.dirs(&sources, &entries, &tag, findings).await?;
        Ok(plan)
    }

    /// A 1-1 restore: checks that the cluster mirrors the backed-up nodes as the mapping says
    /// (racks, tokens, shards; vnode tables only) and gives each host its source node.
    async fn mirror(
        &self,
        props: &RestoreProperties,
        entries: &[index::IndexEntry],
        headers: &[(ManifestInfo, ManifestContent)],
        hosts: &mut [TargetHost],
        findings: &mut Findings,
    ) -> Result<(), InitError> {
        let mut problems: Vec<String> = entries
            .iter()
            .filter(|e| e.entry.replication_type == Some(ReplicationType::Tablets))
            .map(|e| format!("{}.{}", e.entry.keyspace, e.entry.table))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|t| {
                format!(
                    "{t} uses tablets: 1-1 restore takes vnode tables only (exclude it with -K)"
                )
            })
            .collect();
        let sources: Vec<SourceNode> = headers
            .iter()
            .map(|(m, h)| SourceNode {
                dc: m.dc.clone(),
                rack: h.rack.clone(),
                host_id: m.node_id.clone(),
                tokens: h.tokens.clone(),
                shard_count: u64::from(h.shard_count),
            })
            .collect();
        let mut targets = Vec::with_capacity(self.view.nodes.len());
        for n in &self.view.nodes {
            targets.push(TargetNode {
                address: n.address.clone(),
                dc: n.dc.clone(),
                rack: n.rack.clone(),
                host_id: n.host_id.clone(),
                tokens: self.client.tokens(&n.address).await?,
                shards: hosts
                    .iter()
                    .find(|h| h.address == n.address)
                    .map_or(0, |h| h.shards),
            });
        }
        match one_to_one::check_topology(&props.nodes_mapping, &sources, &targets) {
            Ok(source_of) => {
                for h in hosts.iter_mut() {
                    h.source_node = source_of.get(&h.address).cloned();
                }
            }
            Err(found) => problems.extend(found),
        }
        findings.mirror(problems)
    }

    /// The cluster's keyspaces with `LocalStrategy`.
    async fn local_keyspaces(&self) -> Result<BTreeSet<String>, InitError> {
        let all = self
            .client
            .keyspaces(KeyspaceKind::All, ReplicationKind::All)
            .await?;
        let replicated: BTreeSet<String> = self
            .client
            .keyspaces(KeyspaceKind::NonLocalStrategy, ReplicationKind::All)
            .await?
            .into_iter()
            .collect();
        Ok(all
            .into_iter()
            .filter(|k| !replicated.contains(k))
            .collect())
    }

    /// Every node restored into, with its shards, disk and the source DCs it restores (of the
    /// locations it can read).
    async fn hosts(
        &self,
        sources: &[Source],
        mapping: &BTreeMap<String, String>,
    ) -> Result<Vec<TargetHost>, InitError> {
        let asks = self.view.nodes.iter().map(|n| async move {
            let agent = self.client.for_host(&n.address);
            let shards = agent.shard_count().await?;
            let disk = agent.disk().await?;
            let readable: BTreeSet<String> = sources
                .iter()
                .filter(|s| s.readers.contains(&n.address))
                .flat_map(Source::dcs)
                .collect();
            Ok::<_, InitError>(TargetHost {
                address: n.address.clone(),
                dc: n.dc.clone(),
                host_id: n.host_id.clone(),
                shards,
                disk_free: disk.free,
                disk_total: disk.total,
                source_dcs: dc_mapping::source_dcs(mapping, &n.dc, &readable),
                source_node: None,
            })
        });
        futures::stream::iter(asks)
            .buffered(PARALLELISM)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// The views and indexes of the cluster over restored tables, with their statements.
    async fn views(
        &self,
        session: &Session,
        views: &[restore_cql::ViewInfo],
        restored: &BTreeMap<(String, String), u64>,
    ) -> Result<Vec<RestoreView>, InitError> {
        let mut out = Vec::new();
        for v in views
            .iter()
            .filter(|v| restored.contains_key(&(v.keyspace.clone(), v.base_table.clone())))
        {
            out.push(RestoreView {
                keyspace_name: v.keyspace.clone(),
                view_name: v.name.clone(),
                base_table: v.base_table.clone(),
                view_type: v.view_type.to_string(),
                create_stmt: restore_cql::create_statement(session, v).await?,
                build_status: String::new(),
            });
        }
        Ok(out)
    }

    /// The remote directories of `entries`, each listed once, sorted for batches.
    async fn dirs(
        &self,
        sources: &[Source],
        entries: &[index::IndexEntry],
        tag: &SnapshotTag,
        findings: &mut Findings,
    ) -> Result<Vec<RemoteDir>, InitError> {
        let resolves = entries.iter().filter_map(|e| {
            let source = sources.get(e.source)?;
            Some(async move {
                let dir = e.manifest.sstable_version_dir(
                    &e.entry.keyspace,
                    &e.entry.table,
                    &e.entry.version,
                );
                let listing = index::listing(&source.client, &source.location, &dir).await?;
                Ok::<_, InitError>(dirs::resolve(
                    &source.location,
                    &e.manifest,
                    &e.entry,
                    &listing,
                    tag,
                )?)
            })
        });
        let mut stream = std::pin::pin!(futures::stream::iter(resolves).buffered(PARALLELISM));
        let mut out = Vec::new();
        let mut missing = Vec::new();
        while let Some(r) = stream.next().await {
            let r = r?;
            findings.objects_checked += r.checked;
            missing.extend(r.missing);
            out.push(r.dir);
        }
        findings.objects(missing)?;
        dirs::sort(&mut out);
        Ok(out)
    }
}

/// Each restored table's directory in the target (`<ks>/<table>-<id without dashes>`), for the
/// tables the target has.
fn table_dirs(
    restored: &BTreeMap<(String, String), u64>,
    tables: &BTreeMap<(String, String), TableInfo>,
) -> BTreeMap<(String, String), String> {
    restored
        .keys()
        .filter_map(|k| {
            let info = tables.get(k)?;
            Some((k.clone(), format!("{}/{}-{}", k.0, k.1, info.id.simple())))
        })
        .collect()
}

/// One object the restore needs that the location does not hold as the manifest says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingObject {
    /// The object, relative to the location's root, with the location (`provider:bucket/path`).
    pub path: String,
    /// The size the manifest implies (0 for a single file: the manifest sums sizes per table).
    pub expected_size: u64,
    /// The size found, if the object exists with another size.
    pub found_size: Option<u64>,
}

/// One target node's room for its share of the restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRoom {
    /// The agent's address.
    pub host: String,
    /// Its DC.
    pub dc: String,
    /// Bytes it is expected to hold in `upload/` at most at once (two batches with pipelining).
    pub needed: u64,
    /// Free bytes on its data file system.
    pub free: u64,
    /// Whether `free` stays above the free-space floor after `needed`.
    pub ok: bool,
}

/// What `--dry-run` answers: the plan and every reason the restore would fail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRunReport {
    /// The plan the run would work from.
    pub plan: RestorePlan,
    /// Objects checked in the location.
    pub objects_checked: u64,
    /// Objects missing or of another size.
    pub missing_objects: Vec<MissingObject>,
    /// `ks.table` of backed-up tables the target lacks (restore the schema first).
    pub missing_tables: Vec<String>,
    /// Room on every target node.
    pub hosts: Vec<HostRoom>,
    /// Every problem in words; empty when the restore would go ahead.
    pub problems: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_dirs_use_the_id_without_dashes() {
        let k = ("ks".to_string(), "t".to_string());
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let dirs = table_dirs(
            &BTreeMap::from([(k.clone(), 1)]),
            &BTreeMap::from([(
                k.clone(),
                TableInfo {
                    id,
                    tombstone_gc: "timeout".into(),
                },
            )]),
        );
        assert_eq!(
            dirs.get(&k).map(String::as_str),
            Some("ks/t-0123456789abcdef0123456789abcdef")
        );
    }
}
