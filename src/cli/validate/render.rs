//! The tables of a validate report, shared by `cairn backup validate --offline` and `cairn
//! progress validate_backup/NAME`: one table per location with a row per node directory, then the
//! broken snapshots, size mismatches, content findings, node errors and deleted files, and a
//! summary line. With `--host`/`-K` ([`crate::cli::progress::filter`]) the tables show the node
//! directories and files selected; the summary line stays the run's.

use serde_json::Value;

use crate::cli::output::table;
use crate::cli::progress::filter::View;
use crate::cli::run_header::{header_text, run_header, text};
use crate::manager::validate::report::{LocationReport, NodeReport, ValidateReport};
use crate::units::format_bytes;

/// The per-node table's header.
pub const NODE_HEADER: [&str; 10] = [
    "NODE",
    "DC",
    "CHECKED BY",
    "MANIFESTS",
    "FILES",
    "MISSING",
    "ORPHANED",
    "ORPHANED BYTES",
    "CHECKED",
    "CORRUPT",
];

/// One node directory's row.
fn node_row(n: &NodeReport) -> Vec<String> {
    let manifests = if n.temporary_manifests > 0 {
        format!("{} (+{} tmp)", n.manifests, n.temporary_manifests)
    } else {
        n.manifests.to_string()
    };
    let checked = if n.sstables_skipped > 0 {
        format!("{} (+{} later)", n.sstables_checked, n.sstables_skipped)
    } else {
        n.sstables_checked.to_string()
    };
    vec![
        n.node_id.clone(),
        n.dc.clone(),
        n.checked_by.clone(),
        manifests,
        n.files.to_string(),
        n.missing_files.to_string(),
        n.orphaned_files.to_string(),
        format_bytes(n.orphaned_bytes),
        checked,
        n.corrupt_files.to_string(),
    ]
}

/// The heading of a location's table.
fn location_heading(l: &LocationReport) -> String {
    match l.cluster_id {
        Some(c) => format!("Location {} (cluster {c}):\n", l.location),
        None => format!("Location {} (every cluster):\n", l.location),
    }
}

/// The whole report as people read it.
pub fn report_text(report: &ValidateReport) -> String {
    let mut out = tables_text(report);
    out.push_str(&summary(report));
    out
}

/// The report's tables and lists, without the summary line.
fn tables_text(report: &ValidateReport) -> String {
    let mut out = String::new();
    for l in &report.locations {
        out.push_str(&location_heading(l));
        if l.nodes.is_empty() {
            out.push_str(if l.cluster_id.is_some() {
                "  no backups of this cluster here\n"
            } else {
                "  no backups here\n"
            });
        } else {
            let rows: Vec<Vec<String>> = l.nodes.iter().map(node_row).collect();
            out.push_str(&table(&NODE_HEADER, &rows));
        }
        out.push('\n');
    }
    let broken = report.broken_snapshots();
    if !broken.is_empty() {
        out.push_str("Broken snapshots:\n");
        for tag in &broken {
            let nodes: Vec<&str> = report
                .nodes()
                .filter(|(_, n)| n.broken_snapshots.contains(tag))
                .map(|(_, n)| n.node_id.as_str())
                .collect();
            out.push_str(&format!("  {tag}  (nodes: {})\n", nodes.join(", ")));
        }
        out.push('\n');
    }
    let missing: Vec<Vec<String>> = report
        .nodes()
        .flat_map(|(l, n)| {
            n.missing
                .iter()
                .map(move |f| vec![l.location.clone(), f.clone()])
        })
        .collect();
    if !missing.is_empty() {
        out.push_str("Missing files:\n");
        out.push_str(&table(&["LOCATION", "FILE"], &missing));
        out.push('\n');
    }
    let mismatches: Vec<Vec<String>> = report
        .nodes()
        .flat_map(|(_, n)| n.size_mismatches.iter())
        .map(|m| {
            let odd: Vec<String> = m
                .files
                .iter()
                .map(|(f, s)| match s {
                    Some(s) => format!("{f}={s}"),
                    None => format!("{f}=missing"),
                })
                .collect();
            vec![
                m.dir.clone(),
                format!("{}.{}", m.keyspace, m.table),
                m.snapshots.join(","),
                m.expected.to_string(),
                m.found.to_string(),
                odd.join(" "),
            ]
        })
        .collect();
    if !mismatches.is_empty() {
        out.push_str("Size mismatches:\n");
        out.push_str(&table(
            &["DIR", "TABLE", "SNAPSHOTS", "EXPECTED", "FOUND", "FILES"],
            &mismatches,
        ));
        out.push('\n');
    }
    let findings: Vec<Vec<String>> = report
        .nodes()
        .flat_map(|(_, n)| n.findings.iter())
        .map(|f| vec![f.file.clone(), f.kind.as_str().into(), f.detail.clone()])
        .collect();
    if !findings.is_empty() {
        out.push_str("Content findings:\n");
        out.push_str(&table(&["FILE", "KIND", "DETAIL"], &findings));
        out.push('\n');
    }
    let errors: Vec<Vec<String>> = report
        .nodes()
        .filter_map(|(l, n)| {
            let e = n.error.as_ref()?;
            Some(vec![
                l.location.clone(),
                n.node_id.clone(),
                e.replace('\n', " "),
            ])
        })
        .collect();
    if !errors.is_empty() {
        out.push_str("Not checked:\n");
        out.push_str(&table(&["LOCATION", "NODE", "ERROR"], &errors));
        out.push('\n');
    }
    out
}

