//! Task properties, their validation, and the target of a backup run (spec 1.2, 4.1–4.3):
//! which DCs, nodes, keyspaces and tables a run backs up, to which locations, at which rates,
//! and how large it is. The target is also what a dry run returns.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::manager::agent_client::{
    AgentClient, AgentError, KeyspaceKind, ReplicationKind, TokenRange,
};
use crate::manager::discovery::ClusterView;
use crate::spec::MAX_TRANSFERS;
use crate::spec::dclimit::DcLimits;
use crate::spec::filter::{DcFilter, FilterError, KeyspaceFilter, Unit};
use crate::spec::location::Location;

/// The schema keyspace, backed up last and whole unless `skip_schema` is set.
const SYSTEM_SCHEMA: &str = "system_schema";
/// The per-host rate limit when none is given, MiB/s.
const DEFAULT_RATE_LIMIT: &str = "100";
/// Retention when neither retention field is given.
const DEFAULT_RETENTION: i64 = 3;
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
/// Most snapshots a task keeps.
pub const MAX_RETENTION: i64 = 100_000;
/// Most days a task keeps a snapshot (a hundred years).
pub const MAX_RETENTION_DAYS: i64 = 36_500;
/// Highest upload rate, MiB/s (per host or per DC): 1 TiB/s.
pub const MAX_RATE_MIB: u64 = 1 << 20;
/// Most hosts snapshotted or uploading at once per DC.
pub const MAX_PARALLEL: u64 = 100_000;
/// Most size queries in flight during the estimate.
const SIZE_PARALLELISM: usize = 16;

/// Retention of one task, as the run-time `retention_map` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Snapshots kept.
    pub retention: i64,
    /// Days kept (0: no age limit).
    pub retention_days: i64,
}

/// The properties of a backup task, with upstream's JSON keys and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskProperties {
    /// Backup locations `[dc:]provider:bucket`; required.
    pub location: Vec<String>,
    /// Keyspace/table glob filters; empty means every table.
    pub keyspace: Vec<String>,
    /// DC glob filters; empty means every DC.
    pub dc: Vec<String>,
    /// Snapshots kept per task; 3 when neither retention field is given.
    pub retention: Option<i64>,
    /// Days a snapshot is kept (0: no age limit).
    pub retention_days: Option<i64>,
    /// Run-time retention of every backup task of the cluster (injected, not user-set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_map: Option<BTreeMap<String, Retention>>,
    /// Per-host upload rate `[dc:]MiB/s` (0: unlimited); `["100"]` when absent.
    pub rate_limit: Option<Vec<String>>,
    /// Aggregate upload rate per DC `[dc:]MiB/s`, divided among the hosts uploading (Cairn's).
    pub rate_limit_total: Vec<String>,
    /// Files in parallel per host: -1 for the agent's setting, or at least 1.
    pub transfers: i64,
    /// Hosts snapshotted at once per DC `[dc:]N`; empty means all.
    pub snapshot_parallel: Vec<String>,
    /// Hosts uploading at once per DC `[dc:]N`; empty means all.
    pub upload_parallel: Vec<String>,
    /// Whether to resume the previous run.
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Run only the purge.
    pub purge_only: bool,
    /// Back up no schema.
    pub skip_schema: bool,
    /// Upload engine: `rclone` or `auto` (both the agent's jobs here; `native` is unsupported).
    pub method: String,
    /// Retention lock mode; only `disabled` is supported.
    pub retention_lock_mode: String,
    /// Whether to override a retention lock.
    pub override_retention_lock: bool,
}

impl Default for TaskProperties {
    fn default() -> Self {
        TaskProperties {
            location: Vec::new(),
            keyspace: Vec::new(),
            dc: Vec::new(),
            retention: None,
            retention_days: None,
            retention_map: None,
            rate_limit: None,
            rate_limit_total: Vec::new(),
            transfers: -1,
            snapshot_parallel: Vec::new(),
            upload_parallel: Vec::new(),
            continue_: true,
            purge_only: false,
            skip_schema: false,
            method: "rclone".into(),
            retention_lock_mode: "disabled".into(),
            override_retention_lock: false,
        }
    }
}

/// One property that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyProblem {
    /// The JSON key, with an index for list items (e.g. `location[1]`).
    pub field: String,
    /// Why the value is refused.
    pub reason: String,
}

/// Task properties that cannot be used; every problem found is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid backup task properties: {} (fix the properties; a retry will not help)",
    .problems.iter().map(|p| format!("{}: {}", p.field, p.reason)).collect::<Vec<_>>().join("; ")
)]
pub struct PropertiesError {
    /// The problems, in field order.
    pub problems: Vec<PropertyProblem>,
}

impl PropertiesError {
    /// The problem of `field`, if there is one.
    pub fn problem(&self, field: &str) -> Option<&PropertyProblem> {
        self.problems.iter().find(|p| p.field == field)
    }
}

