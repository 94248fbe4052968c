//! `ValidateSupervisor`: one online validate run. Per location: the hosts of the location's DCs
//! whose agents reach it; each host checks its own node's directory first, then takes other node
//! directories of the location (nodes no longer in the cluster included); a host that fails is
//! retried and its directory given to another ([`super::work`]). Progress rows
//! (`validate_backup_run_progress`, one per DC, host and location, with the node reports) go
//! through the `ProgressActor`; the run ends with the report's failure, and the metrics of the
//! cluster's last validate are set. With `delete_orphaned_files` the location's lease is held
//! while its directories are checked, as a purge holds it.
//!
//! This file holds the run's course; the actor shell, its messages and the run's bookkeeping
//! are shared with restore ([`crate::manager::run_actor`], [`crate::manager::run_record`]).

use chrono::{DateTime, Utc};

use super::node::NodeOptions;
use super::progress::report_from_rows;
use super::properties::{ContentCheck, ValidateProperties};
use super::report::ValidateReport;
use super::run::{ValidateDeps, ValidateError};
use super::source::CheckOptions;
use super::targets::{self, Host};
use super::work::{LocationWork, validate_location};
use crate::format::location::Location;
use crate::manager::backup::stage::BackupStage;
use crate::manager::lease::{self, Holder, Lease, LeaseError};
use crate::manager::metrics;
use crate::manager::progress_actor::FlushProgress;
use crate::manager::run_actor::RunFinished;
use crate::manager::run_actor::{RunActor, RunContext, RunFlow};
use crate::manager::run_record::{self, RunEnd};
use crate::manager::store::{RunKey, TaskKey, TaskType, ValidateRunProgress};

/// Most earlier runs counted for the sample's round.
const ROUND_LOOKBACK: usize = 100_000;

/// The supervisor of one validate run: the run actor of [`ValidateDeps`].
pub type ValidateSupervisor = RunActor<ValidateDeps>;

/// The run in progress: what its future owns.
type Flow = RunContext<ValidateDeps>;

impl RunFlow for ValidateDeps {
    fn run(run: Flow) -> impl std::future::Future<Output = RunFinished> + 'static {
        run.run_flow()
    }
}

impl Flow {
    /// The run's key.
    fn key(&self) -> RunKey {
        self.request.key()
    }

    /// The task's key.
    fn task_key(&self) -> TaskKey {
        self.request.task_key()
    }

    /// Runs the whole run and records how it ended.
    async fn run_flow(self) -> RunFinished {
        let store = self.deps.store.clone();
        let req = &self.request;
        let start = run_record::start_row(req, &self.deps.settings.owner);
        let mut result = match run_record::begin(&*store, &req.cluster.name, &start).await {
            Ok(()) => self.validate(start.start_time).await,
            Err(e) => Err(e.into()),
        };
        if self.cancel.is_cancelled() && result.is_err() {
            result = Err(ValidateError::Stopped);
        }
        let _ = self.deps.progress.send(FlushProgress).await;
        let end = match result {
            Ok(()) => RunEnd::Done,
            Err(ValidateError::Stopped) => RunEnd::Stopped,
            Err(e) => RunEnd::Failed(e.to_string()),
        };
        let stop_status = &self.stop_status;
        run_record::end(&*store, &req.cluster.name, start, end, stop_status).await
    }

    /// Validates every location; the report's failure (and unreachable locations) fail it.
    async fn validate(&self, started: DateTime<Utc>) -> Result<(), ValidateError> {
        let props = ValidateProperties::from_json(&self.request.task.properties.to_string())
            .map_err(|e| ValidateError::Properties(e.to_string()))?;
        props
            .validate()
            .map_err(|e| ValidateError::Properties(e.to_string()))?;
        let store = self.deps.store.as_ref();
        let cluster = &self.request.cluster;
        let locations = targets::locations(store, cluster.id, &props.location).await?;
        let (_, hosts) = targets::live_hosts(cluster).await?;
        let options = NodeOptions {
            content: props.content,
            sample: props.sample,
            round: self.round().await?,
            find_orphans: true,
            delete_orphans: props.delete_orphaned_files,
            cutoff: self.cutoff(started, &props).await?,
            check: CheckOptions {
                md5: props.content == ContentCheck::Full,
                transfers: None,
                rate_limit: None,
            },
        };
        tracing::info!(run = %self.key(), locations = locations.len(), hosts = hosts.len(), cutoff = %options.cutoff, round = options.round, "validating");
        let mut rows: Vec<ValidateRunProgress> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        for location in &locations {
            if self.cancel.is_cancelled() {
                return Err(ValidateError::Stopped);
            }
            match self.location(location, &hosts, &options, &props).await {
                Ok(r) => rows.extend(r),
                Err(ValidateError::Stopped) => return Err(ValidateError::Stopped),
                Err(e) => {
                    tracing::warn!(run = %self.key(), %location, error = %e, "location not validated");
                    problems.push(e.to_string());
                }
            }
        }
        if self.cancel.is_cancelled() {
            return Err(ValidateError::Stopped);
        }
        let report = report_from_rows(&props, &rows);
        let healthy = report.failure().is_none() && problems.is_empty();
        publish(
            &cluster.name,
            &self.request.task.id.to_string(),
            &report,
            healthy,
        );
        let cause: Vec<String> = report.failure().into_iter().chain(problems).collect();
        if cause.is_empty() {
            Ok(())
        } else {
            Err(ValidateError::Found(cause.join("; ")))
        }
    }

