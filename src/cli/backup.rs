//! `cairn backup`: backup tasks and the backups in their locations, through the manager's REST
//! API, with sctool's flags.
//!
//! | command | request | prints |
//! |---|---|---|
//! | `cairn backup -c C -L LOC [flags]` | `POST .../tasks` (type backup) | `backup/NAME` |
//! | `cairn backup -c C -L LOC --dry-run [--show-tables]` | `POST .../backups/target` | the target: DCs with nodes, locations, limits, retention, size, keyspaces |
//! | `cairn backup update -c C TASK [flags]` | `PUT .../task/backup/{id}` | `backup/NAME` |
//! | `cairn backup list -c C [-L ...]` | `GET .../backups` | a table of snapshots per task, node count and size |
//! | `cairn backup files -c C -T TAG` | `GET .../backups/files` | one line per file: `LOCATION:PATH  KEYSPACE/TABLE` |
//! | `cairn backup list\|files --offline -L LOC ...` | none: the locations are read directly ([`super::offline`]) | the same as online, tasks by ID |
//! | `cairn backup delete -c C -T TAG` | `DELETE .../backups?snapshot_tags=` | what was deleted |
//! | `cairn backup validate ...` | see [`super::validate`] | `validate_backup/NAME`, a dry run's target, or an offline report |
//! | `cairn backup delete local-snapshot -c C` | `DELETE .../backups/local_snapshots` | a table of nodes and snapshots deleted |
//!
//! Only the flags given are sent; the manager checks every value and names the field at fault.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::client::{ClientError, Connection, ManagerClient, parse, print, print_text, segment};
use super::cluster::ClusterRef;
use super::offline::{self, OfflineArgs};
use super::output::Format;
use super::tasks::{TaskSettings, create_task, update_task};
use crate::manager::api::tasks::TaskInfo;
use crate::manager::backup::target::Target;
use crate::manager::store::TaskType;
use crate::units::format_bytes;

/// Arguments of `cairn backup`: a subcommand, or the flags of a new task.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BackupArgs {
    /// What to do besides creating a task.
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// The cluster (when creating a task).
    #[arg(
        short = 'c',
        long = "cluster",
        env = "CAIRN_CLUSTER",
        value_name = "CLUSTER"
    )]
    pub cluster: Option<String>,
    /// The new task's settings.
    #[command(flatten)]
    pub flags: Box<TaskFlags>,
    /// Show what the backup would do, creating nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: list the tables of every keyspace.
    #[arg(long, requires = "dry_run")]
    pub show_tables: bool,
}

/// The subcommands of `cairn backup`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Change a backup task (only the flags given).
    Update(UpdateArgs),
    /// List the snapshots in the backup locations.
    List(ListArgs),
    /// List the files of a snapshot.
    Files(FilesArgs),
    /// Delete snapshots from the backup locations, or the nodes' local snapshots.
    Delete(DeleteArgs),
    /// Check that backups are whole (files present, sizes, content), find and delete orphaned
    /// files: a validate task, its update, or --offline.
    Validate(Box<super::validate::ValidateArgs>),
}

/// The settings of a backup task, as sctool's flags; each is sent only when given.
#[derive(Debug, Args, Default)]
pub struct TaskFlags {
    /// Backup location `[dc:]provider:bucket` (repeatable or comma-separated).
    #[arg(
        short = 'L',
        long = "location",
        value_delimiter = ',',
        value_name = "LOCATION"
    )]
    pub location: Vec<String>,
    /// Keyspace/table glob patterns, `!` to exclude (repeatable or comma-separated).
    #[arg(
        short = 'K',
        long = "keyspace",
        value_delimiter = ',',
        value_name = "GLOB"
    )]
    pub keyspace: Vec<String>,
    /// DC glob patterns (repeatable or comma-separated).
    #[arg(long = "dc", value_delimiter = ',', value_name = "GLOB")]
    pub dc: Vec<String>,
    /// Snapshots kept.
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub retention: Option<i64>,
    /// Days a snapshot is kept (0: no age limit).
    #[arg(long, allow_negative_numbers = true, value_name = "DAYS")]
    pub retention_days: Option<i64>,
    /// Per-host upload rate `[dc:]MiB/s`, 0 for unlimited (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "[DC:]N")]
    pub rate_limit: Vec<String>,
    /// Aggregate upload rate per DC `[dc:]MiB/s`, shared by its uploading hosts (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "[DC:]N")]
    pub rate_limit_total: Vec<String>,
    /// Hosts snapshotted at once per DC `[dc:]N` (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "[DC:]N")]
    pub snapshot_parallel: Vec<String>,
    /// Hosts uploading at once per DC `[dc:]N` (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "[DC:]N")]
    pub upload_parallel: Vec<String>,
    /// Files uploaded in parallel per host (-1: the agent's setting).
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub transfers: Option<i64>,
    /// Back up no schema (neither the CQL schema file nor `system_schema`); without it, the
    /// cluster needs CQL credentials (`cairn cluster update --username U --password P`).
    #[arg(long)]
    pub skip_schema: bool,
    /// Run only the purge of old snapshots.
    #[arg(long)]
    pub purge_only: bool,
    /// The schedule, name and enabled state.
    #[command(flatten)]
    pub task: TaskSettings,
}

