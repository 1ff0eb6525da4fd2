//! The API's one error type.
//!
//! Client faults become 4xx answers with `{"code","detail"}` that say what to fix; anything
//! unexpected is logged with its cause and answered with a bare 500 that leaks nothing.
//!
//! A 422 is the one answer whose `detail` is not a string: every Svix SDK decodes it as Svix's
//! `HTTPValidationError`, `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`, and
//! raises an error of its own instead of a validation error when it is anything else. Kanca's
//! `code` stays beside it, so Kanca's own clients lose nothing.

use crate::domain::ParseError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid bearer token")]
    Authentication,
    /// The body is not JSON at all.
    #[error("{0}")]
    InvalidJson(String),
    /// The JSON has the wrong shape or a value is not acceptable.
    #[error("{0}")]
    Validation(String),
    /// The credential is valid but does not allow this (an application token outside its
    /// application's routes or its capabilities).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The body is over the limit (`KANCA_MAX_BODY_BYTES`), when known.
    #[error("the request body is larger than the limit{}", .0.map(|n| format!(" of {n} bytes")).unwrap_or_default())]
    PayloadTooLarge(Option<usize>),
    /// Storage cannot take the request now (disk full, database down): 503 with
    /// `Retry-After`, so clients try again; nothing was stored.
    #[error("storage is unavailable; nothing was stored, try again shortly")]
    Unavailable,
    /// Too many failed attempts from this address; try again after the duration.
    #[error("too many failed attempts from this address; try again in {} s", .0.as_secs().max(1))]
    TooManyAttempts(std::time::Duration),
    /// A refusal with its own status and code (`url_verification_failed`,
    /// `command_not_found` …), for what the generic classes above do not name well.
    #[error("{2}")]
    Coded(StatusCode, &'static str, String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Authentication => (StatusCode::UNAUTHORIZED, "authentication_failed"),
            Self::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
            Self::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Coded(status, code, _) => (*status, code),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        Self::Validation(e.0)
    }
}

impl From<crate::send::SendError> for ApiError {
    fn from(e: crate::send::SendError) -> Self {
        use crate::send::SendError;
        match e {
            SendError::Validation(m) => Self::Validation(m),
            SendError::NotFound(m) => Self::NotFound(m),
            SendError::Conflict(m) => Self::Conflict(m),
            SendError::Store(e) => e.into(),
        }
    }
}

impl From<crate::sources::SourceError> for ApiError {
    fn from(e: crate::sources::SourceError) -> Self {
        use crate::sources::SourceError;
        match e {
            SourceError::Validation(m) => Self::Validation(m),
            SourceError::NotFound(m) => Self::NotFound(m),
            SourceError::Conflict(m) => Self::Conflict(m),
            SourceError::Send(e) => e.into(),
            SourceError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Conflict(what) => Self::Conflict(what),
            // Logged once per episode by the store's write health, not per request.
            StoreError::Unavailable(e) => {
                tracing::debug!(error = %e, "storage unavailable");
                Self::Unavailable
            }
            StoreError::Unstorable(what) => Self::Validation(what),
            StoreError::ReferenceGone => Self::NotFound(StoreError::ReferenceGone.to_string()),
            StoreError::Other(e) => Self::Internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let detail = match &self {
            Self::Internal(e) => {
                tracing::error!(error = ?e, "internal error while handling a request");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let body = if status == StatusCode::UNPROCESSABLE_ENTITY {
            json!({ "code": code, "detail": [validation_item(&detail)] })
        } else {
            json!({ "code": code, "detail": detail })
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(crate::store::health::RETRY_AFTER_SECS),
            );
        }
        if let Self::TooManyAttempts(wait) = &self {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs.max(1)),
            );
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body may be unread: this connection cannot carry another request.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// One entry of Svix's `HTTPValidationError.detail`. Kanca's messages say in words which field
/// is wrong, so `loc` names the part of the request (`query` or `body`) rather than a path.
fn validation_item(msg: &str) -> serde_json::Value {
    let loc = if msg.starts_with(QUERY_PREFIX) {
        "query"
    } else {
        "body"
    };
    json!({ "loc": [loc], "msg": msg, "type": "value_error" })
}

/// How the query extractor's messages begin (see `api::extract`).
pub(crate) const QUERY_PREFIX: &str = "invalid query string";
