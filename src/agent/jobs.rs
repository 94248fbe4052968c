//! Transfer jobs: started asynchronously, one ID each, observed by long poll, stoppable.
//!
//! An upload job moves a table's snapshot directory to its remote version directory: each local
//! file is deleted only after its upload is confirmed, so a resumed job sees exactly what is
//! left. A remote file with the same name and the same content is not sent again (its bytes count
//! as skipped); one with different content is first kept as `<name>.sm_<tag>` (versioning). A
//! download job copies remote files into a local directory, each under its own name or the one
//! `names` gives it (a restore fetches `x.sm_<tag>` as `x`); with `keep_verified`, a file already
//! there and verified is kept and counts as skipped. A check job (validate's content check,
//! [`super::check`]) reads stored SSTables and reports what it found in `check`; its SSTables
//! count as files. Jobs live in memory: after an agent
//! restart an old ID answers `not_found`, and the manager starts the job again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dashmap::DashMap;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::format::sstable::versioned_name;
use crate::format::tag::SnapshotTag;

use super::confined::{ConfinedRoot, Dir, Kind, RelPath};
use super::download::{DownloadEvents, Wanted, download_all};
use super::files::FileError;
use super::retry::with_retries;
use super::storage::{Stores, object_path};
use super::transfer::{DataPath, LocalFile, TransferError};
use super::wire::{
    Bandwidth, CheckJob, CheckOutcome, DownloadJob, FileFailure, JobProgress, JobStatus, UploadJob,
};

/// How long finished jobs stay queryable.
const KEEP_FINISHED: Duration = Duration::from_secs(3600);
/// Most failures listed in a job's progress.
const MAX_LISTED_FAILURES: usize = 20;

