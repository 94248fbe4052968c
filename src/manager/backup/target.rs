//! The target of a backup run (spec 1.2, 4.1–4.3): which DCs, nodes, keyspaces and tables a
//! run of a task's [`TaskProperties`] backs up, to which locations, at which rates, and how large
//! it is. The target is also what a dry run returns.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::properties::{CheckedProperties, DEFAULT_RATE_LIMIT, PropertiesError, TaskProperties};
use crate::format::dclimit::DcLimits;
use crate::format::filter::{FilterError, Unit};
use crate::format::location::Location;
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::error::AgentError;
use crate::manager::agent_client::scylla::{KeyspaceKind, ReplicationKind, TokenRange};
use crate::manager::discovery::ClusterView;

/// The schema keyspace, backed up last and whole unless `skip_schema` is set.
const SYSTEM_SCHEMA: &str = "system_schema";
/// Scylla's own backup bookkeeping tables, never backed up.
const SNAPSHOT_INTERNAL: &[&str] = &[
    "snapshot_sstables",
    "snapshot_remote_locations",
    "snapshots",
    "snapshot_nodes",
    "snapshot_keyspaces",
    "snapshot_tables",
    "snapshot_tablets",
];
/// Most size queries in flight during the estimate.
const SIZE_PARALLELISM: usize = 16;

/// Why a target could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The properties are wrong.
    #[error(transparent)]
    Properties(#[from] PropertiesError),
    /// No node of the selected DCs can be used.
    #[error(
        "backup target: no live node in DC {} ({}); a retry may help once nodes are back",
        .dcs.join(", "),
        .down.iter().map(|h| format!("{} {}", h.address, h.reason)).collect::<Vec<_>>().join("; ")
    )]
    NoLiveNodes {
        /// The selected DCs.
        dcs: Vec<String>,
        /// The nodes that could not be used.
        down: Vec<IgnoredHost>,
    },
    /// A call to an agent failed.
    #[error("backup target: {0}")]
    Agent(#[from] AgentError),
    /// The keyspace filter selected no table.
    #[error("backup target: keyspace: {0} (fix the filter; a retry will not help)")]
    NoTables(FilterError),
    /// A token range of a table has no live replica in the selected DCs.
    #[error(
        "backup target: table {keyspace}.{table}: the whole replica set [{}] of token range ({start}, {end}] is {}, so the data it owns cannot be backed up; {}",
        .replicas.join(", "),
        if *.replica_down { "down" } else { "outside the selected DCs" },
        if *.replica_down {
            "bring a replica back (a retry may help later), or exclude the table with the keyspace filter"
        } else {
            "exclude the keyspace with the keyspace filter (e.g. !ks) or widen the dc filter (a retry will not help)"
        }
    )]
    Uncovered {
        /// Keyspace.
        keyspace: String,
        /// Table.
        table: String,
        /// Range start.
        start: String,
        /// Range end.
        end: String,
        /// The range's replicas.
        replicas: Vec<String>,
        /// Whether a replica in the selected DCs exists but is down.
        replica_down: bool,
    },
}

impl TargetError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            TargetError::Properties(_) | TargetError::NoTables(_) => false,
            TargetError::NoLiveNodes { .. } => true,
            TargetError::Uncovered { replica_down, .. } => *replica_down,
            TargetError::Agent(e) => e.retryable(),
        }
    }
}

/// A node the run uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHost {
    /// Address.
    pub address: String,
    /// Host ID.
    pub host_id: String,
    /// DC.
    pub dc: String,
    /// Rack.
    pub rack: String,
}

/// A node of the selected DCs the run leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredHost {
    /// Address.
    pub address: String,
    /// DC.
    pub dc: String,
    /// Why it is left out.
    pub reason: String,
}

/// What applies to one DC of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetDc {
    /// DC name.
    pub name: String,
    /// Where its hosts upload (its own location, or the default one).
    pub location: Location,
    /// Per-host rate, MiB/s (0: unlimited; `None`: the agent's setting).
    pub rate_limit: Option<u64>,
    /// Aggregate rate of the DC, MiB/s, if any.
    pub rate_limit_total: Option<u64>,
    /// Hosts snapshotted at once (`None`: all).
    pub snapshot_parallel: Option<u64>,
    /// Hosts uploading at once (`None`: all).
    pub upload_parallel: Option<u64>,
    /// Addresses of the live hosts of the DC.
    pub hosts: Vec<String>,
}

