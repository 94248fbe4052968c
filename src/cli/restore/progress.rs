//! A restore run's progress as `cairn progress -c C restore/NAME` shows it (spec §5): the run's
//! header with the stage, restored % and downloaded % (and failed), the bandwidth line (download
//! and load&stream per shard), a keyspace/table table with each table's tombstone_gc mode,
//! `--details` a per-host table (shards, rates, state), the views with their build status and
//! the post-restore repair. `--watch` draws two bars (restored, downloaded) and a line per host.
//! With `--host`/`-K` ([`crate::cli::progress::filter`]) the tables show the hosts, keyspaces,
//! tables and views selected; the header (figures, bandwidth, repair) and errors stay the run's.

use serde_json::Value;

use crate::cli::output::table;
use crate::cli::progress::filter::View;
use crate::cli::run_header::{header_text, run_header, text};
use crate::manager::restore::progress::{RestoreCounters, RestoreProgress};
use crate::units::format_bytes;

/// The width of a `--watch` bar, in characters.
const BAR_WIDTH: usize = 30;

/// The restore progress of a run's details, if the document has one that reads.
pub fn progress_of(details: &Value) -> Option<RestoreProgress> {
    details
        .get("progress")
        .filter(|p| !p.is_null())
        .and_then(|p| serde_json::from_value(p.clone()).ok())
}

/// `part` of `whole` as a floored percentage; 100% of nothing.
fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        100
    } else {
        (u128::from(part.min(whole)) * 100 / u128::from(whole)) as u64
    }
}

/// `45% (1.2 MiB of 2.5 MiB)`.
fn share(part: u64, whole: u64) -> String {
    format!(
        "{}% ({} of {})",
        percent(part, whole),
        format_bytes(part),
        format_bytes(whole)
    )
}

/// A rate per shard, bytes/s.
fn rate(bytes_per_second: f64) -> String {
    format!("{}/s", format_bytes(bytes_per_second.max(0.0) as u64))
}

/// The run's progress on one line: `RUNNING (restoring data)  restored 45%  downloaded 80%`.
pub fn progress_line(details: &Value) -> String {
    let status = text(&details["status_text"]);
    match progress_of(details) {
        Some(p) if !p.restore_schema => format!(
            "{status}  restored {}%  downloaded {}%",
            percent(p.counters.restored, p.counters.size),
            percent(p.counters.downloaded, p.counters.size)
        ),
        _ => status,
    }
}

/// One bar: `label [####----]  45%  1.2 MiB/2.5 MiB`.
fn bar(label: &str, part: u64, whole: u64) -> String {
    let filled = (percent(part, whole) as usize * BAR_WIDTH / 100).min(BAR_WIDTH);
    format!(
        "{label:<10} [{}{}] {:>4}%  {}/{}",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled),
        percent(part, whole),
        format_bytes(part),
        format_bytes(whole)
    )
}

/// The `--watch` drawing: the status line, a restored and a downloaded bar, and a line per host
/// with its state and rates.
pub fn bar_lines(details: &Value) -> Vec<String> {
    let mut lines = vec![text(&details["status_text"])];
    let Some(p) = progress_of(details) else {
        return lines;
    };
    if p.restore_schema {
        return lines;
    }
    lines.push(bar("restored", p.counters.restored, p.counters.size));
    lines.push(bar("downloaded", p.counters.downloaded, p.counters.size));
    let width = p
        .hosts
        .iter()
        .map(|h| h.host.chars().count())
        .max()
        .unwrap_or(0);
    for h in &p.hosts {
        lines.push(format!(
            "  {:<width$}  {:<20}  restored {:>3}%  download {}/shard  load&stream {}/shard",
            h.host,
            h.state,
            percent(h.counters.restored, h.counters.size),
            rate(h.download_bytes_per_second_per_shard),
            rate(h.stream_bytes_per_second_per_shard),
        ));
    }
    lines
}

/// The SIZE, RESTORED, DOWNLOADED and FAILED cells of one level.
fn counter_cells(c: &RestoreCounters) -> [String; 4] {
    [
        format_bytes(c.size),
        format!("{}%", percent(c.restored, c.size)),
        format!("{}%", percent(c.downloaded, c.size)),
        format_bytes(c.failed),
    ]
}

/// The mean of the hosts' rates that are known (non-zero).
fn mean_rate(rates: impl Iterator<Item = f64>) -> f64 {
    let known: Vec<f64> = rates.filter(|r| *r > 0.0).collect();
    if known.is_empty() {
        0.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    }
}

