//! Who is asking: the client's address (behind trusted proxies) and the admin token, shared
//! by the API's bearer auth and the console's sign-in, which count wrong tokens alike.

use crate::services::Services;
use axum::extract::Request;
use axum::http::header::AUTHORIZATION;

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The client's address (see [`crate::workspace::guard`]); loopback when the connection's is
/// unknown (requests built in-process).
pub(crate) fn client_ip(state: &Services, req: &Request) -> std::net::IpAddr {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
    state.workspace.guard().client_ip(peer, req.headers())
}

/// Counts a wrong admin token from `ip` and records it as an incident (the token itself is
/// never recorded), plus one more incident when that gets the address blocked.
pub(crate) async fn admin_token_failed(
    state: &Services,
    ip: std::net::IpAddr,
    path: &str,
    reason: &str,
) {
    tracing::warn!(ip = %ip, path, "{reason}");
    let workspace = &state.workspace;
    workspace.record_incident(ip, path, reason).await;
    if workspace.guard().record_admin_failure(ip) == crate::workspace::guard::FailureEffect::Blocked
    {
        let settings = &workspace.settings;
        let blocked = format!(
            "address answered 429 for {} after {} wrong admin tokens within {}",
            humantime::format_duration(settings.auth_block_duration),
            settings.auth_failure_threshold,
            humantime::format_duration(settings.auth_failure_window),
        );
        tracing::warn!(ip = %ip, "{blocked}");
        workspace.record_incident(ip, path, &blocked).await;
    }
}
