//! The web console at `/`: applications, endpoints, the event catalog and messages, the
//! workspace's channels and webhooks, and request bins, in a browser, served by the same
//! binary as the API.
//!
//! Pages are rendered on the server with [`maud`]: its `html!` macro is checked and compiled
//! into the binary with the rest of the code, escapes every interpolated value by default (the
//! console shows payloads and response bodies that strangers wrote), and needs no template
//! files on disk nor a front-end build. The only script, `assets/console.js`, is progressive:
//! every form works without it, and it adds the live parts: the result of "Send test event",
//! and channel messages and bin captures appearing as they arrive (Server-Sent Events behind
//! the session, whose events carry markup already rendered and escaped here). Both assets
//! are embedded with `include_str!`.
//!
//! The console calls the same services as the JSON API ([`crate::send`], [`crate::workspace`],
//! [`crate::inspect`], [`crate::sources`]) and never the API itself, so a change made here behaves exactly like
//! one made there, operational webhooks included. The API keeps its bearer-token auth; the console signs in
//! with the same admin token and then holds a session cookie (`session`), and every form
//! carries a per-session CSRF token checked before any handler runs.
//!
//! The app portal (`portal`, at `/portal`) is the same pages for one application, opened
//! with a link from `POST /api/v1/auth/app-portal-access/{app}` instead of the admin token:
//! the pages that show an application take a `scope::Scope` that says whose they are.
//!
//! One file per section of the console (or per page of a larger one: `channels` with
//! `channel_message`, `mrkdwn`, `integrations` and `slack_apps`; `bins` with `bin_page`), each exposing
//! `routes()`, and one entry in `layout::SECTIONS` for the navigation: that is all a new
//! section needs.

mod applications;
mod assets;
mod bin_page;
mod bins;
mod channel_message;
mod channels;
mod delivery_chart;
mod endpoint_actions;
mod endpoint_form;
mod endpoint_page;
mod error;
mod event_types;
mod form;
mod integrations;
mod layout;
mod messages;
pub mod mrkdwn;
mod portal;
pub mod pretty_json;
mod scope;
mod session;
mod slack_apps;
mod sources;

use crate::services::Services;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::get;
use axum::Router;

pub use session::SESSION_COOKIE;

/// The console's routes, every page behind a session except sign-in and the static assets.
pub fn router(state: Services) -> Router {
    let signed_in = Router::new()
        .route("/", get(|| async { Redirect::to("/apps") }))
        .merge(applications::routes())
        .nest("/apps/{app_id}", app_routes())
        .merge(event_types::routes())
        .merge(messages::routes())
        .merge(channels::routes())
        .merge(integrations::routes())
        .merge(slack_apps::routes())
        .merge(bins::routes())
        .merge(bin_page::routes())
        .merge(sources::routes())
        .merge(session::signed_in_routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::require_session,
        ));
    let console = Router::new()
        .merge(signed_in)
        .merge(session::public_routes())
        .merge(assets::routes())
        .layer(middleware::from_fn(protective_headers));
    // The app portal has its own session and headers: it is meant to be framed.
    Router::new()
        .merge(console)
        .merge(portal::router(state.clone()))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
}

/// One application's pages, mounted under `/apps/{app_id}` here and under `/portal` in the
/// app portal (see [`scope`]).
fn app_routes() -> Router<Services> {
    Router::new()
        .merge(endpoint_form::app_routes())
        .merge(endpoint_page::app_routes())
        .merge(messages::app_routes())
}

/// Pages are private and must not be framed or cached; scripts and styles come only from
/// this server (there is no inline script, so the policy costs nothing).
async fn protective_headers(req: axum::extract::Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with(assets::PREFIX);
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        // Images may come from anywhere on the web: channel messages show the images their
        // senders attach (loaded without a referrer); nothing else is loosened.
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: https: http:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    if !is_asset {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
