//! `cairn backup delete`: snapshots from the backup locations, or the nodes' local snapshots.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;

use super::{location_query, locations};
use crate::cli::client::{ClientError, ManagerClient, parse, print, print_text, segment};
use crate::cli::cluster::ClusterRef;
use crate::cli::output::Format;

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
pub(super) async fn delete(
    client: &ManagerClient,
    a: DeleteArgs,
    format: Format,
) -> Result<(), ClientError> {
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
    use super::*;
    use crate::cli::Cli;
    use crate::cli::backup::{BackupCommand, parse_backup};
    use clap::Parser;

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
}
