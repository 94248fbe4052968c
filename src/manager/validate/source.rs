//! `ValidateSource`: what a validate check needs of a location — a recursive listing with sizes
//! and modification times, reading small objects (manifests, via [`LocationReader`]), deleting
//! objects, and checking SSTable content. Implemented through an agent (the online run: listings
//! and deletes over the files API, content by an agent check job) and straight from the store
//! (`--offline`: the same content check, run in this process).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use tokio_util::sync::CancellationToken;

use crate::agent::bandwidth::Bandwidth;
use crate::agent::check::check_sstables;
use crate::agent::storage::{Remote, StorageError, object_path};
use crate::agent::wire::{
    Bandwidth as WireBandwidth, CheckJob, CheckOutcome, Entry, JobProgress, JobStatus, SSTableCheck,
};
use crate::format::location::Location;
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::error::AgentError;
use crate::manager::agent_client::files::Root;
use crate::manager::agent_jobs::{self, JobError};
use crate::manager::location::reader::{LocationReader, ReadError, list_objects};

/// Progress of a content check, as it goes: SSTables and bytes done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckProgress {
    /// SSTables checked so far.
    pub sstables: u64,
    /// Bytes read so far.
    pub bytes: u64,
}

/// Options of a content check.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CheckOptions {
    /// Also compare MD5s with the store's.
    pub md5: bool,
    /// SSTables in parallel (`None`: the agent's, or this machine's, default).
    pub transfers: Option<usize>,
    /// Bandwidth budget, MiB/s (`None`: unchanged / unlimited offline).
    pub rate_limit: Option<f64>,
}

/// A location as validate reaches it.
pub trait ValidateSource: LocationReader {
    /// Every file under `dir` (recursively; paths relative to `dir`) with its size and
    /// modification time; none when `dir` does not exist.
    fn list_entries(
        &self,
        location: &Location,
        dir: &str,
    ) -> impl Future<Output = Result<Vec<Entry>, ReadError>> + Send;

    /// Deletes `paths` (relative to the location's root); returns how many were deleted (a
    /// path already gone counts as deleted).
    fn delete(
        &self,
        location: &Location,
        paths: &[String],
    ) -> impl Future<Output = Result<u64, ReadError>> + Send;

    /// Checks the content of `sstables`; `on_progress` is called as SSTables finish. Stops early
    /// (with what was found so far) once `cancel` fires.
    fn check_content(
        &self,
        location: &Location,
        sstables: Vec<SSTableCheck>,
        options: CheckOptions,
        cancel: &CancellationToken,
        on_progress: &(dyn Fn(CheckProgress) + Send + Sync),
    ) -> impl Future<Output = Result<CheckOutcome, ReadError>> + Send;

    /// Who checks through this source, for reports (an agent's host, or `offline`).
    fn checked_by(&self) -> String;
}

impl ValidateSource for AgentClient {
    async fn list_entries(&self, location: &Location, dir: &str) -> Result<Vec<Entry>, ReadError> {
        let listing = match self.list_files(Root::Backup(location), dir, true).await {
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            other => other?,
        };
        let mut listing = std::pin::pin!(listing);
        let mut out = Vec::new();
        while let Some(entry) = listing.next().await {
            let entry = entry?;
            if !entry.dir {
                out.push(entry);
            }
        }
        Ok(out)
    }

    async fn delete(&self, location: &Location, paths: &[String]) -> Result<u64, ReadError> {
        if paths.is_empty() {
            return Ok(0);
        }
        // The agent deletes every path that exists; the others were already gone.
        self.delete_files(Root::Backup(location), paths).await?;
        Ok(paths.len() as u64)
    }

    async fn check_content(
        &self,
        location: &Location,
        sstables: Vec<SSTableCheck>,
        options: CheckOptions,
        cancel: &CancellationToken,
        on_progress: &(dyn Fn(CheckProgress) + Send + Sync),
    ) -> Result<CheckOutcome, ReadError> {
        let job = CheckJob {
            location: location.without_dc().to_string(),
            sstables,
            md5: options.md5,
            transfers: options.transfers,
            rate_limit: options.rate_limit,
        };
        agent_check(self, &job, cancel, on_progress).await
    }

    fn checked_by(&self) -> String {
        self.host().to_string()
    }
}

/// How long each long poll of a check job waits.
const CHECK_POLL: Duration = Duration::from_secs(10);
/// How many times a check job lost to an agent restart (or an agent away) is started again.
const CHECK_RESTARTS: u32 = 5;
/// How long to wait for an agent that is away before starting its check again.
const AGENT_AWAY: Duration = Duration::from_secs(5);

