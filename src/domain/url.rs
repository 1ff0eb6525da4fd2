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
    pub(crate) fn from_trusted(s: &str) -> Option<Self> {
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
            if v6.is_loopback() {
                return Some("loopback");
            }
            if v6.is_unspecified() {
                return Some("unspecified");
            }
            // Forms that carry an IPv4 address reach that address (through a translator, a
            // relay or the host's own stack): they are what that address is.
            if let Some(range) = embedded_ipv4(v6)
                .into_iter()
                .find_map(|v4| blocked_range(IpAddr::V4(v4)))
            {
                return Some(range);
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
            } else if seg0 == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("reserved")
            } else {
                None
            }
        }
    }
}

/// The IPv4 addresses an IPv6 address embeds, by the standard forms that do: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`),
/// NAT64 (`64:ff9b::/96` and the local-use `64:ff9b:1::/48`), 6to4 (`2002:AABB:CCDD::/48`),
/// Teredo (`2001:0::/32`: the server, and the client stored inverted) and ISATAP interface
/// ids (`…:0:5efe:a.b.c.d`, `…:200:5efe:a.b.c.d`).
pub fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Vec<std::net::Ipv4Addr> {
    use std::net::Ipv4Addr;
    let s = v6.segments();
    let from = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let last = from(s[6], s[7]);
    let mut found = Vec::new();
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => found.push(last),
        [0, 0, 0, 0, 0, 0, _, _] => found.push(last),
        [0, 0, 0, 0, 0xffff, 0, _, _] => found.push(last),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => found.push(last),
        [0x64, 0xff9b, 1, ..] => found.push(last),
        [0x2002, hi, lo, ..] => found.push(from(hi, lo)),
        [0x2001, 0, server_hi, server_lo, ..] => {
            found.push(from(server_hi, server_lo));
            found.push(from(!s[6], !s[7]));
        }
        _ => {}
    }
    if (s[4] == 0 || s[4] == 0x0200) && s[5] == 0x5efe {
        found.push(last);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_forms_that_embed_ipv4_are_classified_by_it() {
        for blocked in [
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "::ffff:0:7f00:1",
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:192.168.0.1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2001:0:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "fe80::5efe:7f00:1",
            "2600::5efe:a00:1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = blocked.parse().unwrap();
            assert!(blocked_range(ip).is_some(), "{blocked} should be blocked");
        }
        for public in [
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert_eq!(blocked_range(ip), None, "{public} is public");
        }
    }

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
