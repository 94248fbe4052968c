//! `cairn backup validate`: validate tasks through the manager, and the offline check of a
//! location without it.
//!
//! | command | request | prints |
//! |---|---|---|
//! | `cairn backup validate -c C [-L LOC] [flags]` | `POST .../tasks` (type validate_backup) | `validate_backup/NAME` |
//! | `cairn backup validate -c C --dry-run [flags]` | `POST .../tasks/validate_backup/target` | per location: its hosts and node directories with their manifests |
//! | `cairn backup validate update -c C TASK [flags]` | `PUT .../task/validate_backup/{id}` | `validate_backup/NAME` |
//! | `cairn backup validate --offline -L LOC [flags]` | none: the location is read directly ([`offline`]) | the report's tables ([`render`]) |
//!
//! A run's report is shown by `cairn progress -c C validate_backup/NAME` with the same tables.

pub mod offline;
pub mod render;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{ClientError, Connection, ManagerClient, parse, print, print_text, segment};
use super::cluster::ClusterRef;
use super::offline::OfflineArgs;
use super::output::{Format, table};
use super::tasks::{TaskSettings, create_task, update_task};
use crate::manager::api::validate::ValidateTarget;
use crate::manager::store::TaskType;

/// Arguments of `cairn backup validate`: `update`, or the flags of a new task (or of an offline
/// check).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ValidateArgs {
    /// `update` an existing task.
    #[command(subcommand)]
    pub command: Option<ValidateCommand>,
    /// The cluster; with --offline, optional: a cluster's ID (or name, from its manifests), every
    /// cluster in the location without it.
    #[arg(
        short = 'c',
        long = "cluster",
        env = "CAIRN_CLUSTER",
        value_name = "CLUSTER"
    )]
    pub cluster: Option<String>,
    /// The task's settings.
    #[command(flatten)]
    pub flags: Box<ValidateFlags>,
    /// Show what a run would check (per location: the hosts and node directories), creating
    /// nothing.
    #[arg(long, conflicts_with = "offline")]
    pub dry_run: bool,
    /// With --offline: only these snapshots (repeatable or comma-separated); orphans are then not
    /// looked for.
    #[arg(
        short = 'T',
        long = "snapshot-tag",
        value_delimiter = ',',
        value_name = "TAG",
        requires = "offline"
    )]
    pub snapshot_tag: Vec<String>,
    /// Reading the location without the manager.
    #[command(flatten)]
    pub offline: OfflineArgs,
}

/// The subcommands of `cairn backup validate`.
#[derive(Debug, Subcommand)]
pub enum ValidateCommand {
    /// Change a validate task (only the flags given).
    Update(UpdateArgs),
}

/// Arguments of `cairn backup validate update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterRef,
    /// The task: `validate_backup/NAME`, `validate_backup/ID`, `NAME` or `ID`.
    #[arg(value_name = "TASK")]
    pub task: String,
    /// The settings to change.
    #[command(flatten)]
    pub flags: Box<ValidateFlags>,
}

/// The settings of a validate task, as sctool's flags plus Cairn's; each is sent only when
/// given.
#[derive(Debug, Args, Default)]
pub struct ValidateFlags {
    /// Location `[dc:]provider:bucket` (repeatable or comma-separated; default: those of the
    /// cluster's enabled backup tasks; required with --offline).
    #[arg(
        short = 'L',
        long = "location",
        value_delimiter = ',',
        value_name = "LOCATION"
    )]
    pub location: Vec<String>,
    /// Delete orphaned files (never those of runs that may still resume, nor files newer than
    /// --orphan-grace).
    #[arg(long)]
    pub delete_orphaned_files: bool,
    /// Hosts validating at once per location (0: all); offline, node directories at once
    /// (0: 4).
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub parallel: Option<i64>,
    /// How much content to check: none (presence, sizes, orphans), digest (also each Data.db's
    /// CRC-32 and TOC.txt), full (also the store's MD5s).
    #[arg(long, value_parser = ["none", "digest", "full"], value_name = "CHECK")]
    pub content: Option<String>,
    /// Percent of SSTables whose content a run checks (1-100), rotating between runs.
    #[arg(long, value_name = "PERCENT")]
    pub sample: Option<u8>,
    /// Files written within this duration are never deleted as orphans (default 24h).
    #[arg(long, value_name = "DURATION")]
    pub orphan_grace: Option<String>,
    /// The schedule, name and enabled state.
    #[command(flatten)]
    pub task: TaskSettings,
}

