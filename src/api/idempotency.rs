//! `idempotency-key` on POST requests: a repeated request gets the first response (for 24 h)
//! instead of doing the work twice. Svix's SDKs send a key on every POST, so retries after a
//! lost response are safe.
//!
//! Message creation keeps its response in the same transaction as the message (see
//! `messages::create`), so a crash between the two cannot produce a duplicate; it marks its
//! response with [`AlreadyStored`] and this layer leaves it alone. Other POSTs are recorded
//! here after they succeed.
//!
//! Every other POST claims its key atomically (a pending row, see
//! [`crate::store::Store::claim_idempotent`]) *before* the work: twenty concurrent requests
//! with one key create one application, not twenty. A request that finds the key held waits
//! for the first one's response and replays it; if the first one fails, the key is given back
//! and the waiting request does the work itself.
//!
//! Except responses that hold a secret, marked [`HoldsSecret`]: creating or regenerating an
//! incoming webhook (its URL is the secret; Kanca keeps only a digest of the token) and
//! creating an outgoing webhook (its token and signing secret). Keeping them would leave the
//! secret in the database, readable by anyone who can read the idempotency table, for 24 h.
//! For those routes the key is accepted but nothing is kept, so a repeated request does the
//! work again: it makes a second hook (or a second new URL), and the first stays listed,
//! to be revoked or deleted. Refusing the header instead would break clients that send a key
//! with every POST.

use super::Services;
use crate::error::ApiError;
use crate::store::{IdempotencyClaim, IdempotentWrite, StoredResponse};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The key and scope of the current request, for handlers that store the response themselves.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub scope: String,
}

/// Set on a response whose idempotent copy the handler has already stored.
#[derive(Debug, Clone, Copy)]
pub struct AlreadyStored;

/// Set on a response that holds a secret, which must not be kept (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct HoldsSecret;

const MAX_KEY_LEN: usize = 256;
/// Responses larger than this are not kept (list-sized bodies are not POST answers).
const MAX_STORED_BODY: usize = 1024 * 1024;
/// How long a request waits for another one holding its key, and how often it looks.
const WAIT_FOR_HOLDER: std::time::Duration = std::time::Duration::from_secs(30);
const WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(20);

/// Routes that keep their response in the same transaction as their work (publishing a
/// message); claiming the key first would cost two more writes on the hottest path.
fn stores_its_own_response(req: &Request) -> bool {
    req.extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .is_some_and(|p| p.ends_with("/msg") || p.ends_with("/send-example"))
}

/// Waits until this request holds the key, or another request's response is kept.
async fn claim(state: &Services, key: &str, scope: &str) -> Result<Option<Response>, ApiError> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_HOLDER;
    loop {
        match state.store.claim_idempotent(key, scope).await? {
            IdempotencyClaim::Claimed => return Ok(None),
            IdempotencyClaim::Done(first) => return Ok(Some(stored_response(first))),
            IdempotencyClaim::InProgress if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(WAIT_STEP).await
            }
            IdempotencyClaim::InProgress => {
                return Err(ApiError::Conflict(
                    "a request with this idempotency-key is still in progress".into(),
                ))
            }
        }
    }
}

pub async fn replay_or_record(
    State(state): State<Services>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let Some(key) = req.headers().get("idempotency-key") else {
        return Ok(next.run(req).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::Validation(format!(
                "idempotency-key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
        })?
        .to_owned();
    // An application token's keys are its own: another caller's key replays nothing to it.
    let caller = match req.extensions().get::<super::app_scope::Caller>() {
        Some(super::app_scope::Caller::App(t)) => format!(" as {}", t.id),
        _ => String::new(),
    };
    let scope = format!(
        "POST {}{caller}",
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    let own = stores_its_own_response(&req);
    if own {
        if let Some(first) = state.store.get_idempotent(&key, &scope).await? {
            return Ok(stored_response(first));
        }
    } else if let Some(first) = claim(&state, &key, &scope).await? {
        return Ok(first);
    }
    req.extensions_mut().insert(IdempotencyKey {
        key: key.clone(),
        scope: scope.clone(),
    });
    let response = next.run(req).await;
    let extensions = response.extensions();
    if !response.status().is_success()
        || extensions.get::<AlreadyStored>().is_some()
        || extensions.get::<HoldsSecret>().is_some()
    {
        if !own {
            if let Err(e) = state.store.release_idempotent(&key, &scope).await {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
        }
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
        Ok(b) => b,
        Err(e) => {
            if !own {
                let _ = state.store.release_idempotent(&key, &scope).await;
            }
            return Err(ApiError::Internal(anyhow::anyhow!(
                "buffering a response: {e}"
            )));
        }
    };
    let write = IdempotentWrite {
        key,
        scope,
        response: StoredResponse {
            status: parts.status.as_u16(),
            body: bytes.to_vec(),
        },
    };
    if let Err(e) = state.store.put_idempotent(write).await {
        // The request succeeded; failing it now would invite a retry that does it twice.
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// Replays a kept response.
pub fn stored_response(r: StoredResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut response = (status, r.body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
