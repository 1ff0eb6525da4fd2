//! Protection for the public hook URLs and the admin token, following Slack's own advice on
//! webhooks: a rate limit per hook, an optional IP allow-list per hook, a record of every
//! unauthorized request, and a temporary block for an address that keeps failing (someone
//! guessing tokens).
//!
//! The counters live in memory, per node: they protect against bursts, and a restart (or a
//! request reaching another node) at worst gives an attacker a fresh, equally small allowance.
//! The incidents, which operators read later, are stored.
//!
//! **Whose address.** Behind a reverse proxy every request comes from the proxy, so a block
//! by address would block everyone. Only when the connection comes from a trusted proxy
//! (`KANCA_TRUSTED_PROXIES`) are its `Forwarded` / `X-Forwarded-For` headers believed: the
//! client is the last address in them that is not itself a trusted proxy. From anyone else
//! those headers are ignored, since anyone can send them.
//!
//! **What a block covers** (`KANCA_IP_BLOCK_SCOPE`): `hook` (the default) blocks an address
//! from the one hook id it kept failing on, so failures cannot silence other hooks even when
//! many senders share an address; `all` blocks it from every hook (stronger against a scan,
//! but behind an untrusted proxy anyone can then silence every hook with a few requests);
//! `off` only records incidents.
//!
//! Failed admin-token attempts (wrong bearer tokens, wrong sign-ins) are counted per address
//! too: past the threshold the address gets 429 with `Retry-After` until its block ends.
//!
//! Rate limits are token buckets (`governor`, GCRA): `per_second` sustained with bursts of
//! `burst`. The maps are bounded: one bucket per hook, and failure counters are dropped once
//! their window has passed.

use super::WorkspaceSettings;
use crate::domain::workspace::{HookId, HookRate};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use ipnet::IpNet;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Above this many tracked addresses, expired entries are swept before adding one.
const SWEEP_ABOVE: usize = 10_000;

/// What an address's failures block it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockScope {
    /// The hook id it failed on (the default).
    #[default]
    Hook,
    /// Every hook.
    All,
    /// Nothing: failures are only recorded.
    Off,
}

pub struct Guard {
    default_rate: HookRate,
    scope: BlockScope,
    trusted_proxies: Vec<IpNet>,
    buckets: Mutex<HashMap<HookId, (HookRate, Arc<DefaultDirectRateLimiter>)>>,
    /// Hook failures by address and (with scope `hook`) hook id.
    hooks: FailureCounter<(IpAddr, Option<String>)>,
    /// Wrong admin tokens by address.
    admin: FailureCounter<IpAddr>,
}

/// Failures per key within a window, and the blocks they earn.
pub struct FailureCounter<K> {
    threshold: u32,
    window: Duration,
    block_for: Duration,
    entries: Mutex<HashMap<K, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    window_start: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

/// What recording a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureEffect {
    Counted,
    /// This failure reached the threshold: the key is blocked from now on.
    Blocked,
}