/// The closing line: `N manifests, N files: 0 missing, 0 mis-sized, 0 corrupt; N orphaned (B),
/// N deleted, N kept`.
pub fn summary(report: &ValidateReport) -> String {
    let t = report.totals();
    let kept: u64 = report.nodes().map(|(_, n)| n.kept_orphans).sum();
    let mut line = format!(
        "{} manifests, {} files, content {} ({}% sampled, {} SSTables checked): {} missing, {} mis-sized, {} corrupt; {} orphaned ({})",
        t.manifests,
        t.files,
        report.content,
        report.sample,
        t.sstables_checked,
        t.missing_files,
        t.size_mismatches,
        t.corrupt_files,
        t.orphaned_files,
        format_bytes(t.orphaned_bytes),
    );
    if report.delete_orphaned_files {
        line.push_str(&format!(
            ", {} deleted, {kept} kept by the safety rules",
            t.deleted_files
        ));
    }
    line.push('\n');
    line.push_str(if t.manifests == 0 && report.healthy() {
        "No backups found: nothing was validated (check the location and the cluster).\n"
    } else if report.healthy() {
        "Backups are whole.\n"
    } else {
        "Backups are DAMAGED or not fully checked.\n"
    });
    line
}

/// The report inside a run's details (`report`), if readable.
fn details_report(details: &Value) -> Option<ValidateReport> {
    serde_json::from_value(details.get("report")?.clone()).ok()
}

/// A validate run's details (`GET .../task/validate_backup/{task}/{run}`): the run header, the
/// report's tables of what `view` shows, and the whole run's summary line.
pub fn render(view: &View) -> String {
    let details = view.whole;
    let mut header = run_header(details);
    let cause = text(&details["run"]["cause"]);
    if !cause.is_empty() {
        header.push(("Cause", cause.replace('\n', " ")));
    }
    view.push_filter_line(&mut header);
    let mut out = header_text(&header);
    out.push('\n');
    let (Some(whole), Some(shown)) = (details_report(details), details_report(&view.shown)) else {
        out.push_str("(the run's report could not be read)\n");
        return out;
    };
    match &view.unmatched {
        Some(unmatched) => out.push_str(&format!("{unmatched}\n\n")),
        None => out.push_str(&tables_text(&shown)),
    }
    out.push_str(&summary(&whole));
    out
}

/// A running validate on one line: `RUNNING  3/6 nodes  120 files  0 missing  0 corrupt`.
pub fn progress_line(details: &Value) -> String {
    let status = text(&details["status_text"]);
    let Some(r) = details_report(details) else {
        return status;
    };
    let nodes = r.nodes().count();
    let done = r.nodes().filter(|(_, n)| n.completed_at.is_some()).count();
    let t = r.totals();
    format!(
        "{status}  {done}/{nodes} nodes  {} files  {} missing  {} corrupt  {} orphaned",
        t.files, t.missing_files, t.corrupt_files, t.orphaned_files
    )
}

