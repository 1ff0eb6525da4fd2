//! Protection for the public hook URLs, following Slack's own advice on webhooks: a rate limit
//! per hook, an optional IP allow-list per hook, a record of every unauthorized request, and a
//! temporary block for an address that keeps failing (someone guessing tokens).
//!
//! The counters live in memory, per node: they protect against bursts, and a restart (or a
//! request reaching another node) at worst gives an attacker a fresh, equally small allowance.
//! The incidents, which operators read later, are stored.
//!
//! Rate limits are token buckets (`governor`, GCRA): `per_second` sustained with bursts of
//! `burst`. The maps are bounded: one bucket per hook, and failure counters are dropped once
//! their window has passed.

use super::WorkspaceSettings;
use crate::domain::workspace::{HookId, HookRate};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Above this many tracked addresses, expired entries are swept before adding one.
const SWEEP_ABOVE: usize = 10_000;

pub struct Guard {
    default_rate: HookRate,
    threshold: u32,
    window: Duration,
    block_for: Duration,
    buckets: Mutex<HashMap<HookId, (HookRate, Arc<DefaultDirectRateLimiter>)>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
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
    /// This failure reached the threshold: the address is blocked from now on.
    Blocked,
}

impl Guard {
    pub fn new(settings: &WorkspaceSettings) -> Self {
        Self {
            default_rate: settings.hook_rate,
            threshold: settings.ip_block_threshold.max(1),
            window: settings.ip_block_window,
            block_for: settings.ip_block_duration,
            buckets: Mutex::default(),
            failures: Mutex::default(),
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

    /// Whether `ip` is blocked right now.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let failures = self.failures.lock().expect("failures lock");
        failures
            .get(&ip)
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| until > Instant::now())
    }

    /// Counts a failed request from `ip`; says whether that got it blocked.
    pub fn record_failure(&self, ip: IpAddr) -> FailureEffect {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("failures lock");
        if failures.len() > SWEEP_ABOVE {
            let window = self.window;
            failures.retain(|_, f| {
                now.duration_since(f.window_start) < window
                    || f.blocked_until.is_some_and(|u| u > now)
            });
        }
        let entry = failures.entry(ip).or_insert(Failures {
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
    fn blocks_after_threshold() {
        let guard = Guard::new(&settings(3));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(guard.record_failure(ip), FailureEffect::Counted);
        assert_eq!(guard.record_failure(ip), FailureEffect::Counted);
        assert!(!guard.is_blocked(ip));
        assert_eq!(guard.record_failure(ip), FailureEffect::Blocked);
        assert!(guard.is_blocked(ip));
        assert!(!guard.is_blocked("203.0.113.10".parse().unwrap()));
    }
}
