//! `GET /portal/logo`: the session's theme logo, as the server fetched it through the SSRF
//! guard ([`crate::send::PortalLogos`]); 404 when the link has none or it is not an image.
//!
//! The answer is an image of a checked raster type under Kanca's own content type, with
//! `nosniff` and a policy that lets it do nothing but be shown, so even a file that fooled the
//! signature check cannot run as a page. The browser may keep it for the session
//! (`private`): the theme, and so the logo, is fixed for the cookie's lifetime.

use super::PortalSession;
use crate::services::Services;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

pub(super) async fn serve(
    State(state): State<Services>,
    Extension(session): Extension<PortalSession>,
) -> Response {
    let Some(url) = &session.theme.logo else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state.portal_logos.get(url).await {
        Some(logo) => (
            [
                (CONTENT_TYPE, logo.content_type),
                (HeaderName::from_static("x-content-type-options"), "nosniff"),
                (
                    CONTENT_SECURITY_POLICY,
                    "default-src 'none'; sandbox; frame-ancestors 'none'",
                ),
                (CACHE_CONTROL, "private, max-age=3600"),
            ],
            logo.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