/// Why a job could not start.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A local path was refused or unreadable.
    #[error(transparent)]
    File(#[from] FileError),
    /// The location was refused or unreachable.
    #[error(transparent)]
    Storage(#[from] super::storage::StorageError),
    /// A request field is wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
}

/// A running or finished job.
#[derive(Debug)]
struct Job {
    /// Latest progress; watchers wake on every change.
    progress: watch::Sender<JobProgress>,
    /// Stops the job.
    cancel: CancellationToken,
}

/// Every job of the agent.
#[derive(Debug)]
pub struct Jobs {
    /// Jobs by ID.
    map: DashMap<String, Arc<Job>>,
    /// The data path transfers go through.
    data: Arc<DataPath>,
    /// Location clients.
    stores: Arc<Stores>,
    /// The node's data directory.
    root: ConfinedRoot,
}

impl Jobs {
    /// A registry whose jobs use this data path, these stores and this data directory.
    pub fn new(data: Arc<DataPath>, stores: Arc<Stores>, root: ConfinedRoot) -> Self {
        Jobs {
            map: DashMap::new(),
            data,
            stores,
            root,
        }
    }

    /// The data path, for bandwidth queries.
    pub fn data(&self) -> &Arc<DataPath> {
        &self.data
    }

    fn transfers(&self, asked: Option<usize>) -> Result<usize, JobError> {
        match asked {
            None => Ok(self.data.limits.transfers),
            Some(0) => Err(JobError::Invalid {
                field: "transfers".into(),
                reason: "must be at least 1".into(),
            }),
            Some(n) if n > crate::format::MAX_TRANSFERS => Err(JobError::Invalid {
                field: "transfers".into(),
                reason: format!("{n} is more than {}", crate::format::MAX_TRANSFERS),
            }),
            Some(n) => Ok(n),
        }
    }

    fn apply_rate(&self, rate: Option<f64>) -> Result<(), JobError> {
        if let Some(r) = rate {
            let rate = Bandwidth::bytes_per_second_of(r).map_err(|reason| JobError::Invalid {
                field: "rate_limit".into(),
                reason: reason.into(),
            })?;
            self.data.bandwidth.set_rate(rate);
        }
        Ok(())
    }

    fn register(&self, kind: &str, source: &str) -> (String, Arc<Job>) {
        self.expire();
        let id = uuid::Uuid::new_v4().to_string();
        let (progress, _) = watch::channel(JobProgress::running(&id, kind, source));
        let job = Arc::new(Job {
            progress,
            cancel: CancellationToken::new(),
        });
        self.map.insert(id.clone(), job.clone());
        metrics::counter!("cairn_agent_jobs_started_total", "kind" => kind.to_string())
            .increment(1);
        (id, job)
    }

    fn expire(&self) {
        let now = Utc::now();
        self.map.retain(|_, job| {
            let p = job.progress.borrow();
            p.completed_at.is_none_or(|t| {
                now.signed_duration_since(t).to_std().unwrap_or_default() < KEEP_FINISHED
            })
        });
    }

    /// Starts an upload job; returns its ID.
    pub fn start_upload(&self, req: UploadJob) -> Result<String, JobError> {
        let transfers = self.transfers(req.transfers)?;
        let rel = RelPath::parse("source_dir", &req.source_dir).map_err(FileError::from)?;
        let source = self.root.dir(&rel, false).map_err(|e| {
            if e.is_not_found() {
                FileError::NotFound(req.source_dir.clone())
            } else {
                e.into()
            }
        })?;
        let remote = self.stores.get(&req.location)?;
        let remote_dir = remote_path("remote_dir", &req.remote_dir)?;
        self.apply_rate(req.rate_limit)?;
        let (id, job) = self.register("upload", &req.source_dir);
        let data = self.data.clone();
        tokio::spawn(async move {
            let result = run_upload(
                &data,
                &job,
                &source,
                &remote,
                &remote_dir,
                &req.tag,
                transfers,
            )
            .await;
            finish(&job, result);
        });
        Ok(id)
    }

    /// Starts a download job; returns its ID.
    pub fn start_download(&self, req: DownloadJob) -> Result<String, JobError> {
        let transfers = self.transfers(req.transfers)?;
        let rel = RelPath::parse("dest_dir", &req.dest_dir).map_err(FileError::from)?;
        let remote = self.stores.get(&req.location)?;
        let mut files = Vec::with_capacity(req.files.len());
        for (i, f) in req.files.iter().enumerate() {
            let field = format!("files[{i}]");
            let path = remote_path(&field, f)?;
            let name = path
                .filename()
                .map(str::to_string)
                .ok_or_else(|| JobError::Invalid {
                    field: field.clone(),
                    reason: format!("{f:?} names no file"),
                })?;
            files.push((path, name));
        }
        check_names(&req.names, files.len())?;
        for ((_, name), given) in files.iter_mut().zip(&req.names) {
            name.clone_from(given);
        }
        let dest = self.root.dir(&rel, true).map_err(FileError::from)?;
        self.apply_rate(req.rate_limit)?;
        let (id, job) = self.register("download", &req.location);
        let data = self.data.clone();
        tokio::spawn(async move {
            let result = run_download(
                &data,
                &job,
                &dest,
                &remote,
                files,
                transfers,
                req.keep_verified,
            )
            .await;
            finish(&job, result);
        });
        Ok(id)
    }

    /// Starts a check job (validate's content check); returns its ID.
    pub fn start_check(&self, req: CheckJob) -> Result<String, JobError> {
        let transfers = self.transfers(req.transfers)?;
        let remote = self.stores.get(&req.location)?;
        for (i, s) in req.sstables.iter().enumerate() {
            remote_path(&format!("sstables[{i}].dir"), &s.dir)?;
            for (j, f) in s.files.iter().enumerate() {
                for (field, value) in [("name", &f.name), ("object", &f.object)] {
                    plain_name(&format!("sstables[{i}].files[{j}].{field}"), value)?;
                }
            }
        }
        self.apply_rate(req.rate_limit)?;
        let (id, job) = self.register("check", &req.location);
        let data = self.data.clone();
        tokio::spawn(async move {
            let result = run_check(&data, &job, &remote, req.sstables, req.md5, transfers).await;
            finish(&job, result);
        });
        Ok(id)
    }

    /// The job's progress once it finishes or `wait` passes, whichever is first.
    pub async fn progress(&self, id: &str, wait: Duration) -> JobProgress {
        let Some(job) = self.map.get(id).map(|j| j.clone()) else {
            return JobProgress::not_found(id);
        };
        let mut rx = job.progress.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(|p| p.status != JobStatus::Running)).await;
        rx.borrow().clone()
    }

    /// Stops a job: transfers in flight are abandoned (multipart uploads aborted). Returns the
    /// progress once it has stopped, or `None` for an unknown ID.
    pub async fn stop(&self, id: &str) -> Option<JobProgress> {
        let job = self.map.get(id).map(|j| j.clone())?;
        job.cancel.cancel();
        let mut rx = job.progress.subscribe();
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            rx.wait_for(|p| p.status != JobStatus::Running),
        )
        .await;
        Some(rx.borrow().clone())
    }

    /// Forgets a finished job; stops it first if it is running.
    pub async fn remove(&self, id: &str) -> Option<JobProgress> {
        let p = self.stop(id).await?;
        self.map.remove(id);
        Some(p)
    }

    /// Every job's progress.
    pub fn list(&self) -> Vec<JobProgress> {
        self.map
            .iter()
            .map(|j| j.progress.borrow().clone())
            .collect()
    }
}