/// Properties after validation against the cluster's DCs.
#[derive(Debug, Clone)]
pub struct CheckedProperties {
    /// Parsed locations.
    pub location: Vec<Location>,
    /// The keyspace filter.
    pub keyspace: KeyspaceFilter,
    /// The DCs the run backs up, sorted.
    pub dcs: Vec<String>,
    /// Snapshots kept.
    pub retention: i64,
    /// Days kept.
    pub retention_days: i64,
    /// Per-host rates.
    pub rate_limit: DcLimits,
    /// Aggregate rates per DC.
    pub rate_limit_total: DcLimits,
    /// Hosts snapshotted at once.
    pub snapshot_parallel: DcLimits,
    /// Hosts uploading at once.
    pub upload_parallel: DcLimits,
}

impl TaskProperties {
    /// Parses properties JSON over the defaults; a malformed document or an unknown key is
    /// reported as a problem of the whole document.
    pub fn from_json(json: &str) -> Result<TaskProperties, PropertiesError> {
        serde_json::from_str(json).map_err(|e| PropertiesError {
            problems: vec![PropertyProblem {
                field: "properties".into(),
                reason: e.to_string(),
            }],
        })
    }

    /// Checks every rule of spec 4.3 against a cluster with DCs `cluster_dcs`, and applies the
    /// defaults; every problem is reported with its field.
    pub fn validate(&self, cluster_dcs: &[String]) -> Result<CheckedProperties, PropertiesError> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, reason: String| {
            problems.push(PropertyProblem {
                field: field.to_string(),
                reason,
            })
        };
        let known = if cluster_dcs.is_empty() {
            "none".to_string()
        } else {
            cluster_dcs.join(", ")
        };
        let check_dc = |dc: &str| -> Option<String> {
            (!cluster_dcs.iter().any(|k| k == dc))
                .then(|| format!("unknown DC {dc:?} (the cluster has DCs: {known})"))
        };

        let mut location = Vec::new();
        if self.location.is_empty() {
            problem(
                "location",
                "required: give at least one [dc:]provider:bucket, e.g. s3:my-bucket".into(),
            );
        }
        for (i, l) in self.location.iter().enumerate() {
            let field = format!("location[{i}]");
            match l.parse::<Location>() {
                Ok(loc) => {
                    if let Err(e) = loc.check_bucket_name() {
                        problem(&field, e.to_string());
                    } else if let Some(reason) = loc.dc.as_deref().and_then(check_dc) {
                        problem(&field, reason);
                    } else if location.iter().any(|o: &Location| o.dc == loc.dc) {
                        problem(
                            &field,
                            match &loc.dc {
                                Some(dc) => {
                                    format!("DC {dc:?} has two locations (at most one each)")
                                }
                                None => "two default locations without a DC (at most one)".into(),
                            },
                        );
                    }
                    location.push(loc);
                }
                Err(e) => problem(&field, e.to_string()),
            }
        }

        let keyspace = KeyspaceFilter::new(&self.keyspace)
            .map_err(|e| problem("keyspace", e.to_string()))
            .ok();
        let dcs = match DcFilter::new(&self.dc) {
            Ok(f) => f
                .apply(cluster_dcs)
                .map_err(|e| problem("dc", e.to_string()))
                .ok(),
            Err(e) => {
                problem("dc", e.to_string());
                None
            }
        };

        let (retention, retention_days) = match (self.retention, self.retention_days) {
            (None, None) => (DEFAULT_RETENTION, 0),
            (r, d) => (r.unwrap_or(0), d.unwrap_or(0)),
        };
        for (field, v, max) in [
            ("retention", retention, MAX_RETENTION),
            ("retention_days", retention_days, MAX_RETENTION_DAYS),
        ] {
            if v < 0 {
                problem(field, format!("{v} is negative (expected 0 or more)"));
            } else if v > max {
                problem(field, format!("{v} is more than {max}"));
            }
        }
        let max_transfers = i64::try_from(MAX_TRANSFERS).unwrap_or(i64::MAX);
        if self.transfers == 0 || self.transfers < -1 || self.transfers > max_transfers {
            problem(
                "transfers",
                format!(
                    "{} is not allowed (expected -1 for the agent's setting, or 1 to {MAX_TRANSFERS}, the agent's limit)",
                    self.transfers
                ),
            );
        }
        match self.method.as_str() {
            "rclone" | "auto" => {}
            "native" => problem(
                "method",
                "native (Scylla's own upload) is not supported by Cairn; use rclone or auto".into(),
            ),
            m => problem(
                "method",
                format!("unknown method {m:?} (expected rclone, auto or native)"),
            ),
        }
        match self.retention_lock_mode.as_str() {
            "disabled" => {
                if self.override_retention_lock {
                    problem(
                        "override_retention_lock",
                        "only meaningful with a retention lock, and retention_lock_mode is disabled"
                            .into(),
                    );
                }
            }
            m @ ("unlocked" | "locked" | "event-based-hold") => problem(
                "retention_lock_mode",
                format!("{m} is not supported by Cairn (only disabled)"),
            ),
            m => problem(
                "retention_lock_mode",
                format!(
                    "unknown mode {m:?} (expected disabled, unlocked, locked or event-based-hold)"
                ),
            ),
        }

