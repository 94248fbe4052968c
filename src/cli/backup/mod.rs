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

use clap::{Args, Subcommand};

use super::client::{ClientError, Connection, ManagerClient, parse, segment};
use super::offline::OfflineArgs;
use super::output::Format;
use crate::manager::api::tasks::TaskInfo;
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
