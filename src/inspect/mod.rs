//! Inspect: request bins, below the routes so the API, the console and the CLI share them.
//!
//! - [`bins`]: creating and changing bins (settings, time to live).
//! - [`capture`]: storing a request that arrived at `/b/{id}`, announcing it to live streams,
//!   and the JSON shape a captured request is shown in.
//! - [`export`]: a captured request as a `curl` command, or a bin's requests as JSON.
//! - [`replay`]: sending a captured request again, to any URL, through the SSRF guard.
//!
//! What a bin answers (status, headers, body, delay) is decided here; turning it into an HTTP
//! response is the route's job (`api::bins`).

pub mod bins;
pub mod capture;
pub mod export;
pub mod replay;

use crate::delivery::sender::Sender;
use crate::domain::bins::OwnBinUrls;

/// Headers that describe one connection rather than the request (RFC 9110 §7.6.1), plus the
/// ones the client library sets itself from the URL and the body. They are not copied when a
/// captured request is sent on (replay, `kanca listen`, curl export).
pub const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Whether a captured header is sent on when the request is forwarded or replayed.
pub fn is_forwarded(name: &str) -> bool {
    !NOT_FORWARDED.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// What the Inspect functions need beyond the store: a sender for replays (the delivery
/// engine's rules: SSRF guard, no redirects, own bins reached directly) and which URLs are
/// this server's own bins.
pub struct Inspector {
    pub sender: Sender,
    pub own_bins: OwnBinUrls,
}
