//! `cairn restore`: restore tasks through the manager (create, `--dry-run`, `update`) and, with
//! no manager at all, `restore download --offline` of one node's SSTables.
//!
//! | command | request | prints |
//! |---|---|---|
//! | `cairn restore -c C -L LOC -T TAG (--restore-tables\|--restore-schema) [flags]` | `POST .../tasks` (type restore) | `restore/NAME` |
//! | `cairn restore ... --dry-run [--show-tables]` | `POST .../tasks/restore/target` | what would be restored, the hosts' room, missing objects and tables, problems ([`dry_run`]); exit status 1 when there are problems |
//! | `cairn restore update -c C TASK [flags]` | `PUT .../task/restore/{id}` | `restore/NAME` |
//! | `cairn restore 1-1-restore -c C -L LOC -T TAG --source-cluster-id ID --nodes-mapping FILE [--dry-run]` | as a restore (`nodes_mapping`, `source_cluster_id`) | `restore/NAME`, or the dry run |
//!
//! Only the flags given are sent; the manager checks every value and names the field at fault
//! (also the fields an update may not change: location, keyspace, snapshot_tag, the restore type,
//! dc_mapping).
//!
//! | module | owns |
//! |---|---|
//! | [`download`] | `cairn restore download --offline`: one node's SSTables of a snapshot into per-table directories ready for `nodetool refresh` |
//! | [`dry_run`] | the dry run's report as tables |
//! | [`one_to_one`] | `cairn restore 1-1-restore`: a restore into a cluster mirroring the backed-up one, node to node, without streaming |
//! | [`progress`] | a restore run's progress as `cairn progress` shows it, and its `--watch` lines and bars |

pub mod download;
pub mod dry_run;
pub mod one_to_one;
pub mod progress;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::{ClientError, Connection, ManagerClient};
use super::cluster::ClusterRef;
use super::output::Format;
use super::tasks::{TaskSettings, create_task, update_task};
use crate::manager::store::TaskType;

/// `cairn restore ...`: a subcommand, or the flags of a new restore task.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RestoreArgs {
    /// A subcommand; none creates a restore task.
    #[command(subcommand)]
    pub command: Option<RestoreCommand>,
    /// The cluster restored into (when creating a task).
    #[arg(
        short = 'c',
        long = "cluster",
        env = "CAIRN_CLUSTER",
        value_name = "CLUSTER"
    )]
    pub cluster: Option<String>,
    /// The new task's settings.
    #[command(flatten)]
    pub flags: Box<RestoreFlags>,
    /// Check what the restore would do and whether it would succeed, creating nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: list the tables of every keyspace.
    #[arg(long, requires = "dry_run")]
    pub show_tables: bool,
}

/// The subcommands of `cairn restore`.
#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// Change a restore task (only the flags given; location, keyspace, snapshot tag, type and
    /// DC mapping cannot change).
    Update(UpdateArgs),
    /// Download one node's SSTables of a snapshot into per-table directories, without a manager.
    Download(download::DownloadArgs),
    /// Restore tables into a cluster that mirrors the backed-up one (DCs, racks, nodes and
    /// tokens), each node loading its mapped node's SSTables without streaming.
    #[command(name = "1-1-restore")]
    OneToOne(Box<one_to_one::OneToOneArgs>),
}

/// Arguments of `cairn restore update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterRef,
    /// The task: `restore/NAME`, `restore/ID`, `NAME` or `ID`.
    #[arg(value_name = "TASK")]
    pub task: String,
    /// The settings to change.
    #[command(flatten)]
    pub flags: Box<RestoreFlags>,
}