/// What a backup run does; also the answer of a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Keyspaces and tables, in backup order.
    pub units: Vec<Unit>,
    /// The selected DCs.
    pub dc: Vec<String>,
    /// Locations of the selected DCs and the default one.
    pub location: Vec<Location>,
    /// Snapshots kept.
    pub retention: i64,
    /// Days kept.
    pub retention_days: i64,
    /// Per-host rates of the selected DCs and the default.
    pub rate_limit: DcLimits,
    /// Aggregate rates of the selected DCs and the default.
    pub rate_limit_total: DcLimits,
    /// Files in parallel per host (-1: the agent's setting).
    pub transfers: i64,
    /// Hosts snapshotted at once, of the selected DCs and the default.
    pub snapshot_parallel: DcLimits,
    /// Hosts uploading at once, of the selected DCs and the default.
    pub upload_parallel: DcLimits,
    /// Whether to resume the previous run.
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Run only the purge.
    pub purge_only: bool,
    /// Back up no schema.
    pub skip_schema: bool,
    /// Upload engine.
    pub method: String,
    /// Retention lock mode.
    pub retention_lock_mode: String,
    /// Per-DC settings, sorted by DC.
    pub dcs: Vec<TargetDc>,
    /// The live hosts the run uses.
    pub hosts: Vec<TargetHost>,
    /// Hosts of the selected DCs left out, with the reason.
    pub ignored_hosts: Vec<IgnoredHost>,
    /// Estimated bytes to back up: the sum over hosts and tables of Scylla's disk usage.
    pub size: u64,
}

impl Target {
    /// The location the hosts of `dc` use: the DC's own, else the default.
    pub fn location_for(&self, dc: &str) -> Option<&Location> {
        location_for(&self.location, dc)
    }
}

/// The location of `dc` among `locations`: the DC's own, else the default.
fn location_for<'a>(locations: &'a [Location], dc: &str) -> Option<&'a Location> {
    locations
        .iter()
        .find(|l| l.dc.as_deref() == Some(dc))
        .or_else(|| locations.iter().find(|l| l.dc.is_none()))
}

/// Keeps the limits of the selected DCs and the default entry.
fn for_dcs(limits: &DcLimits, dcs: &[String]) -> DcLimits {
    let kept = limits
        .as_slice()
        .iter()
        .filter(|l| l.dc.as_ref().is_none_or(|dc| dcs.contains(dc)))
        .cloned()
        .collect();
    DcLimits::new(kept).unwrap_or_default()
}

/// Whether a table is left out whatever the filter: LWT state, CDC logs, Scylla's backup
/// bookkeeping.
fn excluded_table(keyspace: &str, table: &str) -> bool {
    let lwt = (keyspace == "system" && table == "paxos") || table.ends_with("$paxos");
    let internal = keyspace == "system_distributed" && SNAPSHOT_INTERNAL.contains(&table);
    let cdc = table.ends_with("_scylla_cdc_log")
        || (keyspace.starts_with("system") && table.split('_').any(|part| part == "cdc"));
    lwt || internal || cdc
}

/// Upstream's unit order: `system*` keyspaces first, then the others, by name; `system_schema`
/// always last.
fn sort_units(units: &mut [Unit]) {
    units.sort_by_key(|u| {
        (
            u.keyspace == SYSTEM_SCHEMA,
            !u.keyspace.starts_with("system"),
            u.keyspace.clone(),
        )
    });
}

