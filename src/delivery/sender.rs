//! Making the HTTP request for one attempt.
//!
//! One `reqwest::Client` serves every delivery: it pools keep-alive connections per host,
//! never follows redirects (a 3xx is a failure, as in Svix: following one would let an
//! endpoint bounce us to an address the guard would have refused), ignores proxy settings from
//! the environment, and connects only through the [`GuardedResolver`].
//!
//! The one exception is Kanca's own request bins ([`OwnBinUrls`]): a URL under this server's
//! `/b/` is rewritten to the listen address and sent by a second client whose resolver can
//! only ever answer with that address, so delivering into a bin on the same server works with
//! the guard on, without opening the guard to anything else on the private network.

use super::ssrf::{DnsFailure, GuardedResolver, SsrfBlocked};
use crate::domain::bins::OwnBinUrls;
use crate::domain::url::blocked_range;
use crate::domain::EndpointUrl;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much of a response body an attempt keeps.
pub const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
    /// This server's own bins, and the client pinned to its listen address.
    own_bins: Option<(OwnBinUrls, reqwest::Client)>,
}

/// What one request came to.
#[derive(Debug)]
pub struct SendResult {
    /// The status code, when a response arrived.
    pub status: Option<u16>,
    /// The first [`RESPONSE_BODY_LIMIT`] bytes of the response body (lossy UTF-8).
    pub body: String,
    /// The response headers, in order (values that are not UTF-8 shown lossily).
    pub headers: Vec<(String, String)>,
    pub duration: Duration,
    /// Why no usable response arrived: dns, connect, timeout, tls or the SSRF guard.
    pub failure: Option<String>,
    /// The `Retry-After` of a 429 or 503 answer (seconds or an HTTP date).
    pub retry_after: Option<Duration>,
}

