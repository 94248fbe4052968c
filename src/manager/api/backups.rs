//! REST endpoints: backups (being built).

use axum::Router;

use super::ApiState;

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
}
