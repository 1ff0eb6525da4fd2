//! `GET /api/v1/openapi.json`: Kanca's own OpenAPI 3.1 document, generated from the handlers
//! and the types they read and answer (utoipa's `#[utoipa::path]` and `ToSchema`), so it
//! changes when they do. `.ci/run` runs schemathesis against a live server with it.
//!
//! Covered: health, applications, event types, endpoints (CRUD, secret and rotation,
//! headers, stats, attempt stats, recover, replays, send-example), messages (with expunge and
//! precheck), attempts, background tasks, operational webhook endpoints and the app portal's
//! authentication calls and the Ingest API (`/ingest/api/v1/source…`: sources, their endpoints,
//! token rotation and Kanca's log of arrivals): the whole Svix-compatible API Kanca serves. Operations and fields that Svix does not have carry
//! `x-kanca-extension: true`. Not covered yet: Kanca's own resources (channels, incoming and
//! outgoing webhooks, bins, security incidents, an application's portal tokens), which Svix's
//! SDKs do not call.

use super::Services;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// An error other than a 422: `code` names it, `detail` says what to fix.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorOut {
    code: String,
    detail: String,
}

/// A 422: Svix's `HTTPValidationError`, with Kanca's `code` beside it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ValidationErrorOut {
    code: String,
    detail: Vec<ValidationItem>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ValidationItem {
    loc: Vec<String>,
    msg: String,
    #[serde(rename = "type")]
    kind: String,
}

// The error answers routes share, each documented once; a route lists the ones it can give.
// They only describe answers (`ApiError` makes the real ones), so their fields are never read.

/// 400: the body is not JSON.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 400, description = "The body is not JSON")]
pub(crate) struct NotJson(#[to_schema] ErrorOut);

/// 401: no bearer token, or the wrong one.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 401, description = "Missing or wrong bearer token")]
pub(crate) struct Unauthorized(#[to_schema] ErrorOut);

/// 403: the token may not do this (an application token outside its application's routes or
/// its capabilities; the admin token logging out).
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 403, description = "Not allowed for this token")]
pub(crate) struct Forbidden(#[to_schema] ErrorOut);

/// 404: what the path names does not exist.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 404, description = "Not found")]
pub(crate) struct NotFound(#[to_schema] ErrorOut);

/// 409: the request conflicts with what is stored (a taken uid or `eventId`).
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 409, description = "Conflicts with what is stored")]
pub(crate) struct Conflict(#[to_schema] ErrorOut);

/// 413: the body is over the limit.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 413, description = "The body is over the limit")]
pub(crate) struct TooLarge(#[to_schema] ErrorOut);

/// 422: Svix's `HTTPValidationError`, with Kanca's `code` beside it.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Invalid input (Svix's HTTPValidationError plus `code`)"
)]
pub(crate) struct Invalid(#[to_schema] ValidationErrorOut);

/// `{}`: what Svix's `EmptyResponse` is.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmptyOut {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kanca API",
        description = "Kanca's HTTP API: Svix-compatible sending API. Kanca's additions are marked `x-kanca-extension`."
    ),
    paths(
        super::health::health,
        super::health::ping,
        super::applications::list,
        super::applications::create,
        super::applications::fetch,
        super::applications::update,
        super::applications::patch,
        super::applications::delete,
        super::event_types::list,
        super::event_types::create,
        super::event_types::fetch,
        super::event_types::update,
        super::event_types::patch,
        super::event_types::delete,
        super::event_types::import_openapi,
        super::endpoints::list,
        super::endpoints::create,
        super::endpoints::fetch,
        super::endpoints::update,
        super::endpoints::patch,
        super::endpoints::delete,
        super::endpoints::attempt_stats,
        super::endpoints::secret,
        super::endpoints::rotate_secret,
        super::endpoints::get_headers,
        super::endpoints::put_headers,
        super::endpoints::patch_headers,
        super::endpoints::send_example,
        super::endpoints::stats,
        super::endpoints::recover,
        super::endpoints::get_transformation,
        super::endpoints::patch_transformation,
        super::operational::create,
        super::operational::list,
        super::operational::fetch,
        super::operational::update,
        super::operational::patch,
        super::operational::delete,
        super::operational::secret,
        super::operational::rotate_secret,
        super::operational::get_headers,
        super::operational::put_headers,
        super::operational::patch_headers,
        super::endpoints::replay_missing,
        super::endpoints::bulk_replay,
        super::messages::list,
        super::messages::create,
        super::messages::fetch,
        super::messages::expunge_content,
        super::messages::bulk_expunge_content,
        super::messages::precheck,
        super::messages::expunge_all_contents,
        super::background_tasks::list,
        super::background_tasks::fetch,
        super::attempts::by_message,
        super::attempts::by_endpoint,
        super::attempts::fetch,
        super::attempts::destinations,
        super::attempts::endpoint_messages,
        super::attempts::resend,
        super::attempts::expunge_content,
        super::auth::app_portal_access,
        super::auth::expire_all,
        super::auth::logout,
        super::auth::whoami,
        super::ingest::create,
        super::ingest::list,
        super::ingest::fetch,
        super::ingest::upsert,
        super::ingest::delete,
        super::ingest::rotate_token,
        super::ingest::log,
        super::ingest::create_endpoint,
        super::ingest::list_endpoints,
        super::ingest::fetch_endpoint,
        super::ingest::upsert_endpoint,
        super::ingest::delete_endpoint,
        super::ingest::endpoint_secret,
        super::ingest::rotate_endpoint_secret,
        super::ingest::get_headers,
        super::ingest::put_headers,
        super::ingest::patch_headers,
    ),
    components(schemas(ErrorOut, ValidationErrorOut, ValidationItem, EmptyOut, super::pagination::Order)),
    modifiers(&BearerAuth, &KancaExtensions),
    security(("bearer" = []))
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Fields of Svix's shapes that Svix does not have, as `(schema, property)`.
const EXTENSION_FIELDS: &[(&str, &str)] = &[
    ("AttemptOut", "failureReason"),
    ("IngestSourceIn", "publishToApp"),
    ("IngestSourceOut", "publishToApp"),
];

/// Marks Kanca's additions with `x-kanca-extension: true`, so a reader comparing with Svix's
/// document can tell them apart.
struct KancaExtensions;

impl Modify for KancaExtensions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::extensions::Extensions;
        use utoipa::openapi::{RefOr, Schema};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (schema, property) in EXTENSION_FIELDS {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*schema) else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(field))) = object.properties.get_mut(*property) {
                let mark: Extensions = [("x-kanca-extension", serde_json::Value::Bool(true))]
                    .into_iter()
                    .collect();
                match field.extensions.as_mut() {
                    Some(e) => e.merge(mark),
                    None => field.extensions = Some(mark),
                }
            }
        }
    }
}

pub fn router() -> Router<Services> {
    Router::new().route("/openapi.json", get(document))
}

/// The document needs no token, like Svix's own: it holds no data.
async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
