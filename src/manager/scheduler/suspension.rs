//! Suspending a cluster (upstream's `sctool suspend` / `sctool resume`): while a cluster is
//! suspended no task of it starts, neither by its schedule nor by hand (a start by hand is
//! refused with [`SchedulerError::Suspended`]), and its scheduled activations are cancelled.
//!
//! - [`Suspend`] stops every running task of the cluster (their runs end STOPPED and the next
//!   run continues them), records the suspension in the store (with the tasks it stopped, and
//!   with `--duration` when it ends) and publishes `cairn_manager_scheduler_suspended`.
//!   Suspending a suspended cluster changes nothing.
//! - [`Resume`] removes the record, reschedules every task of the cluster from now (a run due
//!   meanwhile does not run at once), and with `start_tasks` starts the tasks the suspension
//!   stopped, each continuing its run (one whose stopped run has not ended yet starts when it
//!   ends). Resuming a cluster not suspended changes nothing.
//! - A suspension with a duration resumes by itself at the scheduler's first tick after its
//!   end, starting the stopped tasks when it was asked to; one that ended while the manager was
//!   down resumes at start-up.
//! - The suspensions are read from the store when the scheduler starts: a suspended cluster
//!   stays suspended across a restart. Deleting a cluster deletes its suspension; the scheduler
//!   forgets one whose cluster is gone or was added again after it.

use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Scheduler, SchedulerError, in_window};
use crate::manager::metrics;
use crate::manager::store::{Cluster, RunStatus, Store, StoreError, Suspension};

/// Suspends a cluster: stops its running tasks and starts none until it is resumed.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<SuspendOutcome, SchedulerError>")]
pub struct Suspend {
    /// The cluster.
    pub cluster_id: Uuid,
    /// Its name (for messages and metrics).
    pub cluster_name: String,
    /// Resume by itself after this long.
    pub duration: Option<Duration>,
    /// When resuming by itself, start the tasks the suspension stopped.
    pub start_tasks_on_resume: bool,
}

/// What [`Suspend`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuspendOutcome {
    /// The cluster was suspended already: nothing was done.
    pub already: bool,
    /// The cluster's suspension (the one found when `already`).
    pub suspension: Suspension,
}

/// Resumes a suspended cluster.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<ResumeOutcome, SchedulerError>")]
pub struct Resume {
    /// The cluster.
    pub cluster_id: Uuid,
    /// Start the tasks the suspension stopped, continuing their runs.
    pub start_tasks: bool,
}

/// What [`Resume`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResumeOutcome {
    /// The cluster was suspended (false: nothing was done).
    pub was_suspended: bool,
    /// The tasks started, with their new run (`None`: it starts as soon as its stopped run has
    /// ended).
    pub started: Vec<(Uuid, Option<Uuid>)>,
    /// The stopped tasks that were not started, with the reason.
    pub not_started: Vec<(Uuid, String)>,
}

/// Asks for a cluster's suspension; `None` when it is not suspended.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Option<Suspension>")]
pub struct GetSuspension {
    /// The cluster.
    pub cluster_id: Uuid,
}

/// A suspension the scheduler holds.
pub(super) struct Held {
    /// The record, as stored.
    pub(super) record: Suspension,
    /// The cluster's name, for messages and metrics.
    pub(super) name: String,
}

/// Every stored suspension with its cluster's name.
pub(super) async fn load(store: std::sync::Arc<dyn Store>) -> Result<Vec<Held>, StoreError> {
    let mut held = Vec::new();
    for c in store.list_clusters().await? {
        if let Some(record) = store.get_suspension(c.id).await? {
            held.push(Held {
                record,
                name: c.name,
            });
        }
    }
    Ok(held)
}

/// `t` to the millisecond, as the store keeps times (so that a suspension compares the same
/// before and after a restart).
fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

impl Scheduler {
    /// Whether the cluster is suspended.
    pub(super) fn is_suspended(&self, cluster_id: Uuid) -> bool {
        self.suspended.contains_key(&cluster_id)
    }

