//! The SSRF guard: a DNS resolver for the delivery client that refuses private addresses.
//!
//! Checking a URL's host before sending is not enough: a name can resolve to a public address
//! when checked and a private one when connecting (DNS rebinding). So the check happens in the
//! resolver the HTTP client connects with: only addresses that pass are handed to it. IP
//! literals never reach a resolver, so the sender checks those itself with the same rules
//! ([`crate::domain::url::blocked_range`]).

use crate::domain::url::blocked_range;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};

/// A delivery refused because its target is in a blocked range.
#[derive(Debug, thiserror::Error)]
#[error("blocked by SSRF guard: {host} resolves to {ip}, a {range} address (set KANCA_ALLOW_PRIVATE_TARGETS=true to allow it)")]
pub struct SsrfBlocked {
    pub host: String,
    pub ip: IpAddr,
    pub range: &'static str,
}

/// The name did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("DNS lookup of {host} failed: {reason}")]
pub struct DnsFailure {
    pub host: String,
    pub reason: String,
}

/// Resolves with the system resolver, then drops every blocked address.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| DnsFailure {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
            let Some(first) = addrs.first().copied() else {
                return Err(DnsFailure {
                    host,
                    reason: "no addresses".into(),
                }
                .into());
            };
            if allow_private {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| blocked_range(a.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                return Err(SsrfBlocked {
                    host,
                    ip: first.ip(),
                    range: blocked_range(first.ip()).unwrap_or("private"),
                }
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
