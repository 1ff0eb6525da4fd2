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

use super::extract::{double_option, parse_json};
use super::sse::{self, LiveItem};
use super::{ApiQuery, AppState, ListResponse};
use crate::domain::bins::*;
use crate::domain::EndpointUrl;
use crate::error::ApiError;
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
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The management routes, nested under `/api/v1` behind the admin token.
pub fn router() -> Router<AppState> {
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
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/b/{bin_id}", any(capture))
        .route("/b/{bin_id}/{*path}", any(capture))
}

impl AppState {
    /// Whether an outgoing URL may point at a private address: when the guard is off, or
    /// when it is one of this server's own bins (reached only through the sender's client
    /// pinned to the listen address).
    pub(crate) fn allows_private_url(&self, url: &str) -> bool {
        self.config.allow_private_targets || self.inspect.own_bins.contains(url)
    }
}

// ---------------------------------------------------------------------------------------------
// Input and output shapes.

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BinIn {
    name: Option<String>,
    response: Option<ResponseIn>,
    max_requests: Option<u32>,
    ttl_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BinPatch {
    #[serde(default, deserialize_with = "double_option")]
    name: Option<Option<String>>,
    response: Option<ResponseIn>,
    max_requests: Option<u32>,
    ttl_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResponseIn {
    status: Option<u16>,
    headers: Option<HeadersIn>,
    body: Option<String>,
    delay_ms: Option<u64>,
}

/// Response headers as `[[name, value], …]` (repeats allowed) or `{name: value}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HeadersIn {
    Pairs(Vec<(String, String)>),
    Map(BTreeMap<String, String>),
}

impl ResponseIn {
    fn parse(self) -> Result<BinResponse, ApiError> {
        let headers = match self.headers {
            None => Vec::new(),
            Some(HeadersIn::Pairs(p)) => p,
            Some(HeadersIn::Map(m)) => m.into_iter().collect(),
        };
        Ok(BinResponse::parse(
            self.status.unwrap_or(200),
            headers,
            self.body.unwrap_or_default(),
            self.delay_ms.unwrap_or(0),
        )?)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BinOut {
    id: BinId,
    name: Option<String>,
    /// Where to send requests: `{public URL}/b/{id}`, and any path under it.
    url: String,
    response: BinResponse,
    max_requests: u32,
    expires_at: DateTime<Utc>,
    expired: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn bin_out(state: &AppState, bin: Bin) -> BinOut {
    BinOut {
        url: bin_url(state, &bin.id),
        expired: bin.is_expired(state.clock.now()),
        id: bin.id,
        name: bin.settings.name,
        response: bin.settings.response,
        max_requests: bin.settings.max_requests,
        expires_at: bin.expires_at,
        created_at: bin.created_at,
        updated_at: bin.updated_at,
    }
}

fn bin_url(state: &AppState, id: &BinId) -> String {
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

async fn load_bin(state: &AppState, raw_id: &str) -> Result<Bin, ApiError> {
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

async fn load_capture(state: &AppState, bin_id: &str, req_id: &str) -> Result<Capture, ApiError> {
    let bin = load_bin(state, bin_id).await?;
    let id = parse_req_id(req_id)?;
    state
        .store
        .get_capture(&bin.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("request"))
}

// ---------------------------------------------------------------------------------------------
// Bins.

async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<BinOut>), ApiError> {
    let input: BinIn = optional_json(&body_or_413(body, state.config.max_body_bytes)?)?;
    let response = input.response.unwrap_or_default().parse()?;
    let settings = BinSettings::parse(input.name, response, input.max_requests)?;
    let ttl = parse_ttl(input.ttl_seconds)?;
    let bin = inspect::bins::create(&state.store, settings, ttl, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(bin_out(&state, bin))))
}

#[derive(Debug, Deserialize)]
struct BinListQuery {
    limit: Option<u32>,
    iterator: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<BinListQuery>,
) -> Result<Json<ListResponse<BinOut>>, ApiError> {
    let page = page_request(q.limit, q.iterator)?;
    let rows = state.store.list_bins(&page).await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |b| b.id.to_string(),
        |b| bin_out(&state, b),
    )))
}

/// Newest first, one row more than asked (to know whether the list is done).
fn page_request(limit: Option<u32>, iterator: Option<String>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=250).contains(&limit) {
        return Err(ApiError::Validation(
            "limit must be between 1 and 250".into(),
        ));
    }
    Ok(PageRequest {
        limit: limit + 1,
        iterator: iterator.filter(|i| !i.is_empty()),
        ascending: false,
    })
}

async fn fetch(
    State(state): State<AppState>,
    Path(bin_id): Path<String>,
) -> Result<Json<BinOut>, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    Ok(Json(bin_out(&state, bin)))
}

