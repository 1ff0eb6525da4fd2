//! Request bins: the values of the Inspect side (bin ids, captured-request ids, a bin's
//! settings and custom response, a captured request), and which URLs are Kanca's own bins.
//!
//! A bin id is a secret-ish capability (anyone with the URL can post to it), so it carries a
//! KSUID's 120 random bits like every other id. A captured request's id is different: it is a
//! number that counts up per bin in commit order, because it is the live stream's cursor
//! (`Last-Event-ID`), and a time-ordered random id could commit out of order and be skipped by
//! a reader that has already moved past it. It is shown as `req_` and twelve digits so that
//! it also sorts as text.

use super::ParseError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use svix_ksuid::{KsuidLike, KsuidMs};

/// The longest a bin may wait before answering (webhook senders time out after ~30 s).
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// Requests a bin keeps unless told otherwise, and the most it may keep.
pub const DEFAULT_MAX_REQUESTS: u32 = 100;
pub const MAX_MAX_REQUESTS: u32 = 10_000;
/// How long a bin lives unless told otherwise (a week, like public request bins), and the
/// longest it may (a year).
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Limits on a custom response: it is stored with the bin and sent on every capture.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;
pub const MAX_RESPONSE_HEADERS: usize = 50;
pub const MAX_NAME_LEN: usize = 200;

/// A bin: `bin_` followed by a KSUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinId(String);

impl BinId {
    pub const PREFIX: &'static str = "bin_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, KsuidMs::new(None, None)))
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s.strip_prefix(Self::PREFIX) {
            Some(rest) if rest.len() == 27 && rest.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Ok(Self(s.to_owned()))
            }
            _ => Err(ParseError::new(format!("`{s}` is not a valid bin id"))),
        }
    }

    /// For values read back from our own database.
    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The live topic its captures are announced on.
    pub fn topic(&self) -> String {
        format!("bin:{}", self.0)
    }
}

impl std::fmt::Display for BinId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for BinId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A captured request within its bin: `req_` and its number, counting up from 1 in the order
/// the captures committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaptureId(i64);

impl CaptureId {
    pub const PREFIX: &'static str = "req_";

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        s.strip_prefix(Self::PREFIX)
            .filter(|n| !n.is_empty() && n.len() <= 18 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .map(Self)
            .ok_or_else(|| ParseError::new(format!("`{s}` is not a valid request id")))
    }

    pub fn from_seq(seq: i64) -> Self {
        Self(seq)
    }

    pub fn seq(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for CaptureId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{:012}", Self::PREFIX, self.0)
    }
}

/// What a bin answers every request with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay_ms: u64,
}

impl Default for BinResponse {
    /// `200 OK` with an empty body, at once: what a sender expects from a healthy receiver.
    fn default() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: String::new(),
            delay_ms: 0,
        }
    }
}

impl BinResponse {
    pub fn parse(
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        delay_ms: u64,
    ) -> Result<Self, ParseError> {
        if !(200..=599).contains(&status) {
            return Err(ParseError::new(
                "response.status must be between 200 and 599",
            ));
        }
        if headers.len() > MAX_RESPONSE_HEADERS {
            return Err(ParseError::new(format!(
                "response.headers may hold at most {MAX_RESPONSE_HEADERS} headers"
            )));
        }
        for (name, value) in &headers {
            let valid_name = http::HeaderName::from_bytes(name.as_bytes()).is_ok();
            if !valid_name || http::HeaderValue::from_str(value).is_err() {
                return Err(ParseError::new(format!(
                    "response header `{name}` is not a valid HTTP header"
                )));
            }
            // Framing is ours to set: a wrong content-length would break the connection.
            if matches!(
                name.to_ascii_lowercase().as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                return Err(ParseError::new(format!(
                    "response header `{name}` is set by Kanca itself"
                )));
            }
        }
        if body.len() > MAX_RESPONSE_BODY {
            return Err(ParseError::new(format!(
                "response.body may be at most {MAX_RESPONSE_BODY} bytes"
            )));
        }
        if Duration::from_millis(delay_ms) > MAX_DELAY {
            return Err(ParseError::new(format!(
                "response.delayMs may be at most {}",
                MAX_DELAY.as_millis()
            )));
        }
        Ok(Self {
            status,
            headers,
            body,
            delay_ms,
        })
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms)
    }

    pub fn delay_ms(&self) -> u64 {
        self.delay_ms
    }
}

/// Everything about a bin that its owner sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinSettings {
    pub name: Option<String>,
    pub response: BinResponse,
    /// How many of the latest requests it keeps; older ones go as new ones arrive.
    pub max_requests: u32,
}

impl BinSettings {
    pub fn parse(
        name: Option<String>,
        response: BinResponse,
        max_requests: Option<u32>,
    ) -> Result<Self, ParseError> {
        if name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NAME_LEN)
        {
            return Err(ParseError::new(format!(
                "name may be at most {MAX_NAME_LEN} characters"
            )));
        }
        let max_requests = max_requests.unwrap_or(DEFAULT_MAX_REQUESTS);
        if !(1..=MAX_MAX_REQUESTS).contains(&max_requests) {
            return Err(ParseError::new(format!(
                "maxRequests must be between 1 and {MAX_MAX_REQUESTS}"
            )));
        }
        Ok(Self {
            name,
            response,
            max_requests,
        })
    }
}