/// Arguments of `cairn backup update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterRef,
    /// The task: `backup/NAME`, `backup/ID`, `NAME` or `ID`.
    #[arg(value_name = "TASK")]
    pub task: String,
    /// The settings to change.
    #[command(flatten)]
    pub flags: Box<TaskFlags>,
}

/// Where `backup list` and `backup files` look: a cluster and its locations, through the
/// manager or (`--offline`) straight from the locations.
#[derive(Debug, Args)]
pub struct BackupsAt {
    /// The cluster's name or ID; with --offline, optional (every cluster in the locations).
    #[arg(
        short = 'c',
        long = "cluster",
        env = "CAIRN_CLUSTER",
        value_name = "CLUSTER",
        required_unless_present = "offline"
    )]
    pub cluster: Option<String>,
    /// Locations to look in (default: those of the cluster's backup tasks, disabled ones too;
    /// required with --offline).
    #[arg(
        short = 'L',
        long = "location",
        value_delimiter = ',',
        value_name = "LOCATION"
    )]
    pub location: Vec<String>,
    /// Reading the locations without the manager.
    #[command(flatten)]
    pub offline: OfflineArgs,
}

impl BackupsAt {
    /// The cluster for the manager (clap requires it without --offline).
    fn online_cluster(&self) -> Result<&str, ClientError> {
        self.cluster.as_deref().ok_or_else(|| {
            ClientError::Usage("give the cluster with -c/--cluster or CAIRN_CLUSTER".into())
        })
    }
}

/// Arguments of `cairn backup list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The cluster and locations.
    #[command(flatten)]
    pub at: BackupsAt,
    /// Snapshots of every cluster in the locations, not only this one.
    #[arg(long)]
    pub all_clusters: bool,
    /// Only snapshots holding tables these glob patterns select.
    #[arg(
        short = 'K',
        long = "keyspace",
        value_delimiter = ',',
        value_name = "GLOB"
    )]
    pub keyspace: Vec<String>,
    /// Only snapshots taken at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub min_date: Option<String>,
    /// Only snapshots taken at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub max_date: Option<String>,
    /// Name the tables of every keyspace.
    #[arg(long)]
    pub show_tables: bool,
}

/// Arguments of `cairn backup files`.
#[derive(Debug, Args)]
pub struct FilesArgs {
    /// The cluster and locations.
    #[command(flatten)]
    pub at: BackupsAt,
    /// The snapshot tag.
    #[arg(short = 'T', long = "snapshot-tag", value_name = "TAG")]
    pub snapshot_tag: String,
    /// Only the files of tables these glob patterns select.
    #[arg(
        short = 'K',
        long = "keyspace",
        value_delimiter = ',',
        value_name = "GLOB"
    )]
    pub keyspace: Vec<String>,
    /// Show tables as `keyspace/table/version` (the version dir).
    #[arg(long)]
    pub with_version: bool,
}

