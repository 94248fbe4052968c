//! `cairn restore download --offline -L LOCATION -T TAG --node NODE_ID --dest DIR [-c CLUSTER]
//! [-K GLOBS] [--transfers N] [--rate-limit MIB] [--storage-config FILE]`: one node's SSTables of
//! a snapshot, fetched straight from the store (no manager, no agent) into
//! `DIR/<keyspace>/<table>-<version>/`, ready for `nodetool refresh`.
//!
//! The node's final manifest of the tag says which files each table had; each table's remote
//! directory is listed once and every file is taken in the version the snapshot saw
//! ([`version_for_tag`]: a file a later backup replaced is kept as `<name>.sm_<tag>` and lands
//! under its plain name). Before anything is written, every object must be there and each
//! table's sizes must add up to the manifest's. Files go through the agent's own download loop
//! ([`download_all`]): streamed with bounded memory, `--transfers` at a time, sizes (and MD5s
//! where the store states them) verified, and files already in `DIR` and verified are kept, so
//! running the command again resumes.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Args;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore as _};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::agent::config::Limits;
use crate::agent::confined::{ConfinedRoot, Dir, RelPath};
use crate::agent::download::{DownloadEvents, Wanted, download_all};
use crate::agent::storage::{Remote, object_path};
use crate::agent::transfer::{DataPath, TransferError};
use crate::agent::wire::Bandwidth;
use crate::cli::client::{ClientError, one_line, print_text};
use crate::cli::offline::{self, OfflineArgs};
use crate::cli::output::{Format, table};
use crate::format::manifest::FilesMeta;
use crate::format::paths::ManifestInfo;
use crate::format::sstable::version_for_tag;
use crate::format::tag::SnapshotTag;
use crate::manager::location::manifests::{list_manifests, read_manifest};
use crate::units::format_bytes;

/// Tables whose remote directories are listed at once.
const LISTINGS_AT_ONCE: usize = 8;
/// Most failed or missing files named in a message.
const NAMED: usize = 5;
/// How often the progress bar is redrawn.
const REDRAW: Duration = Duration::from_millis(200);
/// The width of the progress bar, in characters.
const BAR_WIDTH: usize = 30;

/// The arguments of `cairn restore download`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each table lands in DIR/<keyspace>/<table>-<version>/. To load the files into a node \
of the same topology, copy each table directory's files into the table's `upload/` directory \
under the node's data directory and run `nodetool refresh <keyspace> <table>` (add --load-and-stream \
when the ring differs). Running the command again keeps what is already there and verified."
)]
pub struct DownloadArgs {
    /// The location holding the backup (e.g. s3:bucket).
    #[arg(short = 'L', long = "location", value_name = "LOCATION")]
    pub location: String,
    /// The snapshot to download.
    #[arg(short = 'T', long = "snapshot-tag", value_name = "TAG")]
    pub snapshot_tag: String,
    /// The node whose SSTables to download (its host ID, as in the backup's paths).
    #[arg(long = "node", value_name = "NODE_ID")]
    pub node: String,
    /// Where to put the files; created if missing (an existing file or symbolic link is refused).
    #[arg(long = "dest", value_name = "DIR")]
    pub dest: PathBuf,
    /// The cluster's ID or name; needed only when several clusters' backups share the location.
    #[arg(short = 'c', long = "cluster", value_name = "CLUSTER")]
    pub cluster: Option<String>,
    /// Only the tables matching these keyspace globs (`ks`, `ks.t*`, `!ks.big`).
    #[arg(
        short = 'K',
        long = "keyspace",
        value_delimiter = ',',
        value_name = "GLOBS"
    )]
    pub keyspace: Vec<String>,
    /// Files downloaded in parallel.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub transfers: usize,
    /// Bandwidth limit, MiB/s (0: unlimited).
    #[arg(long = "rate-limit", default_value_t = 0.0, value_name = "MIB")]
    pub rate_limit: f64,
    /// Reading the location without a manager (required: this command never uses one).
    #[command(flatten)]
    pub offline: OfflineArgs,
}

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