impl<K: Eq + Hash + Clone> FailureCounter<K> {
    pub fn new(threshold: u32, window: Duration, block_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            window,
            block_for,
            entries: Mutex::default(),
        }
    }

    /// How much longer `key` is blocked, if it is.
    pub fn blocked_for(&self, key: &K) -> Option<Duration> {
        let now = Instant::now();
        let entries = self.entries.lock().expect("failures lock");
        entries
            .get(key)
            .and_then(|f| f.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Counts a failure of `key`; says whether that got it blocked.
    pub fn record(&self, key: K) -> FailureEffect {
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("failures lock");
        if entries.len() > SWEEP_ABOVE {
            let window = self.window;
            entries.retain(|_, f| {
                now.duration_since(f.window_start) < window
                    || f.blocked_until.is_some_and(|u| u > now)
            });
        }
        let entry = entries.entry(key).or_insert(Failures {
            window_start: now,
            count: 0,
            blocked_until: None,
        });
        if now.duration_since(entry.window_start) >= self.window {
            entry.window_start = now;
            entry.count = 0;
        }
        entry.count += 1;
        if entry.count >= self.threshold && entry.blocked_until.is_none_or(|u| u <= now) {
            entry.blocked_until = Some(now + self.block_for);
            entry.count = 0;
            entry.window_start = now;
            return FailureEffect::Blocked;
        }
        FailureEffect::Counted
    }
}

impl Guard {
    pub fn new(settings: &WorkspaceSettings) -> Self {
        Self {
            default_rate: settings.hook_rate,
            scope: settings.ip_block_scope,
            trusted_proxies: settings.trusted_proxies.clone(),
            buckets: Mutex::default(),
            hooks: FailureCounter::new(
                settings.ip_block_threshold,
                settings.ip_block_window,
                settings.ip_block_duration,
            ),
            admin: FailureCounter::new(
                settings.auth_failure_threshold,
                settings.auth_failure_window,
                settings.auth_block_duration,
            ),
        }
    }

    /// Whether the hook may post now; `Err(wait)` says how long until it may.
    pub fn admit(&self, hook: &HookId, rate: Option<HookRate>) -> Result<(), Duration> {
        let rate = rate.unwrap_or(self.default_rate);
        let limiter = {
            let mut buckets = self.buckets.lock().expect("rate buckets lock");
            match buckets.get(hook) {
                Some((r, limiter)) if *r == rate => limiter.clone(),
                _ => {
                    let limiter = Arc::new(RateLimiter::direct(quota(rate)));
                    buckets.insert(hook.clone(), (rate, limiter.clone()));
                    limiter
                }
            }
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn hook_key(&self, ip: IpAddr, hook: &str) -> (IpAddr, Option<String>) {
        match self.scope {
            BlockScope::Hook => (ip, Some(hook.to_owned())),
            BlockScope::All | BlockScope::Off => (ip, None),
        }
    }

    /// Whether `ip` is blocked right now from the hook with id `hook` (the `B…` in its URL).
    pub fn is_blocked(&self, ip: IpAddr, hook: &str) -> bool {
        self.scope != BlockScope::Off && self.hooks.blocked_for(&self.hook_key(ip, hook)).is_some()
    }

    /// Counts a failed hook request from `ip`; says whether that got it blocked.
    pub fn record_failure(&self, ip: IpAddr, hook: &str) -> FailureEffect {
        if self.scope == BlockScope::Off {
            return FailureEffect::Counted;
        }
        self.hooks.record(self.hook_key(ip, hook))
    }

    /// How much longer `ip` may not try the admin token, if it is blocked.
    pub fn admin_blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        self.admin.blocked_for(&ip)
    }

    /// Counts a wrong admin token from `ip`.
    pub fn record_admin_failure(&self, ip: IpAddr) -> FailureEffect {
        self.admin.record(ip)
    }

    /// The client's address: the connection's, unless it is a trusted proxy, in which case the
    /// last address in `Forwarded` (else `X-Forwarded-For`) that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for ip in chain.into_iter().rev() {
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }
}

/// The addresses a request passed through, oldest first, from `Forwarded` (RFC 7239) or, if
/// there is none, `X-Forwarded-For`. An entry that is not an address (`unknown`, an
/// obfuscated name) ends the chain there: nothing before it can be believed.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .collect()
    };
    let forwarded: Vec<String> = values("forwarded")
        .into_iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| v.trim().to_owned())
            })
        })
        .collect();
    let entries = if forwarded.is_empty() {
        values("x-forwarded-for")
    } else {
        forwarded
    };
    let mut chain = Vec::new();
    for entry in entries {
        match parse_node(&entry) {
            Some(ip) => chain.push(ip),
            None => chain.clear(),
        }
    }
    chain
}

/// `192.0.2.1`, `192.0.2.1:443`, `"[2001:db8::1]:443"`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .and_then(|(ip, _)| ip.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

fn quota(rate: HookRate) -> Quota {
    let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(threshold: u32) -> WorkspaceSettings {
        WorkspaceSettings {
            ip_block_threshold: threshold,
            ..Default::default()
        }
    }

    #[test]
    fn bursts_then_limits() {
        let guard = Guard::new(&settings(5));
        let hook = HookId::generate();
        let rate = Some(HookRate {
            per_second: 1,
            burst: 3,
        });
        for _ in 0..3 {
            assert!(guard.admit(&hook, rate).is_ok());
        }
        let wait = guard.admit(&hook, rate).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
    }

    #[test]
    fn blocks_after_threshold_only_for_that_hook_by_default() {
        let guard = Guard::new(&settings(3));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(guard.record_failure(ip, "B1"), FailureEffect::Counted);
        assert_eq!(guard.record_failure(ip, "B1"), FailureEffect::Counted);
        assert!(!guard.is_blocked(ip, "B1"));
        assert_eq!(guard.record_failure(ip, "B1"), FailureEffect::Blocked);
        assert!(guard.is_blocked(ip, "B1"));
        assert!(!guard.is_blocked(ip, "B2"));
        assert!(!guard.is_blocked("203.0.113.10".parse().unwrap(), "B1"));
    }

    #[test]
    fn scope_all_blocks_every_hook() {
        let guard = Guard::new(&WorkspaceSettings {
            ip_block_scope: BlockScope::All,
            ..settings(1)
        });
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        guard.record_failure(ip, "B1");
        assert!(guard.is_blocked(ip, "B2"));
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let guard = Guard::new(&WorkspaceSettings {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..Default::default()
        });
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.7, 10.1.1.1".parse().unwrap());
        let proxy: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.50:5000".parse().unwrap();
        assert_eq!(
            guard.client_ip(proxy, &headers),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(guard.client_ip(stranger, &headers), stranger.ip());
        let mut headers = HeaderMap::new();
        headers.insert(
            "forwarded",
            r#"for="[2001:db8::1]:4711";proto=https, for=10.2.2.2"#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            guard.client_ip(proxy, &headers),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        // Spoofed entries before an untrusted hop are not believed.
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.1.1.1, 198.51.100.7".parse().unwrap());
        assert_eq!(
            guard.client_ip(proxy, &headers),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }
}