/// Arguments of `cairn backup delete`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DeleteArgs {
    /// Delete the nodes' local snapshots instead.
    #[command(subcommand)]
    pub command: Option<DeleteCommand>,
    /// The cluster.
    #[arg(
        short = 'c',
        long = "cluster",
        env = "CAIRN_CLUSTER",
        value_name = "CLUSTER"
    )]
    pub cluster: Option<String>,
    /// Snapshot tags to delete (repeatable or comma-separated).
    #[arg(
        short = 'T',
        long = "snapshot-tag",
        value_delimiter = ',',
        required = true,
        value_name = "TAG"
    )]
    pub snapshot_tag: Vec<String>,
    /// Locations to delete from (default: those of the cluster's backup tasks, disabled ones too).
    #[arg(
        short = 'L',
        long = "location",
        value_delimiter = ',',
        value_name = "LOCATION"
    )]
    pub location: Vec<String>,
}

/// The subcommands of `cairn backup delete`.
#[derive(Debug, Subcommand)]
pub enum DeleteCommand {
    /// Delete the snapshots Cairn left on the nodes (`sm_*`).
    LocalSnapshot(ClusterRef),
}

/// Runs `cairn backup ...` against the manager `manager` reaches.
pub async fn run(
    args: BackupArgs,
    manager: &Connection,
    format: Format,
) -> Result<(), ClientError> {
    // --offline never calls the manager.
    match args.command {
        Some(BackupCommand::List(a)) if a.at.offline.offline => {
            return list_offline(a, format).await;
        }
        Some(BackupCommand::Files(a)) if a.at.offline.offline => {
            return files_offline(a, format).await;
        }
        Some(BackupCommand::Validate(a)) => {
            return super::validate::run(*a, manager, format).await;
        }
        _ => {}
    }
    let client = ManagerClient::new(manager)?;
    match args.command {
        Some(BackupCommand::Update(a)) => update(&client, a, format).await,
        Some(BackupCommand::List(a)) => list(&client, a, format).await,
        Some(BackupCommand::Files(a)) => files(&client, a, format).await,
        Some(BackupCommand::Delete(a)) => delete(&client, a, format).await,
        Some(BackupCommand::Validate(a)) => super::validate::run(*a, manager, format).await,
        None => {
            let cluster = args.cluster.ok_or_else(|| {
                ClientError::Usage("give the cluster with -c/--cluster or CAIRN_CLUSTER".into())
            })?;
            if args.dry_run {
                dry_run(&client, &cluster, &args.flags, args.show_tables, format).await
            } else {
                create(&client, &cluster, &args.flags, format).await
            }
        }
    }
}

impl TaskFlags {
    /// The task properties given, as JSON keys.
    fn properties(&self) -> Map<String, Value> {
        let mut p = Map::new();
        let lists = [
            ("location", &self.location),
            ("keyspace", &self.keyspace),
            ("dc", &self.dc),
            ("rate_limit", &self.rate_limit),
            ("rate_limit_total", &self.rate_limit_total),
            ("snapshot_parallel", &self.snapshot_parallel),
            ("upload_parallel", &self.upload_parallel),
        ];
        for (key, values) in lists {
            if !values.is_empty() {
                p.insert(key.into(), json!(values));
            }
        }
        for (key, value) in [
            ("retention", self.retention),
            ("retention_days", self.retention_days),
            ("transfers", self.transfers),
        ] {
            if let Some(v) = value {
                p.insert(key.into(), json!(v));
            }
        }
        if self.skip_schema {
            p.insert("skip_schema".into(), json!(true));
        }
        if self.purge_only {
            p.insert("purge_only".into(), json!(true));
        }
        p
    }

    /// The task body with the fields given; `properties` replaces the given properties when set.
    fn body(&self, properties: Option<Map<String, Value>>) -> Map<String, Value> {
        self.task.body(properties)
    }
}

/// `cairn backup -c C ...`: creates the task.
async fn create(
    client: &ManagerClient,
    cluster: &str,
    flags: &TaskFlags,
    format: Format,
) -> Result<(), ClientError> {
    let body = flags.body(Some(flags.properties()));
    create_task(client, cluster, TaskType::Backup, body, format).await
}

/// `cairn backup update -c C TASK ...`: changes the fields given, keeping the other properties.
async fn update(client: &ManagerClient, a: UpdateArgs, format: Format) -> Result<(), ClientError> {
    update_task(
        client,
        &a.cluster.cluster,
        TaskType::Backup,
        &a.task,
        a.flags.properties(),
        &a.flags.task,
        format,
    )
    .await
}

