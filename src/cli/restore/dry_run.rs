//! `cairn restore --dry-run [--show-tables]`: the manager's dry-run report
//! ([`DryRunReport`](crate::manager::restore::target::DryRunReport)) as tables: what would be
//! restored, every host's room, the missing objects and tables, and the problems. The command
//! fails with the "invalid" status (1) when the report lists problems, after printing it.

use reqwest::Method;
use serde_json::{Map, Value};

use crate::cli::client::{ClientError, ManagerClient, print_text, segment};
use crate::cli::output::{Format, table};
use crate::cli::progress::list;
use crate::cli::run_header::text;
use crate::units::format_bytes;

/// Most missing objects listed one by one; the rest are counted.
const MAX_MISSING_SHOWN: usize = 20;

/// Asks the manager for the dry run of the task `body` and prints its report; an error when the
/// report lists problems.
pub async fn run(
    client: &ManagerClient,
    cluster: &str,
    body: Map<String, Value>,
    show_tables: bool,
    format: Format,
) -> Result<(), ClientError> {
    let path = format!("/api/v1/cluster/{}/tasks/restore/target", segment(cluster));
    let answer = client
        .call(Method::POST, &path, Some(&Value::Object(body)))
        .await?;
    match format {
        Format::Json => print_text(&format!("{answer:#}\n")),
        Format::Table => print_text(&render(&answer, show_tables)),
    }
    let problems = list(&answer["problems"]).len();
    if problems > 0 {
        return Err(ClientError::Invalid(format!(
            "the restore would fail: the dry run found {problems} problem{} (see above)",
            if problems == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// The report as tables: the snapshot, keyspaces (with `show_tables`, their tables), hosts,
/// views, missing objects and tables, problems.
pub fn render(report: &Value, show_tables: bool) -> String {
    let plan = &report["plan"];
    let mut out = format!("Snapshot Tag: {}\n", text(&plan["tag"]));
    if let Some((location, path)) = plan["schema_file"]
        .as_array()
        .and_then(|a| Some((a.first()?, a.get(1)?)))
    {
        out.push_str(&format!(
            "Schema file:  {}/{}\n",
            text(location),
            text(path)
        ));
    }
    let units = list(&plan["units"]);
    let total: u64 = units.iter().map(|u| number(&u["size"])).sum();
    out.push_str(&format!(
        "Restore:      {} keyspaces, {} tables, {}\n",
        units.len(),
        units
            .iter()
            .map(|u| list(&u["tables"]).len())
            .sum::<usize>(),
        format_bytes(total)
    ));
    if !units.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = if show_tables {
            units
                .iter()
                .flat_map(|u| {
                    list(&u["tables"]).iter().map(move |t| {
                        vec![
                            text(&u["keyspace_name"]),
                            text(&t["table_name"]),
                            format_bytes(number(&t["size"])),
                            text(&t["tombstone_gc"]),
                        ]
                    })
                })
                .collect()
        } else {
            units
                .iter()
                .map(|u| {
                    vec![
                        text(&u["keyspace_name"]),
                        list(&u["tables"]).len().to_string(),
                        format_bytes(number(&u["size"])),
                    ]
                })
                .collect()
        };
        if show_tables {
            out.push_str(&table(
                &["KEYSPACE", "TABLE", "SIZE", "TOMBSTONE_GC"],
                &rows,
            ));
        } else {
            out.push_str(&table(&["KEYSPACE", "TABLES", "SIZE"], &rows));
        }
    }
    let hosts = list(&report["hosts"]);
    if !hosts.is_empty() {
        let shards = |host: &Value| {
            list(&plan["hosts"])
                .iter()
                .find(|h| h["address"] == *host)
                .map_or("-".into(), |h| number(&h["shards"]).to_string())
        };
        let rows: Vec<Vec<String>> = hosts
            .iter()
            .map(|h| {
                vec![
                    text(&h["host"]),
                    text(&h["dc"]),
                    shards(&h["host"]),
                    format_bytes(number(&h["needed"])),
                    format_bytes(number(&h["free"])),
                    if h["ok"].as_bool().unwrap_or(false) {
                        "ok".into()
                    } else {
                        "NO ROOM".into()
                    },
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["HOST", "DC", "SHARDS", "SHARE", "FREE", "OK"],
            &rows,
        ));
    }
    let views = list(&plan["views"]);
    if !views.is_empty() {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    text(&v["keyspace_name"]),
                    text(&v["view_name"]),
                    text(&v["view_type"]),
                    text(&v["base_table"]),
                ]
            })
            .collect();
        out.push_str("\nViews dropped and recreated:\n");
        out.push_str(&table(&["KEYSPACE", "VIEW", "TYPE", "BASE TABLE"], &rows));
    }
    let missing = list(&report["missing_objects"]);
    out.push_str(&format!(
        "\nObjects checked: {}, missing or of another size: {}\n",
        number(&report["objects_checked"]),
        missing.len()
    ));
    if !missing.is_empty() {
        let rows: Vec<Vec<String>> = missing
            .iter()
            .take(MAX_MISSING_SHOWN)
            .map(|m| {
                vec![
                    text(&m["path"]),
                    format_bytes(number(&m["expected_size"])),
                    m["found_size"]
                        .as_u64()
                        .map_or("missing".into(), format_bytes),
                ]
            })
            .collect();
        out.push_str(&table(&["OBJECT", "EXPECTED", "FOUND"], &rows));
        if missing.len() > MAX_MISSING_SHOWN {
            out.push_str(&format!(
                "... and {} more (-o json lists them all)\n",
                missing.len() - MAX_MISSING_SHOWN
            ));
        }
    }
    let tables = list(&report["missing_tables"]);
    if !tables.is_empty() {
        let names: Vec<String> = tables.iter().map(text).collect();
        out.push_str(&format!(
            "Tables missing in the cluster: {} (restore the schema first: --restore-schema)\n",
            names.join(", ")
        ));
    }
    let problems = list(&report["problems"]);
    if problems.is_empty() {
        out.push_str("\nNo problems: the restore would go ahead.\n");
    } else {
        out.push_str("\nProblems:\n");
        for p in problems {
            out.push_str(&format!("  - {}\n", text(p).replace('\n', " ")));
        }
    }
    out
}

/// A JSON number as bytes or a count (0 for anything else).
fn number(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn report(problems: &[&str]) -> Value {
        json!({
            "plan": {
                "tag": "sm_20250101000000UTC",
                "units": [{"keyspace_name": "ks", "size": 3072, "tables": [
                    {"table_name": "t1", "size": 1024, "tombstone_gc": "timeout"},
                    {"table_name": "t2", "size": 2048, "tombstone_gc": "repair"}]}],
                "views": [{"keyspace_name": "ks", "view_name": "by_v", "view_type": "MaterializedView",
                           "base_table": "t1", "create_stmt": "", "build_status": ""}],
                "hosts": [{"address": "10.0.0.1", "dc": "dc1", "host_id": "h", "shards": 4,
                           "disk_free": 1, "disk_total": 2, "source_dcs": ["dc1"]}],
                "dirs": [], "schema_file": null
            },
            "objects_checked": 12,
            "missing_objects": [{"path": "s3:b/backup/sst/x-Data.db", "expected_size": 1024, "found_size": null}],
            "missing_tables": ["ks.t3"],
            "hosts": [{"host": "10.0.0.1", "dc": "dc1", "needed": 2048, "free": 1024, "ok": false}],
            "problems": problems,
        })
    }

    #[test]
    fn the_report_shows_keyspaces_hosts_missing_things_and_problems() {
        let text = render(&report(&["host 10.0.0.1 has no room"]), false);
        assert!(
            text.starts_with("Snapshot Tag: sm_20250101000000UTC\n"),
            "{text}"
        );
        assert!(
            text.contains("Restore:      1 keyspaces, 2 tables, 3.0 KiB"),
            "{text}"
        );
        assert!(
            text.contains("KEYSPACE  TABLES  SIZE\nks        2       3.0 KiB\n"),
            "{text}"
        );
        assert!(
            text.contains("10.0.0.1  dc1  4       2.0 KiB  1.0 KiB  NO ROOM"),
            "{text}"
        );
        assert!(text.contains("by_v  MaterializedView  t1"), "{text}");
        assert!(
            text.contains("Objects checked: 12, missing or of another size: 1"),
            "{text}"
        );
        assert!(
            text.contains("s3:b/backup/sst/x-Data.db  1.0 KiB   missing"),
            "{text}"
        );
        assert!(
            text.contains("Tables missing in the cluster: ks.t3"),
            "{text}"
        );
        assert!(
            text.ends_with("Problems:\n  - host 10.0.0.1 has no room\n"),
            "{text}"
        );
        let tables = render(&report(&[]), true);
        assert!(
            tables.contains("ks        t2     2.0 KiB  repair"),
            "{tables}"
        );
        assert!(
            tables.ends_with("No problems: the restore would go ahead.\n"),
            "{tables}"
        );
    }
}
