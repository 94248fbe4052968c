//! `cairn progress -c CLUSTER TASK [--details] [--run ID] [--watch] [--host GLOB] [-K GLOB]`: a
//! backup run's progress as `sctool progress` shows it (spec section 6); a restore run's is drawn
//! by [`super::restore::progress`], a validate run's report by [`super::validate::render`].
//! `--host` and `-K` keep only the hosts and keyspaces/tables they match in the tables, the
//! drawings and `-o json` ([`filter`]); the run's totals stay whole.
//!
//! The view is a header (run, status with the stage while running, times, the upstream progress
//! figure, snapshot tag, DCs, the cause and table errors) and a per-host table; `--details` adds
//! a per-table table under every host. `--watch` redraws a bar per host about once a second (a
//! plain line per refresh when stdout is not a terminal) until the run ends, then prints the
//! final view; it exits 0 if the run ended DONE and 7 if it ended otherwise (ERROR, STOPPED,
//! ABORTED). `-o json` prints the manager's document (with `--watch`, the final one).

pub mod filter;

use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use self::filter::{ProgressFilter, View};
use super::client::{ClientError, Connection, ManagerClient, print_text, segment, time};
use super::output::{Format, table};
use super::restore::progress as restore;
use super::run_header::{header_text, run_header, text, timestamp};
use super::tasks::{TaskRef, find_task};
use super::validate::render as validate;
use crate::manager::backup::progress::Counters;
use crate::manager::store::TaskType;
use crate::units::format_bytes;

/// How often `--watch` asks the manager.
const REFRESH: Duration = Duration::from_secs(1);
/// The width of a `--watch` bar, in characters.
const BAR_WIDTH: usize = 30;
/// The exit status of `--watch` when the run ended other than DONE.
pub const EXIT_RUN_FAILED: u8 = 7;
/// Run statuses after which a run changes no more.
const FINAL: [&str; 4] = ["DONE", "ERROR", "STOPPED", "ABORTED"];

/// Arguments of `cairn progress`.
#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// The task (a backup or restore task).
    #[command(flatten)]
    pub task: TaskRef,
    /// Show every keyspace and table of every host, with their start and completion times.
    #[arg(long)]
    pub details: bool,
    /// The run to show (its id); the latest run by default.
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<String>,
    /// Follow the run with a progress bar per host until it ends, then show the final view.
    #[arg(long)]
    pub watch: bool,
    /// Show only the hosts whose address matches: glob patterns, `!` to exclude, the last
    /// matching one decides (repeatable or comma-separated), e.g. `10.0.1.*,!10.0.1.7`.
    #[arg(long = "host", value_delimiter = ',', value_name = "GLOB")]
    pub host: Vec<String>,
    /// Show only the keyspaces and tables that match, as backup's `-K` (repeatable or
    /// comma-separated), e.g. `store,!store.tmp_*`.
    #[arg(
        short = 'K',
        long = "keyspace",
        value_delimiter = ',',
        value_name = "GLOB"
    )]
    pub keyspace: Vec<String>,
}

/// Why `cairn progress` failed; every message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    /// The manager could not be asked, or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The watched run ended other than DONE.
    #[error("run {run} ended {status}{cause}")]
    RunFailed {
        /// The run id.
        run: String,
        /// Its final status.
        status: String,
        /// `: CAUSE` when the manager gave one, else empty.
        cause: String,
    },
}

impl ProgressError {
    /// The process exit status of this failure (never 0).
    pub fn exit_code(&self) -> u8 {
        match self {
            ProgressError::Client(e) => e.exit_code(),
            ProgressError::RunFailed { .. } => EXIT_RUN_FAILED,
        }
    }
}

/// Ends `cairn progress`: on error, prints its one line to stderr and exits with its
/// [`ProgressError::exit_code`].
pub fn finish(result: Result<(), ProgressError>) -> anyhow::Result<()> {
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code().into());
    }
    Ok(())
}