/// Checks a path inside a location, naming the request field when it is refused.
fn remote_path(field: &str, path: &str) -> Result<object_store::path::Path, JobError> {
    object_path(path).map_err(|e| JobError::Invalid {
        field: field.to_string(),
        reason: e.to_string(),
    })
}

/// Checks that `name` is one plain file name (no `/`, not `.` or `..`, no control character).
fn plain_name(field: &str, name: &str) -> Result<(), JobError> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(JobError::Invalid {
            field: field.to_string(),
            reason: format!("{name:?} must be a plain file name"),
        });
    }
    Ok(())
}

/// Records the end of a job.
fn finish(job: &Job, result: Result<(), String>) {
    job.progress.send_modify(|p| {
        p.completed_at = Some(Utc::now());
        p.status = if job.cancel.is_cancelled() {
            JobStatus::Stopped
        } else if let Err(e) = &result {
            p.error = Some(e.clone());
            JobStatus::Error
        } else if p.files_failed > 0 {
            p.error = Some(format!(
                "{} of {} files failed; first: {}",
                p.files_failed,
                p.files_total,
                p.failures.first().map(|f| format!("{}: {}", f.file, f.error)).unwrap_or_default()
            ));
            JobStatus::Error
        } else {
            JobStatus::Success
        };
        metrics::counter!("cairn_agent_jobs_finished_total", "kind" => p.kind.clone(), "status" => format!("{:?}", p.status).to_lowercase()).increment(1);
    });
}

/// Records a failed file.
fn fail_file(job: &Job, file: &str, size: u64, error: &TransferError) {
    tracing::warn!(file, error = %error, "transfer failed");
    metrics::counter!("cairn_agent_files_total", "result" => "failed").increment(1);
    metrics::counter!("cairn_agent_bytes_total", "result" => "failed").increment(size);
    job.progress.send_modify(|p| {
        p.files_failed += 1;
        p.bytes_failed += size;
        if p.failures.len() < MAX_LISTED_FAILURES {
            p.failures.push(FileFailure {
                file: file.to_string(),
                error: error.to_string(),
            });
        }
    });
}

