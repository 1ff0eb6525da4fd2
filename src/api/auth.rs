//! `/api/v1/auth/…`: Svix's authentication calls for the app portal.
//!
//! `app-portal-access` makes an application token (see [`crate::send::PortalAccessInput`])
//! and answers `{url, token}`: the URL opens the portal with the token in the fragment
//! (`#key=`), which browsers never send to a server, so it reaches neither access logs nor a
//! `Referer`. The answer holds a secret, so the idempotency layer does not keep it. Only the
//! admin token may issue or end tokens ([`super::app_scope`] refuses these routes to
//! application tokens, except `logout` and `whoami`, which act on the caller itself).
//!
//! `GET /auth/app/{app}/tokens` is Kanca's own: the application's tokens (never the tokens
//! themselves) with their session, capabilities, expiry and last use.

use super::app_scope::Caller;
use super::extract::parse_json;
use super::idempotency::HoldsSecret;
use super::{applications::ApplicationIn, Services};
use crate::domain::portal::AppToken;
use crate::error::ApiError;
use crate::send::PortalAccessInput;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/auth/app-portal-access/{app_id}", post(app_portal_access))
        .route("/auth/dashboard-access/{app_id}", post(app_portal_access))
        .route("/auth/app/{app_id}/expire-all", post(expire_all))
        .route("/auth/app/{app_id}/tokens", get(list_tokens))
        .route("/auth/logout", post(logout))
        .route("/auth/whoami", get(whoami))
}

/// Svix's `AppPortalAccessIn`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppPortalAccessIn {
    application: Option<ApplicationIn>,
    capabilities: Option<Vec<String>>,
    read_only: Option<bool>,
    expiry: Option<u64>,
    session_id: Option<String>,
    feature_flags: Option<Vec<String>>,
}

/// Svix's `AppPortalAccessOut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AppPortalAccessOut {
    url: String,
    token: String,
}

/// Svix's `WhoamiOut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WhoamiOut {
    env_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    /// `GlobalAuthToken` for the admin token, `SvixJwt` for an application token.
    permission_source: String,
}

/// Svix's `ApplicationTokenExpireIn`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplicationTokenExpireIn {
    expiry: Option<i64>,
    session_ids: Option<Vec<String>>,
}

/// An empty body is an empty object: the calls' fields are all optional.
fn optional_body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(bytes)
}

/// A link to the app portal for one application, and the token in it (created with
/// `application` when nothing has the path's id or uid).
#[utoipa::path(
    post,
    path = "/api/v1/auth/app-portal-access/{app_id}",
    tag = "authentication",
    params(("app_id" = String, Path, description = "Application id or uid")),
    request_body = AppPortalAccessIn,
    responses(
        (status = 200, body = AppPortalAccessOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Forbidden,
        crate::api::openapi::NotFound,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn app_portal_access(
    State(state): State<Services>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let body: AppPortalAccessIn = optional_body(&body)?;
    let issued = state
        .send
        .issue_app_token(
            &app_id,
            PortalAccessInput {
                application: body.application.map(Into::into),
                capabilities: body.capabilities,
                read_only: body.read_only,
                expiry: body.expiry,
                session_id: body.session_id,
                feature_flags: body.feature_flags,
            },
        )
        .await?;
    let token = issued.secret.expose();
    let url = format!("{}/portal#key={token}", state.config.public_url);
    Ok((
        Extension(HoldsSecret),
        Json(AppPortalAccessOut {
            url,
            token: token.to_owned(),
        }),
    ))
}

/// Ends the application's tokens (those of `sessionIds`, when given), now or `expiry` seconds
/// from now.
#[utoipa::path(
    post,
    path = "/api/v1/auth/app/{app_id}/expire-all",
    tag = "authentication",
    params(("app_id" = String, Path, description = "Application id or uid")),
    request_body = ApplicationTokenExpireIn,
    responses(
        (status = 204, description = "Ended"),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Forbidden,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn expire_all(
    State(state): State<Services>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: ApplicationTokenExpireIn = optional_body(&body)?;
    state
        .send
        .expire_app_tokens(&app_id, body.expiry, body.session_ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the calling token. The admin token is not ended this way (Svix: "trying to log out
/// other tokens will fail").
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "authentication",
    responses(
        (status = 204, description = "The calling application token is ended"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Forbidden
    ),
)]
pub(crate) async fn logout(
    State(state): State<Services>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    match caller {
        Caller::App(token) => {
            state.send.end_app_token(&token.id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Caller::Admin => Err(ApiError::Forbidden(
            "only an application token can log out; the admin token is set in the server's settings".into(),
        )),
    }
}

/// Who the token is: the admin, or an application token (its application and session).
#[utoipa::path(
    get,
    path = "/api/v1/auth/whoami",
    tag = "authentication",
    responses((status = 200, body = WhoamiOut), crate::api::openapi::Unauthorized),
)]
pub(crate) async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoamiOut> {
    Json(match caller {
        Caller::Admin => WhoamiOut {
            env_id: "kanca".into(),
            app_id: None,
            session_id: None,
            permission_source: "GlobalAuthToken".into(),
        },
        Caller::App(t) => WhoamiOut {
            env_id: "kanca".into(),
            app_id: Some(t.app_id.to_string()),
            session_id: t.session_id.clone(),
            permission_source: "SvixJwt".into(),
        },
    })
}

/// One token as `GET /auth/app/{app}/tokens` lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppTokenOut {
    id: String,
    session_id: Option<String>,
    capabilities: Vec<String>,
    feature_flags: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    active: bool,
}

impl AppTokenOut {
    fn new(t: AppToken, now: DateTime<Utc>) -> Self {
        Self {
            active: t.is_live(now),
            id: t.id.to_string(),
            session_id: t.session_id,
            capabilities: t.capabilities.names(),
            feature_flags: t.feature_flags,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

async fn list_tokens(
    State(state): State<Services>,
    Path(app_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let now = state.clock.now();
    let tokens: Vec<AppTokenOut> = state
        .send
        .app_tokens(&app.id)
        .await?
        .into_iter()
        .map(|t| AppTokenOut::new(t, now))
        .collect();
    Ok(Json(
        json!({ "data": tokens, "done": true, "iterator": null, "prevIterator": null }),
    ))
}
