//! The task manager's cluster-level tasks (tablet repairs): their state as
//! `/task_manager/task_status/{id}` reports it, waiting for them and aborting them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A task's state, as Scylla names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Registered, not started.
    Created,
    /// Running.
    Running,
    /// Finished successfully.
    Done,
    /// Failed or aborted.
    Failed,
}

/// A task's status, with the fields of Scylla's `task_status`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    /// The task's UUID.
    pub id: Uuid,
    /// What the task does.
    #[serde(rename = "type")]
    pub kind_of_work: String,
    /// `cluster` for a tablet repair.
    pub kind: String,
    /// The scope (`table`).
    pub scope: String,
    /// The state.
    pub state: TaskState,
    /// Whether it can be aborted.
    pub is_abortable: bool,
    /// When it started (RFC 3339).
    pub start_time: String,
    /// When it ended (RFC 3339), empty while running.
    pub end_time: String,
    /// Why it failed, empty otherwise.
    pub error: String,
    /// The parent task (`none`).
    pub parent_id: String,
    /// Its number among the cluster's tasks.
    pub sequence_number: u64,
    /// The shard it runs on.
    pub shard: u32,
    /// The keyspace it works on.
    pub keyspace: String,
    /// The table it works on.
    pub table: String,
    /// Task-specific entity (empty).
    pub entity: String,
    /// What progress counts (`ranges`).
    pub progress_units: String,
    /// Units to do.
    pub progress_total: f64,
    /// Units done.
    pub progress_completed: f64,
    /// Children (none).
    pub children_ids: Vec<String>,
}

/// One task and its abort switch.
#[derive(Debug)]
struct Entry {
    /// Its status now.
    status: TaskStatus,
    /// Set when an abort is requested; the work checks it.
    abort: Arc<AtomicBool>,
}

/// Why a task call failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// No task has this ID (Scylla's wording).
    #[error("task with id {0} not found")]
    NotFound(String),
    /// The wait timed out.
    #[error("timed out waiting for task {0}")]
    Timeout(Uuid),
}

/// Every task of the cluster.
#[derive(Debug, Default)]
pub struct Tasks {
    /// Tasks by ID.
    tasks: Mutex<HashMap<Uuid, Entry>>,
}

fn now() -> String {
    let now: DateTime<Utc> = Utc::now();
    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Tasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a running task of `kind_of_work` on `keyspace.table` with `total` units;
    /// returns its ID and abort switch.
    pub fn start(
        &self,
        kind_of_work: &str,
        keyspace: &str,
        table: &str,
        total: f64,
    ) -> (Uuid, Arc<AtomicBool>) {
        let id = Uuid::new_v4();
        let abort = Arc::new(AtomicBool::new(false));
        let mut tasks = self.lock();
        let status = TaskStatus {
            id,
            kind_of_work: kind_of_work.to_string(),
            kind: "cluster".into(),
            scope: "table".into(),
            state: TaskState::Running,
            is_abortable: true,
            start_time: now(),
            end_time: String::new(),
            error: String::new(),
            parent_id: "none".into(),
            sequence_number: tasks.len() as u64 + 1,
            shard: 0,
            keyspace: keyspace.to_string(),
            table: table.to_string(),
            entity: String::new(),
            progress_units: "ranges".into(),
            progress_total: total,
            progress_completed: 0.0,
            children_ids: Vec::new(),
        };
        tasks.insert(
            id,
            Entry {
                status,
                abort: abort.clone(),
            },
        );
        (id, abort)
    }

    /// Records the end of task `id`: done, or failed with `error`.
    pub fn finish(&self, id: Uuid, result: Result<(), String>) {
        if let Some(e) = self.lock().get_mut(&id) {
            e.status.end_time = now();
            e.status.is_abortable = false;
            match result {
                Ok(()) => {
                    e.status.state = TaskState::Done;
                    e.status.progress_completed = e.status.progress_total;
                }
                Err(error) => {
                    e.status.state = TaskState::Failed;
                    e.status.error = error;
                }
            }
        }
    }

    /// Parses a task ID as given in a path.
    fn parse(id: &str) -> Result<Uuid, TaskError> {
        Uuid::parse_str(id).map_err(|_| TaskError::NotFound(id.to_string()))
    }

    /// The status of task `id`.
    pub fn status(&self, id: &str) -> Result<TaskStatus, TaskError> {
        let uuid = Self::parse(id)?;
        self.lock()
            .get(&uuid)
            .map(|e| e.status.clone())
            .ok_or_else(|| TaskError::NotFound(id.to_string()))
    }

    /// Asks task `id` to stop; a finished task is left as it is.
    pub fn abort(&self, id: &str) -> Result<(), TaskError> {
        let uuid = Self::parse(id)?;
        let tasks = self.lock();
        let e = tasks
            .get(&uuid)
            .ok_or_else(|| TaskError::NotFound(id.to_string()))?;
        e.abort.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Waits until task `id` is done or failed, at most `timeout` (no timeout: until it ends).
    pub async fn wait(&self, id: &str, timeout: Option<Duration>) -> Result<TaskStatus, TaskError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let status = self.status(id)?;
            if matches!(status.state, TaskState::Done | TaskState::Failed) {
                return Ok(status);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(TaskError::Timeout(status.id));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_then_finish_and_unknown_ids_are_not_found() {
        let tasks = Tasks::default();
        let (id, abort) = tasks.start("repair", "ks", "t", 4.0);
        let s = tasks.status(&id.to_string()).unwrap();
        assert_eq!(s.state, TaskState::Running);
        assert!(matches!(
            tasks
                .wait(&id.to_string(), Some(Duration::from_millis(30)))
                .await,
            Err(TaskError::Timeout(_))
        ));
        tasks.abort(&id.to_string()).unwrap();
        assert!(abort.load(Ordering::SeqCst));
        tasks.finish(id, Err("aborted".into()));
        let s = tasks.wait(&id.to_string(), None).await.unwrap();
        assert_eq!((s.state, s.error.as_str()), (TaskState::Failed, "aborted"));
        assert!(matches!(tasks.status("nope"), Err(TaskError::NotFound(_))));
        assert!(matches!(
            tasks.status(&Uuid::new_v4().to_string()),
            Err(TaskError::NotFound(_))
        ));
    }
}
