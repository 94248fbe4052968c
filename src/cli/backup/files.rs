//! `cairn backup files`, through the manager or `--offline`: one line per file of a snapshot,
//! each distinct schema file once; `--sctool` prints exactly what sctool prints.

use std::collections::BTreeSet;

use clap::Args;
use serde::Deserialize;
use serde_json::Value;

use super::{BackupsAt, location_query, locations, report_skipped};
use crate::cli::client::{ClientError, ManagerClient, parse, print, print_text, segment};
use crate::cli::offline;
use crate::cli::output::Format;
use crate::manager::location::listing::SkippedManifest;

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
    /// Show tables with their version: `keyspace/table/version` (with --sctool,
    /// `keyspace/table-version`).
    #[arg(long)]
    pub with_version: bool,
    /// What separates a file from its table (default: two spaces; with --sctool, a tab, which
    /// sctool surrounds with spaces).
    #[arg(short = 'd', long, value_name = "TEXT")]
    pub delimiter: Option<String>,
    /// Print exactly what sctool prints, for scripts written for it: schema files first as
    /// `provider://bucket/path <delimiter> ./`, then `provider://bucket/path <delimiter>
    /// keyspace/table` per file (a location's `dc:` prefix is left out).
    #[arg(long)]
    pub sctool: bool,
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

/// An answer of `GET .../backups/files?with_skipped=true` (and of `--offline`).
#[derive(Debug, Deserialize)]
struct FilesAnswer {
    /// Per node manifest.
    files: Vec<FilesNode>,
    /// The manifests passed over.
    #[serde(default)]
    skipped: Vec<SkippedManifest>,
}

/// How `backup files` prints its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Cairn's: `LOCATION:PATH<delimiter>KEYSPACE/TABLE[/VERSION]`, the schema as `schema`.
    Cairn,
    /// sctool's: `provider://PATH <delimiter> KEYSPACE/TABLE[-VERSION]`, schemas first as `./`.
    Sctool,
}

/// `LOCATION:PATH` of a file: the location's provider and bucket, without its DC prefix; with
/// [`Style::Sctool`], `provider://bucket/path`.
fn file_url(location: &str, path: &str, style: Style) -> String {
    let bare = match location.split(':').count() {
        3 => location.split_once(':').map_or(location, |(_, rest)| rest),
        _ => location,
    };
    let url = format!("{bare}/{}", path.trim_start_matches('/'));
    match style {
        Style::Cairn => url,
        Style::Sctool => url.replacen(':', "://", 1),
    }
}

/// The lines of `cairn backup files`: each distinct schema file once (nodes of a snapshot share
/// it), first, then one line per file, `URL<delimiter>TABLE`; sctool's style puts Go's `Fprintln`
/// spaces around the delimiter and labels schema files `./`.
fn files_text(nodes: &[FilesNode], with_version: bool, delimiter: &str, style: Style) -> String {
    let line = |url: &str, what: &str| match style {
        Style::Cairn => format!("{url}{delimiter}{what}\n"),
        Style::Sctool => format!("{url} {delimiter} {what}\n"),
    };
    let schema_label = match style {
        Style::Cairn => "schema",
        Style::Sctool => "./",
    };
    let schemas: BTreeSet<String> = nodes
        .iter()
        .filter(|n| !n.schema.is_empty())
        .map(|n| file_url(&n.location, &n.schema, style))
        .collect();
    let mut out: String = schemas.iter().map(|s| line(s, schema_label)).collect();
    for n in nodes {
        for t in &n.files {
            let dir = t.path.clone().unwrap_or_default();
            let table = match (with_version, style) {
                (false, _) => format!("{}/{}", t.keyspace, t.table),
                (true, Style::Cairn) => format!("{}/{}/{}", t.keyspace, t.table, t.version),
                (true, Style::Sctool) => format!("{}/{}-{}", t.keyspace, t.table, t.version),
            };
            for f in &t.files {
                let url = file_url(&n.location, &format!("{dir}/{f}"), style);
                out.push_str(&line(&url, &table));
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
        "/api/v1/cluster/{}/backups/files?with_skipped=true&snapshot_tag={}{}",
        segment(cluster),
        segment(&a.snapshot_tag),
        a.at.cluster_query()
    );
    path.push_str(&location_query(
        &locations(client, cluster, &a.at.location).await?,
    ));
    if !a.keyspace.is_empty() {
        path.push_str(&format!("&keyspace={}", segment(&a.keyspace.join(","))));
    }
    let answer = client.get(&path).await?;
    print_files(&answer, &a, format, &format!("GET {path}"))
}

/// `cairn backup files --offline`: the same list read from the locations.
pub(super) async fn files_offline(a: FilesArgs, format: Format) -> Result<(), ClientError> {
    let answer = offline::files(
        &a.at.offline,
        &a.at.location,
        a.at.offline_cluster().as_deref(),
        &a.snapshot_tag,
        &a.keyspace,
    )
    .await?;
    print_files(&answer, &a, format, "the file list")
}

/// Prints a `backup files` document: one line per file, or the document with `-o json`; then
/// names the manifests skipped on stderr.
fn print_files(
    answer: &Value,
    a: &FilesArgs,
    format: Format,
    request: &str,
) -> Result<(), ClientError> {
    let FilesAnswer { files, skipped } = parse(answer, request)?;
    let style = if a.sctool {
        Style::Sctool
    } else {
        Style::Cairn
    };
    let delimiter = a.delimiter.as_deref().unwrap_or(match style {
        Style::Cairn => "  ",
        Style::Sctool => "\t",
    });
    match format {
        Format::Json => print(format, answer, &[], &[]),
        Format::Table => print_text(&files_text(&files, a.with_version, delimiter, style)),
    }
    report_skipped(&skipped)
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
            files_text(&nodes, false, "  ", Style::Cairn),
            "s3:bkt/backup/schema/cluster/c/task_t_tag_sm_1_schema.tar.gz  schema\n\
             s3:bkt/backup/sst/x/ks/t/v1/a-Data.db  ks/t\n\
             s3:bkt/backup/sst/x/ks/t/v1/b-Data.db  ks/t\n"
        );
        assert!(files_text(&nodes, true, "  ", Style::Cairn).ends_with("b-Data.db  ks/t/v1\n"));
        assert!(files_text(&nodes, false, ",", Style::Cairn).ends_with("b-Data.db,ks/t\n"));
        // sctool's: `provider://`, Fprintln's spaces around the delimiter, `table-version`.
        assert_eq!(
            files_text(&nodes, true, "\t", Style::Sctool),
            "s3://bkt/backup/schema/cluster/c/task_t_tag_sm_1_schema.tar.gz \t ./\n\
             s3://bkt/backup/sst/x/ks/t/v1/a-Data.db \t ks/t-v1\n\
             s3://bkt/backup/sst/x/ks/t/v1/b-Data.db \t ks/t-v1\n"
        );
    }
}
