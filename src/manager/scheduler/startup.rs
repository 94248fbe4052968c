//! What the scheduler finds when the manager starts: every stored task, the runs a manager that
//! died left unfinished (marked ABORTED, with the task's own status), and for each task of a
//! type that has a runner whether its aborted run is resumed (see [`crate::manager::backup::resume`]),
//! and applying that to the task as the scheduler tracks it.

use std::sync::Arc;

use chrono::Utc;

use super::{Entry, in_window};

use crate::manager::backup::resume::{
    AtStartup, MANAGER_STOPPED, RESUME_LOOKBACK, at_startup, left_by_manager,
};
use crate::manager::store::{RunStatus, Store, StoreError, Task, TaskType};

/// Every task of every cluster with what start-up does for it; the runs and tasks a manager left
/// running are stored ABORTED on the way. Tasks of a type not in `runnable` get
/// [`AtStartup::Nothing`].
pub(super) async fn load_tasks(
    store: Arc<dyn Store>,
    runnable: Vec<TaskType>,
) -> Result<Vec<(Task, AtStartup)>, StoreError> {
    let mut tasks = Vec::new();
    for c in store.list_clusters().await? {
        for mut t in store.list_tasks(c.id, false).await? {
            let lookback = usize::try_from(t.schedule.num_retries)
                .unwrap_or(usize::MAX)
                .saturating_add(2)
                .min(RESUME_LOOKBACK.max(2));
            let mut runs = store.list_task_runs(t.key(), lookback).await?;
            if let Some(run) = runs.first_mut()
                && left_by_manager(run.status)
                && run.status != RunStatus::Aborted
            {
                run.status = RunStatus::Aborted;
                run.cause = MANAGER_STOPPED.to_string();
                run.end_time = Some(Utc::now());
                store.put_task_run(run).await?;
            }
            // The task's own status follows its newest run's.
            if t.status
                .is_some_and(|s| left_by_manager(s) && s != RunStatus::Aborted)
            {
                t.status = Some(RunStatus::Aborted);
                store.put_task(&t).await?;
            }
            let plan = if runnable.contains(&t.task_type) {
                at_startup(&runs, t.schedule.num_retries)
            } else {
                AtStartup::Nothing
            };
            tasks.push((t, plan));
        }
    }
    Ok(tasks)
}

impl Entry {
    /// Applies what start-up found for the task: a run the manager aborted is resumed now (or
    /// when its window opens) as a retry; past `num_retries` the task says why it is not.
    pub(super) fn after_restart(&mut self, plan: AtStartup) {
        match plan {
            AtStartup::Nothing => {}
            AtStartup::Resume { retry } => {
                let now = Utc::now();
                self.retries = retry;
                self.resume_due = true;
                self.next = in_window(&self.task.schedule, now).or(self.next);
                tracing::info!(task = %self.task.key(), retry, "resuming the run the manager aborted");
            }
            AtStartup::GiveUp(why) => {
                tracing::warn!(task = %self.task.key(), reason = %why, "a run the manager aborted is not resumed");
                self.not_resumed = Some(why);
            }
        }
    }
}