/// `cairn backup --dry-run`: prints the target of the properties given.
async fn dry_run(
    client: &ManagerClient,
    cluster: &str,
    flags: &TaskFlags,
    show_tables: bool,
    format: Format,
) -> Result<(), ClientError> {
    let path = format!("/api/v1/cluster/{}/backups/target", segment(cluster));
    // The whole task, so the manager checks the name and the schedule as creation would.
    let body = Value::Object(flags.body(Some(flags.properties())));
    let answer = client.call(Method::POST, &path, Some(&body)).await?;
    let target: Target = parse(&answer, &format!("POST {path}"))?;
    match format {
        Format::Json => print(format, &answer, &[], &[]),
        Format::Table => print_text(&target_text(&target, show_tables)),
    }
    Ok(())
}

/// A per-DC limit as people read it.
fn limit(value: Option<u64>, unit: &str, none: &str) -> String {
    match value {
        None => none.to_string(),
        Some(0) if unit == "MiB/s" => "unlimited".to_string(),
        Some(n) => format!("{n}{unit}"),
    }
}

/// The dry run's target as sctool prints it.
fn target_text(t: &Target, show_tables: bool) -> String {
    let mut out = String::from("Data Centers:\n");
    for dc in &t.dcs {
        out.push_str(&format!("  - {}: {}\n", dc.name, dc.hosts.join(", ")));
    }
    if !t.ignored_hosts.is_empty() {
        out.push_str("\nIgnored Hosts:\n");
        for h in &t.ignored_hosts {
            out.push_str(&format!("  - {} ({}): {}\n", h.address, h.dc, h.reason));
        }
    }
    out.push_str("\nKeyspaces:\n");
    for u in &t.units {
        let all = if u.all_tables { " all" } else { "" };
        let n = u.tables.len();
        let s = if n == 1 { "" } else { "s" };
        if show_tables {
            out.push_str(&format!(
                "  - {}{all} ({n} table{s}): {}\n",
                u.keyspace,
                u.tables.join(", ")
            ));
        } else {
            out.push_str(&format!("  - {}{all} ({n} table{s})\n", u.keyspace));
        }
    }
    out.push_str(&format!("\nDisk size: ~{}\n", format_bytes(t.size)));
    out.push_str("\nLocations:\n");
    for dc in &t.dcs {
        out.push_str(&format!("  - {}: {}\n", dc.name, dc.location));
    }
    out.push_str("\nBandwidth Limits:\n");
    for dc in &t.dcs {
        let mut text = format!(
            "  - {}: {} per host",
            dc.name,
            limit(dc.rate_limit, "MiB/s", "the agent's setting")
        );
        if let Some(total) = dc.rate_limit_total {
            text.push_str(&format!(", {} in total", limit(Some(total), "MiB/s", "")));
        }
        out.push_str(&text);
        out.push('\n');
    }
    out.push_str("\nSnapshot Parallel Limits:\n");
    for dc in &t.dcs {
        let n = limit(
            dc.snapshot_parallel,
            " hosts at once",
            "all hosts in parallel",
        );
        out.push_str(&format!("  - {}: {n}\n", dc.name));
    }
    out.push_str("\nUpload Parallel Limits:\n");
    for dc in &t.dcs {
        let n = limit(
            dc.upload_parallel,
            " hosts at once",
            "all hosts in parallel",
        );
        out.push_str(&format!("  - {}: {n}\n", dc.name));
    }
    let transfers = if t.transfers < 0 {
        "the agent's setting".to_string()
    } else {
        t.transfers.to_string()
    };
    out.push_str(&format!("\nTransfers per host: {transfers}\n"));
    out.push_str("\nRetention Policy:\n");
    out.push_str(&format!("  - Last {} backups\n", t.retention));
    if t.retention_days > 0 {
        out.push_str(&format!(
            "  - Backups of the last {} days\n",
            t.retention_days
        ));
    }
    if t.skip_schema {
        out.push_str("\nSchema: not backed up\n");
    }
    if t.purge_only {
        out.push_str("\nPurge only: no snapshot is taken\n");
    }
    out
}