        let rate_default = vec![DEFAULT_RATE_LIMIT.to_string()];
        let mut limits = |field: &str, items: &[String], max: u64, unit: &str| -> DcLimits {
            let parsed = DcLimits::parse(items)
                .map_err(|e| problem(field, e.to_string()))
                .unwrap_or_default();
            if let Some(reason) = parsed.dcs().into_iter().find_map(check_dc) {
                problem(field, reason);
            } else if let Some(l) = parsed.as_slice().iter().find(|l| l.limit > max) {
                problem(field, format!("{l}: {} is more than {max}{unit}", l.limit));
            }
            parsed
        };
        let rate_limit = limits(
            "rate_limit",
            self.rate_limit.as_deref().unwrap_or(&rate_default),
            MAX_RATE_MIB,
            " MiB/s",
        );
        let rate_limit_total = limits(
            "rate_limit_total",
            &self.rate_limit_total,
            MAX_RATE_MIB,
            " MiB/s",
        );
        let snapshot_parallel = limits(
            "snapshot_parallel",
            &self.snapshot_parallel,
            MAX_PARALLEL,
            " hosts",
        );
        let upload_parallel = limits(
            "upload_parallel",
            &self.upload_parallel,
            MAX_PARALLEL,
            " hosts",
        );

        if let Some(dcs) = &dcs {
            let default = location.iter().any(|l| l.dc.is_none());
            let uncovered: Vec<&str> = dcs
                .iter()
                .filter(|dc| !default && !location.iter().any(|l| l.dc.as_ref() == Some(*dc)))
                .map(String::as_str)
                .collect();
            if !uncovered.is_empty() && !location.is_empty() {
                problem(
                    "location",
                    format!(
                        "no location for DC {} (give dc:provider:bucket for it, or a default location without a DC)",
                        uncovered.join(", ")
                    ),
                );
            }
        }

        match (keyspace, dcs) {
            (Some(keyspace), Some(dcs)) if problems.is_empty() => Ok(CheckedProperties {
                location,
                keyspace,
                dcs,
                retention,
                retention_days,
                rate_limit,
                rate_limit_total,
                snapshot_parallel,
                upload_parallel,
            }),
            _ => Err(PropertiesError { problems }),
        }
    }
}

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
    let tablets: BTreeSet<String> = client
        .keyspaces(KeyspaceKind::All, ReplicationKind::Tablets)
        .await?
        .into_iter()
        .collect();
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

    fn props(json: &str) -> TaskProperties {
        TaskProperties::from_json(json).unwrap()
    }

    fn dcs() -> Vec<String> {
        vec!["dc1".into(), "dc2".into()]
    }

    fn problems(p: &TaskProperties) -> PropertiesError {
        p.validate(&dcs()).unwrap_err()
    }

    #[test]
    fn defaults_follow_upstream() {
        let p = props(r#"{"location":["s3:bkt"]}"#);
        assert_eq!(p.transfers, -1);
        assert!(p.continue_);
        assert_eq!(p.method, "rclone");
        let c = p.validate(&dcs()).unwrap();
        assert_eq!((c.retention, c.retention_days), (3, 0));
        assert_eq!(c.rate_limit.for_dc("dc1"), Some(100));
        assert_eq!(c.dcs, dcs());
        let c = props(r#"{"location":["s3:bkt"],"retention_days":7}"#)
            .validate(&dcs())
            .unwrap();
        assert_eq!((c.retention, c.retention_days), (0, 7));
    }

    #[test]
    fn every_problem_names_its_field() {
        let e = problems(&props(
            r#"{"location":["s3:Bad"],"retention":-1,"transfers":0,"method":"native",
                "rate_limit":["dc9:10"],"keyspace":["ks.[a"],"retention_lock_mode":"locked"}"#,
        ));
        for field in [
            "location[0]",
            "retention",
            "transfers",
            "method",
            "rate_limit",
            "keyspace",
            "retention_lock_mode",
        ] {
            assert!(e.problem(field).is_some(), "{field}: {e}");
        }
        assert!(e.problem("rate_limit").unwrap().reason.contains("dc9"));
        assert!(
            e.problem("method")
                .unwrap()
                .reason
                .contains("not supported")
        );
        let missing = problems(&TaskProperties::default());
        assert!(
            missing
                .problem("location")
                .unwrap()
                .reason
                .contains("required")
        );
    }

    #[test]
    fn each_selected_dc_needs_a_location() {
        let e = problems(&props(r#"{"location":["dc1:s3:bkt"]}"#));
        assert!(e.problem("location").unwrap().reason.contains("dc2"), "{e}");
        props(r#"{"location":["dc1:s3:bkt"],"dc":["dc1"]}"#)
            .validate(&dcs())
            .unwrap();
        let e = problems(&props(r#"{"location":["s3:bkt"],"dc":["dc7"]}"#));
        assert!(e.problem("dc").is_some(), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = TaskProperties::from_json(r#"{"locaton":["s3:b"]}"#).unwrap_err();
        assert!(e.to_string().contains("locaton"), "{e}");
    }

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