/// The view of a restore run's details (`GET .../task/restore/{task}/{run}`): the header and
/// errors of the whole run, the tables of what `view` shows.
pub fn render(view: &View, show_details: bool) -> String {
    let details = view.whole;
    let mut header = run_header(details);
    let progress = progress_of(details);
    if let Some(p) = &progress {
        header.push(("Snapshot Tag", p.snapshot_tag.clone()));
        header.push((
            "Restore",
            if p.restore_schema { "schema" } else { "tables" }.into(),
        ));
        header.push(("Stage", p.stage.to_string()));
        if !p.restore_schema {
            let c = &p.counters;
            header.push(("Restored", share(c.restored, c.size)));
            let mut downloaded = share(c.downloaded, c.size);
            if c.skipped > 0 {
                downloaded.push_str(&format!(
                    ", {} kept from interrupted batches",
                    format_bytes(c.skipped)
                ));
            }
            header.push(("Downloaded", downloaded));
            if c.failed > 0 {
                header.push(("Failed", format_bytes(c.failed)));
            }
            header.push((
                "Bandwidth",
                format!(
                    "download {}/shard, load&stream {}/shard (mean of the hosts)",
                    rate(mean_rate(
                        p.hosts
                            .iter()
                            .map(|h| h.download_bytes_per_second_per_shard)
                    )),
                    rate(mean_rate(
                        p.hosts.iter().map(|h| h.stream_bytes_per_second_per_shard)
                    )),
                ),
            ));
        }
        if let Some(r) = &p.repair {
            let status = if r.status.is_empty() {
                "not started".to_string()
            } else {
                r.status.clone()
            };
            header.push((
                "Repair",
                format!(
                    "{status}, {} of {} tables{}",
                    r.tables_done,
                    r.tables_total,
                    if r.task_id.is_empty() {
                        String::new()
                    } else {
                        format!(" (task {})", r.task_id)
                    }
                ),
            ));
        }
    }
    let cause = text(&details["run"]["cause"]);
    if !cause.is_empty() {
        header.push(("Cause", cause.replace('\n', " ")));
    }
    view.push_filter_line(&mut header);
    let mut out = header_text(&header);
    let Some(p) = progress else {
        return out;
    };
    if !p.errors.is_empty() {
        out.push_str("Errors:\n");
        for e in &p.errors {
            out.push_str(&format!("  - {}\n", e.replace('\n', " ")));
        }
    }
    if let Some(unmatched) = &view.unmatched {
        out.push_str(&format!("\n{unmatched}\n"));
        return out;
    }
    let Some(p) = progress_of(&view.shown) else {
        return out;
    };
    if !p.keyspaces.is_empty() {
        let mut rows = Vec::new();
        for k in &p.keyspaces {
            let mut row = vec![k.keyspace.clone(), String::new(), String::new()];
            row.extend(counter_cells(&k.counters));
            rows.push(row);
            for t in &k.tables {
                let mut row = vec![String::new(), t.table.clone(), t.tombstone_gc.clone()];
                row.extend(counter_cells(&t.counters));
                rows.push(row);
            }
        }
        out.push('\n');
        out.push_str(&table(
            &[
                "KEYSPACE",
                "TABLE",
                "TOMBSTONE_GC",
                "SIZE",
                "RESTORED",
                "DOWNLOADED",
                "FAILED",
            ],
            &rows,
        ));
    }
    if show_details && !p.hosts.is_empty() {
        let rows: Vec<Vec<String>> = p
            .hosts
            .iter()
            .map(|h| {
                let mut row = vec![h.host.clone(), h.shards.to_string()];
                row.extend(counter_cells(&h.counters));
                row.push(rate(h.download_bytes_per_second_per_shard));
                row.push(rate(h.stream_bytes_per_second_per_shard));
                row.push(h.state.clone());
                row
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &[
                "HOST",
                "SHARDS",
                "SIZE",
                "RESTORED",
                "DOWNLOADED",
                "FAILED",
                "DOWNLOAD/SHARD",
                "LOAD&STREAM/SHARD",
                "STATE",
            ],
            &rows,
        ));
    }
    if !p.views.is_empty() {
        let rows: Vec<Vec<String>> = p
            .views
            .iter()
            .map(|v| {
                vec![
                    v.keyspace.clone(),
                    v.view.clone(),
                    v.view_type.clone(),
                    v.base_table.clone(),
                    if v.build_status.is_empty() {
                        "-".into()
                    } else {
                        v.build_status.clone()
                    },
                ]
            })
            .collect();
        out.push_str("\nViews:\n");
        out.push_str(&table(
            &["KEYSPACE", "VIEW", "TYPE", "BASE TABLE", "BUILD STATUS"],
            &rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::progress::filter::ProgressFilter;
    use crate::manager::restore::progress::{
        RestoreHostProgress, RestoreKeyspaceProgress, RestoreRepairProgress, RestoreTableProgress,
        RestoreViewProgress,
    };
    use crate::manager::restore::stage::RestoreStage;
    use crate::manager::store::TaskType;

    const MIB: u64 = 1 << 20;

    fn counters(size: u64, restored: u64, downloaded: u64) -> RestoreCounters {
        RestoreCounters {
            size,
            restored,
            downloaded,
            skipped: 0,
            failed: 0,
        }
    }

    fn details(stage: RestoreStage) -> Value {
        let progress = RestoreProgress {
            snapshot_tag: "sm_20250101000000UTC".into(),
            stage,
            restore_schema: false,
            counters: RestoreCounters {
                skipped: MIB,
                ..counters(4 * MIB, MIB, 3 * MIB)
            },
            keyspaces: vec![RestoreKeyspaceProgress {
                keyspace: "ks".into(),
                counters: counters(4 * MIB, MIB, 3 * MIB),
                tables: vec![RestoreTableProgress {
                    table: "t1".into(),
                    tombstone_gc: "repair".into(),
                    counters: counters(4 * MIB, MIB, 3 * MIB),
                    started_at: None,
                    completed_at: None,
                }],
            }],
            hosts: vec![RestoreHostProgress {
                host: "10.0.0.1".into(),
                shards: 2,
                counters: counters(4 * MIB, MIB, 3 * MIB),
                download_bytes_per_second_per_shard: (2 * MIB) as f64,
                stream_bytes_per_second_per_shard: MIB as f64,
                state: "downloading+loading".into(),
            }],
            views: vec![RestoreViewProgress {
                keyspace: "ks".into(),
                view: "by_v".into(),
                view_type: "MaterializedView".into(),
                base_table: "t1".into(),
                build_status: "STARTED".into(),
            }],
            repair: Some(RestoreRepairProgress {
                task_id: "7".into(),
                status: "RUNNING".into(),
                tables_done: 1,
                tables_total: 3,
            }),
            errors: vec!["10.0.0.1 ks.t1: agent lost".into()],
        };
        json!({
            "run": {"id": "r1", "status": "RUNNING", "cause": "", "start_time": "2025-01-01T00:00:00Z", "end_time": null},
            "status_text": "RUNNING (restoring data)",
            "progress": progress,
        })
    }

    /// The view of `details` with no pattern given.
    fn whole(details: &Value, show_details: bool) -> String {
        render(
            &ProgressFilter::default().apply(TaskType::Restore, details),
            show_details,
        )
    }

    #[test]
    fn the_view_shows_stage_percentages_rates_tables_views_and_repair() {
        let text = whole(&details(RestoreStage::Data), false);
        for line in [
            "Status:       RUNNING (restoring data)\n",
            "Stage:        DATA\n",
            "Restored:     25% (1.0 MiB of 4.0 MiB)\n",
            "Downloaded:   75% (3.0 MiB of 4.0 MiB), 1.0 MiB kept from interrupted batches\n",
            "Bandwidth:    download 2.0 MiB/s/shard, load&stream 1.0 MiB/s/shard (mean of the hosts)\n",
            "Repair:       RUNNING, 1 of 3 tables (task 7)\n",
            "  - 10.0.0.1 ks.t1: agent lost\n",
            "ks                             4.0 MiB  25%       75%         0 B\n",
            "          t1     repair        4.0 MiB  25%       75%         0 B\n",
            "ks        by_v  MaterializedView  t1          STARTED\n",
        ] {
            assert!(text.contains(line), "{line:?} in:\n{text}");
        }
        assert!(!text.contains("SHARDS"), "{text}");
        let detailed = whole(&details(RestoreStage::Data), true);
        assert!(
            detailed.contains("10.0.0.1  2       4.0 MiB  25%       75%         0 B     2.0 MiB/s       1.0 MiB/s          downloading+loading"),
            "{detailed}"
        );
    }

    #[test]
    fn host_and_keyspace_patterns_keep_rows_and_the_header_stays_whole() {
        let d = details(RestoreStage::Data);
        let patterns = |h: &[&str], k: &[&str]| {
            let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            ProgressFilter::new(&owned(h), &owned(k)).unwrap()
        };
        let text = render(
            &patterns(&["10.9.*"], &[]).apply(TaskType::Restore, &d),
            true,
        );
        assert!(
            text.contains("Restored:     25% (1.0 MiB of 4.0 MiB)\n"),
            "{text}"
        );
        assert!(text.contains("Filter:       --host 10.9.*\n"), "{text}");
        assert!(
            text.ends_with("\nno host matches --host 10.9.*\n"),
            "{text}"
        );
        let text = render(
            &patterns(&[], &["other"]).apply(TaskType::Restore, &d),
            true,
        );
        assert!(
            text.ends_with("\nno keyspace or table matches -K other\n"),
            "{text}"
        );
        let text = render(
            &patterns(&["10.0.0.1"], &["ks.t1"]).apply(TaskType::Restore, &d),
            true,
        );
        assert!(text.contains("          t1     repair"), "{text}");
        assert!(text.contains("10.0.0.1  2 "), "{text}");
        assert!(text.contains("by_v"), "{text}");
    }

    #[test]
    fn watching_draws_restored_and_downloaded_bars() {
        let d = details(RestoreStage::Data);
        assert_eq!(
            progress_line(&d),
            "RUNNING (restoring data)  restored 25%  downloaded 75%"
        );
        let lines = bar_lines(&d);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(
            lines[1],
            format!(
                "restored   [{}{}]   25%  1.0 MiB/4.0 MiB",
                "#".repeat(7),
                "-".repeat(23)
            )
        );
        assert!(lines[2].starts_with("downloaded ["), "{lines:?}");
        assert!(
            lines[3].contains("10.0.0.1  downloading+loading"),
            "{lines:?}"
        );
        assert_eq!(
            whole(&json!({"run": {}, "status_text": "NEW"}), false)
                .lines()
                .count(),
            5
        );
    }
}
