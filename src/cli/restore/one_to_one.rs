//! `cairn restore 1-1-restore`: sctool's 1-1 restore, as a restore task whose properties carry
//! `source_cluster_id` and `nodes_mapping` (read from sctool's mapping file) with
//! `restore_tables`; `--dry-run` checks the mapping against the backup and the cluster.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value, json};

use super::dry_run;
use crate::cli::client::{ClientError, ManagerClient};
use crate::cli::output::Format;
use crate::cli::tasks::{TaskSettings, create_task};
use crate::manager::restore::one_to_one::NodeMapping;
use crate::manager::store::TaskType;

/// Arguments of `cairn restore 1-1-restore`.
#[derive(Debug, Args)]
pub struct OneToOneArgs {
    /// The cluster restored into: it must mirror the backed-up one (DCs, racks, nodes, tokens).
    #[arg(
        short = 'c',
        long = "cluster",
        env = "CAIRN_CLUSTER",
        value_name = "CLUSTER"
    )]
    pub cluster: String,
    /// Location `[dc:]provider:bucket` to restore from (repeatable or comma-separated).
    #[arg(
        short = 'L',
        long = "location",
        value_delimiter = ',',
        required = true,
        value_name = "LOCATION"
    )]
    pub location: Vec<String>,
    /// The snapshot to restore (`sm_YYYYMMDDhhmmssUTC`; `cairn backup list` shows them).
    #[arg(short = 'T', long = "snapshot-tag", value_name = "TAG")]
    pub snapshot_tag: String,
    /// The cluster ID of the backup (`cairn backup list --all-clusters` shows it).
    #[arg(long, value_name = "ID")]
    pub source_cluster_id: uuid::Uuid,
    /// A file mapping each backed-up node to a node of this cluster, one
    /// `<dc>:<rack>:<host_id>=<dc>:<rack>:<host_id>` per line, the backed-up node first.
    #[arg(long, value_name = "FILE")]
    pub nodes_mapping: PathBuf,
    /// Keyspace/table glob patterns, `!` to exclude (vnode keyspaces only).
    #[arg(
        short = 'K',
        long = "keyspace",
        value_delimiter = ',',
        value_name = "GLOB"
    )]
    pub keyspace: Vec<String>,
    /// Files downloaded in parallel per host (-1: the agent's setting, 0: twice the shards).
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub transfers: Option<i64>,
    /// Download rate per host `[dc:]MiB/s`, 0 for unlimited (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "[DC:]N")]
    pub rate_limit: Vec<String>,
    /// Accepted for compatibility with sctool (the agent pins no CPU).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub unpin_agent_cpu: Option<bool>,
    /// Check the mapping, the backup and every host's room, creating nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The schedule, name and enabled state (by default the task runs once, now).
    #[command(flatten)]
    pub task: TaskSettings,
}

impl OneToOneArgs {
    /// The task body: settings and the 1-1 restore's properties; a mapping file that cannot be
    /// read or parsed is refused naming it and the line.
    fn body(&self) -> Result<Map<String, Value>, ClientError> {
        let file = self.nodes_mapping.display();
        let text = std::fs::read_to_string(&self.nodes_mapping)
            .map_err(|e| ClientError::Invalid(format!("--nodes-mapping {file}: {e}")))?;
        let mapping = NodeMapping::parse_lines(&text)
            .map_err(|e| ClientError::Invalid(format!("--nodes-mapping {file}: {e}")))?;
        let mut p = Map::new();
        p.insert("location".into(), json!(self.location));
        p.insert("snapshot_tag".into(), json!(self.snapshot_tag));
        p.insert("restore_tables".into(), json!(true));
        p.insert("source_cluster_id".into(), json!(self.source_cluster_id));
        p.insert("nodes_mapping".into(), json!(mapping));
        if !self.keyspace.is_empty() {
            p.insert("keyspace".into(), json!(self.keyspace));
        }
        if !self.rate_limit.is_empty() {
            p.insert("rate_limit".into(), json!(self.rate_limit));
        }
        if let Some(t) = self.transfers {
            p.insert("transfers".into(), json!(t));
        }
        if let Some(u) = self.unpin_agent_cpu {
            p.insert("unpin_agent_cpu".into(), json!(u));
        }
        Ok(self.task.body(Some(p)))
    }
}

/// Runs `cairn restore 1-1-restore`: creates the task (printing `restore/NAME`) or, with
/// `--dry-run`, prints what it would do and every reason it would fail.
pub async fn run(
    client: &ManagerClient,
    args: OneToOneArgs,
    format: Format,
) -> Result<(), ClientError> {
    let body = args.body()?;
    if args.dry_run {
        dry_run::run(client, &args.cluster, body, false, format).await
    } else {
        create_task(client, &args.cluster, TaskType::Restore, body, format).await
    }
}
