//! Endpoint URLs: absolute `http`/`https` URLs with a host.
//!
//! A URL whose host is an IP literal in a blocked range is refused when the endpoint is
//! created (a clear 422 beats a failed attempt later). Host names are checked when the
//! delivery connects, after DNS resolution, because only then is the address known; that
//! check lives in `delivery::ssrf`, and this type shares its address classification.

use super::ParseError;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    /// `allow_private` mirrors `KANCA_ALLOW_PRIVATE_TARGETS`.
    pub fn parse(s: &str, allow_private: bool) -> Result<Self, ParseError> {
        let url = url::Url::parse(s)
            .map_err(|e| ParseError::new(format!("url `{s}` is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ParseError::new(format!(
                "url must use http or https, not `{}`",
                url.scheme()
            )));
        }
        let Some(host) = url.host() else {
            return Err(ParseError::new("url must have a host"));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError::new(
                "url must not carry credentials; use the endpoint's headers instead",
            ));
        }
        if !allow_private {
            let ip = match host {
                url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
                url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
                url::Host::Domain(_) => None,
            };
            if let Some(reason) = ip.and_then(blocked_range) {
                return Err(ParseError::new(format!(
                    "url points to a {reason} address, which the SSRF guard refuses (set KANCA_ALLOW_PRIVATE_TARGETS=true to allow it)"
                )));
            }
        }
        Ok(Self(url))
    }

    /// For values read back from our own database.
    pub fn from_trusted(s: &str) -> Option<Self> {
        url::Url::parse(s).ok().map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

/// Names the blocked range an address falls in, or `None` if it is a public unicast address.
///
/// Blocked: loopback, RFC 1918 private, link-local (169.254/16, which holds cloud metadata
/// services), CGNAT (100.64/10), unspecified, broadcast, documentation, multicast, and for
/// IPv6 unique-local (fc00::/7), link-local (fe80::/10) and IPv4-mapped forms of the above.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("CGNAT")
            } else if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_broadcast() {
                Some("broadcast")
            } else if v4.is_multicast() || o[0] >= 240 {
                Some("multicast or reserved")
            } else if v4.is_documentation() || (o[0] == 198 && (o[1] & 0xfe) == 18) {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return blocked_range(IpAddr::V4(v4));
            }
            let seg0 = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if (seg0 & 0xfe00) == 0xfc00 {
                Some("unique-local")
            } else if (seg0 & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https() {
        assert!(EndpointUrl::parse("https://example.com/hook", false).is_ok());
        assert!(EndpointUrl::parse("ftp://example.com/", false).is_err());
        assert!(EndpointUrl::parse("not a url", false).is_err());
        assert!(EndpointUrl::parse("https://user:pw@example.com/", false).is_err());
    }

    #[test]
    fn private_literals_need_the_opt_in() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:192.168.0.1]/",
        ] {
            assert!(
                EndpointUrl::parse(url, false).is_err(),
                "{url} should be refused"
            );
            assert!(
                EndpointUrl::parse(url, true).is_ok(),
                "{url} should be allowed"
            );
        }
        assert!(EndpointUrl::parse("http://8.8.8.8/", false).is_ok());
    }
}