/// Runs `cairn progress` against the manager `manager` reaches.
pub async fn run(
    args: ProgressArgs,
    manager: &Connection,
    format: Format,
) -> Result<(), ProgressError> {
    let filter = ProgressFilter::new(&args.host, &args.keyspace)?;
    let client = ManagerClient::new(manager)?;
    let found = find_task(&client, &args.task.cluster.cluster, &args.task.task).await?;
    let path = format!(
        "/api/v1/cluster/{}/task/{}/{}/{}",
        found.cluster_id,
        found.task_type,
        found.id,
        segment(args.run.as_deref().unwrap_or("latest"))
    );
    let doc = if args.watch {
        // Follow the run found now, not whatever run is latest later (a retry starts another).
        let first = client.get(&path).await?;
        let run_id = first["run"]["id"].as_str().unwrap_or("latest");
        let path = format!(
            "{}/{}",
            &path[..path.rfind('/').unwrap_or(0)],
            segment(run_id)
        );
        let mut stdout = std::io::stdout();
        let live = match format {
            Format::Json => Live::Quiet,
            Format::Table if stdout.is_terminal() => Live::Bars,
            Format::Table => Live::Lines,
        };
        watch(&client, &path, found.task_type, &filter, live, &mut stdout).await?
    } else {
        client.get(&path).await?
    };
    let view = filter.apply(found.task_type, &doc);
    match (format, found.task_type) {
        (Format::Json, _) => print_text(&format!("{:#}\n", view.shown)),
        (Format::Table, TaskType::Restore) => print_text(&restore::render(&view, args.details)),
        (Format::Table, TaskType::ValidateBackup) => print_text(&validate::render(&view)),
        (Format::Table, _) => print_text(&render(&view, args.details)),
    }
    if args.watch {
        let status = text(&doc["run"]["status"]);
        if status != "DONE" {
            let cause = text(&doc["run"]["cause"]);
            return Err(ProgressError::RunFailed {
                run: text(&doc["run"]["id"]),
                status,
                cause: if cause.is_empty() {
                    String::new()
                } else {
                    format!(": {}", cause.replace('\n', " "))
                },
            });
        }
    }
    Ok(())
}

/// What [`watch`] prints while the run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Nothing.
    Quiet,
    /// One plain line per refresh (for pipes and logs).
    Lines,
    /// A bar per host, redrawn in place with ANSI escapes (for terminals).
    Bars,
}

