//! Authentication of the REST API: every request carries `Authorization: Bearer <token>` equal to
//! the manager's `auth_token` (compared in constant time). A wrong or missing token is answered
//! 401 with the standard error body after [`AUTH_PENALTY`], and counted in
//! `cairn_manager_unauthorized_total`. Without a configured token (allowed on loopback only, or
//! with `insecure_no_auth`) every request is served.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::auth::{bearer, token_matches};
use crate::manager::config::Secret;

/// How long a request with a wrong or missing token waits for its 401 (slows guessing).
pub const AUTH_PENALTY: Duration = Duration::from_secs(1);

/// `router` behind the token check; `token: None` leaves it open.
pub fn require_token<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    token: Option<Secret>,
) -> Router<S> {
    match token {
        Some(token) => router.layer(middleware::from_fn_with_state(
            Arc::new(token),
            authenticate,
        )),
        None => router,
    }
}

/// Lets a request with the right bearer token through; answers 401 (after the penalty) else.
async fn authenticate(State(token): State<Arc<Secret>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if let Some(given) = given
        && token_matches(given.as_bytes(), token.0.as_bytes())
    {
        return next.run(req).await;
    }
    metrics::counter!("cairn_manager_unauthorized_total").increment(1);
    tracing::warn!(
        method = %req.method(),
        path = %req.uri().path(),
        token_given = given.is_some(),
        "API request refused: wrong or missing auth token"
    );
    tokio::time::sleep(AUTH_PENALTY).await;
    let message = if given.is_some() {
        "unauthorized: the bearer token is not the manager's auth_token"
    } else {
        "unauthorized: send the manager's auth_token as `Authorization: Bearer <token>`"
    };
    ApiError::new(StatusCode::UNAUTHORIZED, message).into_response()
}
