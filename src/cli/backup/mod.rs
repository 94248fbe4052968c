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
//!
//! | module | owns |
//! |---|---|
//! | [`task`] | creating a backup task, `--dry-run` and `update`: sctool's flags as task properties, the target as text |
//! | [`list`] | `backup list`, online and `--offline`: one row per snapshot |
//! | [`files`] | `backup files`, online and `--offline`: one line per file |
//! | [`delete`] | `backup delete` of snapshots and `delete local-snapshot` |

pub mod delete;
pub mod files;
pub mod list;
pub mod task;

use std::io::Write as _;

use clap::{Args, Subcommand};
use uuid::Uuid;

use super::client::{ClientError, Connection, ManagerClient, parse, segment};
use super::offline::OfflineArgs;
use super::output::Format;
use crate::manager::api::tasks::TaskInfo;
use crate::manager::location::listing::SkippedManifest;
pub use delete::{DeleteArgs, DeleteCommand};
pub use files::FilesArgs;
pub use list::ListArgs;
pub use task::{TaskFlags, UpdateArgs};

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
    /// Backups of every cluster in the locations, not only this one.
    #[arg(long, conflicts_with = "query_cluster_id")]
    pub all_clusters: bool,
    /// Backups of this other cluster (its ID) in the locations, read through -c's agents (with
    /// --offline, the same as -c ID).
    #[arg(long, value_name = "ID")]
    pub query_cluster_id: Option<Uuid>,
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

    /// Whether backups of clusters other than -c's may be shown.
    fn other_clusters(&self) -> bool {
        self.all_clusters || self.query_cluster_id.is_some()
    }

    /// The query parameters choosing whose backups the manager reads.
    fn cluster_query(&self) -> String {
        match (self.all_clusters, self.query_cluster_id) {
            (true, _) => "&all_clusters=true".to_string(),
            (false, Some(id)) => format!("&query_cluster_id={id}"),
            (false, None) => String::new(),
        }
    }

    /// The cluster whose backups `--offline` reads (an ID or a name); every cluster's when
    /// `None`.
    fn offline_cluster(&self) -> Option<String> {
        match (self.all_clusters, self.query_cluster_id) {
            (true, _) => None,
            (false, Some(id)) => Some(id.to_string()),
            (false, None) => self.cluster.clone(),
        }
    }
}

/// Names each manifest a listing passed over on stderr (location, path, reason); a partial
/// failure (exit status 7) when there is any.
fn report_skipped(skipped: &[SkippedManifest]) -> Result<(), ClientError> {
    if skipped.is_empty() {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    for s in skipped {
        let _ = writeln!(
            err,
            "skipped manifest {} in {}: {}",
            s.path, s.location, s.reason
        );
    }
    let n = skipped.len();
    let (manifests, was) = if n == 1 {
        ("manifest", "was")
    } else {
        ("manifests", "were")
    };
    Err(ClientError::Partial(format!(
        "{n} {manifests} could not be read and {was} skipped (named above); everything else is listed"
    )))
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
            return list::list_offline(a, format).await;
        }
        Some(BackupCommand::Files(a)) if a.at.offline.offline => {
            return files::files_offline(a, format).await;
        }
        Some(BackupCommand::Validate(a)) => {
            return super::validate::run(*a, manager, format).await;
        }
        _ => {}
    }
    let client = ManagerClient::new(manager)?;
    match args.command {
        Some(BackupCommand::Update(a)) => task::update(&client, a, format).await,
        Some(BackupCommand::List(a)) => list::list(&client, a, format).await,
        Some(BackupCommand::Files(a)) => files::files(&client, a, format).await,
        Some(BackupCommand::Delete(a)) => delete::delete(&client, a, format).await,
        Some(BackupCommand::Validate(a)) => super::validate::run(*a, manager, format).await,
        None => {
            let cluster = args.cluster.ok_or_else(|| {
                ClientError::Usage("give the cluster with -c/--cluster or CAIRN_CLUSTER".into())
            })?;
            if args.dry_run {
                task::dry_run(&client, &cluster, &args.flags, args.show_tables, format).await
            } else {
                task::create(&client, &cluster, &args.flags, format).await
            }
        }
    }
}

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

/// `cairn backup ARGS` parsed, for the subcommands' unit tests.
#[cfg(test)]
pub(crate) fn parse_backup(args: &[&str]) -> BackupArgs {
    use clap::Parser;
    let cli = crate::cli::Cli::try_parse_from([&["cairn", "backup"], args].concat()).unwrap();
    match cli.command {
        crate::cli::Command::Backup(b) => b,
        other => panic!("{other:?}"),
    }
}