impl ValidateFlags {
    /// The task properties given, as JSON keys.
    pub fn properties(&self) -> Map<String, Value> {
        let mut p = Map::new();
        if !self.location.is_empty() {
            p.insert("location".into(), json!(self.location));
        }
        if self.delete_orphaned_files {
            p.insert("delete_orphaned_files".into(), json!(true));
        }
        if let Some(n) = self.parallel {
            p.insert("parallel".into(), json!(n));
        }
        if let Some(c) = &self.content {
            p.insert("content".into(), json!(c));
        }
        if let Some(s) = self.sample {
            p.insert("sample".into(), json!(s));
        }
        if let Some(g) = &self.orphan_grace {
            p.insert("orphan_grace".into(), json!(g));
        }
        p
    }
}

/// Runs `cairn backup validate ...`.
pub async fn run(
    args: ValidateArgs,
    manager: &Connection,
    format: Format,
) -> Result<(), ClientError> {
    if args.offline.offline {
        return offline::run(&args, format).await;
    }
    let client = ManagerClient::new(manager)?;
    if let Some(ValidateCommand::Update(a)) = args.command {
        return update_task(
            &client,
            &a.cluster.cluster,
            TaskType::ValidateBackup,
            &a.task,
            a.flags.properties(),
            &a.flags.task,
            format,
        )
        .await;
    }
    let cluster = args.cluster.as_deref().ok_or_else(|| {
        ClientError::Usage("give the cluster with -c/--cluster or CAIRN_CLUSTER".into())
    })?;
    let body = args.flags.task.body(Some(args.flags.properties()));
    if args.dry_run {
        dry_run(&client, cluster, body, format).await
    } else {
        create(&client, cluster, body, format).await
    }
}

/// `cairn backup validate -c C ...`: creates the task.
async fn create(
    client: &ManagerClient,
    cluster: &str,
    body: Map<String, Value>,
    format: Format,
) -> Result<(), ClientError> {
    create_task(client, cluster, TaskType::ValidateBackup, body, format).await
}

/// `cairn backup validate --dry-run`: prints what a run of these settings would check.
async fn dry_run(
    client: &ManagerClient,
    cluster: &str,
    body: Map<String, Value>,
    format: Format,
) -> Result<(), ClientError> {
    let path = format!(
        "/api/v1/cluster/{}/tasks/validate_backup/target",
        segment(cluster)
    );
    let answer = client
        .call(Method::POST, &path, Some(&Value::Object(body)))
        .await?;
    let target: ValidateTarget = parse(&answer, &format!("POST {path}"))?;
    match format {
        Format::Json => print(format, &answer, &[], &[]),
        Format::Table => print_text(&target_text(&target)),
    }
    Ok(())
}