/// A keyspace and its tables in an answer of `GET .../backups`.
#[derive(Debug, Deserialize)]
struct ListUnit {
    /// The keyspace.
    keyspace: String,
    /// Its tables.
    tables: Vec<String>,
}

/// A snapshot in an answer of `GET .../backups`.
#[derive(Debug, Deserialize)]
struct ListSnapshot {
    /// The tag.
    snapshot_tag: String,
    /// Nodes with a manifest.
    nodes: usize,
    /// Bytes.
    size: u64,
}

/// One task's backups in an answer of `GET .../backups`.
#[derive(Debug, Deserialize)]
struct ListEntry {
    /// The cluster.
    cluster_id: Uuid,
    /// The task.
    task_id: Uuid,
    /// Keyspaces and tables.
    units: Vec<ListUnit>,
    /// Snapshots, newest first.
    snapshot_info: Vec<ListSnapshot>,
}

/// The columns of `cairn backup list`.
const LIST_HEADER: [&str; 5] = ["TASK", "SNAPSHOT", "NODES", "SIZE", "KEYSPACES"];

/// `location=` parameters of `locations`.
fn location_query(locations: &[String]) -> String {
    locations
        .iter()
        .map(|l| format!("&location={}", segment(l)))
        .collect()
}

/// The locations given or, without any, those of every backup task of `cluster` (disabled ones
/// too, which the manager's default leaves out); empty when there are none, for the manager to
/// refuse with its message.
async fn locations(
    client: &ManagerClient,
    cluster: &str,
    given: &[String],
) -> Result<Vec<String>, ClientError> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let path = format!(
        "/api/v1/cluster/{}/tasks?all=true&type=backup",
        segment(cluster)
    );
    let answer = client.get(&path).await?;
    let tasks: Vec<TaskInfo> = parse(&answer, &format!("GET {path}"))?;
    let mut out: Vec<String> = tasks
        .iter()
        .filter_map(|t| t.properties.get("location")?.as_array().cloned())
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// `cairn backup list`.
async fn list(client: &ManagerClient, a: ListArgs, format: Format) -> Result<(), ClientError> {
    let cluster = a.at.online_cluster()?;
    let mut path = format!(
        "/api/v1/cluster/{}/backups?all_clusters={}",
        segment(cluster),
        a.all_clusters
    );
    path.push_str(&location_query(
        &locations(client, cluster, &a.at.location).await?,
    ));
    if !a.keyspace.is_empty() {
        path.push_str(&format!("&keyspace={}", segment(&a.keyspace.join(","))));
    }
    for (key, value) in [("min_date", &a.min_date), ("max_date", &a.max_date)] {
        if let Some(v) = value {
            path.push_str(&format!("&{key}={}", segment(v)));
        }
    }
    let answer = client.get(&path).await?;
    // Tasks are shown by name when this cluster knows them.
    let tasks_path = format!("/api/v1/cluster/{}/tasks?all=true", segment(cluster));
    let names: BTreeMap<Uuid, String> = match client.get(&tasks_path).await {
        Ok(v) => parse::<Vec<TaskInfo>>(&v, &format!("GET {tasks_path}"))?
            .into_iter()
            .map(|t| (t.id, format!("{}/{}", t.task_type, t.name)))
            .collect(),
        Err(_) => BTreeMap::new(),
    };
    print_list(
        &answer,
        &names,
        &a,
        a.all_clusters,
        format,
        &format!("GET {path}"),
    )
}

/// `cairn backup list --offline`: the same listing read from the locations; tasks by ID.
async fn list_offline(a: ListArgs, format: Format) -> Result<(), ClientError> {
    let cluster = if a.all_clusters {
        None
    } else {
        a.at.cluster.as_deref()
    };
    let query = offline::ListQuery {
        locations: &a.at.location,
        cluster,
        keyspace: &a.keyspace,
        min_date: a.min_date.as_deref(),
        max_date: a.max_date.as_deref(),
    };
    let answer = offline::list(&a.at.offline, query).await?;
    print_list(
        &answer,
        &BTreeMap::new(),
        &a,
        cluster.is_none(),
        format,
        "the listing",
    )
}

/// How wide the KEYSPACES cell of `backup list --show-tables` grows before it wraps.
const TABLES_WIDTH: usize = 72;

