//! What a download did: counters fed by the download loop, the progress bar drawn from them, and
//! the summary (`-o json` document or table) printed at the end.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::{BAR_WIDTH, DownloadArgs, NAMED, REDRAW, TablePlan};
use crate::agent::confined::Dir;
use crate::agent::download::{DownloadEvents, Wanted};
use crate::agent::transfer::TransferError;
use crate::cli::client::one_line;
use crate::cli::output::table;
use crate::format::paths::ManifestInfo;
use crate::units::format_bytes;

/// The document `-o json` prints, and the summary table's data.
#[derive(Debug, Serialize)]
pub struct DownloadSummary {
    /// The location read.
    pub location: String,
    /// The cluster the snapshot belongs to.
    pub cluster_id: String,
    /// The node's DC.
    pub dc: String,
    /// The node.
    pub node_id: String,
    /// The snapshot.
    pub snapshot_tag: String,
    /// The destination directory.
    pub dest: String,
    /// One entry per table.
    pub tables: Vec<TableSummary>,
    /// Files in the snapshot's tables.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files downloaded.
    pub files_downloaded: u64,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Files already there, verified and kept.
    pub files_kept: u64,
    /// Their bytes.
    pub bytes_kept: u64,
    /// Files that failed.
    pub files_failed: u64,
    /// The first failures, file and reason.
    pub failures: Vec<Failure>,
}

/// One table of a download.
#[derive(Debug, Serialize)]
pub struct TableSummary {
    /// Keyspace.
    pub keyspace: String,
    /// Table.
    pub table: String,
    /// Table version (the table ID without dashes).
    pub version: String,
    /// Its local directory.
    pub dir: String,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
    /// Files downloaded.
    pub files_downloaded: u64,
    /// Files kept.
    pub files_kept: u64,
    /// Bytes kept.
    pub bytes_kept: u64,
}

/// A failed file.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Its local path under `--dest`.
    pub file: String,
    /// Why.
    pub error: String,
}

/// Counters of one table.
#[derive(Debug, Default)]
struct TableCounts {
    /// Files downloaded.
    downloaded: AtomicU64,
    /// Files kept.
    kept: AtomicU64,
    /// Bytes kept.
    kept_bytes: AtomicU64,
}

/// What a download did so far: totals for the bar, counters per table for the summary.
#[derive(Debug)]
pub(super) struct Tally {
    /// Files in the download.
    files: u64,
    /// Their bytes.
    bytes: u64,
    /// Bytes received so far.
    received: AtomicU64,
    /// Files finished (downloaded, kept or failed).
    finished: AtomicU64,
    /// Per table, by the local directory's shown path.
    tables: HashMap<String, TableCounts>,
    /// The first failures.
    failures: std::sync::Mutex<Vec<Failure>>,
    /// Files that failed.
    failed: AtomicU64,
}

impl Tally {
    /// Counters for `wanted`, whose files land in `dirs`.
    pub(super) fn new(dirs: &[Dir], wanted: &[Wanted]) -> Arc<Self> {
        Arc::new(Tally {
            files: wanted.len() as u64,
            bytes: wanted.iter().map(|w| w.meta.size).sum(),
            received: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            tables: dirs
                .iter()
                .map(|d| (d.shown().to_string(), TableCounts::default()))
                .collect(),
            failures: std::sync::Mutex::new(Vec::new()),
            failed: AtomicU64::new(0),
        })
    }

    /// The counters of the table `file` belongs to.
    fn table(&self, file: &Wanted) -> Option<&TableCounts> {
        self.tables.get(file.dir.shown())
    }