/// The dry run's target: the settings, then per location the hosts that would check it, those
/// that cannot reach it, and a table of its node directories with their manifests and the host
/// that checks each first.
fn target_text(t: &ValidateTarget) -> String {
    let deletion = if t.delete_orphaned_files {
        format!("deleted (grace {})", t.orphan_grace)
    } else {
        "counted, not deleted".to_string()
    };
    let parallel = match t.parallel {
        0 => "all".to_string(),
        n => n.to_string(),
    };
    let mut out = format!(
        "Content: {} ({}% of SSTables a run)\nOrphans: {deletion}\nHosts at once per location: {parallel}\n\n",
        t.content.as_str(),
        t.sample
    );
    for l in &t.locations {
        out.push_str(&format!("Location {}:\n", l.location));
        out.push_str(&format!("  Hosts: {}\n", l.hosts.join(", ")));
        for u in &l.unreachable {
            out.push_str(&format!("  Unreachable: {}: {}\n", u.host, u.reason));
        }
        if let Some(e) = &l.error {
            out.push_str(&format!("  Error: {}\n", e.replace('\n', " ")));
        }
        let rows: Vec<Vec<String>> = l
            .nodes
            .iter()
            .map(|n| {
                vec![
                    n.node_id.clone(),
                    n.dc.clone(),
                    n.manifests.to_string(),
                    n.temporary_manifests.to_string(),
                    n.own_host.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        if rows.is_empty() {
            out.push_str("  no backups of this cluster here\n");
        } else {
            out.push_str(&table(
                &["NODE", "DC", "MANIFESTS", "TEMPORARY", "CHECKED BY"],
                &rows,
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::backup::BackupCommand;
    use crate::cli::{Cli, Command};

    fn parse_validate(args: &[&str]) -> ValidateArgs {
        let cli = Cli::try_parse_from([&["cairn", "backup", "validate"], args].concat()).unwrap();
        match cli.command {
            Command::Backup(b) => match b.command {
                Some(BackupCommand::Validate(v)) => *v,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_flags_given_are_sent() {
        let v = parse_validate(&[
            "-c",
            "prod",
            "-L",
            "s3:a,dc2:s3:b",
            "--content",
            "digest",
            "--sample",
            "10",
            "--orphan-grace",
            "48h",
            "--delete-orphaned-files",
            "--parallel",
            "2",
            "--interval",
            "7d",
            "--name",
            "weekly",
        ]);
        assert_eq!(v.cluster.as_deref(), Some("prod"));
        assert_eq!(
            Value::Object(v.flags.task.body(Some(v.flags.properties()))),
            json!({
                "name": "weekly",
                "schedule": {"interval": "7d"},
                "properties": {
                    "location": ["s3:a", "dc2:s3:b"],
                    "delete_orphaned_files": true,
                    "parallel": 2,
                    "content": "digest",
                    "sample": 10,
                    "orphan_grace": "48h",
                },
            })
        );
        assert!(ValidateFlags::default().properties().is_empty());
        assert!(
            Cli::try_parse_from(["cairn", "backup", "validate", "-c", "p", "--content", "x"])
                .is_err()
        );
    }

    #[test]
    fn update_and_offline_parse() {
        let v = parse_validate(&[
            "update",
            "-c",
            "p",
            "validate_backup/v",
            "--content",
            "full",
        ]);
        let Some(ValidateCommand::Update(u)) = v.command else {
            panic!()
        };
        assert_eq!(u.task, "validate_backup/v");
        assert_eq!(u.flags.content.as_deref(), Some("full"));
        let v = parse_validate(&["--offline", "-L", "s3:b", "-T", "sm_1,sm_2"]);
        assert!(v.offline.offline);
        assert_eq!(v.snapshot_tag, ["sm_1", "sm_2"]);
        // -T is offline only; --dry-run asks the manager.
        assert!(
            Cli::try_parse_from(["cairn", "backup", "validate", "-c", "p", "-T", "x"]).is_err()
        );
        assert!(
            Cli::try_parse_from([
                "cairn",
                "backup",
                "validate",
                "--offline",
                "--dry-run",
                "-L",
                "s3:b"
            ])
            .is_err()
        );
    }

    #[test]
    fn the_target_is_a_table_per_location() {
        let target: ValidateTarget = serde_json::from_value(json!({
            "content": "digest", "sample": 10, "delete_orphaned_files": true,
            "orphan_grace": "24h", "parallel": 0,
            "locations": [{
                "location": "s3:b",
                "hosts": ["127.0.0.1", "127.0.0.2"],
                "unreachable": [{"host": "127.0.0.3", "reason": "agent down"}],
                "nodes": [{"dc": "dc1", "node_id": "n1", "manifests": 2,
                           "temporary_manifests": 0, "own_host": "127.0.0.1"}],
            }]
        }))
        .unwrap();
        assert_eq!(
            target_text(&target),
            "Content: digest (10% of SSTables a run)\nOrphans: deleted (grace 24h)\nHosts at once per location: all\n\n\
             Location s3:b:\n  Hosts: 127.0.0.1, 127.0.0.2\n  Unreachable: 127.0.0.3: agent down\n\
             NODE  DC   MANIFESTS  TEMPORARY  CHECKED BY\nn1    dc1  2          0          127.0.0.1\n\n"
        );
    }
}
