//! The error answer of every endpoint: a status and a JSON body naming what was wrong; store and
//! scheduler failures as answers.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::manager::store::StoreError;

/// An error answered to an API client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, in one line.
    pub message: String,
    /// The request field at fault, if one is.
    pub field: Option<String>,
}

/// The JSON body of an error.
#[derive(Debug, Serialize)]
struct Body<'a> {
    /// The status code.
    status: u16,
    /// The message.
    message: &'a str,
    /// The field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// A 400 about `field`.
    pub fn bad_field(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        let field = field.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{field}: {reason}"),
            field: Some(field),
        }
    }

    /// A 404 for `what`.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("{what} not found"),
            field: None,
        }
    }

    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            status: self.status.as_u16(),
            message: &self.message,
            field: self.field.as_deref(),
        };
        (self.status, Json(body)).into_response()
    }
}

/// Most of a non-JSON error answer read to quote it.
const MAX_QUOTED: usize = 4096;

/// Gives every error answer the standard body: an answer of status 400 or more that is not JSON
/// (an unknown path, a method the path does not take, a body over the limit, an extractor's
/// rejection) is replaced by an [`ApiError`] with the same status and a message saying what was
/// wrong. Its other headers (e.g. `Allow` of a 405) are kept.
pub async fn standard_body(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_QUOTED)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::NOT_FOUND => format!(
            "no such endpoint: {method} {path} (the API is under /api/v1, see docs/openapi.yaml)"
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            format!("{method} is not allowed on {path} (allowed: {allowed})")
        }
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body is over the limit of {} bytes",
            super::MAX_BODY
        ),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string(),
        _ => text.replace('\n', " "),
    };
    let mut answer = ApiError::new(status, message).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// A store failure, answered as a 500.
pub fn store_error(e: StoreError) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// A scheduler that did not answer, as a 503.
pub fn scheduler_unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the scheduler did not answer: {e} (a retry may help)"),
    )
}
