//! Creating a backup task (or its `--dry-run`) and `backup update`: sctool's flags as the task's
//! properties, the dry run's target as sctool prints it.

use clap::Args;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::cli::client::{ClientError, ManagerClient, parse, print, print_text, segment};
use crate::cli::cluster::ClusterRef;
use crate::cli::output::Format;
use crate::cli::tasks::{TaskSettings, create_task, update_task};
use crate::manager::backup::target::Target;
use crate::manager::store::TaskType;
use crate::units::format_bytes;

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
pub(super) async fn create(
    client: &ManagerClient,
    cluster: &str,
    flags: &TaskFlags,
    format: Format,
) -> Result<(), ClientError> {
    let body = flags.body(Some(flags.properties()));
    create_task(client, cluster, TaskType::Backup, body, format).await
}

/// `cairn backup update -c C TASK ...`: changes the fields given, keeping the other properties.
pub(super) async fn update(
    client: &ManagerClient,
    a: UpdateArgs,
    format: Format,
) -> Result<(), ClientError> {
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
pub(super) async fn dry_run(
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::backup::parse_backup;

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
}