/// One table's files, as found in its remote directory.
struct TablePlan {
    /// Its manifest entry.
    meta: FilesMeta,
    /// Each file's name and the object holding its version of the snapshot.
    objects: Vec<(String, ObjectMeta)>,
}

/// Runs `cairn restore download`.
pub async fn run(args: DownloadArgs, output: Format) -> Result<(), ClientError> {
    if !args.offline.offline {
        return Err(ClientError::Usage(
            "restore download reads the location directly, without a manager or an agent: give --offline".into(),
        ));
    }
    let tag: SnapshotTag = args.snapshot_tag.parse().map_err(|e| {
        ClientError::Invalid(format!("-T/--snapshot-tag {:?}: {e}", args.snapshot_tag))
    })?;
    if args.transfers == 0 || args.transfers > crate::format::MAX_TRANSFERS {
        return Err(ClientError::Invalid(format!(
            "--transfers {}: give 1 to {}",
            args.transfers,
            crate::format::MAX_TRANSFERS
        )));
    }
    let rate = Bandwidth::bytes_per_second_of(args.rate_limit)
        .map_err(|e| ClientError::Invalid(format!("--rate-limit {}: {e}", args.rate_limit)))?;
    if args.node.is_empty() || args.node.contains('/') {
        return Err(ClientError::Invalid(format!(
            "--node {:?}: give the node's ID as the backup's paths name it",
            args.node
        )));
    }
    check_dest(&args.dest)?;
    let filter = offline::keyspace(&args.keyspace)?;

    // The node's manifest of the tag.
    let readers = offline::readers(&args.offline, std::slice::from_ref(&args.location))?;
    let Some(reader) = readers.first() else {
        return Err(ClientError::Usage("give -L/--location".into()));
    };
    let cluster = offline::cluster_id(&readers, args.cluster.as_deref()).await?;
    let info = find_manifest(reader, cluster, &args.node, &tag).await?;
    let manifest = read_manifest(&reader.client, &reader.location, &info)
        .await
        .map_err(offline::backups_error)?;
    let tables: Vec<FilesMeta> = manifest
        .index
        .into_iter()
        .filter(|t| {
            filter
                .as_ref()
                .is_none_or(|f| f.check(&t.keyspace, &t.table))
        })
        .collect();
    if tables.is_empty() && filter.is_some() {
        return Err(ClientError::NotFound(format!(
            "-K/--keyspace {}: no table of snapshot {tag} of node {} matches",
            args.keyspace.join(","),
            args.node
        )));
    }

    // Every object, in the version the snapshot saw; nothing is written unless all are there.
    let remote = offline::transfer_store(&args.offline, &args.location)?;
    let plans = plan_tables(&remote, &info, &tag, tables).await?;

    // The local table directories.
    std::fs::create_dir_all(&args.dest).map_err(|e| {
        ClientError::Invalid(format!(
            "--dest {}: cannot create: {e}",
            args.dest.display()
        ))
    })?;
    check_dest(&args.dest)?;
    let root = ConfinedRoot::open(&args.dest).map_err(|e| {
        ClientError::Invalid(format!("--dest {}: cannot open: {e}", args.dest.display()))
    })?;
    let mut wanted = Vec::new();
    let mut dirs = Vec::with_capacity(plans.len());
    for plan in &plans {
        let dir = table_dir(&root, &plan.meta)?;
        for (name, meta) in &plan.objects {
            wanted.push(Wanted {
                meta: meta.clone(),
                dir: dir.clone(),
                name: name.clone(),
            });
        }
        dirs.push(dir);
    }

    // The download.
    let limits = Limits {
        transfers: args.transfers,
        rate_limit: rate,
        buffer_memory: 32 << 20,
        multipart_threshold: 64 << 20,
        part_size: 16 << 20,
        s3_single_put_max: 256 << 20,
    };
    let data = DataPath::new(limits)
        .map_err(|e| ClientError::Invalid(format!("cannot set up downloads: {}", one_line(&e))))?;
    let tally = Tally::new(&dirs, &wanted);
    let cancel = CancellationToken::new();
    let bar = (output == Format::Table && std::io::stderr().is_terminal())
        .then(|| tokio::spawn(draw_bar(tally.clone())));
    let interrupted = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    download_all(
        &data,
        &remote,
        wanted,
        args.transfers,
        true,
        tally.as_ref(),
        &cancel,
    )
    .await;
    interrupted.abort();
    if let Some(bar) = bar {
        bar.abort();
        eprint!("\r{:width$}\r", "", width = BAR_WIDTH + 60);
    }

    let summary = tally.summary(&args, &info, &plans, &dirs);
    match output {
        Format::Json => print_text(&format!(
            "{}\n",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        )),
        Format::Table => print_text(&summary_table(&summary)),
    }
    if cancel.is_cancelled() {
        return Err(ClientError::Storage(
            "interrupted; run the command again to download the rest (what is there is kept)"
                .into(),
        ));
    }
    if summary.files_failed > 0 {
        let named: Vec<String> = summary
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.file, f.error))
            .collect();
        return Err(ClientError::Storage(format!(
            "{} of {} files failed ({}); run the command again to retry them",
            summary.files_failed,
            summary.files,
            named.join("; ")
        )));
    }
    Ok(())
}