/// What [`Sender::fetch_small`] got: a 200's body, whole.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The `Content-Type` the server claimed, if any.
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl SendResult {
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .user_agent(concat!("Kanca/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()?;
        Ok(Self {
            client,
            allow_private,
            timeout,
            own_bins: None,
        })
    }

    /// Sends requests to this server's own bins straight to its listen address (see the
    /// module doc).
    pub fn with_own_bins(mut self, own: OwnBinUrls) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(OnlyAddress(own.local_addr())))
            .user_agent(concat!("Kanca/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()?;
        self.own_bins = Some((own, client));
        Ok(self)
    }

    pub async fn post(&self, url: &EndpointUrl, headers: HeaderMap, body: Bytes) -> SendResult {
        self.send(reqwest::Method::POST, url, headers, body).await
    }

    /// A POST that must be answered within `timeout` when one is given, however long the
    /// sender's own timeout is (Slack gives its apps 3 seconds).
    pub async fn post_within(
        &self,
        url: &EndpointUrl,
        headers: HeaderMap,
        body: Bytes,
        timeout: Option<Duration>,
    ) -> SendResult {
        self.send_with(reqwest::Method::POST, url, headers, body, timeout)
            .await
    }

    /// One request of any method (a replay sends what a bin captured).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &EndpointUrl,
        headers: HeaderMap,
        body: Bytes,
    ) -> SendResult {
        self.send_with(method, url, headers, body, None).await
    }

    async fn send_with(
        &self,
        method: reqwest::Method,
        url: &EndpointUrl,
        headers: HeaderMap,
        body: Bytes,
        timeout: Option<Duration>,
    ) -> SendResult {
        let start = Instant::now();
        let own = self
            .own_bins
            .as_ref()
            .and_then(|(own, client)| Some((own.local_url(url.as_url())?, client)));
        let request = match own {
            Some((local, client)) => client.request(method, local),
            None => {
                if let Some(blocked) = self.blocked_literal(url) {
                    return failure(start, blocked.to_string());
                }
                self.client.request(method, url.as_url().clone())
            }
        };
        let request = match timeout {
            Some(t) => request.timeout(t),
            None => request,
        };
        let response = request.headers(headers).body(body).send().await;
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return failure(start, describe(&e.without_url())),
        };
        let status = response.status().as_u16();
        let retry_after = match status {
            429 | 503 => response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after),
            _ => None,
        };
        let response_headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut buf = Vec::new();
        let mut failure_reason = None;
        while buf.len() < RESPONSE_BODY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = RESPONSE_BODY_LIMIT - buf.len();
                    buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) => break,
                Err(e) => {
                    // The status line arrived, so the endpoint answered; a body cut short
                    // (or too slow) is noted but does not change what the status says.
                    failure_reason = Some(format!(
                        "reading the response body failed: {}",
                        describe(&e.without_url())
                    ));
                    break;
                }
            }
        }
        SendResult {
            status: Some(status),
            body: String::from_utf8_lossy(&buf).into_owned(),
            headers: response_headers,
            duration: start.elapsed(),
            failure: failure_reason,
            retry_after,
        }
    }

    /// A GET of a small resource through the same guard as deliveries (the app portal's logo):
    /// a 200's content type and body, or why not. A body over `limit` bytes is refused, by its
    /// `Content-Length` before reading or once `limit` is passed while reading.
    pub async fn fetch_small(&self, url: &EndpointUrl, limit: usize) -> Result<Fetched, String> {
        if let Some(blocked) = self.blocked_literal(url) {
            return Err(blocked.to_string());
        }
        let mut response = self
            .client
            .get(url.as_url().clone())
            .send()
            .await
            .map_err(|e| describe(&e.without_url()))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(format!("answered {status}"));
        }
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(format!("larger than {limit} bytes"));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| describe(&e.without_url()))?
        {
            if body.len() + chunk.len() > limit {
                return Err(format!("larger than {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            content_type,
            body: Bytes::from(body),
        })
    }

    /// IP literals skip DNS, so the resolver never sees them: check them here.
    fn blocked_literal(&self, url: &EndpointUrl) -> Option<SsrfBlocked> {
        if self.allow_private {
            return None;
        }
        let ip = match url.as_url().host()? {
            url::Host::Ipv4(ip) => ip.into(),
            url::Host::Ipv6(ip) => ip.into(),
            url::Host::Domain(_) => return None,
        };
        blocked_range(ip).map(|range| SsrfBlocked {
            host: ip.to_string(),
            ip,
            range,
        })
    }
}

fn failure(start: Instant, reason: String) -> SendResult {
    SendResult {
        status: None,
        body: reason.clone(),
        headers: Vec::new(),
        duration: start.elapsed(),
        failure: Some(reason),
        retry_after: None,
    }
}

/// The resolver of the own-bins client: whatever the name, this server's listen address.
struct OnlyAddress(std::net::SocketAddr);

impl reqwest::dns::Resolve for OnlyAddress {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs) })
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A readable reason for a failed request, naming its kind first.
fn describe(e: &reqwest::Error) -> String {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(blocked) = s.downcast_ref::<SsrfBlocked>() {
            return blocked.to_string();
        }
        if let Some(dns) = s.downcast_ref::<DnsFailure>() {
            return format!("dns: {dns}");
        }
        source = s.source();
    }
    let chain = error_chain(e);
    if e.is_timeout() {
        format!("timeout: {chain}")
    } else if chain.contains("certificate") || chain.to_ascii_lowercase().contains("tls") {
        format!("tls: {chain}")
    } else if e.is_connect() {
        format!("connect: {chain}")
    } else {
        format!("request: {chain}")
    }
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let in_a_minute = std::time::SystemTime::now() + Duration::from_secs(60);
        let d = parse_retry_after(&httpdate::fmt_http_date(in_a_minute)).unwrap();
        assert!((55..=60).contains(&d.as_secs()), "{d:?}");
        let past = httpdate::fmt_http_date(std::time::UNIX_EPOCH);
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