async fn run_upload(
    data: &DataPath,
    job: &Job,
    source: &Dir,
    remote: &super::storage::Remote,
    remote_dir: &object_store::path::Path,
    tag: &SnapshotTag,
    transfers: usize,
) -> Result<(), String> {
    let listed = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || source.entries())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    // Regular files only: a link is neither uploaded nor followed.
    let local: Vec<(String, u64)> = listed
        .into_iter()
        .filter(|e| e.kind == Kind::File)
        .map(|e| (e.name, e.size))
        .collect();
    job.progress.send_modify(|p| {
        p.files_total = local.len() as u64;
        p.bytes_total = local.iter().map(|(_, s)| s).sum();
    });
    let cleaned = remote.clean_staging(remote_dir);
    if cleaned > 0 {
        tracing::info!(count = cleaned, dir = %remote_dir, "removed staging files of interrupted uploads");
    }
    // One listing of the remote directory instead of a request per file.
    let listing = remote
        .store
        .list_with_delimiter(Some(remote_dir))
        .await
        .map_err(|e| format!("list {}/{remote_dir}: {e}", remote.location))?;
    let existing: HashMap<String, object_store::ObjectMeta> = listing
        .objects
        .into_iter()
        .filter_map(|m| m.location.filename().map(|n| (n.to_string(), m.clone())))
        .collect();
    let existing = &existing;
    futures::stream::iter(local)
        .for_each_concurrent(transfers, |(name, size)| async move {
            if job.cancel.is_cancelled() {
                return;
            }
            let path = LocalFile {
                dir: source.clone(),
                name: name.clone(),
            };
            let dest = remote_dir.clone().join(name.as_str());
            let result = upload_one(
                data,
                job,
                remote,
                &path,
                &dest,
                &name,
                size,
                existing.get(&name),
                tag,
            )
            .await;
            match result {
                Ok(skipped) => {
                    if let Err(e) = path.dir.remove_file(&name) {
                        let e = TransferError::Local {
                            op: "remove",
                            path: path.path().display().to_string(),
                            source: std::io::Error::other(e.to_string()),
                        };
                        return fail_file(job, &name, size, &e);
                    }
                    let result = if skipped { "skipped" } else { "transferred" };
                    metrics::counter!("cairn_agent_files_total", "result" => result).increment(1);
                    job.progress.send_modify(|p| {
                        if skipped {
                            p.files_skipped += 1;
                            p.bytes_skipped += size;
                        } else {
                            p.files_transferred += 1;
                        }
                    });
                }
                Err(TransferError::Stopped) => {}
                Err(e) => fail_file(job, &name, size, &e),
            }
        })
        .await;
    Ok(())
}

/// The directory part of an object path.
fn remote_dir_of(path: &object_store::path::Path) -> object_store::path::Path {
    let parts: Vec<_> = path.parts().collect();
    parts[..parts.len().saturating_sub(1)]
        .iter()
        .cloned()
        .collect()
}

/// Uploads one file unless the remote already has it; returns whether it was skipped.
#[allow(clippy::too_many_arguments)]
async fn upload_one(
    data: &DataPath,
    job: &Job,
    remote: &super::storage::Remote,
    path: &LocalFile,
    dest: &object_store::path::Path,
    name: &str,
    size: u64,
    existing: Option<&object_store::ObjectMeta>,
    tag: &SnapshotTag,
) -> Result<bool, TransferError> {
    if let Some(meta) = existing {
        if data.same_content(remote, meta, path, size).await? {
            metrics::counter!("cairn_agent_bytes_total", "result" => "skipped").increment(size);
            return Ok(true);
        }
        let versioned = remote_dir_of(dest)
            .clone()
            .join(versioned_name(name, tag).as_str());
        with_retries(&job.cancel, || async {
            remote
                .store
                .copy(dest, &versioned)
                .await
                .map_err(|e| remote.err("keep older version of", dest)(e).into())
        })
        .await?;
        job.progress.send_modify(|p| p.files_versioned += 1);
    }
    with_retries(&job.cancel, || async {
        let sent = std::sync::atomic::AtomicU64::new(0);
        let progress = |n: u64| {
            sent.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            metrics::counter!("cairn_agent_bytes_total", "result" => "transferred").increment(n);
            job.progress.send_modify(|p| p.bytes_transferred += n);
        };
        let r = data
            .upload(remote, path, dest, size, &progress, &job.cancel)
            .await;
        if r.is_err() {
            // A retried file counts from zero again.
            let undo = sent.load(std::sync::atomic::Ordering::Relaxed);
            job.progress
                .send_modify(|p| p.bytes_transferred = p.bytes_transferred.saturating_sub(undo));
        }
        r
    })
    .await?;
    Ok(false)
}

async fn run_download(
    data: &DataPath,
    job: &Job,
    dest: &Dir,
    remote: &super::storage::Remote,
    files: Vec<(object_store::path::Path, String)>,
    transfers: usize,
    keep_verified: bool,
) -> Result<(), String> {
    let mut wanted = Vec::with_capacity(files.len());
    for (path, name) in files {
        let meta = remote
            .store
            .head(&path)
            .await
            .map_err(|e| format!("{}/{path}: {e}", remote.location))?;
        wanted.push(Wanted {
            meta,
            dir: dest.clone(),
            name,
        });
    }
    job.progress.send_modify(|p| {
        p.files_total = wanted.len() as u64;
        p.bytes_total = wanted.iter().map(|w| w.meta.size).sum();
    });
    download_all(
        data,
        remote,
        wanted,
        transfers,
        keep_verified,
        job,
        &job.cancel,
    )
    .await;
    Ok(())
}

