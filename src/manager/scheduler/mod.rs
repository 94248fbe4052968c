//! `Scheduler`: decides when each task runs and starts its runs through the [`Runner`] of the
//! task's type (one `BackupSupervisor` per backup run; see [`runner`]). It checks every task's next activation once a second: cron lines, intervals,
//! start dates and weekly windows (a run still going when its window closes is stopped as
//! WAITING and resumes when the next window opens). Two runs of a task never overlap. A failed
//! run is retried `num_retries` times, `retry_wait` apart, doubled each time; each retry is a
//! new run that resumes the failed one. A run the manager itself cut short (a crash, a kill, a
//! shutdown) is resumed as soon as the manager is back, as a retry of its task. A stored task
//! whose schedule cannot be used (out of bounds, or not computable) is not scheduled and says
//! why; the other tasks keep their schedule. Tasks of a type with no runner are not scheduled.
//!
//! Exclusivity ([`exclusive`]): a restore runs only when no other task of its cluster runs, no
//! task of a cluster starts while a restore runs there, and at most one task of a type runs on a
//! cluster. A start by hand that breaks a rule is refused ([`SchedulerError::Excluded`], naming
//! the running task and its run). A run due by its schedule, a retry or a resume is not started
//! then: it waits, keeping its next activation (so `cairn tasks` shows it due, "(now)", with its
//! last status unchanged, and the scheduler's [`TaskState::waiting_for`] says which run it waits
//! for), is not counted as a failure, and starts at the first tick after the run it waits for
//! ends (at its next window opening when its window closed meanwhile).
//!
//! Suspension ([`suspension`]): no task of a suspended cluster starts, by its schedule or by
//! hand ([`SchedulerError::Suspended`]); its tasks show no next activation until it resumes.
//!
//! | module | what it owns |
//! | --- | --- |
//! | this one | the [`Scheduler`] actor and its messages |
//! | [`runner`] | one runner per task type: how a run starts, its live run |
//! | [`exclusive`] | which task types of one cluster may not run side by side |
//! | [`suspension`] | suspended clusters: [`Suspend`], [`Resume`], [`GetSuspension`] |
//! | `startup` | what the scheduler finds when the manager starts |

pub mod exclusive;
pub mod runner;
mod startup;
pub mod suspension;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::backup::run::{RunRequest, RunState};
use super::run_actor::RunFinished;
use super::schedule::{
    ScheduleError, Trigger, Windows, check, first_run_now, parse_zone, retry_backoff,
};
use super::store::{RunStatus, Store, StoreError, Task, TaskKey, TaskRun, TaskType, time_uuid};
use exclusive::{Excluded, excludes};
use runner::{LiveRun, Runner};
pub use suspension::{GetSuspension, Resume, ResumeOutcome, Suspend, SuspendOutcome};

/// How often due tasks are looked for.
const TICK: Duration = Duration::from_secs(1);

/// Why the scheduler refused a request.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// No such task (or it was deleted).
    #[error("task {0} not found")]
    NotFound(TaskKey),
    /// The task already has a run in progress; two runs of a task never overlap.
    #[error("task {task} is already running (run {run})")]
    AlreadyRunning {
        /// The task.
        task: TaskKey,
        /// Its run in progress.
        run: Uuid,
    },
    /// The task is not running, so there is nothing to stop.
    #[error("task {0} is not running")]
    NotRunning(TaskKey),
    /// Another task of the cluster runs and may not run beside this one.
    #[error(transparent)]
    Excluded(Box<Excluded>),
    /// The task's cluster is suspended: no task of it starts until it is resumed.
    #[error(
        "cluster {cluster} is suspended since {}: no task of it starts until `cairn resume -c {cluster}`",
        since.format("%Y-%m-%d %H:%M:%S UTC")
    )]
    Suspended {
        /// The cluster's name.
        cluster: String,
        /// When it was suspended.
        since: DateTime<Utc>,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts a run of a task now, whatever its schedule; answers the new run's id.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Uuid, SchedulerError>")]
pub struct StartTask {
    /// The task.
    pub task: TaskKey,
    /// Whether the run may resume the task's interrupted run (false: `--no-continue`).
    pub resume: bool,
}

/// Stops a task's run in progress; its snapshots stay so the next run resumes.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), SchedulerError>")]
pub struct StopTask {
    /// The task.
    pub task: TaskKey,
}

/// Tells the scheduler a task was created, updated or deleted, so it recomputes its next run.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct TaskChanged {
    /// The task.
    pub task: TaskKey,
}

