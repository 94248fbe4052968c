//! `cairn backup list`, through the manager or `--offline`: one row per snapshot with its task,
//! node count, size and keyspaces.

use std::collections::BTreeMap;

use clap::Args;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{BackupsAt, location_query, locations};
use crate::cli::client::{ClientError, ManagerClient, parse, print, segment};
use crate::cli::offline;
use crate::cli::output::Format;
use crate::manager::api::tasks::TaskInfo;
use crate::units::format_bytes;

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

/// `cairn backup list`.
pub(super) async fn list(
    client: &ManagerClient,
    a: ListArgs,
    format: Format,
) -> Result<(), ClientError> {
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
pub(super) async fn list_offline(a: ListArgs, format: Format) -> Result<(), ClientError> {
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