/// Refuses a `--dest` that is a file or a symbolic link (to anything).
fn check_dest(dest: &Path) -> Result<(), ClientError> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_symlink() => Err(ClientError::Invalid(format!(
            "--dest {} is a symbolic link; give the directory itself",
            dest.display()
        ))),
        Ok(m) if !m.is_dir() => Err(ClientError::Invalid(format!(
            "--dest {} exists and is not a directory",
            dest.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ClientError::Invalid(format!(
            "--dest {}: {e}",
            dest.display()
        ))),
    }
}

/// The node's final manifest of `tag`: refused when the backup never finished (temporary
/// manifests only), not found with the nodes that do have the snapshot.
async fn find_manifest(
    reader: &crate::manager::location::manifests::LocationClient<Remote>,
    cluster: Option<uuid::Uuid>,
    node: &str,
    tag: &SnapshotTag,
) -> Result<ManifestInfo, ClientError> {
    let all = list_manifests(&reader.client, &reader.location, cluster)
        .await
        .map_err(offline::backups_error)?;
    let of_tag: Vec<&ManifestInfo> = all.iter().filter(|m| m.snapshot_tag == *tag).collect();
    let of_node: Vec<&ManifestInfo> = of_tag
        .iter()
        .copied()
        .filter(|m| m.node_id == node)
        .collect();
    let finals: Vec<&ManifestInfo> = of_node.iter().copied().filter(|m| !m.temporary).collect();
    let mut clusters: Vec<uuid::Uuid> = finals.iter().map(|m| m.cluster_id).collect();
    clusters.sort_unstable();
    clusters.dedup();
    match (finals.first(), clusters.len()) {
        (Some(m), 1) => Ok((*m).clone()),
        (Some(_), _) => Err(ClientError::Invalid(format!(
            "snapshot {tag} of node {node} exists for several clusters in {} ({}): give -c",
            reader.location,
            clusters
                .iter()
                .map(uuid::Uuid::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        (None, _) if !of_node.is_empty() => Err(ClientError::Invalid(format!(
            "snapshot {tag} of node {node} in {} has only a temporary manifest: its backup did not \
             finish, so its file list is not final; download a completed snapshot",
            reader.location
        ))),
        (None, _) => {
            let mut nodes: Vec<&str> = of_tag.iter().map(|m| m.node_id.as_str()).collect();
            nodes.sort_unstable();
            nodes.dedup();
            let there = if nodes.is_empty() {
                "no node has that snapshot there".to_string()
            } else {
                format!("nodes with that snapshot: {}", nodes.join(", "))
            };
            Err(ClientError::NotFound(format!(
                "no snapshot {tag} of node {node} in {}; {there}",
                reader.location
            )))
        }
    }
}

/// Finds every table's objects (one listing per table) and checks that each file is there and
/// each table's sizes add up to the manifest's.
async fn plan_tables(
    remote: &Remote,
    info: &ManifestInfo,
    tag: &SnapshotTag,
    tables: Vec<FilesMeta>,
) -> Result<Vec<TablePlan>, ClientError> {
    let listed: Vec<(FilesMeta, String, HashMap<String, ObjectMeta>)> =
        futures::stream::iter(tables)
            .map(|t| async move {
                let dir = info.sstable_version_dir(&t.keyspace, &t.table, &t.version);
                let prefix = object_path(&dir).map_err(|e| ClientError::Invalid(one_line(&e)))?;
                let listing = remote
                    .store
                    .list(Some(&prefix))
                    .try_collect::<Vec<_>>()
                    .await;
                let objects = match listing {
                    Ok(objects) => objects,
                    Err(object_store::Error::NotFound { .. }) => Vec::new(),
                    Err(e) => {
                        return Err(ClientError::Storage(one_line(
                            &remote.err("list", &prefix)(e),
                        )));
                    }
                };
                let by_name = objects
                    .into_iter()
                    .filter_map(|m| {
                        let rest = m.location.prefix_match(&prefix)?.collect::<Vec<_>>();
                        match rest.as_slice() {
                            [name] => Some((name.as_ref().to_string(), m.clone())),
                            _ => None,
                        }
                    })
                    .collect();
                Ok((t, dir, by_name))
            })
            .buffered(LISTINGS_AT_ONCE)
            .try_collect()
            .await?;
    let mut missing = Vec::new();
    let mut sizes = Vec::new();
    let mut plans = Vec::with_capacity(listed.len());
    for (meta, dir, by_name) in listed {
        let mut objects = Vec::with_capacity(meta.files.len());
        for file in &meta.files {
            match version_for_tag(file, tag, by_name.keys().map(String::as_str)) {
                Some(object) => match by_name.get(&object) {
                    Some(m) => objects.push((file.clone(), m.clone())),
                    None => missing.push(format!("{dir}/{file}")),
                },
                None => missing.push(format!("{dir}/{file}")),
            }
        }
        let total: u64 = objects.iter().map(|(_, m)| m.size).sum();
        if missing.is_empty() && i64::try_from(total).ok() != Some(meta.size) {
            sizes.push(format!(
                "{}.{}: the manifest says {} bytes, the store holds {total}",
                meta.keyspace, meta.table, meta.size
            ));
        }
        plans.push(TablePlan { meta, objects });
    }
    if !missing.is_empty() {
        return Err(ClientError::NotFound(format!(
            "{} file(s) of snapshot {tag} are missing from {}: {}{}; nothing was downloaded",
            missing.len(),
            remote.location,
            missing
                .iter()
                .take(NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > NAMED { ", ..." } else { "" }
        )));
    }
    if !sizes.is_empty() {
        return Err(ClientError::Storage(format!(
            "the store does not hold what the manifest of snapshot {tag} lists: {}; nothing was downloaded",
            sizes.join("; ")
        )));
    }
    Ok(plans)
}

/// Whether a name from a manifest can be one path component.
fn plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// The local directory of a table, `<keyspace>/<table>-<version>` (created).
fn table_dir(root: &ConfinedRoot, t: &FilesMeta) -> Result<Dir, ClientError> {
    let version = t.version.replace('-', "");
    let leaf = format!("{}-{version}", t.table);
    if !plain(&t.keyspace) || !plain(&leaf) {
        return Err(ClientError::Invalid(format!(
            "the manifest names a table {:?}.{:?} that cannot be a directory name",
            t.keyspace, t.table
        )));
    }
    let rel = RelPath::parse("table", &format!("{}/{leaf}", t.keyspace))
        .map_err(|e| ClientError::Invalid(one_line(&e)))?;
    root.dir(&rel, true)
        .map_err(|e| ClientError::Invalid(format!("--dest: {}", one_line(&e))))
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
struct Tally {
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
    fn new(dirs: &[Dir], wanted: &[Wanted]) -> Arc<Self> {
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

    fn table(&self, file: &Wanted) -> Option<&TableCounts> {
        self.tables.get(file.dir.shown())
    }

    fn summary(
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
async fn draw_bar(tally: Arc<Tally>) {
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
fn summary_table(s: &DownloadSummary) -> String {
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
