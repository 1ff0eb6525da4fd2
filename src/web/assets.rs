//! The console's stylesheet and script, compiled into the binary and served under
//! [`PREFIX`]. Their URLs carry the crate version, so browsers may cache them for long and
//! still fetch new ones after an upgrade.

use crate::services::Services;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub const PREFIX: &str = "/assets/";
pub const CSS_PATH: &str = concat!("/assets/console-", env!("CARGO_PKG_VERSION"), ".css");
pub const JS_PATH: &str = concat!("/assets/console-", env!("CARGO_PKG_VERSION"), ".js");

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

pub fn routes() -> Router<Services> {
    Router::new()
        .route(CSS_PATH, get(|| serve("text/css; charset=utf-8", CSS)))
        .route(JS_PATH, get(|| serve("text/javascript; charset=utf-8", JS)))
}

async fn serve(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
}
