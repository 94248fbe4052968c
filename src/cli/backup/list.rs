//! `cairn backup list`, through the manager or `--offline`: one row per snapshot with its task,
//! node count, size and keyspaces.

use std::collections::BTreeMap;

use clap::Args;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use chrono::SecondsFormat;

use super::{BackupsAt, location_query, locations, report_skipped};
use crate::cli::client::{ClientError, ManagerClient, parse, print, segment};
use crate::cli::offline;
use crate::cli::output::Format;
use crate::manager::api::tasks::TaskInfo;
use crate::manager::location::listing::{SkippedManifest, parse_date};
use crate::units::format_bytes;

/// Arguments of `cairn backup list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The cluster and locations.
    #[command(flatten)]
    pub at: BackupsAt,
    /// Only snapshots holding tables these glob patterns select.
    #[arg(
        short = 'K',
        long = "keyspace",
        value_delimiter = ',',
        value_name = "GLOB"
    )]
    pub keyspace: Vec<String>,
    /// Only snapshots taken at or after this time: RFC 3339, now, now-DURATION or
    /// now+DURATION (e.g. now-7d, now-12h30m).
    #[arg(long, value_name = "TIME")]
    pub min_date: Option<String>,
    /// Only snapshots taken at or before this time (as --min-date).
    #[arg(long, value_name = "TIME")]
    pub max_date: Option<String>,
    /// Name the tables of every keyspace.
    #[arg(long)]
    pub show_tables: bool,
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

/// An answer of `GET .../backups?with_skipped=true` (and of `--offline`).
#[derive(Debug, Deserialize)]
struct ListAnswer {
    /// Per cluster and task.
    backups: Vec<ListEntry>,
    /// The manifests passed over.
    #[serde(default)]
    skipped: Vec<SkippedManifest>,
}

/// `--min-date` and `--max-date` resolved to RFC 3339 times (`now-1h` is resolved here, so the
/// manager and `--offline` get the same instant); a value that does not parse names its flag.
fn dates(a: &ListArgs) -> Result<[(&'static str, Option<String>); 2], ClientError> {
    let resolve = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| {
                parse_date(t)
                    .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
                    .map_err(|e| ClientError::Invalid(format!("{flag} {e}")))
            })
            .transpose()
    };
    Ok([
        ("min_date", resolve("--min-date", &a.min_date)?),
        ("max_date", resolve("--max-date", &a.max_date)?),
    ])
}

/// The columns of `cairn backup list`.
const LIST_HEADER: [&str; 5] = ["TASK", "SNAPSHOT", "NODES", "SIZE", "KEYSPACES"];

/// `cairn backup list`.
pub(super) async fn list(
    client: &ManagerClient,
    a: ListArgs,
    format: Format,
) -> Result<(), ClientError> {
    let cluster = a.at.online_cluster()?;
    let dates = dates(&a)?;
    let mut path = format!(
        "/api/v1/cluster/{}/backups?with_skipped=true{}",
        segment(cluster),
        a.at.cluster_query()
    );
    path.push_str(&location_query(
        &locations(client, cluster, &a.at.location).await?,
    ));
    if !a.keyspace.is_empty() {
        path.push_str(&format!("&keyspace={}", segment(&a.keyspace.join(","))));
    }
    for (key, value) in &dates {
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
    print_list(&answer, &names, &a, format, &format!("GET {path}"))
}

/// `cairn backup list --offline`: the same listing read from the locations; tasks by ID.
pub(super) async fn list_offline(a: ListArgs, format: Format) -> Result<(), ClientError> {
    let [(_, min_date), (_, max_date)] = dates(&a)?;
    let cluster = a.at.offline_cluster();
    let query = offline::ListQuery {
        locations: &a.at.location,
        cluster: cluster.as_deref(),
        keyspace: &a.keyspace,
        min_date: min_date.as_deref(),
        max_date: max_date.as_deref(),
    };
    let answer = offline::list(&a.at.offline, query).await?;
    print_list(&answer, &BTreeMap::new(), &a, format, "the listing")
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
/// (prefixed with their cluster when other clusters' backups are asked for); then names the
/// manifests skipped on stderr.
fn print_list(
    answer: &Value,
    names: &BTreeMap<Uuid, String>,
    a: &ListArgs,
    format: Format,
    request: &str,
) -> Result<(), ClientError> {
    let ListAnswer {
        backups: entries,
        skipped,
    } = parse(answer, request)?;
    let mut rows = Vec::new();
    for e in &entries {
        let task = names.get(&e.task_id).cloned().unwrap_or_else(|| {
            if a.at.other_clusters() {
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
    report_skipped(&skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