/// Builds the target of a run of `props` on the cluster `view`, asking Scylla through `client`
/// (the agent of any live node) for the schema and rings, and every used host for its table
/// sizes.
pub async fn build_target(
    props: &TaskProperties,
    view: &ClusterView,
    client: &AgentClient,
) -> Result<Target, TargetError> {
    let checked = props.validate(&view.dcs())?;
    let dcs = checked.dcs.clone();

    let mut hosts = Vec::new();
    let mut ignored_hosts = Vec::new();
    for n in view.nodes.iter().filter(|n| dcs.contains(&n.dc)) {
        match n.down_reason() {
            None => hosts.push(TargetHost {
                address: n.address.clone(),
                host_id: n.host_id.clone(),
                dc: n.dc.clone(),
                rack: n.rack.clone(),
            }),
            Some(reason) => ignored_hosts.push(IgnoredHost {
                address: n.address.clone(),
                dc: n.dc.clone(),
                reason,
            }),
        }
    }
    if !ignored_hosts.is_empty() {
        tracing::warn!(hosts = ?ignored_hosts, "ignoring down nodes");
    }
    if hosts.is_empty() {
        return Err(TargetError::NoLiveNodes {
            dcs,
            down: ignored_hosts,
        });
    }
    let live: BTreeSet<&str> = hosts.iter().map(|h| h.address.as_str()).collect();
    let dc_of: HashMap<&str, &str> = view
        .nodes
        .iter()
        .map(|n| (n.address.as_str(), n.dc.as_str()))
        .collect();

    let mut by_keyspace: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (ks, table) in client.table_names().await? {
        by_keyspace.entry(ks).or_default().push(table);
    }
    let mut units = select_units(client, &checked, &by_keyspace, &dc_of, &live).await?;
    if !props.skip_schema
        && let Some(tables) = by_keyspace.remove(SYSTEM_SCHEMA)
    {
        units.push(Unit {
            keyspace: SYSTEM_SCHEMA.into(),
            tables,
            all_tables: true,
        });
    }
    sort_units(&mut units);

    let mut rate_limit = for_dcs(&checked.rate_limit, &dcs);
    if rate_limit.is_empty() {
        rate_limit = DcLimits::parse(&[DEFAULT_RATE_LIMIT.to_string()]).unwrap_or_default();
    }
    let location: Vec<Location> = checked
        .location
        .iter()
        .filter(|l| l.dc.as_ref().is_none_or(|dc| dcs.contains(dc)))
        .cloned()
        .collect();
    let (rate_limit_total, snapshot_parallel, upload_parallel) = (
        for_dcs(&checked.rate_limit_total, &dcs),
        for_dcs(&checked.snapshot_parallel, &dcs),
        for_dcs(&checked.upload_parallel, &dcs),
    );
    let per_dc = dcs
        .iter()
        .filter_map(|dc| {
            let loc = location_for(&location, dc)?;
            Some(TargetDc {
                name: dc.clone(),
                location: loc.clone(),
                rate_limit: rate_limit.for_dc(dc),
                rate_limit_total: rate_limit_total.for_dc(dc),
                snapshot_parallel: snapshot_parallel.for_dc(dc),
                upload_parallel: upload_parallel.for_dc(dc),
                hosts: hosts
                    .iter()
                    .filter(|h| &h.dc == dc)
                    .map(|h| h.address.clone())
                    .collect(),
            })
        })
        .collect();

    let size = estimate_size(client, &hosts, &units).await?;
    Ok(Target {
        units,
        dc: dcs,
        location,
        retention: checked.retention,
        retention_days: checked.retention_days,
        rate_limit,
        rate_limit_total,
        transfers: props.transfers,
        snapshot_parallel,
        upload_parallel,
        continue_: props.continue_,
        purge_only: props.purge_only,
        skip_schema: props.skip_schema,
        method: props.method.clone(),
        retention_lock_mode: props.retention_lock_mode.clone(),
        dcs: per_dc,
        hosts,
        ignored_hosts,
        size,
    })
}

