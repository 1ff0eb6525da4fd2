//! Extractors that answer bad input in the API's own error format.
//!
//! axum's `Json` answers a bad body with plain text; these map every failure to
//! `{"code","detail"}`: 400 for text that is not JSON, 422 for JSON of the wrong shape (wrong
//! type, missing field), 413 for a body over the limit. The content type is not required:
//! a `curl -d` without `-H content-type` should just work.

use crate::domain::text;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(None)
            } else {
                ApiError::InvalidJson(format!("could not read the request body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Like [`ApiJson`], but the text is parsed exactly as sent: for a message, whose `payload`
/// is delivered byte for byte (a `\u0000` in it stays, see [`crate::domain::text`]).
pub struct VerbatimJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for VerbatimJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(None)
            } else {
                ApiError::InvalidJson(format!("could not read the request body: {rejection}"))
            }
        })?;
        parse_verbatim(&bytes).map(VerbatimJson)
    }
}

/// Parses a JSON body, telling syntax errors (400) from shape errors (422). NUL characters
/// are removed from its strings (see [`crate::domain::text`]).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_verbatim(text::strip_nul_escapes(text).as_bytes()),
        // Not UTF-8: not JSON either; the parser says where.
        Err(_) => parse_verbatim(bytes),
    }
}

/// Parses a JSON body as it is.
fn parse_verbatim<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson(
            "the request body is empty; expected a JSON object".into(),
        ));
    }
    let depth = text::json_depth(bytes);
    if depth > text::MAX_JSON_DEPTH {
        return Err(ApiError::Validation(format!(
            "the JSON is nested {depth} levels deep; at most {} are accepted",
            text::MAX_JSON_DEPTH
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::InvalidJson(format!("the request body is not valid JSON: {e}"))
            }
            Category::Data => ApiError::Validation(format!("invalid request body: {e}")),
        }
    })
}

pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::Validation(format!("{}: {e}", crate::error::QUERY_PREFIX)))
    }
}

/// For PATCH bodies: tells a field that is absent (`None`) from one set to `null`
/// (`Some(None)`), which plain `Option` cannot. Use with `#[serde(default, deserialize_with)]`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}