/// Asks for the scheduler's observable state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "SchedulerState")]
pub struct GetSchedulerState;

/// What the scheduler knows of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskState {
    /// The task's cluster.
    pub cluster_id: Uuid,
    /// The task.
    pub task_id: Uuid,
    /// When it runs next, if it will.
    pub next_activation: Option<DateTime<Utc>>,
    /// Its run in progress, if any.
    pub running: Option<Uuid>,
    /// Retries of a failed run already made in the current series.
    pub retries: u32,
    /// Why the task is not scheduled (a schedule it cannot use, or a run not resumed).
    pub problem: Option<String>,
    /// Why its due run has not started: the run of its cluster it waits for (exclusivity).
    pub waiting_for: Option<String>,
}

/// The scheduler's observable state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerState {
    /// Every enabled or running task.
    pub tasks: Vec<TaskState>,
}

/// Asks for the live state of a task's run in progress (its supervisor's and node actors'
/// observable state); `None` when the task is not running.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Option<RunState>")]
pub struct GetLiveRun {
    /// The task.
    pub task: TaskKey,
}

/// Stops every run (the manager is shutting down): they end ABORTED and resume next time.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopAll;

/// One task as the scheduler tracks it.
struct Entry {
    /// The task as last read.
    task: Task,
    /// When it runs next by its schedule or a retry.
    next: Option<DateTime<Utc>>,
    /// Its run in progress, and the live run once its runner started it.
    running: Option<(Uuid, Option<LiveRun>)>,
    /// Retries made of the current failure series.
    retries: u32,
    /// A stop asked for before the live run existed, sent once it does.
    pending_stop: Option<RunStatus>,
    /// Why its schedule cannot be used (`schedule.FIELD: reason`); it is not scheduled then.
    schedule_problem: Option<String>,
    /// Why a run the manager aborted was not resumed at start-up; cleared by the next run.
    not_resumed: Option<String>,
    /// A run the manager aborted is to be resumed at `next`, even if the task is disabled (the
    /// run was started, by the schedule or by hand, before the manager stopped).
    resume_due: bool,
    /// Why its due run waits (the run of its cluster that excludes it); cleared when it starts.
    waiting_for: Option<String>,
}

/// The scheduler of the manager.
pub struct Scheduler {
    /// The state store: tasks, and the runs that fail before they start.
    store: Arc<dyn Store>,
    /// The runner of each task type that has runs.
    runners: Vec<Runner>,
    /// Tracked tasks.
    tasks: BTreeMap<(Uuid, Uuid), Entry>,
    /// The suspended clusters.
    suspended: BTreeMap<Uuid, suspension::Held>,
}

/// The runner of `task_type` among `runners`.
fn runner_for(runners: &[Runner], task_type: TaskType) -> Option<&Runner> {
    runners.iter().find(|r| r.task_type() == task_type)
}

impl Scheduler {
    /// A scheduler over `store` starting runs with `runners` (one per task type).
    pub fn new(store: Arc<dyn Store>, runners: Vec<Runner>) -> Self {
        Scheduler {
            store,
            runners,
            tasks: BTreeMap::new(),
            suspended: BTreeMap::new(),
        }
    }