/// `keyspace(t1,t2,...)` as lines of at most `width` characters (a longer table name stands
/// alone), broken after commas; continuation lines are indented by two spaces.
fn wrap_tables(keyspace: &str, tables: &[String], width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = format!("{keyspace}(");
    let fresh = line.len();
    for (i, table) in tables.iter().enumerate() {
        let piece = format!("{table}{}", if i + 1 == tables.len() { ")" } else { "," });
        if line.len() > fresh && line.len() + piece.len() > width {
            lines.push(std::mem::replace(&mut line, "  ".to_string()));
        }
        line.push_str(&piece);
    }
    if tables.is_empty() {
        line.push(')');
    }
    lines.push(line);
    lines
}

/// Prints a `backup list` document: one row per snapshot, tasks by name when `names` has them
/// (prefixed with their cluster when `all_clusters`).
fn print_list(
    answer: &Value,
    names: &BTreeMap<Uuid, String>,
    a: &ListArgs,
    all_clusters: bool,
    format: Format,
    request: &str,
) -> Result<(), ClientError> {
    let entries: Vec<ListEntry> = parse(answer, request)?;
    let mut rows = Vec::new();
    for e in &entries {
        let task = names.get(&e.task_id).cloned().unwrap_or_else(|| {
            if all_clusters {
                format!("{}/{}", e.cluster_id, e.task_id)
            } else {
                e.task_id.to_string()
            }
        });
        // Counts on one line; with --show-tables a line per keyspace, wrapped, under the row.
        let keyspaces: Vec<String> = if a.show_tables {
            e.units
                .iter()
                .flat_map(|u| wrap_tables(&u.keyspace, &u.tables, TABLES_WIDTH))
                .collect()
        } else {
            vec![
                e.units
                    .iter()
                    .map(|u| format!("{}({})", u.keyspace, u.tables.len()))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        };
        for s in &e.snapshot_info {
            let mut lines = keyspaces.iter();
            rows.push(vec![
                task.clone(),
                s.snapshot_tag.clone(),
                s.nodes.to_string(),
                format_bytes(s.size),
                lines.next().cloned().unwrap_or_default(),
            ]);
            for line in lines {
                rows.push(vec![
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    line.clone(),
                ]);
            }
        }
    }
    print(format, answer, &LIST_HEADER, &rows);
    Ok(())
}

/// A table's files in an answer of `GET .../backups/files`.
#[derive(Debug, Deserialize)]
struct FilesTable {
    /// The keyspace.
    keyspace: String,
    /// The table.
    table: String,
    /// The table version.
    version: String,
    /// File names.
    files: Vec<String>,
    /// The version dir, relative to the location's root.
    path: Option<String>,
}

/// One node's manifest in an answer of `GET .../backups/files`.
#[derive(Debug, Deserialize)]
struct FilesNode {
    /// The location.
    location: String,
    /// The schema file (empty when not backed up).
    schema: String,
    /// The tables.
    files: Vec<FilesTable>,
}

/// `LOCATION:PATH` of a file: the location's provider and bucket, without its DC prefix.
fn file_url(location: &str, path: &str) -> String {
    let bare = match location.split(':').count() {
        3 => location.split_once(':').map_or(location, |(_, rest)| rest),
        _ => location,
    };
    format!("{bare}/{}", path.trim_start_matches('/'))
}

/// The lines of `cairn backup files`: one per file, `LOCATION:PATH  KEYSPACE/TABLE`; a schema
/// file that every node's manifest names is listed once.
fn files_text(nodes: &[FilesNode], with_version: bool) -> String {
    let mut out = String::new();
    let mut schemas = std::collections::BTreeSet::new();
    for n in nodes {
        let schema = file_url(&n.location, &n.schema);
        if !n.schema.is_empty() && schemas.insert(schema.clone()) {
            out.push_str(&format!("{schema}  schema\n"));
        }
        for t in &n.files {
            let dir = t.path.clone().unwrap_or_default();
            let table = if with_version {
                format!("{}/{}/{}", t.keyspace, t.table, t.version)
            } else {
                format!("{}/{}", t.keyspace, t.table)
            };
            for f in &t.files {
                let url = file_url(&n.location, &format!("{dir}/{f}"));
                out.push_str(&format!("{url}  {table}\n"));
            }
        }
    }
    out
}

/// `cairn backup files`.
async fn files(client: &ManagerClient, a: FilesArgs, format: Format) -> Result<(), ClientError> {
    let cluster = a.at.online_cluster()?;
    let mut path = format!(
        "/api/v1/cluster/{}/backups/files?snapshot_tag={}",
        segment(cluster),
        segment(&a.snapshot_tag)
    );
    path.push_str(&location_query(
        &locations(client, cluster, &a.at.location).await?,
    ));
    if !a.keyspace.is_empty() {
        path.push_str(&format!("&keyspace={}", segment(&a.keyspace.join(","))));
    }
    let answer = client.get(&path).await?;
    print_files(&answer, a.with_version, format, &format!("GET {path}"))
}

/// `cairn backup files --offline`: the same list read from the locations.
async fn files_offline(a: FilesArgs, format: Format) -> Result<(), ClientError> {
    let answer = offline::files(
        &a.at.offline,
        &a.at.location,
        a.at.cluster.as_deref(),
        &a.snapshot_tag,
        &a.keyspace,
    )
    .await?;
    print_files(&answer, a.with_version, format, "the file list")
}

/// Prints a `backup files` document: one line per file, or the document with `-o json`.
fn print_files(
    answer: &Value,
    with_version: bool,
    format: Format,
    request: &str,
) -> Result<(), ClientError> {
    let nodes: Vec<FilesNode> = parse(answer, request)?;
    match format {
        Format::Json => print(format, answer, &[], &[]),
        Format::Table => print_text(&files_text(&nodes, with_version)),
    }
    Ok(())
}

/// The answer of `DELETE .../backups`.
#[derive(Debug, Deserialize)]
struct Deleted {
    /// Node manifests deleted.
    deleted_manifests: u64,
    /// Data files deleted.
    deleted_files: u64,
}

/// One node in the answer of `DELETE .../backups/local_snapshots`.
#[derive(Debug, Deserialize)]
struct HostDeleted {
    /// The node's address.
    host: String,
    /// Its DC.
    dc: String,
    /// Tags deleted.
    tags: Vec<String>,
    /// Why it failed, if it did.
    #[serde(default)]
    error: Option<String>,
}

/// The answer of `DELETE .../backups/local_snapshots`.
#[derive(Debug, Deserialize)]
struct LocalDeleted {
    /// Every node.
    hosts: Vec<HostDeleted>,
}

/// `cairn backup delete`.
async fn delete(client: &ManagerClient, a: DeleteArgs, format: Format) -> Result<(), ClientError> {
    if let Some(DeleteCommand::LocalSnapshot(c)) = a.command {
        let path = format!(
            "/api/v1/cluster/{}/backups/local_snapshots",
            segment(&c.cluster)
        );
        let answer = client.call(Method::DELETE, &path, None).await?;
        let report: LocalDeleted = parse(&answer, &format!("DELETE {path}"))?;
        let rows: Vec<_> = report
            .hosts
            .iter()
            .map(|h| {
                let tags = if h.tags.is_empty() {
                    "-".to_string()
                } else {
                    h.tags.join(",")
                };
                vec![
                    h.host.clone(),
                    h.dc.clone(),
                    tags,
                    h.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print(format, &answer, &["HOST", "DC", "DELETED", "ERROR"], &rows);
        return Ok(());
    }
    let cluster = a.cluster.ok_or_else(|| {
        ClientError::Usage("give the cluster with -c/--cluster or CAIRN_CLUSTER".into())
    })?;
    let mut path = format!(
        "/api/v1/cluster/{}/backups?snapshot_tags={}",
        segment(&cluster),
        segment(&a.snapshot_tag.join(","))
    );
    path.push_str(&location_query(
        &locations(client, &cluster, &a.location).await?,
    ));
    let answer = client.call(Method::DELETE, &path, None).await?;
    let report: Deleted = parse(&answer, &format!("DELETE {path}"))?;
    match format {
        Format::Json => print(format, &answer, &[], &[]),
        Format::Table => print_text(&format!(
            "deleted {} ({} node manifests, {} files)\n",
            a.snapshot_tag.join(", "),
            report.deleted_manifests,
            report.deleted_files
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse_backup(args: &[&str]) -> BackupArgs {
        let cli = Cli::try_parse_from([&["cairn", "backup"], args].concat()).unwrap();
        match cli.command {
            Command::Backup(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_flags_given_are_sent() {
        let b = parse_backup(&[
            "-c",
            "prod",
            "-L",
            "s3:a,dc2:s3:b",
            "-K",
            "ks1",
            "-K",
            "ks2.*",
            "--retention",
            "5",
            "--rate-limit",
            "dc1:10",
            "--cron",
            "0 2 * * *",
            "--window",
            "*-22:00,*-06:00",
            "--enabled",
            "false",
            "--skip-schema",
        ]);
        assert_eq!(b.cluster.as_deref(), Some("prod"));
        let body = b.flags.body(Some(b.flags.properties()));
        assert_eq!(
            Value::Object(body),
            json!({
                "enabled": false,
                "schedule": {"cron": "0 2 * * *", "window": ["*-22:00", "*-06:00"]},
                "properties": {
                    "location": ["s3:a", "dc2:s3:b"],
                    "keyspace": ["ks1", "ks2.*"],
                    "rate_limit": ["dc1:10"],
                    "retention": 5,
                    "skip_schema": true,
                },
            })
        );
        let b = parse_backup(&["-c", "p", "--retention", "-1", "--enabled"]);
        assert_eq!(b.flags.retention, Some(-1));
        assert_eq!(b.flags.task.enabled, Some(true));
        assert!(TaskFlags::default().body(None).is_empty());
    }

    #[test]
    fn delete_takes_tags_or_the_local_snapshot_subcommand() {
        let b = parse_backup(&["delete", "-c", "p", "-T", "sm_1,sm_2"]);
        let Some(BackupCommand::Delete(d)) = b.command else {
            panic!()
        };
        assert_eq!(d.snapshot_tag, ["sm_1", "sm_2"]);
        assert!(d.command.is_none());
        let b = parse_backup(&["delete", "local-snapshot", "-c", "p"]);
        let Some(BackupCommand::Delete(d)) = b.command else {
            panic!()
        };
        assert!(matches!(d.command, Some(DeleteCommand::LocalSnapshot(c)) if c.cluster == "p"));
        assert!(Cli::try_parse_from(["cairn", "backup", "delete", "-c", "p"]).is_err());
    }

    #[test]
    fn tables_wrap_after_commas_with_indented_continuations() {
        let tables: Vec<String> = ["aggregates", "columns", "computed_columns", "keyspaces"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            wrap_tables("system_schema", &tables, 40),
            [
                "system_schema(aggregates,columns,",
                "  computed_columns,keyspaces)"
            ]
        );
        assert_eq!(wrap_tables("ks", &tables[..1], 5), ["ks(aggregates)"]);
        assert_eq!(wrap_tables("ks", &[], 40), ["ks()"]);
        for line in wrap_tables("system_schema", &tables, 40) {
            assert!(line.len() <= 40, "{line}");
        }
    }

    #[test]
    fn file_lines_name_the_location_path_and_table() {
        let node = |location: &str, file: &str| FilesNode {
            location: location.into(),
            schema: "backup/schema/cluster/c/task_t_tag_sm_1_schema.tar.gz".into(),
            files: vec![FilesTable {
                keyspace: "ks".into(),
                table: "t".into(),
                version: "v1".into(),
                files: vec![file.into()],
                path: Some("backup/sst/x/ks/t/v1".into()),
            }],
        };
        // Two nodes of two DCs in one bucket name the same schema file: it is listed once.
        let nodes = vec![
            node("dc1:s3:bkt", "a-Data.db"),
            node("dc2:s3:bkt", "b-Data.db"),
        ];
        assert_eq!(
            files_text(&nodes, false),
            "s3:bkt/backup/schema/cluster/c/task_t_tag_sm_1_schema.tar.gz  schema\n\
             s3:bkt/backup/sst/x/ks/t/v1/a-Data.db  ks/t\n\
             s3:bkt/backup/sst/x/ks/t/v1/b-Data.db  ks/t\n"
        );
        assert!(files_text(&nodes, true).ends_with("b-Data.db  ks/t/v1\n"));
    }
}
