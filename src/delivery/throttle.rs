//! Per-endpoint limits, enforced before a request is made: the endpoint's `throttleRate`
//! (a token bucket, as the generic cell rate algorithm) and a cap on its requests in flight.
//!
//! A delivery that may not go now is not held in memory or slept on: it goes back to the
//! queue with the time it may go. For the rate that time is a reserved slot (the bucket is
//! charged when the slot is granted, so the delivery goes through without a second check when
//! it comes back); for the in-flight cap it is an estimate from the endpoint's recent latency.
//! Either way the endpoint's backlog moves out of the head of the queue, so one slow or
//! throttled endpoint never holds back deliveries to the others.
//!
//! The state is per node: with several nodes, each enforces the limits on its own share.

use crate::domain::{Endpoint, EndpointId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Whether a claimed delivery may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Back to the queue until then; `reserved` when the throttle has granted that slot.
    Wait {
        until: DateTime<Utc>,
        reserved: bool,
    },
}

#[derive(Debug)]
struct EndpointState {
    /// The GCRA's theoretical arrival time: when the bucket will be full again.
    tat: DateTime<Utc>,
    in_flight: u32,
    /// Sent back because of the in-flight cap since the last admission.
    waiting: u32,
    /// Moving average of request durations, for estimating when a slot frees up.
    avg_latency_ms: f64,
}

pub struct Limiter {
    max_in_flight: u32,
    endpoints: Mutex<HashMap<EndpointId, EndpointState>>,
}

impl Limiter {
    /// `max_in_flight`: requests one endpoint may have open at once.
    pub fn new(max_in_flight: u32) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// Decides for one claimed delivery; a `Go` counts as in flight until [`Self::finished`].
    pub fn admit(&self, endpoint: &Endpoint, reserved: bool, now: DateTime<Utc>) -> Admission {
        let mut map = self.endpoints.lock().expect("limiter lock");
        let st = map
            .entry(endpoint.id.clone())
            .or_insert_with(|| EndpointState {
                tat: now,
                in_flight: 0,
                waiting: 0,
                avg_latency_ms: 50.0,
            });
        if st.in_flight >= self.max_in_flight {
            st.waiting += 1;
            let rounds = 1 + st.waiting / self.max_in_flight;
            let wait_ms = st.avg_latency_ms.max(10.0) * f64::from(rounds);
            return Admission::Wait {
                until: now + chrono::Duration::milliseconds(wait_ms as i64),
                reserved,
            };
        }
        if let (Some(rate), false) = (endpoint.fields.throttle_rate.filter(|r| *r > 0), reserved) {
            // A bucket of one second's worth of tokens, refilled at `rate` per second.
            let interval = chrono::Duration::microseconds(1_000_000 / i64::from(rate));
            let tolerance = interval * (i32::from(rate) - 1);
            let tat = st.tat.max(now);
            if tat - tolerance > now {
                st.tat = tat + interval;
                return Admission::Wait {
                    until: tat - tolerance,
                    reserved: true,
                };
            }
            st.tat = tat + interval;
        }
        st.in_flight += 1;
        st.waiting = 0;
        Admission::Go
    }

    /// A request admitted by [`Self::admit`] has ended after `latency`. Returns whether
    /// deliveries to this endpoint are waiting for the slot it frees.
    pub fn finished(&self, endpoint: &EndpointId, latency: Duration, now: DateTime<Utc>) -> bool {
        let mut map = self.endpoints.lock().expect("limiter lock");
        let Some(st) = map.get_mut(endpoint) else {
            return false;
        };
        st.in_flight = st.in_flight.saturating_sub(1);
        st.avg_latency_ms = 0.8 * st.avg_latency_ms + 0.2 * latency.as_secs_f64() * 1000.0;
        let waiting = st.waiting > 0;
        if st.in_flight == 0 && st.tat <= now && !waiting {
            // Idle and with a full bucket: forget it, so the map only holds active endpoints.
            map.remove(endpoint);
        }
        waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    fn endpoint(rate: Option<u16>) -> Endpoint {
        Endpoint {
            id: EndpointId::generate(),
            app_id: AppId::generate(),
            fields: EndpointFields {
                uid: None,
                url: EndpointUrl::parse("https://example.com", false).unwrap(),
                description: String::new(),
                event_types: None,
                channels: None,
                disabled: false,
                throttle_rate: rate,
                metadata: Default::default(),
                headers: Default::default(),
            },
            secret: EndpointSecret::generate(),
            retired_secrets: vec![],
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn throttle_allows_a_burst_then_spaces_slots_at_the_rate() {
        let l = Limiter::new(1000);
        let ep = endpoint(Some(10));
        let now = Utc::now();
        let mut go = 0;
        let mut slots = vec![];
        for _ in 0..30 {
            match l.admit(&ep, false, now) {
                Admission::Go => go += 1,
                Admission::Wait { until, reserved } => {
                    assert!(reserved);
                    slots.push(until);
                }
            }
        }
        assert_eq!(go, 10, "one second's worth goes at once");
        // The rest get distinct slots 100 ms apart: 20 more in the next two seconds.
        for pair in slots.windows(2) {
            assert_eq!((pair[1] - pair[0]).num_milliseconds(), 100);
        }
        assert!((slots[19] - now).num_milliseconds() <= 2000);
        // A reserved delivery coming back at its slot goes without a second charge.
        assert_eq!(l.admit(&ep, true, slots[0]), Admission::Go);
    }

    #[test]
    fn in_flight_cap_sends_the_excess_back_to_wait() {
        let l = Limiter::new(2);
        let ep = endpoint(None);
        let now = Utc::now();
        assert_eq!(l.admit(&ep, false, now), Admission::Go);
        assert_eq!(l.admit(&ep, false, now), Admission::Go);
        assert!(matches!(
            l.admit(&ep, false, now),
            Admission::Wait {
                reserved: false,
                ..
            }
        ));
        // Another endpoint is not affected.
        assert_eq!(l.admit(&endpoint(None), false, now), Admission::Go);
        assert!(l.finished(&ep.id, Duration::from_millis(5), now));
        assert_eq!(l.admit(&ep, false, now), Admission::Go);
    }
}