    /// The next activation of `task` after `now` by its schedule and windows; an error when its
    /// schedule (as stored) cannot be used.
    fn next_activation(
        task: &Task,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ScheduleError> {
        if !task.enabled || task.deleted {
            return Ok(None);
        }
        let s = &task.schedule;
        check(s, now)?;
        let trigger = Trigger::new(s.cron.as_deref(), s.interval_seconds)?;
        let zone = parse_zone(s.timezone.as_deref())?;
        let never_ran = task.status.is_none();
        let next = match trigger {
            // A one-off task runs at its start date (now when none or past), once.
            Trigger::Once if never_ran => Some(s.start_date.filter(|d| *d > now).unwrap_or(now)),
            // A new interval task starting now (or just now) runs at once.
            Trigger::Interval(_) if never_ran && first_run_now(&trigger, s.start_date, now) => {
                Some(now)
            }
            _ => trigger.next(now, s.start_date, zone)?,
        };
        let Some(next) = next else {
            return Ok(None);
        };
        in_window(s, next)
            .map(Some)
            .ok_or(ScheduleError::Overflow("schedule.window"))
    }

    /// Tracks `task` (or forgets it when deleted) and recomputes its next activation.
    fn track(&mut self, task: Task) {
        let key = (task.cluster_id, task.id);
        if runner_for(&self.runners, task.task_type).is_none() {
            return;
        }
        let now = Utc::now();
        let e = self.tasks.entry(key).or_insert_with(|| Entry {
            task: task.clone(),
            next: None,
            running: None,
            retries: 0,
            pending_stop: None,
            schedule_problem: None,
            not_resumed: None,
            resume_due: false,
            waiting_for: None,
        });
        // A retry already planned keeps its time.
        let retry_at = (e.retries > 0 && task.enabled).then_some(e.next).flatten();
        e.task = task;
        e.reschedule(now);
        if e.schedule_problem.is_none() && retry_at.is_some() {
            e.next = retry_at;
        }
        if let Some(e) = self.tasks.get(&key)
            && e.task.deleted
            && e.running.is_none()
        {
            self.tasks.remove(&key);
        }
    }

    /// Starts a run of the tracked task `key`; answers its id.
    fn start_run(
        &mut self,
        key: (Uuid, Uuid),
        resume: bool,
        ctx: &mut Context<Self>,
    ) -> Result<Uuid, SchedulerError> {
        // A task the scheduler does not track (no runner for its type) is not found; its type
        // is not known here.
        let untracked = || {
            SchedulerError::NotFound(TaskKey {
                cluster_id: key.0,
                task_type: TaskType::Backup,
                task_id: key.1,
            })
        };
        if let Some(suspended) = self.suspension_refusal(key.0) {
            return Err(suspended);
        }
        let entry = self.tasks.get(&key).ok_or_else(untracked)?;
        if let Some((run, _)) = &entry.running {
            return Err(SchedulerError::AlreadyRunning {
                task: entry.task.key(),
                run: *run,
            });
        }
        if let Some(excluded) = self.exclusion(key) {
            return Err(excluded);
        }
        let entry = self.tasks.get_mut(&key).ok_or_else(untracked)?;
        let runner = runner_for(&self.runners, entry.task.task_type)
            .cloned()
            .ok_or(SchedulerError::NotFound(entry.task.key()))?;
        let run_id = time_uuid(Utc::now());
        let task = entry.task.clone();
        let finished = ctx.address().recipient();
        let store = self.store.clone();
        // The cluster is read when the run starts; the run begins once it is known.
        let (tx, rx) = tokio::sync::oneshot::channel::<LiveRun>();
        let run_start = async move {
            match store.get_cluster(task.cluster_id).await {
                Ok(Some(cluster)) => {
                    let request = RunRequest {
                        cluster,
                        task,
                        run_id,
                        resume,
                    };
                    let _ = tx.send(runner.start(request, finished));
                }
                other => {
                    let cause = match other {
                        Err(e) => e.to_string(),
                        _ => "the task's cluster was deleted".to_string(),
                    };
                    let now = Utc::now();
                    let run = TaskRun {
                        cluster_id: task.cluster_id,
                        task_type: task.task_type,
                        task_id: task.id,
                        id: run_id,
                        status: RunStatus::Error,
                        cause: cause.clone(),
                        owner: runner.owner(),
                        start_time: now,
                        end_time: Some(now),
                    };
                    let _ = store.put_task_run(&run).await;
                    finished.do_send(RunFinished {
                        task: task.key(),
                        run_id,
                        status: RunStatus::Error,
                        cause,
                    });
                }
            }
        };
        ctx.spawn(actix::fut::wrap_future(run_start));
        ctx.spawn(
            actix::fut::wrap_future(rx).map(move |live, act: &mut Self, _| {
                if let (Ok(live), Some(e)) = (live, act.tasks.get_mut(&key))
                    && let Some((id, slot)) = e.running.as_mut()
                    && *id == run_id
                {
                    if let Some(status) = e.pending_stop.take() {
                        live.stop(status);
                    }
                    *slot = Some(live);
                }
            }),
        );
        // Until the live run exists, the run id alone marks the task as running.
        entry.running = Some((run_id, None));
        entry.pending_stop = None;
        entry.not_resumed = None;
        entry.resume_due = false;
        entry.waiting_for = None;
        tracing::info!(task = %entry.task.key(), run = %run_id, "starting a run");
        Ok(run_id)
    }

    /// The refusal of starting the tracked task `key` now, when a run of its cluster excludes
    /// it.
    fn exclusion(&self, key: (Uuid, Uuid)) -> Option<SchedulerError> {
        let starting = &self.tasks.get(&key)?.task;
        self.tasks
            .iter()
            .filter(|(k, _)| k.0 == key.0 && **k != key)
            .find_map(|(_, e)| {
                let (run, _) = e.running.as_ref()?;
                let rule = excludes(starting.task_type, e.task.task_type)?;
                Some(SchedulerError::Excluded(Box::new(Excluded {
                    task: starting.key(),
                    name: starting.name.clone(),
                    running: e.task.key(),
                    running_name: e.task.name.clone(),
                    run: *run,
                    rule,
                })))
            })
    }

    /// Whether the due task `key` must wait instead of starting: a run of its cluster excludes
    /// it (said once in the log), or it waited past its window's close (its next activation
    /// moves to the window's next opening).
    fn must_wait(&mut self, key: (Uuid, Uuid), now: DateTime<Utc>) -> bool {
        let excluded = self.exclusion(key).map(|e| e.to_string());
        let Some(e) = self.tasks.get_mut(&key) else {
            return true;
        };
        if let Some(why) = excluded {
            if e.waiting_for.as_ref() != Some(&why) {
                tracing::info!(task = %e.task.key(), reason = %why, "a due run waits");
                e.waiting_for = Some(why);
            }
            return true;
        }
        if e.waiting_for.take().is_some() {
            let open = in_window(&e.task.schedule, now);
            if open != Some(now) {
                e.next = open;
                return true;
            }
        }
        false
    }

    /// Starts due runs and stops runs whose window closed.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Utc::now();
        self.resume_due(now, ctx);
        let mut due = Vec::new();
        for (key, e) in &mut self.tasks {
            let s = &e.task.schedule;
            if e.running.is_some() {
                let closed = !s.window.is_empty()
                    && match (Windows::parse(&s.window), parse_zone(s.timezone.as_deref())) {
                        (Ok(w), Ok(zone)) => !w.contains(now, zone),
                        _ => false,
                    };
                if closed && e.pending_stop.is_none() {
                    tracing::info!(task = %e.task.key(), "window closed: the run waits for the next one");
                    e.stop(RunStatus::Waiting);
                }
                continue;
            }
            if e.next.is_some_and(|n| n <= now)
                && (e.task.enabled || e.resume_due)
                && !e.task.deleted
                && !self.suspended.contains_key(&key.0)
            {
                due.push(*key);
            }
        }
        for key in due {
            if self.must_wait(key, now) {
                continue;
            }
            if let Some(e) = self.tasks.get_mut(&key) {
                e.next = None;
            }
            if let Err(err) = self.start_run(key, true, ctx) {
                tracing::warn!(error = %err, "could not start a scheduled run");
            }
        }
    }
}

