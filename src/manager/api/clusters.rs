//! REST endpoints: clusters (being built).

use axum::Router;

use super::ApiState;

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
}