/// Asks `GET path` (a run's details of a `task_type` task) about once a second until the run
/// has ended, printing its progress to `out` as `live` says (the hosts `filter` keeps); answers
/// the final document.
pub async fn watch(
    client: &ManagerClient,
    path: &str,
    task_type: TaskType,
    filter: &ProgressFilter,
    live: Live,
    out: &mut dyn Write,
) -> Result<Value, ClientError> {
    let mut previous: Option<(Value, Instant)> = None;
    let mut drawn = 0usize;
    loop {
        let doc = client.get(path).await?;
        let now = Instant::now();
        if is_final(&doc) {
            if live == Live::Bars && drawn > 0 {
                // Leave the last bars on screen above the final view.
                let _ = writeln!(out);
            }
            return Ok(doc);
        }
        let view = filter.apply(task_type, &doc);
        let rates = previous
            .as_ref()
            .map(|(before, at)| rates(before, &view.shown, now - *at))
            .unwrap_or_default();
        let restoring = task_type == TaskType::Restore;
        let validating = task_type == TaskType::ValidateBackup;
        let text = match live {
            Live::Quiet => String::new(),
            Live::Lines if restoring => format!("{}\n", restore::progress_line(&doc)),
            Live::Lines if validating => format!("{}\n", validate::progress_line(&doc)),
            Live::Lines => format!("{}\n", progress_line(&doc)),
            Live::Bars => {
                let lines = if restoring {
                    restore::bar_lines(&view.shown)
                } else if validating {
                    validate::bar_lines(&view)
                } else {
                    bar_lines(&view.shown, &rates)
                };
                let mut text = String::new();
                if drawn > 0 {
                    text.push_str(&format!("\x1b[{drawn}A"));
                }
                for l in &lines {
                    text.push_str(&format!("\x1b[2K{l}\n"));
                }
                // Clear what is left of a longer previous drawing.
                text.push_str("\x1b[J");
                drawn = lines.len();
                text
            }
        };
        if !text.is_empty() {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        previous = Some((view.shown, now));
        tokio::time::sleep(REFRESH).await;
    }
}

/// Whether a run's details show a run that changes no more (DONE, ERROR, STOPPED, ABORTED).
pub fn is_final(details: &Value) -> bool {
    FINAL.contains(&details["run"]["status"].as_str().unwrap_or_default())
}

/// The run's progress on one line: `RUNNING (uploading data)  45%  1.2 MiB/2.5 MiB`.
pub fn progress_line(details: &Value) -> String {
    let status = text(&details["status_text"]);
    match details.get("progress").filter(|p| !p.is_null()) {
        Some(p) if has_hosts(p) => {
            let c = counters(p);
            format!(
                "{status}  {}  {}/{}",
                c.percent(),
                format_bytes(c.uploaded.saturating_add(c.skipped)),
                format_bytes(c.size)
            )
        }
        _ => status,
    }
}

/// Upload rates in bytes per second by host, from two documents `elapsed` apart.
pub fn rates(before: &Value, after: &Value, elapsed: Duration) -> Vec<(String, f64)> {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return Vec::new();
    }
    hosts(after)
        .iter()
        .map(|h| {
            let name = text(&h["host"]);
            let was = hosts(before)
                .iter()
                .find(|b| b["host"] == h["host"])
                .map_or(0, |b| counters(b).uploaded);
            let rate = counters(h).uploaded.saturating_sub(was) as f64 / secs;
            (name, rate)
        })
        .collect()
}

/// The `--watch` drawing: the status line, then a bar per host with its percentage, bytes done
/// of its size, and its upload rate (from `rates`, by host).
pub fn bar_lines(details: &Value, rates: &[(String, f64)]) -> Vec<String> {
    let mut lines = vec![progress_line(details)];
    let hosts = hosts(details);
    let width = hosts
        .iter()
        .map(|h| text(&h["host"]).chars().count())
        .max()
        .unwrap_or(0);
    for h in hosts {
        let name = text(&h["host"]);
        let c = counters(h);
        let filled = if c.size == 0 {
            BAR_WIDTH
        } else {
            ((u128::from(c.uploaded.saturating_add(c.skipped)) * BAR_WIDTH as u128
                / u128::from(c.size)) as usize)
                .min(BAR_WIDTH)
        };
        let rate = rates
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, r)| *r);
        lines.push(format!(
            "{name:<width$}  [{}{}]  {:>8}  {}/{}  {}/s",
            "#".repeat(filled),
            "-".repeat(BAR_WIDTH - filled),
            c.percent(),
            format_bytes(c.uploaded.saturating_add(c.skipped)),
            format_bytes(c.size),
            format_bytes(rate as u64)
        ));
    }
    lines
}