/// The first moment at or after `t` inside the schedule's windows (`t` when there are none, or
/// when they cannot be read); `None` past the calendar's end.
fn in_window(s: &crate::manager::store::Schedule, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if s.window.is_empty() {
        return Some(t);
    }
    match (Windows::parse(&s.window), parse_zone(s.timezone.as_deref())) {
        (Ok(w), Ok(zone)) => w.next_open(t, zone),
        _ => Some(t),
    }
}

impl Entry {
    /// Recomputes the next activation by the schedule; a schedule that cannot be used leaves the
    /// task unscheduled with the reason.
    fn reschedule(&mut self, now: DateTime<Utc>) {
        match Scheduler::next_activation(&self.task, now) {
            Ok(next) => {
                self.next = next;
                self.schedule_problem = None;
            }
            Err(err) => {
                let problem = format!("{}: {err}", err.field());
                if self.schedule_problem.as_ref() != Some(&problem) {
                    tracing::error!(task = %self.task.key(), %problem, "the task's schedule cannot be used; it is not scheduled");
                }
                self.next = None;
                self.schedule_problem = Some(problem);
            }
        }
    }

    /// Stops the entry's run, if any: now, or once its live run exists (a stop asked for
    /// meanwhile is kept; the first one wins).
    fn stop(&mut self, status: RunStatus) -> bool {
        let Some((_, live)) = &self.running else {
            return false;
        };
        if let Some(live) = live.as_ref().filter(|l| l.connected()) {
            live.stop(status);
        } else {
            self.pending_stop.get_or_insert(status);
        }
        true
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let store = self.store.clone();
        let runnable: Vec<TaskType> = self.runners.iter().map(Runner::task_type).collect();
        // Load every task; runs a manager that died left unfinished are marked ABORTED, and a
        // run the manager aborted is resumed now, as a retry of its task.
        let suspensions = suspension::load(store.clone());
        ctx.wait(actix::fut::wrap_future(suspensions).map(
            |loaded, act: &mut Self, _| match loaded {
                Ok(loaded) => act.hold_loaded(loaded),
                Err(e) => {
                    tracing::error!(error = %e, "the scheduler could not load the suspended clusters")
                }
            },
        ));
        let load = startup::load_tasks(store, runnable);
        ctx.wait(
            actix::fut::wrap_future(load).map(|tasks, act: &mut Self, _| match tasks {
                Ok(tasks) => {
                    for (t, plan) in tasks {
                        let key = (t.cluster_id, t.id);
                        act.track(t);
                        if let Some(e) = act.tasks.get_mut(&key) {
                            e.after_restart(plan);
                        }
                    }
                    tracing::info!(tasks = act.tasks.len(), "scheduler started");
                }
                Err(e) => tracing::error!(error = %e, "the scheduler could not load the tasks"),
            }),
        );
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
    }
}