    /// One location: its hosts and directories found, checked under its lease when orphans are
    /// deleted; the hosts' final rows.
    async fn location(
        &self,
        location: &Location,
        hosts: &[Host],
        options: &NodeOptions,
        props: &ValidateProperties,
    ) -> Result<Vec<ValidateRunProgress>, ValidateError> {
        let cluster = &self.request.cluster;
        let target = tokio::select! {
            t = targets::location_target(cluster, hosts, location) => t?,
            () = self.cancel.cancelled() => return Err(ValidateError::Stopped),
        };
        for (host, why) in &target.unreachable {
            tracing::warn!(run = %self.key(), %location, %host, reason = %why, "host does not reach the location; others check its directory");
        }
        let cancel = self.cancel.child_token();
        let lease = if props.delete_orphaned_files {
            let clients = target.hosts.iter().map(|(_, c)| c.clone()).collect();
            let holder = Holder {
                task: Some(self.request.task.id),
                run: self.request.run_id,
                purpose: "validate",
            };
            Some(
                Lease::take(
                    lease::settings(),
                    vec![(location.clone(), clients)],
                    cluster.id,
                    holder,
                    cancel.clone(),
                )
                .await?,
            )
        } else {
            None
        };
        let rows = validate_location(LocationWork {
            run: self.key(),
            target,
            options,
            parallel: usize::try_from(props.parallel).unwrap_or(0),
            progress: self.deps.progress.clone(),
            cancel: cancel.clone(),
        })
        .await;
        if let Some(lease) = lease {
            let lost = lease.lost();
            lease.release().await;
            if let Some(reason) = lost {
                return Err(LeaseError::Lost {
                    location: location.to_string(),
                    path: crate::format::paths::remote_lease_file(cluster.id),
                    reason,
                }
                .into());
            }
        }
        if self.cancel.is_cancelled() {
            return Err(ValidateError::Stopped);
        }
        Ok(rows)
    }

    /// How many runs the task had before this one (moves the sample's window).
    async fn round(&self) -> Result<u64, ValidateError> {
        let runs = self
            .deps
            .store
            .list_task_runs(self.task_key(), ROUND_LOOKBACK)
            .await?;
        Ok(runs.iter().filter(|r| r.id != self.request.run_id).count() as u64)
    }

    /// Orphans modified after this are kept: the earlier of `started` less the grace period
    /// and the start of the oldest backup run of the cluster that may still resume (a backup
    /// task's latest run that is not done).
    async fn cutoff(
        &self,
        started: DateTime<Utc>,
        props: &ValidateProperties,
    ) -> Result<DateTime<Utc>, ValidateError> {
        let grace = chrono::Duration::from_std(props.grace())
            .unwrap_or_else(|_| chrono::Duration::hours(24));
        let mut cutoff = started - grace;
        let store = &self.deps.store;
        let cluster = self.request.cluster.id;
        for task in store.list_tasks(cluster, false).await? {
            if task.task_type != TaskType::Backup {
                continue;
            }
            if let Some(run) = store.last_backup_run(cluster, task.id).await?
                && run.stage != BackupStage::Done
                && run.start_time < cutoff
            {
                cutoff = run.start_time;
            }
        }
        Ok(cutoff)
    }
}

/// Sets the metrics of the task's last validate from the report's totals.
fn publish(cluster: &str, task: &str, report: &ValidateReport, healthy: bool) {
    metrics::validate_run(cluster, task, &report.totals(), healthy);
}
