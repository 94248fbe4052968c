//! The manager's REST API (JSON under `/api/v1`), documented in `docs/openapi.yaml`.
//!
//! | module | owns |
//! |---|---|
//! | [`error`] | the error body every endpoint answers with: status, message, and the field at fault |
//! | [`clusters`] | clusters: add (discovering every node through the agents), list, get, update, delete, status |
//! | [`tasks`] | tasks: create, update, delete, list (with next run and last status), start, stop; runs and their progress; the backup target dry run |
//! | [`backups`] | backups in a location: list, files, delete |

pub mod backups;
pub mod clusters;
pub mod error;
pub mod tasks;

use std::sync::Arc;

use actix::Addr;
use axum::Router;

use super::scheduler::Scheduler;
use super::store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The manager's state.
    pub store: Arc<dyn Store>,
    /// The scheduler, asked to start and stop runs and for next activations.
    pub scheduler: Addr<Scheduler>,
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(clusters::routes())
        .merge(tasks::routes())
        .merge(backups::routes())
        .with_state(state)
}

/// The cluster a path segment names: its id, or its name.
pub async fn find_cluster(
    state: &ApiState,
    name_or_id: &str,
) -> Result<super::store::Cluster, error::ApiError> {
    let store_error = |e: super::store::StoreError| {
        error::ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    };
    if let Ok(id) = name_or_id.parse::<uuid::Uuid>()
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
        .ok_or_else(|| error::ApiError::not_found(format!("cluster {name_or_id:?}")))
}
