//! Following one agent transfer job (an upload now, a restore's download next): long polls until
//! it ends, stopping it when the run is stopped, and stopping earlier attempts' jobs before their
//! files are touched again. A job the agent no longer knows ([`lost`]) was lost to an agent
//! restart; what to do then (start it again, count what it moved) is the caller's.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::agent::wire::{JobProgress, JobStatus};
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::error::AgentError;

/// How often a stopping job is asked whether it has stopped.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Why following or stopping a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A call to the agent failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The run was stopped (the job was asked to stop).
    #[error("stopped")]
    Stopped,
    /// The job kept running after it was asked to stop.
    #[error("agent job {job} does not stop")]
    StillRunning {
        /// The job.
        job: String,
    },
}

/// Whether the agent no longer knows the job: it restarted and lost it.
pub fn lost(p: &JobProgress) -> bool {
    p.status == JobStatus::NotFound
}

/// Long-polls job `id` on `client` (each poll at most `long_poll`) until it ends, and returns
/// its last progress; `running` sees each progress of the job while it runs. When `cancel` fires
/// the job is asked to stop and [`JobError::Stopped`] returned.
pub async fn follow<F, Fut>(
    client: &AgentClient,
    id: &str,
    long_poll: Duration,
    cancel: &CancellationToken,
    mut running: F,
) -> Result<JobProgress, JobError>
where
    F: FnMut(&JobProgress) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let p = tokio::select! {
            p = client.job_progress(id, long_poll) => p?,
            () = cancel.cancelled() => {
                if let Err(e) = client.stop_job(id).await {
                    tracing::warn!(host = %client.host(), job = id, error = %e, "could not stop the agent job");
                }
                return Err(JobError::Stopped);
            }
        };
        if p.status != JobStatus::Running {
            return Ok(p);
        }
        running(&p).await;
    }
}

/// Asks job `id` to stop and waits, up to `wait`, until it no longer runs; a stopped run
/// ([`JobError::Stopped`]) ends the wait.
pub async fn stop(
    client: &AgentClient,
    id: &str,
    wait: Duration,
    cancel: &CancellationToken,
) -> Result<(), JobError> {
    let mut status = client.stop_job(id).await?.status;
    let deadline = Instant::now() + wait;
    while status == JobStatus::Running {
        if cancel.is_cancelled() {
            return Err(JobError::Stopped);
        }
        if Instant::now() > deadline {
            return Err(JobError::StillRunning { job: id.into() });
        }
        tokio::time::sleep(STOP_POLL).await;
        status = client.job_progress(id, Duration::ZERO).await?.status;
    }
    Ok(())
}
