//! Transfer jobs on an agent: starting uploads, downloads and content checks, following a job by long poll,
//! stopping and forgetting it, and the agent's bandwidth budget the jobs share.

use std::time::Duration;

use reqwest::Method;

use super::error::AgentError;
use super::{AgentClient, Call, LONG_CALL_TIMEOUT, POLL_SLACK, segment};
use crate::agent::wire::{
    Bandwidth, CheckJob, DownloadJob, JobProgress, JobStarted, JobWait, SetBandwidth, UploadJob,
};

impl AgentClient {
    /// Starts an upload job and returns its ID.
    pub async fn start_upload(&self, job: &UploadJob) -> Result<String, AgentError> {
        self.start_job("/agent/jobs/upload", job).await
    }

    /// Starts a download job and returns its ID.
    pub async fn start_download(&self, job: &DownloadJob) -> Result<String, AgentError> {
        self.start_job("/agent/jobs/download", job).await
    }

    /// Starts a check job (validate's content check of stored SSTables) and returns its ID.
    pub async fn start_check(&self, job: &CheckJob) -> Result<String, AgentError> {
        self.start_job("/agent/jobs/check", job).await
    }

    /// Starts a job and returns its ID.
    async fn start_job(
        &self,
        path: &str,
        job: &impl serde::Serialize,
    ) -> Result<String, AgentError> {
        let started: JobStarted = self.json(Call::new(Method::POST, path).json(job)).await?;
        Ok(started.id)
    }

    /// A job's progress, returned when it ends or after `wait` (zero: at once); an unknown job
    /// (never started, expired, lost in an agent restart) has status `not_found`.
    pub async fn job_progress(&self, id: &str, wait: Duration) -> Result<JobProgress, AgentError> {
        let call = Call::new(Method::GET, format!("/agent/jobs/{}", segment(id)))
            .params(&JobWait {
                wait: wait.as_secs(),
            })
            .timeout(wait + POLL_SLACK);
        self.job_call(id, call).await
    }

    /// Stops a job; in-flight uploads are aborted.
    pub async fn stop_job(&self, id: &str) -> Result<JobProgress, AgentError> {
        let call = Call::new(Method::POST, format!("/agent/jobs/{}/stop", segment(id)))
            .timeout(LONG_CALL_TIMEOUT)
            .idempotent();
        self.job_call(id, call).await
    }

    /// Forgets a job (stopping it first if it runs).
    pub async fn remove_job(&self, id: &str) -> Result<JobProgress, AgentError> {
        let call = Call::new(Method::DELETE, format!("/agent/jobs/{}", segment(id)))
            .timeout(LONG_CALL_TIMEOUT)
            .idempotent();
        self.job_call(id, call).await
    }

    /// Every job the agent knows.
    pub async fn jobs(&self) -> Result<Vec<JobProgress>, AgentError> {
        self.json(Call::new(Method::GET, "/agent/jobs")).await
    }

    /// A call about one job, where 404 means the job is unknown.
    async fn job_call(&self, id: &str, call: Call) -> Result<JobProgress, AgentError> {
        match self.json::<JobProgress>(call).await {
            Err(e) if e.is_not_found() => Ok(JobProgress::not_found(id)),
            other => other,
        }
    }

    /// The agent's bandwidth budget.
    pub async fn bandwidth(&self) -> Result<Bandwidth, AgentError> {
        self.json(Call::new(Method::GET, "/agent/bandwidth")).await
    }

    /// Changes the agent's bandwidth budget (MiB/s, 0: unlimited) and returns the new one.
    pub async fn set_bandwidth(&self, mib_per_second: f64) -> Result<Bandwidth, AgentError> {
        self.json(
            Call::new(Method::PUT, "/agent/bandwidth")
                .json(&SetBandwidth {
                    rate_limit: mib_per_second,
                })
                .idempotent(),
        )
        .await
    }
}
