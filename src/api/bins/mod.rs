//! Request bins over HTTP: `/api/v1/bin…` to manage them (admin token), and the public
//! capture routes `/b/{id}` and `/b/{id}/{*path}` that take any method and no token.
//!
//! Handlers parse and answer; the work is in [`crate::inspect`]. The capture route reads the
//! body as raw bytes under the server's body limit (413 past it; a declared length over the
//! limit is refused before anything is read, by `api::reject_oversized`), so any payload,
//! binary included, is stored exactly as sent.
//!
//! Two things are lost before a request reaches a handler and so are not captured exactly:
//! a trailing slash (the path is normalised for Svix SDKs) and the interleaving of different
//! header names (`a, b, a` arrives as `a, a, b`; values of one name keep their order).
//!
//! `manage` holds the bin routes and shapes, `requests` the routes over captured requests,
//! `capture` the public route; this file the routers and the lookups they share. The
//! submodules take this file's imports with `use super::*`.

use super::extract::{double_option, parse_json};
use super::{ApiQuery, ListResponse, Services};
use crate::domain::bins::*;
use crate::domain::EndpointUrl;
use crate::error::ApiError;
use crate::http::sse::{self, LiveItem};
use crate::inspect::capture::CaptureJson;
use crate::inspect::{self, replay::ReplayResult};
use crate::store::bins::{CaptureFilter, CaptureOutcome, CapturePage};
use crate::store::PageRequest;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};

mod capture;
mod manage;
mod requests;

use capture::capture;
use chrono::{DateTime, Utc};
use manage::*;
use requests::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The management routes, nested under `/api/v1` behind the admin token.
pub fn router() -> Router<Services> {
    Router::new()
        .route("/bin", get(list).post(create))
        .route(
            "/bin/{bin_id}",
            get(fetch).put(replace).patch(patch).delete(delete),
        )
        .route("/bin/{bin_id}/request", get(list_requests).delete(clear))
        .route(
            "/bin/{bin_id}/request/{req_id}",
            get(fetch_request).delete(delete_request),
        )
        .route("/bin/{bin_id}/request/{req_id}/replay", post(replay))
        .route("/bin/{bin_id}/request/{req_id}/curl", get(curl))
        .route("/bin/{bin_id}/export", get(export))
        .route("/bin/{bin_id}/stream", get(stream))
}

/// The public capture routes: any method, no token.
pub fn public_router() -> Router<Services> {
    Router::new()
        .route("/b/{bin_id}", any(capture))
        .route("/b/{bin_id}/{*path}", any(capture))
}

// Shared by the handlers.

fn bin_url(state: &Services, id: &BinId) -> String {
    format!("{}/b/{id}", state.config.public_url)
}

/// An optional JSON body: empty means "all defaults" (`curl -X POST …/bin` just works).
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(body)
}

fn body_or_413(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(Some(limit))
        } else {
            ApiError::InvalidJson(format!("could not read the request body: {rejection}"))
        }
    })
}

async fn load_bin(state: &Services, raw_id: &str) -> Result<Bin, ApiError> {
    // A malformed id cannot name a bin: 404, like an unknown one.
    let id = BinId::parse(raw_id).map_err(|_| ApiError::not_found("bin"))?;
    state
        .store
        .get_bin(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("bin"))
}

fn parse_req_id(raw: &str) -> Result<CaptureId, ApiError> {
    CaptureId::parse(raw).map_err(|_| ApiError::not_found("request"))
}

async fn load_capture(state: &Services, bin_id: &str, req_id: &str) -> Result<Capture, ApiError> {
    let bin = load_bin(state, bin_id).await?;
    let id = parse_req_id(req_id)?;
    state
        .store
        .get_capture(&bin.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("request"))
}