/// Runs a check job: SSTables are its files, the bytes read its bytes transferred, and what it
/// found so far is in `check`.
async fn run_check(
    data: &DataPath,
    job: &Job,
    remote: &super::storage::Remote,
    sstables: Vec<super::wire::SSTableCheck>,
    md5: bool,
    transfers: usize,
) -> Result<(), String> {
    job.progress.send_modify(|p| {
        p.files_total = sstables.len() as u64;
        p.bytes_total = super::check::bytes_to_read(&sstables, md5);
        p.check = Some(CheckOutcome::default());
    });
    let counted = std::sync::Mutex::new((0u64, 0usize));
    let on_progress = |outcome: &CheckOutcome, bytes: u64| {
        {
            let mut c = counted.lock().unwrap_or_else(|p| p.into_inner());
            metrics::counter!("cairn_agent_check_bytes_total").increment(bytes.saturating_sub(c.0));
            for f in outcome.findings.iter().skip(c.1) {
                metrics::counter!("cairn_agent_check_findings_total", "kind" => f.kind.as_str())
                    .increment(1);
            }
            *c = (c.0.max(bytes), c.1.max(outcome.findings.len()));
        }
        job.progress.send_modify(|p| {
            p.files_transferred = outcome.sstables_checked;
            p.bytes_transferred = bytes;
            p.check = Some(outcome.clone());
        });
    };
    let outcome = super::check::check_sstables(
        remote,
        sstables,
        md5,
        transfers,
        Some(&data.bandwidth),
        &job.cancel,
        &on_progress,
    )
    .await
    .map_err(|e| e.to_string())?;
    job.progress.send_modify(|p| {
        p.files_transferred = outcome.sstables_checked;
        p.check = Some(outcome);
    });
    Ok(())
}

/// A download job's progress follows its files.
impl DownloadEvents for Job {
    fn transferred(&self, n: u64) {
        metrics::counter!("cairn_agent_bytes_total", "result" => "transferred").increment(n);
        self.progress.send_modify(|p| p.bytes_transferred += n);
    }

    fn retracted(&self, n: u64) {
        self.progress
            .send_modify(|p| p.bytes_transferred = p.bytes_transferred.saturating_sub(n));
    }

    fn kept(&self, file: &Wanted) {
        metrics::counter!("cairn_agent_files_total", "result" => "skipped").increment(1);
        metrics::counter!("cairn_agent_bytes_total", "result" => "skipped")
            .increment(file.meta.size);
        self.progress.send_modify(|p| {
            p.files_skipped += 1;
            p.bytes_skipped += file.meta.size;
        });
    }

    fn downloaded(&self, _file: &Wanted) {
        metrics::counter!("cairn_agent_files_total", "result" => "transferred").increment(1);
        self.progress.send_modify(|p| p.files_transferred += 1);
    }

    fn failed(&self, file: &Wanted, error: &TransferError) {
        fail_file(self, &file.name, file.meta.size, error);
    }
}

/// Checks a download's `names`: empty, or one plain file name per file, no two alike.
fn check_names(names: &[String], files: usize) -> Result<(), JobError> {
    if names.is_empty() {
        return Ok(());
    }
    let invalid = |field: String, reason: String| JobError::Invalid { field, reason };
    if names.len() != files {
        return Err(invalid(
            "names".into(),
            format!(
                "{} names for {files} files: give one name per file, or none",
                names.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let field = format!("names[{i}]");
        if name.is_empty() || name == "." || name == ".." {
            return Err(invalid(field, format!("{name:?} is not a file name")));
        }
        if name.contains(['/', '\0']) {
            return Err(invalid(
                field,
                format!("{name:?} must be a plain file name (no '/' or NUL)"),
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(invalid(field, format!("{name:?} is given for two files")));
        }
    }
    Ok(())
}