impl Handler<StartTask> for Scheduler {
    type Result = ResponseActFuture<Self, Result<Uuid, SchedulerError>>;
    fn handle(&mut self, msg: StartTask, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let key = msg.task;
        Box::pin(
            actix::fut::wrap_future(async move {
                let cluster = store.get_cluster(key.cluster_id).await;
                (store.get_task(key).await, cluster)
            })
            .map(move |(task, cluster), act: &mut Self, ctx| {
                act.check_cluster(key.cluster_id, &cluster);
                let task = task?
                    .filter(|t| !t.deleted)
                    .ok_or(SchedulerError::NotFound(key))?;
                act.track(task);
                act.start_run((key.cluster_id, key.task_id), msg.resume, ctx)
            }),
        )
    }
}

impl Handler<StopTask> for Scheduler {
    type Result = Result<(), SchedulerError>;
    fn handle(&mut self, msg: StopTask, _: &mut Self::Context) -> Self::Result {
        let e = self
            .tasks
            .get_mut(&(msg.task.cluster_id, msg.task.task_id))
            .ok_or(SchedulerError::NotFound(msg.task))?;
        if e.stop(RunStatus::Stopped) {
            Ok(())
        } else {
            Err(SchedulerError::NotRunning(msg.task))
        }
    }
}

impl Handler<StopAll> for Scheduler {
    type Result = ();
    fn handle(&mut self, _: StopAll, _: &mut Self::Context) {
        for e in self.tasks.values_mut() {
            e.stop(RunStatus::Aborted);
        }
    }
}

