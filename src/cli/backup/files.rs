//! `cairn backup files`, through the manager or `--offline`: one line per file of a snapshot.

use clap::Args;
use serde::Deserialize;
use serde_json::Value;

use super::{BackupsAt, location_query, locations};
use crate::cli::client::{ClientError, ManagerClient, parse, print, print_text, segment};
use crate::cli::offline;
use crate::cli::output::Format;

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
pub(super) async fn files(
    client: &ManagerClient,
    a: FilesArgs,
    format: Format,
) -> Result<(), ClientError> {
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
pub(super) async fn files_offline(a: FilesArgs, format: Format) -> Result<(), ClientError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
