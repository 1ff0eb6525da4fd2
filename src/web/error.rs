//! How the console answers when something goes wrong: an HTML page with the same status the
//! API would give (404 for an unknown id, 422 for a value it refuses …). Anything unexpected
//! is logged by [`ApiError`] and shown as a bare "something went wrong".

use super::layout;
use crate::error::ApiError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;

#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub fn status(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            message: message.to_owned(),
        }
    }

    /// The status and the sentence shown, for answers that are not pages (JSON for scripts).
    pub fn parts(self) -> (StatusCode, String) {
        (self.status, self.message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::status(StatusCode::NOT_FOUND, &format!("No such {what}."))
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        // Details of what the person sent that was refused are written for them; show them.
        let detail = match &e {
            ApiError::Validation(m) | ApiError::Conflict(m) | ApiError::InvalidJson(m) => {
                Some(m.clone())
            }
            _ => None,
        };
        // The API's own answer decides the status; internals never leak (its `IntoResponse`
        // logs them and says only "internal server error").
        let response = e.into_response();
        let status = response.status();
        let message = match status {
            StatusCode::NOT_FOUND => "Not found: it may have been deleted.".to_owned(),
            StatusCode::SERVICE_UNAVAILABLE => {
                "Storage is unavailable right now, so nothing was saved; try again shortly."
                    .to_owned()
            }
            StatusCode::INTERNAL_SERVER_ERROR => {
                "Something went wrong on the server; the details are in its log.".to_owned()
            }
            _ if detail.is_some() => detail.unwrap_or_default(),
            _ => status
                .canonical_reason()
                .unwrap_or("The request was refused")
                .to_owned(),
        };
        Self { status, message }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::send::SendError> for PageError {
    fn from(e: crate::send::SendError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::sources::SourceError> for PageError {
    fn from(e: crate::sources::SourceError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::workspace::WorkspaceError> for PageError {
    fn from(e: crate::workspace::WorkspaceError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = layout::bare(
            title,
            html! {
                main class="signin" {
                    h1 { (self.status.as_u16()) " " (title) }
                    p role="alert" { (self.message) }
                    p { a href="/apps" { "Back to the console" } }
                }
            },
        );
        (self.status, Html(body.into_string())).into_response()
    }
}
