//! The manager's REST API (JSON under `/api/v1`), documented in `docs/openapi.yaml`.
//!
//! | module | owns |
//! |---|---|
//! | [`auth`] | the bearer token every request must carry, checked in constant time |
//! | [`error`] | the error body every endpoint answers with: status, message, and the field at fault; also for unknown paths (404), wrong methods (405) and bodies over [`MAX_BODY`] (413) |
//! | [`clusters`] | clusters: add (discovering every node through the agents), list, get, update, delete, status |
//! | [`tasks`] | tasks: create, update, delete, list (with next run and last status), start, stop; runs and their progress; the backup target dry run |
//! | [`backups`] | backups in a location: list, files, delete |

pub mod auth;
pub mod backups;
pub mod clusters;
pub mod error;
pub mod tasks;

use std::sync::Arc;

use actix::Addr;
use axum::Router;
use axum::extract::DefaultBodyLimit;

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

/// The largest request body accepted, bytes; a larger one is a 413.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// The whole API, every error in the standard body (without authentication: see
/// [`auth::require_token`]).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(clusters::routes())
        .merge(tasks::routes())
        .merge(backups::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(error::standard_body))
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