/// The `--watch` drawing: the whole run's status line, then a line per node directory shown with
/// what it found so far.
pub fn bar_lines(view: &View) -> Vec<String> {
    let mut lines = vec![progress_line(view.whole)];
    if let Some(r) = details_report(&view.shown) {
        for (l, n) in r.nodes() {
            let state = if n.error.is_some() {
                "failed"
            } else if n.completed_at.is_some() {
                "done"
            } else if n.started_at.is_some() {
                "checking"
            } else {
                "waiting"
            };
            lines.push(format!(
                "{} {}  {state:<8}  {} scanned  {} missing  {} checked  {} corrupt",
                l.location,
                n.node_id,
                n.scanned_files,
                n.missing_files,
                n.sstables_checked,
                n.corrupt_files
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::progress::filter::ProgressFilter;
    use crate::manager::store::TaskType;
    use crate::manager::validate::report::{ContentFinding, FindingKind, SizeMismatch};

    fn node(id: &str) -> NodeReport {
        NodeReport {
            dc: "dc1".into(),
            node_id: id.into(),
            checked_by: "offline".into(),
            manifests: 2,
            files: 40,
            ..NodeReport::default()
        }
    }

    #[test]
    fn a_clean_report_is_a_row_per_node_and_a_whole_summary() {
        let report = ValidateReport {
            content: "digest".into(),
            sample: 100,
            delete_orphaned_files: false,
            locations: vec![LocationReport {
                location: "s3:b".into(),
                cluster_id: None,
                nodes: vec![node("n1"), node("n2")],
            }],
        };
        let text = report_text(&report);
        assert!(text.contains("Location s3:b (every cluster):"), "{text}");
        assert!(text.contains("n1    dc1  offline"), "{text}");
        assert!(text.contains("n2    dc1"), "{text}");
        assert!(text.contains("4 manifests, 80 files"), "{text}");
        assert!(
            text.contains(": 0 missing, 0 mis-sized, 0 corrupt"),
            "{text}"
        );
        assert!(text.ends_with("Backups are whole.\n"), "{text}");
        assert!(!text.contains("Broken snapshots"), "{text}");
    }

    #[test]
    fn damage_is_listed_by_snapshot_file_and_kind() {
        let mut n = node("n1");
        n.missing_files = 1;
        n.missing = vec!["backup/sst/x/a-Data.db".into()];
        n.broken_snapshots = vec!["sm_2".into(), "sm_1".into()];
        n.size_mismatches = vec![SizeMismatch {
            dir: "backup/sst/x/ks/t/v".into(),
            keyspace: "ks".into(),
            table: "t".into(),
            snapshots: vec!["sm_1".into()],
            expected: 100,
            found: 90,
            files: vec![("b-Index.db".into(), Some(10))],
        }];
        n.corrupt_files = 1;
        n.findings = vec![ContentFinding {
            file: "backup/sst/x/c-Data.db".into(),
            kind: FindingKind::Digest,
            detail: "crc32 1 != 2".into(),
        }];
        let report = ValidateReport {
            content: "digest".into(),
            sample: 100,
            delete_orphaned_files: false,
            locations: vec![LocationReport {
                location: "s3:b".into(),
                cluster_id: None,
                nodes: vec![n],
            }],
        };
        let text = report_text(&report);
        assert!(
            text.contains("Broken snapshots:\n  sm_1  (nodes: n1)\n  sm_2"),
            "{text}"
        );
        assert!(text.contains("backup/sst/x/a-Data.db"), "{text}");
        assert!(
            text.contains("backup/sst/x/ks/t/v  ks.t   sm_1       100       90"),
            "{text}"
        );
        assert!(text.contains("b-Index.db=10"), "{text}");
        assert!(
            text.contains("backup/sst/x/c-Data.db  digest  crc32 1 != 2"),
            "{text}"
        );
        assert!(text.contains("DAMAGED"), "{text}");
    }

    #[test]
    fn run_details_render_header_and_report_and_progress() {
        let details = serde_json::json!({
            "run": {"id": "r1", "status": "RUNNING", "start_time": null},
            "status_text": "RUNNING",
            "progress": [],
            "report": {
                "content": "none", "sample": 100, "delete_orphaned_files": false,
                "locations": [{"location": "s3:b", "cluster_id": null, "nodes": [node("n1")]}]
            }
        });
        let view = ProgressFilter::default().apply(TaskType::ValidateBackup, &details);
        let text = render(&view);
        assert!(text.starts_with("Run:          r1\n"), "{text}");
        assert!(text.contains("NODE  DC   CHECKED BY"), "{text}");
        assert_eq!(
            progress_line(&details),
            "RUNNING  0/1 nodes  40 files  0 missing  0 corrupt  0 orphaned"
        );
        assert_eq!(bar_lines(&view).len(), 2);
    }
}
