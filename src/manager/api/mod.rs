//! The manager's REST API (JSON under `/api/v1`), documented in `docs/openapi.yaml`.
//!
//! | module | owns |
//! |---|---|
//! | [`auth`] | the bearer token every request must carry, checked in constant time |
//! | [`backups`] | backups in a location: list, files, delete |
//! | [`body`] | reading requests: JSON bodies and values into request types, boolean query parameters; a refusal names the field |
//! | [`clusters`] | clusters: add (discovering every node through the agents), list, get, update, delete, status |
//! | [`error`] | the error body every endpoint answers with: status, message, and the field at fault; also for unknown paths (404), wrong methods (405) and bodies over [`MAX_BODY`] (413); store and scheduler failures as answers |
//! | [`restore`] | restore tasks' own endpoints: the dry run, a restore run with its progress |
//! | [`runs`] | a task's runs: start, stop, history, a run with its progress; asking the scheduler (timeout, stopping a run before a deletion, its refusals as answers) |
//! | [`suspend`] | a cluster's suspension: suspend (stopping its running tasks), resume, whether and since when it is suspended |
//! | [`task_body`] | a task body read and checked: schedule fields, name, labels, and backup, restore or validate properties against the cluster's DCs and agents; every refusal names its field |
//! | [`tasks`] | tasks: create, update, delete, list (with next run and last status); the backup target dry run |
//! | [`validate`] | validate tasks' own endpoints: the dry run (hosts and node directories per location), a validate run with its progress rows and report |
//!
//! A path's cluster and task are found by [`find_cluster`] and [`find_task`].

pub mod auth;
pub mod backups;
pub mod body;
pub mod clusters;
pub mod error;
pub mod restore;
pub mod runs;
pub mod suspend;
pub mod task_body;
pub mod tasks;
pub mod validate;

use std::sync::Arc;

use actix::Addr;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use uuid::Uuid;

use self::error::{ApiError, store_error};
use super::scheduler::Scheduler;
use super::store::{Cluster, Store, Task, TaskKey, TaskType};

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The manager's state.
    pub store: Arc<dyn Store>,
    /// The scheduler, asked to start and stop runs and for next activations.
    pub scheduler: Addr<Scheduler>,
}

/// The largest request body accepted, bytes; a larger one is a 413.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// The whole API, every error in the standard body (without authentication: see
/// [`auth::require_token`]).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(clusters::routes())
        .merge(tasks::routes())
        .merge(runs::routes())
        .merge(restore::routes())
        .merge(validate::routes())
        .merge(backups::routes())
        .merge(suspend::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(error::standard_body))
        .with_state(state)
}

/// The cluster a path segment names: its id, or its name.
pub async fn find_cluster(state: &ApiState, name_or_id: &str) -> Result<Cluster, ApiError> {
    if let Ok(id) = name_or_id.parse::<Uuid>()
        && let Some(c) = state.store.get_cluster(id).await.map_err(store_error)?
    {
        return Ok(c);
    }
    state
        .store
        .list_clusters()
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|c| c.name == name_or_id)
        .ok_or_else(|| ApiError::not_found(format!("cluster {name_or_id:?}")))
}

/// The task a path names: its type, then its id or name among the cluster's tasks.
pub async fn find_task(
    state: &ApiState,
    cluster: &Cluster,
    task_type: &str,
    task: &str,
) -> Result<Task, ApiError> {
    let not_found = || ApiError::not_found(format!("task {task_type}/{task}"));
    let task_type: TaskType = task_type.parse().map_err(|_| not_found())?;
    if let Ok(id) = task.parse::<Uuid>() {
        let key = TaskKey {
            cluster_id: cluster.id,
            task_type,
            task_id: id,
        };
        if let Some(t) = state.store.get_task(key).await.map_err(store_error)?
            && !t.deleted
        {
            return Ok(t);
        }
    }
    state
        .store
        .list_tasks(cluster.id, false)
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|t| t.task_type == task_type && t.name == task)
        .ok_or_else(not_found)
}