/// The settings of a restore task, as sctool's flags; each is sent only when given.
#[derive(Debug, Args, Default)]
pub struct RestoreFlags {
    /// Location `[dc:]provider:bucket` to restore from (repeatable or comma-separated).
    #[arg(
        short = 'L',
        long = "location",
        value_delimiter = ',',
        value_name = "LOCATION"
    )]
    pub location: Vec<String>,
    /// The snapshot to restore (`sm_YYYYMMDDhhmmssUTC`; `cairn backup list` shows them).
    #[arg(short = 'T', long = "snapshot-tag", value_name = "TAG")]
    pub snapshot_tag: Option<String>,
    /// Restore the tables' data (the schema must be there: restore it first).
    #[arg(long, conflicts_with = "restore_schema")]
    pub restore_tables: bool,
    /// Restore the schema (the keyspaces and tables, without data).
    #[arg(long)]
    pub restore_schema: bool,
    /// Keyspace/table glob patterns, `!` to exclude (repeatable or comma-separated).
    #[arg(
        short = 'K',
        long = "keyspace",
        value_delimiter = ',',
        value_name = "GLOB"
    )]
    pub keyspace: Vec<String>,
    /// SSTables per shard in a batch (0: at most 5% of a node's expected share).
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub batch_size: Option<i64>,
    /// Hosts restoring at once (0: all).
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub parallel: Option<i64>,
    /// Files downloaded in parallel per host (-1: the agent's setting, 0: twice the shards).
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub transfers: Option<i64>,
    /// Download rate per host `[dc:]MiB/s`, 0 for unlimited (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "[DC:]N")]
    pub rate_limit: Vec<String>,
    /// Keep autocompaction on for the restored tables while their data is loaded.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub allow_compaction: Option<bool>,
    /// Accepted for compatibility with sctool (the agent pins no CPU).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub unpin_agent_cpu: Option<bool>,
    /// Backed-up DC → DC of this cluster, `src=dst` (repeatable or comma-separated); DCs not
    /// named are not restored. Applies to the schema's replication too.
    #[arg(long, value_delimiter = ',', value_name = "SRC=DST")]
    pub dc_mapping: Vec<String>,
    /// Download method: rclone or auto (native is not supported).
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,
    /// The schedule, name and enabled state.
    #[command(flatten)]
    pub task: TaskSettings,
}

impl RestoreFlags {
    /// The task properties given, as JSON keys; a malformed `--dc-mapping` item is refused
    /// here, naming it.
    pub fn properties(&self) -> Result<Map<String, Value>, ClientError> {
        let mut p = Map::new();
        for (key, values) in [
            ("location", &self.location),
            ("keyspace", &self.keyspace),
            ("rate_limit", &self.rate_limit),
        ] {
            if !values.is_empty() {
                p.insert(key.into(), json!(values));
            }
        }
        if let Some(tag) = &self.snapshot_tag {
            p.insert("snapshot_tag".into(), json!(tag));
        }
        if self.restore_tables {
            p.insert("restore_tables".into(), json!(true));
        }
        if self.restore_schema {
            p.insert("restore_schema".into(), json!(true));
        }
        for (key, value) in [
            ("batch_size", self.batch_size),
            ("parallel", self.parallel),
            ("transfers", self.transfers),
        ] {
            if let Some(v) = value {
                p.insert(key.into(), json!(v));
            }
        }
        for (key, value) in [
            ("allow_compaction", self.allow_compaction),
            ("unpin_agent_cpu", self.unpin_agent_cpu),
        ] {
            if let Some(v) = value {
                p.insert(key.into(), json!(v));
            }
        }
        if let Some(m) = &self.method {
            p.insert("method".into(), json!(m));
        }
        if !self.dc_mapping.is_empty() {
            p.insert(
                "dc_mapping".into(),
                Value::Object(dc_mapping(&self.dc_mapping)?),
            );
        }
        Ok(p)
    }

    /// The whole task body: the settings and properties given.
    fn body(&self) -> Result<Map<String, Value>, ClientError> {
        Ok(self.task.body(Some(self.properties()?)))
    }
}

/// `--dc-mapping` items `src=dst` as a JSON map; an item without `=`, with an empty side, or a
/// source named twice is refused.
fn dc_mapping(items: &[String]) -> Result<Map<String, Value>, ClientError> {
    let mut map = Map::new();
    for item in items {
        let bad = |why: &str| {
            ClientError::Usage(format!(
                "--dc-mapping {item:?}: {why} (expected SRC=DST, e.g. dc1=eu-west)"
            ))
        };
        let (src, dst) = item.split_once('=').ok_or_else(|| bad("no '='"))?;
        let (src, dst) = (src.trim(), dst.trim());
        if src.is_empty() || dst.is_empty() {
            return Err(bad("a DC name is empty"));
        }
        if map.insert(src.into(), json!(dst)).is_some() {
            return Err(bad("this source DC is mapped twice"));
        }
    }
    Ok(map)
}