/// The view of a run's details (`GET .../task/backup/{task}/{run}`) as `sctool progress` shows
/// it: the header and errors (of the whole run), the per-host table, and with `show_details` a
/// per-table table for each host (of the hosts and tables shown).
pub fn render(view: &View, show_details: bool) -> String {
    let details = view.whole;
    let run = &details["run"];
    let progress = details.get("progress").filter(|p| !p.is_null());
    let mut header = run_header(details);
    if let Some(p) = progress {
        let shown = if has_hosts(p) {
            counters(p).percent()
        } else {
            "-".into()
        };
        header.push(("Progress", shown));
        header.push(("Snapshot Tag", text(&p["snapshot_tag"])));
        let dcs: Vec<String> = p["dcs"]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        header.push(("Datacenters", dcs.join(", ")));
    }
    let cause = text(&run["cause"]);
    if !cause.is_empty() {
        header.push(("Cause", cause.replace('\n', " ")));
    }
    view.push_filter_line(&mut header);
    let mut out = header_text(&header);
    let Some(p) = progress else {
        return out;
    };
    let errors: Vec<String> = hosts(p)
        .iter()
        .flat_map(|h| {
            keyspaces(h).iter().flat_map(move |k| {
                list(&k["tables"]).iter().filter_map(move |t| {
                    let e = t["error"].as_str().filter(|e| !e.is_empty())?;
                    Some(format!(
                        "  {} {}.{}: {}",
                        text(&h["host"]),
                        text(&k["keyspace"]),
                        text(&t["table"]),
                        e.replace('\n', " ")
                    ))
                })
            })
        })
        .collect();
    if !errors.is_empty() {
        out.push_str("Errors:\n");
        for e in errors {
            out.push_str(&e);
            out.push('\n');
        }
    }
    if let Some(unmatched) = &view.unmatched {
        out.push_str(&format!("\n{unmatched}\n"));
        return out;
    }
    let p = &view.shown["progress"];
    if !has_hosts(p) {
        return out;
    }
    let rows: Vec<Vec<String>> = hosts(p)
        .iter()
        .map(|h| {
            let mut row = vec![text(&h["host"])];
            row.extend(counter_cells(&counters(h)));
            row
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        &[
            "HOST",
            "PROGRESS",
            "SIZE",
            "SUCCESS",
            "DEDUPLICATED",
            "FAILED",
        ],
        &rows,
    ));
    if show_details {
        for h in hosts(p) {
            let rows: Vec<Vec<String>> = keyspaces(h)
                .iter()
                .flat_map(|k| {
                    list(&k["tables"]).iter().map(move |t| {
                        let c = counters(t);
                        let mut row = vec![text(&k["keyspace"]), text(&t["table"])];
                        row.extend(counter_cells(&c));
                        row.push(c.started_at.map_or("-".into(), time));
                        row.push(c.completed_at.map_or("-".into(), time));
                        row
                    })
                })
                .collect();
            out.push_str(&format!("\nHost: {}\n", text(&h["host"])));
            out.push_str(&table(
                &[
                    "KEYSPACE",
                    "TABLE",
                    "PROGRESS",
                    "SIZE",
                    "SUCCESS",
                    "DEDUPLICATED",
                    "FAILED",
                    "STARTED AT",
                    "COMPLETED AT",
                ],
                &rows,
            ));
        }
    }
    out
}

/// The Progress, Size, Success, Deduplicated and Failed cells of one level.
fn counter_cells(c: &Counters) -> [String; 5] {
    [
        c.percent(),
        format_bytes(c.size),
        format_bytes(c.uploaded.saturating_add(c.skipped)),
        format_bytes(c.skipped),
        format_bytes(c.failed),
    ]
}

/// The counters of one level of the progress document (run, host, keyspace or table).
fn counters(v: &Value) -> Counters {
    let n = |key: &str| v[key].as_u64().unwrap_or(0);
    Counters {
        size: n("size"),
        uploaded: n("uploaded"),
        skipped: n("skipped"),
        failed: n("failed"),
        started_at: timestamp(&v["started_at"]),
        completed_at: timestamp(&v["completed_at"]),
    }
}

/// Whether the progress has its host tree (sizes are known only after indexing).
fn has_hosts(progress: &Value) -> bool {
    !list(&progress["hosts"]).is_empty()
}

/// The hosts of a progress document (or of a run's details).
fn hosts(v: &Value) -> &[Value] {
    match v.get("progress") {
        Some(p) => list(&p["hosts"]),
        None => list(&v["hosts"]),
    }
}

/// The keyspaces of a host.
fn keyspaces(host: &Value) -> &[Value] {
    list(&host["keyspaces"])
}