    /// The refusal of starting a task of the cluster, when it is suspended.
    pub(super) fn suspension_refusal(&self, cluster_id: Uuid) -> Option<SchedulerError> {
        self.suspended
            .get(&cluster_id)
            .map(|h| SchedulerError::Suspended {
                cluster: h.name.clone(),
                since: h.record.started_at,
            })
    }

    /// Takes the suspensions read at start-up.
    pub(super) fn hold_loaded(&mut self, loaded: Vec<Held>) {
        for h in loaded {
            tracing::info!(cluster = %h.name, since = %h.record.started_at, "the cluster is suspended");
            metrics::scheduler_suspended(&h.name, true);
            self.suspended.insert(h.record.cluster_id, h);
        }
    }

    /// Checks the held suspension of a cluster against the cluster as stored (`Ok(None)`: it is
    /// gone): one whose cluster is gone, or was added after the suspension began (deleted and
    /// added again with its id), is forgotten (the store deleted it with its cluster); the
    /// cluster's current name is kept for messages.
    pub(super) fn check_cluster(
        &mut self,
        cluster_id: Uuid,
        found: &Result<Option<Cluster>, StoreError>,
    ) {
        let Ok(cluster) = found else {
            return;
        };
        let Some(h) = self.suspended.get_mut(&cluster_id) else {
            return;
        };
        match cluster {
            Some(c) if c.created_at <= h.record.started_at => c.name.clone_into(&mut h.name),
            _ => {
                metrics::scheduler_suspended(&h.name, false);
                self.suspended.remove(&cluster_id);
            }
        }
    }

    /// Resumes the suspended cluster in memory (its record is the caller's to delete): every
    /// task is rescheduled from now, and with `start_tasks` the tasks the suspension stopped
    /// start, continuing their runs.
    fn lift(
        &mut self,
        cluster_id: Uuid,
        start_tasks: bool,
        ctx: &mut Context<Self>,
    ) -> ResumeOutcome {
        let Some(held) = self.suspended.remove(&cluster_id) else {
            return ResumeOutcome::default();
        };
        metrics::scheduler_suspended(&held.name, false);
        tracing::info!(cluster = %held.name, start_tasks, "the cluster is resumed");
        let now = Utc::now();
        for (_, e) in self
            .tasks
            .range_mut((cluster_id, Uuid::nil())..=(cluster_id, Uuid::from_u128(u128::MAX)))
        {
            e.waiting_for = None;
            if e.resume_due {
                // A run the manager aborted before the suspension resumes now.
                e.next = in_window(&e.task.schedule, now).or(e.next);
            } else {
                e.retries = 0;
                e.reschedule(now);
            }
        }
        let mut outcome = ResumeOutcome {
            was_suspended: true,
            ..ResumeOutcome::default()
        };
        if !start_tasks {
            return outcome;
        }
        for task_id in held.record.stopped_tasks {
            let key = (cluster_id, task_id);
            match self.start_run(key, true, ctx) {
                Ok(run) => outcome.started.push((task_id, Some(run))),
                Err(SchedulerError::AlreadyRunning { .. }) => {
                    // Its stopped run has not ended yet: it starts at the first tick after.
                    if let Some(e) = self.tasks.get_mut(&key) {
                        e.resume_due = true;
                        e.next = Some(now);
                    }
                    outcome.started.push((task_id, None));
                }
                Err(e) => outcome.not_started.push((task_id, e.to_string())),
            }
        }
        outcome
    }

    /// Resumes, at a tick, the suspensions whose duration has ended; their records are deleted
    /// in the background.
    pub(super) fn resume_due(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let due: Vec<(Uuid, bool)> = self
            .suspended
            .values()
            .filter(|h| h.record.resume_at.is_some_and(|at| at <= now))
            .map(|h| (h.record.cluster_id, h.record.start_tasks))
            .collect();
        for (cluster_id, start_tasks) in due {
            let outcome = self.lift(cluster_id, start_tasks, ctx);
            for (task, why) in &outcome.not_started {
                tracing::warn!(%cluster_id, %task, reason = %why, "a task stopped by the suspension was not started");
            }
            let store = self.store.clone();
            ctx.spawn(actix::fut::wrap_future(async move {
                if let Err(e) = store.delete_suspension(cluster_id).await {
                    tracing::error!(%cluster_id, error = %e, "the ended suspension could not be deleted from the store; it is resumed again at the next start");
                }
            }));
        }
    }
}