/// Runs `cairn restore ...`.
pub async fn run(args: RestoreArgs, conn: &Connection, output: Format) -> Result<(), ClientError> {
    if let Some(RestoreCommand::Download(a)) = args.command {
        return download::run(a, output).await;
    }
    let client = ManagerClient::new(conn)?;
    match args.command {
        Some(RestoreCommand::Update(a)) => {
            update_task(
                &client,
                &a.cluster.cluster,
                TaskType::Restore,
                &a.task,
                a.flags.properties()?,
                &a.flags.task,
                output,
            )
            .await
        }
        Some(RestoreCommand::Download(_)) => Ok(()),
        Some(RestoreCommand::OneToOne(a)) => one_to_one::run(&client, *a, output).await,
        None => {
            let cluster = args.cluster.ok_or_else(|| {
                ClientError::Usage("give the cluster with -c/--cluster or CAIRN_CLUSTER".into())
            })?;
            if args.dry_run {
                dry_run::run(
                    &client,
                    &cluster,
                    args.flags.body()?,
                    args.show_tables,
                    output,
                )
                .await
            } else {
                create(&client, &cluster, &args.flags, output).await
            }
        }
    }
}

/// `cairn restore -c C ...`: creates the task.
async fn create(
    client: &ManagerClient,
    cluster: &str,
    flags: &RestoreFlags,
    format: Format,
) -> Result<(), ClientError> {
    create_task(client, cluster, TaskType::Restore, flags.body()?, format).await
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse_restore(args: &[&str]) -> RestoreArgs {
        let cli = Cli::try_parse_from([&["cairn", "restore"], args].concat()).unwrap();
        match cli.command {
            Command::Restore(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_flags_given_are_sent() {
        let r = parse_restore(&[
            "-c",
            "prod",
            "-L",
            "s3:a",
            "-T",
            "sm_20250101000000UTC",
            "--restore-tables",
            "-K",
            "ks.*",
            "--batch-size",
            "4",
            "--rate-limit",
            "dc1:10",
            "--dc-mapping",
            "dc1=east,dc2=west",
            "--allow-compaction",
            "--cron",
            "0 2 * * *",
            "--enabled=false",
        ]);
        assert_eq!(r.cluster.as_deref(), Some("prod"));
        assert_eq!(
            Value::Object(r.flags.body().unwrap()),
            json!({
                "enabled": false,
                "schedule": {"cron": "0 2 * * *"},
                "properties": {
                    "location": ["s3:a"],
                    "snapshot_tag": "sm_20250101000000UTC",
                    "restore_tables": true,
                    "keyspace": ["ks.*"],
                    "batch_size": 4,
                    "rate_limit": ["dc1:10"],
                    "dc_mapping": {"dc1": "east", "dc2": "west"},
                    "allow_compaction": true,
                },
            })
        );
        assert!(RestoreFlags::default().properties().unwrap().is_empty());
    }

    #[test]
    fn schema_and_tables_are_exclusive_and_dc_mappings_checked() {
        let both = ["restore", "-c", "p", "--restore-tables", "--restore-schema"];
        assert!(Cli::try_parse_from([&["cairn"][..], &both].concat()).is_err());
        for bad in ["dc1", "=east", "dc1=", "dc1=a,dc1=b"] {
            let r = parse_restore(&["-c", "p", "--dc-mapping", bad]);
            let e = r.flags.properties().unwrap_err();
            assert!(e.to_string().contains("--dc-mapping"), "{e}");
        }
    }

    #[test]
    fn update_takes_the_task_and_the_changeable_flags() {
        let r = parse_restore(&["update", "-c", "p", "restore/r1", "--parallel", "2"]);
        let Some(RestoreCommand::Update(u)) = r.command else {
            panic!()
        };
        assert_eq!(u.task, "restore/r1");
        assert_eq!(
            Value::Object(u.flags.properties().unwrap()),
            json!({"parallel": 2})
        );
    }
}