impl Handler<TaskChanged> for Scheduler {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: TaskChanged, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let key = msg.task;
        Box::pin(
            actix::fut::wrap_future(async move {
                let cluster = store.get_cluster(key.cluster_id).await;
                (store.get_task(key).await, cluster)
            })
            .map(move |(task, cluster), act: &mut Self, _| {
                act.check_cluster(key.cluster_id, &cluster);
                match task {
                    Ok(Some(task)) => act.track(task),
                    Ok(None) => {
                        // Gone with its cluster: never scheduled again; a run in progress ends
                        // first, then the entry goes.
                        let k = (key.cluster_id, key.task_id);
                        if let Some(e) = act.tasks.get_mut(&k) {
                            e.task.deleted = true;
                            e.next = None;
                            if e.running.is_none() {
                                act.tasks.remove(&k);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(task = %key, error = %e, "could not reload a task"),
                }
            }),
        )
    }
}

impl Handler<RunFinished> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: RunFinished, _: &mut Self::Context) {
        let key = (msg.task.cluster_id, msg.task.task_id);
        let Some(e) = self.tasks.get_mut(&key) else {
            return;
        };
        if e.running.as_ref().is_some_and(|(id, _)| *id == msg.run_id) {
            e.running = None;
        }
        e.task.status = Some(msg.status);
        let now = Utc::now();
        // A start asked for while the run was stopping (a resume's) keeps its time.
        let resume_at = e.resume_due.then_some(e.next).flatten();
        e.reschedule(now);
        if resume_at.is_some() {
            e.next = resume_at;
        }
        let s = &e.task.schedule;
        match msg.status {
            RunStatus::Error if e.retries < s.num_retries && e.task.enabled => {
                e.retries = e.retries.saturating_add(1);
                let wait = retry_backoff(Duration::from_secs(s.retry_wait_seconds), e.retries);
                let retry_at = TimeDelta::from_std(wait)
                    .ok()
                    .and_then(|w| now.checked_add_signed(w))
                    .unwrap_or(now);
                tracing::info!(task = %msg.task, retry = e.retries, at = %retry_at, "the run failed; it will be retried");
                e.next = Some(match e.next {
                    Some(n) if n < retry_at => n,
                    _ => retry_at,
                });
            }
            RunStatus::Waiting => {
                // Resumes when the window opens again.
                if let (Ok(w), Ok(zone)) =
                    (Windows::parse(&s.window), parse_zone(s.timezone.as_deref()))
                    && let Some(open) = w.next_open(now, zone)
                {
                    e.next = Some(open);
                }
            }
            _ => e.retries = 0,
        }
        if e.task.deleted {
            self.tasks.remove(&key);
        }
    }
}

impl Handler<GetLiveRun> for Scheduler {
    type Result = ResponseFuture<Option<RunState>>;
    fn handle(&mut self, msg: GetLiveRun, _: &mut Self::Context) -> Self::Result {
        let live = self
            .tasks
            .get(&(msg.task.cluster_id, msg.task.task_id))
            .and_then(|e| e.running.as_ref())
            .and_then(|(_, live)| live.clone())
            .filter(|live| live.connected());
        Box::pin(async move {
            match live {
                Some(live) => live.state().await,
                None => None,
            }
        })
    }
}

impl Handler<GetSchedulerState> for Scheduler {
    type Result = MessageResult<GetSchedulerState>;
    fn handle(&mut self, _: GetSchedulerState, _: &mut Self::Context) -> Self::Result {
        let tasks = self
            .tasks
            .values()
            .map(|e| TaskState {
                cluster_id: e.task.cluster_id,
                task_id: e.task.id,
                next_activation: e
                    .next
                    .filter(|_| !self.suspended.contains_key(&e.task.cluster_id)),
                running: e.running.as_ref().map(|(id, _)| *id),
                retries: e.retries,
                problem: e.schedule_problem.clone().or_else(|| e.not_resumed.clone()),
                waiting_for: e.waiting_for.clone(),
            })
            .collect();
        MessageResult(SchedulerState { tasks })
    }
}