impl Handler<Suspend> for Scheduler {
    type Result = ResponseActFuture<Self, Result<SuspendOutcome, SchedulerError>>;
    fn handle(&mut self, msg: Suspend, _: &mut Self::Context) -> Self::Result {
        if let Some(h) = self.suspended.get(&msg.cluster_id) {
            let outcome = SuspendOutcome {
                already: true,
                suspension: h.record.clone(),
            };
            return Box::pin(actix::fut::ready(Ok(outcome)));
        }
        let now = to_millis(Utc::now());
        // A duration past the calendar's end (the API refuses such) never ends.
        let resume_at = msg.duration.map(|d| {
            TimeDelta::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .map_or(DateTime::<Utc>::MAX_UTC, to_millis)
        });
        // Nothing of the cluster starts from here on; its running tasks stop.
        let mut stopped_tasks = Vec::new();
        for ((_, task_id), e) in self
            .tasks
            .range_mut((msg.cluster_id, Uuid::nil())..=(msg.cluster_id, Uuid::from_u128(u128::MAX)))
        {
            e.waiting_for = None;
            if e.stop(RunStatus::Stopped) {
                stopped_tasks.push(*task_id);
            }
        }
        let record = Suspension {
            cluster_id: msg.cluster_id,
            started_at: now,
            resume_at,
            start_tasks: msg.start_tasks_on_resume,
            stopped_tasks,
        };
        tracing::info!(cluster = %msg.cluster_name, stopped = record.stopped_tasks.len(), resume_at = ?record.resume_at, "the cluster is suspended");
        metrics::scheduler_suspended(&msg.cluster_name, true);
        self.suspended.insert(
            msg.cluster_id,
            Held {
                record: record.clone(),
                name: msg.cluster_name.clone(),
            },
        );
        let store = self.store.clone();
        let stored = record.clone();
        Box::pin(
            actix::fut::wrap_future(async move { store.put_suspension(&stored).await }).map(
                move |written, act: &mut Self, _| match written {
                    Ok(()) => Ok(SuspendOutcome {
                        already: false,
                        suspension: record,
                    }),
                    Err(e) => {
                        // Not recorded: the cluster is not suspended (its stopped runs stay
                        // stopped, to be started again by hand).
                        if act
                            .suspended
                            .get(&msg.cluster_id)
                            .is_some_and(|h| h.record == record)
                        {
                            act.suspended.remove(&msg.cluster_id);
                            metrics::scheduler_suspended(&msg.cluster_name, false);
                        }
                        Err(SchedulerError::Store(e))
                    }
                },
            ),
        )
    }
}

impl Handler<Resume> for Scheduler {
    type Result = ResponseActFuture<Self, Result<ResumeOutcome, SchedulerError>>;
    fn handle(&mut self, msg: Resume, _: &mut Self::Context) -> Self::Result {
        if !self.is_suspended(msg.cluster_id) {
            return Box::pin(actix::fut::ready(Ok(ResumeOutcome::default())));
        }
        // The record goes first: a failure leaves the cluster suspended, as stored.
        let store = self.store.clone();
        let cluster_id = msg.cluster_id;
        Box::pin(
            actix::fut::wrap_future(async move { store.delete_suspension(cluster_id).await }).map(
                move |deleted, act: &mut Self, ctx| {
                    deleted?;
                    Ok(act.lift(cluster_id, msg.start_tasks, ctx))
                },
            ),
        )
    }
}

impl Handler<GetSuspension> for Scheduler {
    type Result = Option<Suspension>;
    fn handle(&mut self, msg: GetSuspension, _: &mut Self::Context) -> Self::Result {
        self.suspended
            .get(&msg.cluster_id)
            .map(|h| h.record.clone())
    }
}