    /// The summary of the download so far.
    pub(super) fn summary(
        &self,
        args: &DownloadArgs,
        info: &ManifestInfo,
        plans: &[TablePlan],
        dirs: &[Dir],
    ) -> DownloadSummary {
        let tables: Vec<TableSummary> = plans
            .iter()
            .zip(dirs)
            .map(|(p, d)| {
                let counts = self.tables.get(d.shown());
                let get = |f: fn(&TableCounts) -> &AtomicU64| {
                    counts.map_or(0, |c| f(c).load(Ordering::Relaxed))
                };
                TableSummary {
                    keyspace: p.meta.keyspace.clone(),
                    table: p.meta.table.clone(),
                    version: p.meta.version.replace('-', ""),
                    dir: args.dest.join(d.shown()).display().to_string(),
                    files: p.objects.len() as u64,
                    bytes: p.objects.iter().map(|(_, m)| m.size).sum(),
                    files_downloaded: get(|c| &c.downloaded),
                    files_kept: get(|c| &c.kept),
                    bytes_kept: get(|c| &c.kept_bytes),
                }
            })
            .collect();
        let failures = self.failures.lock().map(|f| f.clone()).unwrap_or_default();
        DownloadSummary {
            location: args.location.clone(),
            cluster_id: info.cluster_id.to_string(),
            dc: info.dc.clone(),
            node_id: info.node_id.clone(),
            snapshot_tag: info.snapshot_tag.to_string(),
            dest: args.dest.display().to_string(),
            files: self.files,
            bytes: self.bytes,
            files_downloaded: tables.iter().map(|t| t.files_downloaded).sum(),
            bytes_downloaded: self.received.load(Ordering::Relaxed),
            files_kept: tables.iter().map(|t| t.files_kept).sum(),
            bytes_kept: tables.iter().map(|t| t.bytes_kept).sum(),
            files_failed: self.failed.load(Ordering::Relaxed),
            failures,
            tables,
        }
    }
}

impl DownloadEvents for Tally {
    fn transferred(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }

    fn retracted(&self, n: u64) {
        let _ = self
            .received
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }

    fn kept(&self, file: &Wanted) {
        if let Some(t) = self.table(file) {
            t.kept.fetch_add(1, Ordering::Relaxed);
            t.kept_bytes.fetch_add(file.meta.size, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    fn downloaded(&self, file: &Wanted) {
        if let Some(t) = self.table(file) {
            t.downloaded.fetch_add(1, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    fn failed(&self, file: &Wanted, error: &TransferError) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.finished.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.failures.lock()
            && f.len() < NAMED
        {
            f.push(Failure {
                file: file.local_path(),
                error: one_line(error),
            });
        }
    }
}

/// Redraws a one-line progress bar on stderr until aborted.
pub(super) async fn draw_bar(tally: Arc<Tally>) {
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(REDRAW).await;
        let kept: u64 = tally
            .tables
            .values()
            .map(|t| t.kept_bytes.load(Ordering::Relaxed))
            .sum();
        let done = tally.received.load(Ordering::Relaxed) + kept;
        let filled = (u128::from(done) * BAR_WIDTH as u128)
            .checked_div(u128::from(tally.bytes))
            .map_or(BAR_WIDTH, |f| (f as usize).min(BAR_WIDTH));
        let rate = tally.received.load(Ordering::Relaxed) as f64
            / started.elapsed().as_secs_f64().max(0.001);
        eprint!(
            "\r[{}{}] {} / {}  {}/{} files  {}/s ",
            "#".repeat(filled),
            "-".repeat(BAR_WIDTH - filled),
            format_bytes(done),
            format_bytes(tally.bytes),
            tally.finished.load(Ordering::Relaxed),
            tally.files,
            format_bytes(rate as u64),
        );
        let _ = std::io::stderr().flush();
    }
}

/// The summary as a table: one row per table, then the totals.
pub(super) fn summary_table(s: &DownloadSummary) -> String {
    let mut rows: Vec<Vec<String>> = s
        .tables
        .iter()
        .map(|t| {
            vec![
                format!("{}.{}", t.keyspace, t.table),
                t.files.to_string(),
                format_bytes(t.bytes),
                t.files_kept.to_string(),
                t.dir.clone(),
            ]
        })
        .collect();
    rows.push(vec![
        format!("total ({} tables)", s.tables.len()),
        s.files.to_string(),
        format_bytes(s.bytes),
        s.files_kept.to_string(),
        s.dest.clone(),
    ]);
    let mut out = format!(
        "Snapshot {} of node {} ({}), cluster {}\n",
        s.snapshot_tag, s.node_id, s.dc, s.cluster_id
    );
    out.push_str(&table(
        &["Table", "Files", "Size", "Kept", "Directory"],
        &rows,
    ));
    out.push_str(&format!(
        "Downloaded {} files ({}), kept {} files already there ({}), {} failed\n",
        s.files_downloaded,
        format_bytes(s.bytes_downloaded),
        s.files_kept,
        format_bytes(s.bytes_kept),
        s.files_failed
    ));
    out
}