/// Runs `job` on `client` to its end: follows it by long poll, reports its progress, starts it
/// again (from the start) when the agent lost it, stops it on `cancel` (returning what it had
/// found), and turns a failed job into an error naming the job's reason.
async fn agent_check(
    client: &AgentClient,
    job: &CheckJob,
    cancel: &CancellationToken,
    on_progress: &(dyn Fn(CheckProgress) + Send + Sync),
) -> Result<CheckOutcome, ReadError> {
    let report = |p: &JobProgress| {
        on_progress(CheckProgress {
            sstables: p.files_transferred,
            bytes: p.bytes_transferred,
        });
    };
    let mut restarts = 0;
    loop {
        let id = client.start_check(job).await?;
        let followed = agent_jobs::follow(client, &id, CHECK_POLL, cancel, |p| {
            report(p);
            async {}
        })
        .await;
        let p = match followed {
            Ok(p) => p,
            Err(JobError::Stopped) => {
                // What the stopped job had found.
                let p = client.job_progress(&id, Duration::ZERO).await?;
                let _ = client.remove_job(&id).await;
                return Ok(p.check.unwrap_or_default());
            }
            Err(JobError::Agent(e)) if e.retryable() && restarts < CHECK_RESTARTS => {
                restarts += 1;
                tracing::warn!(host = %client.host(), job = %id, error = %e, "the agent is away; starting the check again");
                tokio::select! {
                    () = tokio::time::sleep(AGENT_AWAY) => {}
                    () = cancel.cancelled() => return Ok(CheckOutcome::default()),
                }
                let _ = client.stop_job(&id).await;
                continue;
            }
            Err(JobError::Agent(e)) => {
                let _ = client.stop_job(&id).await;
                return Err(e.into());
            }
            Err(JobError::StillRunning { .. }) => {
                return Err(job_failed(client, &id, "the job does not stop".into()));
            }
        };
        match p.status {
            JobStatus::Success | JobStatus::Stopped => {
                report(&p);
                let _ = client.remove_job(&id).await;
                return Ok(p.check.unwrap_or_default());
            }
            JobStatus::NotFound if restarts < CHECK_RESTARTS => {
                restarts += 1;
                tracing::warn!(host = %client.host(), job = %id, "the agent lost the check job; starting it again");
            }
            status => {
                let reason = p
                    .error
                    .clone()
                    .unwrap_or_else(|| format!("the check job ended {status:?}"));
                let _ = client.remove_job(&id).await;
                return Err(job_failed(client, &id, reason));
            }
        }
    }
}

/// The error of a check job that failed for `reason`.
fn job_failed(client: &AgentClient, id: &str, reason: String) -> ReadError {
    ReadError::Agent(AgentError::Status {
        host: client.host().to_string(),
        call: format!("check job {id}"),
        status: 500,
        message: reason,
        retryable: false,
    })
}

impl ValidateSource for Remote {
    async fn list_entries(&self, _location: &Location, dir: &str) -> Result<Vec<Entry>, ReadError> {
        Ok(list_objects(self, dir)
            .await?
            .into_iter()
            .map(|(path, meta)| Entry {
                path,
                size: meta.size,
                dir: false,
                modified: Some(meta.last_modified),
            })
            .collect())
    }

    async fn delete(&self, _location: &Location, paths: &[String]) -> Result<u64, ReadError> {
        let mut deleted = 0;
        for p in paths {
            let path = object_path(p)?;
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => return Err(self.err("delete", &path)(e).into()),
            }
        }
        Ok(deleted)
    }

    async fn check_content(
        &self,
        _location: &Location,
        sstables: Vec<SSTableCheck>,
        options: CheckOptions,
        cancel: &CancellationToken,
        on_progress: &(dyn Fn(CheckProgress) + Send + Sync),
    ) -> Result<CheckOutcome, ReadError> {
        let rate = match options.rate_limit {
            Some(r) => WireBandwidth::bytes_per_second_of(r).map_err(|reason| {
                ReadError::Storage(StorageError::NotConfigured {
                    location: self.location.to_string(),
                    reason: format!("rate limit {r}: {reason}"),
                })
            })?,
            None => 0,
        };
        let bandwidth = (rate > 0).then(|| Bandwidth::new(rate));
        let progress = |outcome: &CheckOutcome, bytes: u64| {
            on_progress(CheckProgress {
                sstables: outcome.sstables_checked,
                bytes,
            });
        };
        Ok(check_sstables(
            self,
            sstables,
            options.md5,
            options.transfers.unwrap_or(OFFLINE_TRANSFERS),
            bandwidth.as_ref(),
            cancel,
            &progress,
        )
        .await?)
    }

    fn checked_by(&self) -> String {
        "offline".to_string()
    }
}

/// SSTables checked in parallel offline when not told.
const OFFLINE_TRANSFERS: usize = 4;