/// `PUT`: every setting as given, defaults for the rest; the expiry moves only with
/// `ttlSeconds`.
async fn replace(
    State(state): State<AppState>,
    Path(bin_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BinOut>, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let input: BinIn = optional_json(&body_or_413(body, state.config.max_body_bytes)?)?;
    let response = input.response.unwrap_or_default().parse()?;
    let settings = BinSettings::parse(input.name, response, input.max_requests)?;
    let ttl = input.ttl_seconds.map(|s| parse_ttl(Some(s))).transpose()?;
    let bin = inspect::bins::update(&state.store, &bin, settings, ttl, state.clock.now()).await?;
    Ok(Json(bin_out(&state, bin)))
}

/// `PATCH`: only the fields given change (`response` as a whole).
async fn patch(
    State(state): State<AppState>,
    Path(bin_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BinOut>, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let input: BinPatch = optional_json(&body_or_413(body, state.config.max_body_bytes)?)?;
    let old = bin.settings.clone();
    let response = match input.response {
        Some(r) => r.parse()?,
        None => old.response,
    };
    let settings = BinSettings::parse(
        input.name.unwrap_or(old.name),
        response,
        Some(input.max_requests.unwrap_or(old.max_requests)),
    )?;
    let ttl = input.ttl_seconds.map(|s| parse_ttl(Some(s))).transpose()?;
    let bin = inspect::bins::update(&state.store, &bin, settings, ttl, state.clock.now()).await?;
    Ok(Json(bin_out(&state, bin)))
}

async fn delete(
    State(state): State<AppState>,
    Path(bin_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    state.store.delete_bin(&bin.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Captured requests.

#[derive(Debug, Deserialize)]
struct RequestListQuery {
    limit: Option<u32>,
    iterator: Option<String>,
    /// Only this method.
    method: Option<String>,
    /// Only paths under the bin that start with this.
    path: Option<String>,
    /// Only requests whose path, query, headers or body contain this text.
    q: Option<String>,
}

async fn list_requests(
    State(state): State<AppState>,
    Path(bin_id): Path<String>,
    ApiQuery(q): ApiQuery<RequestListQuery>,
) -> Result<Json<ListResponse<CaptureJson>>, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let page = page_request(q.limit, q.iterator)?;
    let after = page.iterator.as_deref().map(CaptureId::parse).transpose()?;
    let filter = CaptureFilter {
        method: q
            .method
            .filter(|m| !m.is_empty())
            .map(|m| m.to_ascii_uppercase()),
        path_prefix: q.path.filter(|p| !p.is_empty()),
        text: q.q.filter(|t| !t.is_empty()),
    };
    let captures = state
        .store
        .list_captures(
            &bin.id,
            &CapturePage {
                after,
                ascending: false,
                limit: page.limit,
            },
            &filter,
        )
        .await?;
    Ok(Json(ListResponse::from_rows(
        captures,
        &page,
        |c| c.id.to_string(),
        CaptureJson::from,
    )))
}

async fn fetch_request(
    State(state): State<AppState>,
    Path((bin_id, req_id)): Path<(String, String)>,
) -> Result<Json<CaptureJson>, ApiError> {
    let capture = load_capture(&state, &bin_id, &req_id).await?;
    Ok(Json(capture.into()))
}

async fn delete_request(
    State(state): State<AppState>,
    Path((bin_id, req_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let id = parse_req_id(&req_id)?;
    if state.store.delete_capture(&bin.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("request"))
    }
}

async fn clear(
    State(state): State<AppState>,
    Path(bin_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    state.store.clear_captures(&bin.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayIn {
    url: String,
}

async fn replay(
    State(state): State<AppState>,
    Path((bin_id, req_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ReplayResult>, ApiError> {
    let input: ReplayIn = parse_json(&body_or_413(body, state.config.max_body_bytes)?)?;
    let url = EndpointUrl::parse(&input.url, state.allows_private_url(&input.url))?;
    let capture = load_capture(&state, &bin_id, &req_id).await?;
    Ok(Json(
        inspect::replay::replay(&state.inspect, &capture, &url).await,
    ))
}

#[derive(Debug, Deserialize)]
struct CurlQuery {
    /// The base URL the command targets (default: the bin's own URL).
    url: Option<String>,
}

async fn curl(
    State(state): State<AppState>,
    Path((bin_id, req_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<CurlQuery>,
) -> Result<Response, ApiError> {
    let capture = load_capture(&state, &bin_id, &req_id).await?;
    let base = match q.url.filter(|u| !u.is_empty()) {
        Some(u) => EndpointUrl::parse(&u, true)?.as_str().to_owned(),
        None => bin_url(&state, &capture.bin_id),
    };
    let command = inspect::export::curl_command(&capture, &base);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        command + "\n",
    )
        .into_response())
}

/// Every captured request of the bin as one JSON array, oldest first, streamed page by page
/// so a full bin is never held in memory at once.
async fn export(
    State(state): State<AppState>,
    Path(bin_id): Path<String>,
) -> Result<Response, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let store = state.store.clone();
    let id = bin.id.clone();
    // (cursor, first item written yet, finished)
    let pages = futures::stream::unfold(
        (None::<CaptureId>, false, false),
        move |(after, started, finished)| {
            let store = store.clone();
            let id = id.clone();
            async move {
                if finished {
                    return None;
                }
                let page = CapturePage {
                    after,
                    ascending: true,
                    limit: sse::PAGE,
                };
                let rows = match store.list_captures(&id, &page, &Default::default()).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "a bin export could not read; it is cut short");
                        return Some((
                            Err(std::io::Error::other("export failed")),
                            (after, started, true),
                        ));
                    }
                };
                let last = rows.last().map(|c| c.id);
                let done = rows.len() < sse::PAGE as usize;
                let mut chunk = String::new();
                if !started {
                    chunk.push('[');
                }
                for (i, capture) in rows.into_iter().enumerate() {
                    if started || i > 0 {
                        chunk.push(',');
                    }
                    chunk.push_str(
                        &serde_json::to_string(&CaptureJson::from(capture)).unwrap_or_default(),
                    );
                }
                if done {
                    chunk.push(']');
                }
                let started = started || last.is_some();
                Some((
                    Ok::<_, std::io::Error>(Bytes::from(chunk)),
                    (last.or(after), started, done),
                ))
            }
        },
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.json\"", bin.id),
            ),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamQuery {
    last_event_id: Option<String>,
}

/// One `request` event per capture, resumable with `Last-Event-ID` (or `?lastEventId=`).
async fn stream(
    State(state): State<AppState>,
    Path(bin_id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let after = sse::last_event_id(&headers, q.last_event_id)
        .map(|s| CaptureId::parse(&s))
        .transpose()?;
    let store = state.store.clone();
    let id = bin.id.clone();
    let sse = sse::resumable(
        &state.live,
        &bin.id.topic(),
        "request",
        after.map(|a| a.to_string()),
        move |after| {
            let store = store.clone();
            let id = id.clone();
            sse::fetched(async move {
                let page = CapturePage {
                    after: after.as_deref().and_then(|a| CaptureId::parse(a).ok()),
                    ascending: true,
                    limit: sse::PAGE,
                };
                let rows = store.list_captures(&id, &page, &Default::default()).await?;
                Ok(rows
                    .into_iter()
                    .map(|c| LiveItem {
                        id: c.id.to_string(),
                        data: serde_json::to_string(&CaptureJson::from(c)).unwrap_or_default(),
                    })
                    .collect())
            })
        },
    );
    Ok(sse.into_response())
}

// ---------------------------------------------------------------------------------------------
// The public capture route.

async fn capture(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // The raw path, not the decoded parameters: the capture shows what was sent.
    let under_b = uri.path().strip_prefix("/b/").unwrap_or_default();
    let (raw_id, rest) = match under_b.find('/') {
        Some(i) => under_b.split_at(i),
        None => (under_b, ""),
    };
    let bin_id = BinId::parse(raw_id).map_err(|_| ApiError::not_found("bin"))?;
    let body = body_or_413(body, state.config.max_body_bytes)?;
    let request = NewCapture {
        method: method.as_str().to_owned(),
        path: if rest.is_empty() {
            "/".into()
        } else {
            rest.into()
        },
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        remote_addr: remote.to_string(),
        received_at: state.clock.now(),
    };
    match inspect::capture::capture(&state.store, &state.live, &bin_id, &request).await? {
        CaptureOutcome::Captured(_, response) => Ok(bin_response(&state, response).await),
        CaptureOutcome::Expired => Ok((
            StatusCode::GONE,
            Json(serde_json::json!({
                "code": "bin_expired",
                "detail": "this bin has expired and no longer captures requests"
            })),
        )
            .into_response()),
        CaptureOutcome::NotFound => Err(ApiError::not_found("bin")),
    }
}

/// The bin's configured answer, after its delay (cut short if the server is stopping, so a
/// 30-second delay does not hold up shutdown).
async fn bin_response(state: &AppState, response: BinResponse) -> Response {
    if !response.delay().is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(response.delay()) => {}
            _ = state.live.shutdown().cancelled() => {}
        }
    }
    let mut out = Response::new(Body::from(response.body().to_owned()));
    *out.status_mut() = StatusCode::from_u16(response.status()).unwrap_or(StatusCode::OK);
    for (name, value) in response.headers() {
        // Checked when the bin was set up; a stored value that no longer parses is skipped.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.headers_mut().append(n, v);
        }
    }
    out
}