/// An array's items; none when `v` is not an array.
pub(crate) fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn details(status: &str, uploaded: u64, failed: u64) -> Value {
        let table = |name: &str, size: u64, up: u64, done: bool| {
            json!({"table": name, "size": size, "uploaded": up, "skipped": 0, "failed": 0,
                "started_at": "2026-11-24T10:00:00Z",
                "completed_at": if done { json!("2026-11-24T10:01:00Z") } else { Value::Null },
                "error": null})
        };
        json!({
            "run": {"id": "r1", "status": status, "cause": "",
                "start_time": "2026-11-24T10:00:00Z", "end_time": "2026-11-24T10:01:30Z"},
            "status_text": if status == "RUNNING" { "RUNNING (uploading data)" } else { status },
            "progress": {"snapshot_tag": "sm_20261124100000UTC", "dcs": ["dc1", "dc2"],
                "stage": "UPLOAD", "size": 3072, "uploaded": uploaded + 1024, "skipped": 1024,
                "failed": failed,
                "hosts": [
                    {"host": "10.0.0.1", "size": 2048, "uploaded": 1024, "skipped": 1024,
                     "failed": 0, "keyspaces": [{"keyspace": "store", "size": 2048,
                        "uploaded": 1024, "skipped": 1024, "failed": 0,
                        "tables": [table("orders", 2048, 1024, true)]}]},
                    {"host": "10.0.0.2", "size": 1024, "uploaded": uploaded, "skipped": 0,
                     "failed": failed, "keyspaces": [{"keyspace": "store", "size": 1024,
                        "uploaded": uploaded, "skipped": 0, "failed": failed,
                        "tables": [table("orders", 1024, uploaded, false)]}]}
                ]}
        })
    }

    /// The view of `details` with no pattern given.
    fn whole(details: &Value, show_details: bool) -> String {
        render(
            &ProgressFilter::default().apply(TaskType::Backup, details),
            show_details,
        )
    }

    #[test]
    fn the_view_has_the_header_and_a_row_per_host() {
        let view = whole(&details("RUNNING", 512, 0), false);
        assert!(view.starts_with("Run:          r1\n"), "{view}");
        assert!(
            view.contains("Status:       RUNNING (uploading data)\n"),
            "{view}"
        );
        assert!(view.contains("Duration:     1m30s\n"), "{view}");
        assert!(view.contains("Progress:     83%\n"), "{view}");
        assert!(view.contains("Datacenters:  dc1, dc2\n"), "{view}");
        assert!(
            view.contains("10.0.0.2  50%       1.0 KiB  512 B    0 B           0 B\n"),
            "{view}"
        );
        assert!(!view.contains("STARTED AT"), "no details: {view}");
        let detailed = whole(&details("RUNNING", 512, 0), true);
        assert!(
            detailed.contains("\nHost: 10.0.0.1\nKEYSPACE  TABLE"),
            "{detailed}"
        );
        assert!(
            detailed.contains("2026-11-24 10:00:00 UTC  -\n"),
            "an unfinished table has no completion: {detailed}"
        );
        assert_eq!(
            counters(&details("DONE", 512, 10)["progress"]).percent(),
            "83%/1%"
        );
    }

    #[test]
    fn watching_draws_bars_and_lines_and_knows_the_end() {
        let before = details("RUNNING", 0, 0);
        let after = details("RUNNING", 512, 0);
        let r = rates(&before, &after, Duration::from_secs(2));
        assert_eq!(
            r,
            [("10.0.0.1".to_string(), 0.0), ("10.0.0.2".into(), 256.0)]
        );
        let lines = bar_lines(&after, &r);
        assert_eq!(lines[0], "RUNNING (uploading data)  83%  2.5 KiB/3.0 KiB");
        assert_eq!(
            lines[2],
            format!(
                "10.0.0.2  [{}{}]       50%  512 B/1.0 KiB  256 B/s",
                "#".repeat(15),
                "-".repeat(15)
            )
        );
        assert!(!is_final(&after));
        assert!(is_final(&details("STOPPED", 0, 0)));
        let failed = ProgressError::RunFailed {
            run: "r1".into(),
            status: "ERROR".into(),
            cause: ": boom".into(),
        };
        assert_eq!(failed.to_string(), "run r1 ended ERROR: boom");
        assert_eq!(failed.exit_code(), EXIT_RUN_FAILED);
    }
}