/// Selects the tables of the run (every filter of spec 1.2 step 7) and checks that every token
/// range of each has a live replica in the selected DCs.
async fn select_units(
    client: &AgentClient,
    checked: &CheckedProperties,
    by_keyspace: &BTreeMap<String, Vec<String>>,
    dc_of: &HashMap<&str, &str>,
    live: &BTreeSet<&str>,
) -> Result<Vec<Unit>, TargetError> {
    let mut replicated: BTreeSet<String> = client
        .keyspaces(KeyspaceKind::User, ReplicationKind::All)
        .await?
        .into_iter()
        .collect();
    replicated.extend(
        client
            .keyspaces(KeyspaceKind::NonLocalStrategy, ReplicationKind::All)
            .await?,
    );
    let tablets = super::tablets::tablet_keyspaces(client).await?;
    let selected = |e: &String| {
        dc_of
            .get(e.as_str())
            .is_some_and(|dc| checked.dcs.iter().any(|d| d == dc))
    };
    let mut candidates = Vec::new();
    let mut totals = HashMap::new();
    for (ks, tables) in by_keyspace {
        if ks == SYSTEM_SCHEMA || !replicated.contains(ks) {
            continue;
        }
        totals.insert(ks.clone(), tables.len());
        let mut keyspace_ring: Option<Vec<TokenRange>> = None;
        let mut kept = Vec::new();
        for table in tables {
            if excluded_table(ks, table) || !checked.keyspace.check(ks, table) {
                continue;
            }
            let ring = if tablets.contains(ks) {
                client.describe_ring(ks, Some(table)).await?
            } else {
                match &keyspace_ring {
                    Some(r) => r.clone(),
                    None => {
                        let r = client.describe_ring(ks, None).await?;
                        keyspace_ring = Some(r.clone());
                        r
                    }
                }
            };
            if !ring.iter().any(|r| r.endpoints.iter().any(selected)) {
                continue;
            }
            if let Some(r) = ring
                .iter()
                .find(|r| !r.endpoints.iter().any(|e| live.contains(e.as_str())))
            {
                return Err(TargetError::Uncovered {
                    keyspace: ks.clone(),
                    table: table.clone(),
                    start: r.start_token.clone(),
                    end: r.end_token.clone(),
                    replicas: r.endpoints.clone(),
                    replica_down: r.endpoints.iter().any(selected),
                });
            }
            kept.push(table.clone());
        }
        candidates.push((ks.clone(), kept));
    }
    let mut units = checked
        .keyspace
        .apply(candidates)
        .map_err(TargetError::NoTables)?;
    for u in &mut units {
        u.all_tables = totals.get(&u.keyspace) == Some(&u.tables.len());
    }
    Ok(units)
}

/// Sums Scylla's disk usage of every unit's tables on every host, in parallel and bounded.
async fn estimate_size(
    client: &AgentClient,
    hosts: &[TargetHost],
    units: &[Unit],
) -> Result<u64, AgentError> {
    // Built into a list first: a lazily nested iterator of futures would not be `Send`, and the
    // dry run awaits this from the API's handlers.
    let mut calls = Vec::new();
    for h in hosts {
        for u in units {
            for t in &u.tables {
                let c = client.for_host(&h.address);
                let (ks, t) = (u.keyspace.clone(), t.clone());
                calls.push(async move { c.table_disk_size(&ks, &t).await });
            }
        }
    }
    futures::stream::iter(calls)
        .buffer_unordered(SIZE_PARALLELISM)
        .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_tables_are_excluded() {
        assert!(excluded_table("system", "paxos"));
        assert!(excluded_table("ks", "t$paxos"));
        assert!(excluded_table("ks", "t_scylla_cdc_log"));
        assert!(excluded_table(
            "system_distributed",
            "cdc_streams_descriptions_v2"
        ));
        assert!(excluded_table("system_distributed", "snapshot_sstables"));
        assert!(!excluded_table("system_distributed", "view_build_status"));
        assert!(!excluded_table("store", "orders"));
    }

    #[test]
    fn units_sort_system_first_and_schema_last() {
        let unit = |ks: &str| Unit {
            keyspace: ks.into(),
            tables: vec!["t".into()],
            all_tables: true,
        };
        let mut units = vec![
            unit("store"),
            unit(SYSTEM_SCHEMA),
            unit("alpha"),
            unit("system_auth"),
        ];
        sort_units(&mut units);
        let names: Vec<&str> = units.iter().map(|u| u.keyspace.as_str()).collect();
        assert_eq!(names, ["system_auth", "alpha", "store", SYSTEM_SCHEMA]);
    }
}