/// A time to live, checked against [`MAX_TTL`].
pub fn parse_ttl(seconds: Option<u64>) -> Result<Duration, ParseError> {
    match seconds {
        None => Ok(DEFAULT_TTL),
        Some(s) if s >= 1 && Duration::from_secs(s) <= MAX_TTL => Ok(Duration::from_secs(s)),
        Some(_) => Err(ParseError::new(format!(
            "ttlSeconds must be between 1 and {}",
            MAX_TTL.as_secs()
        ))),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin {
    pub id: BinId,
    pub settings: BinSettings,
    /// After this the bin answers 410 Gone; what it caught stays readable until deleted.
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Bin {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// A request as it arrived, before it has its number.
#[derive(Debug, Clone)]
pub struct NewCapture {
    pub method: String,
    /// The path under the bin's URL: `/` for the bin itself, `/github/push` for
    /// `/b/{id}/github/push`.
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    /// In arrival order, repeated names kept. Values that are not UTF-8 are shown lossily.
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
    pub remote_addr: String,
    pub received_at: DateTime<Utc>,
}

/// A captured request.
#[derive(Debug, Clone)]
pub struct Capture {
    pub id: CaptureId,
    pub bin_id: BinId,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub remote_addr: String,
    pub received_at: DateTime<Utc>,
}

/// The URLs under which this server's own bins are reachable, and the address to reach them
/// on instead.
///
/// A delivery (or a replay) to one of Kanca's own bins would normally be refused by the SSRF
/// guard, since the server usually listens on loopback or a private address. Rather than
/// opening the guard, such a URL is rewritten to `http://{listen address}/b/…` and sent by a
/// client that can only ever connect there: only the bin capture routes of this very server
/// become reachable, nothing else on the private network.
#[derive(Debug, Clone)]
pub struct OwnBinUrls {
    /// Base URLs (without trailing slash) whose `/b/…` are ours.
    bases: Vec<url::Url>,
    /// Where this server accepts connections (loopback when it listens on every interface).
    local: SocketAddr,
}

impl OwnBinUrls {
    /// `public_url` is `KANCA_PUBLIC_URL` (or the default), `bound` the address listened on.
    pub fn new(public_url: &str, bound: SocketAddr) -> Self {
        let mut local = bound;
        if local.ip().is_unspecified() {
            local.set_ip(match local {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let mut bases = Vec::new();
        for base in [
            public_url.to_owned(),
            format!("http://{bound}"),
            format!("http://{local}"),
        ] {
            if let Ok(url) = url::Url::parse(base.trim_end_matches('/')) {
                if !bases.contains(&url) {
                    bases.push(url);
                }
            }
        }
        Self { bases, local }
    }

    /// The address the rewritten URLs point at.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `Some(http://{listen address}/b/…?…)` when `url` is one of our bin URLs.
    pub fn local_url(&self, url: &url::Url) -> Option<url::Url> {
        self.bases.iter().find_map(|base| {
            if base.origin() != url.origin() {
                return None;
            }
            let prefix = format!("{}/b/", base.path().trim_end_matches('/'));
            let rest = url.path().strip_prefix(&prefix)?;
            let mut local = url::Url::parse(&format!("http://{}/b/{rest}", self.local)).ok()?;
            local.set_query(url.query());
            Some(local)
        })
    }

    /// Whether `url` (as typed) is one of our bin URLs.
    pub fn contains(&self, url: &str) -> bool {
        url::Url::parse(url)
            .ok()
            .is_some_and(|u| self.local_url(&u).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_ids_round_trip_and_sort_as_text() {
        let a = CaptureId::from_seq(9);
        let b = CaptureId::from_seq(10);
        assert_eq!(a.to_string(), "req_000000000009");
        assert!(a.to_string() < b.to_string());
        assert_eq!(CaptureId::parse(&b.to_string()).unwrap(), b);
        for bad in ["req_", "req_-1", "req_0", "9", "req_1x", "bin_1"] {
            assert!(CaptureId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn own_bin_urls_are_rewritten_to_the_listen_address_only_under_b() {
        let own = OwnBinUrls::new(
            "https://hooks.example.com/kanca",
            "0.0.0.0:8080".parse().unwrap(),
        );
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            own.local_url(&url("https://hooks.example.com/kanca/b/bin_x/gh?a=1"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/b/bin_x/gh?a=1"
        );
        assert!(own
            .local_url(&url("http://127.0.0.1:8080/b/bin_x"))
            .is_some());
        for other in [
            "https://hooks.example.com/kanca/api/v1/app",
            "https://hooks.example.com/b/bin_x",
            "http://hooks.example.com/kanca/b/bin_x",
            "http://127.0.0.1:8081/b/bin_x",
            "http://10.0.0.1:8080/b/bin_x",
        ] {
            assert!(own.local_url(&url(other)).is_none(), "{other}");
        }
    }

    #[test]
    fn responses_are_checked() {
        assert!(BinResponse::parse(204, vec![], String::new(), 30_000).is_ok());
        assert!(BinResponse::parse(204, vec![], String::new(), 30_001).is_err());
        assert!(BinResponse::parse(99, vec![], String::new(), 0).is_err());
        let bad = vec![("bad name".to_owned(), "v".to_owned())];
        assert!(BinResponse::parse(200, bad, String::new(), 0).is_err());
        let framing = vec![("Content-Length".to_owned(), "3".to_owned())];
        assert!(BinResponse::parse(200, framing, String::new(), 0).is_err());
    }
}
