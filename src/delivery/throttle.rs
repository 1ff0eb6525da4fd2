//! Per-endpoint limits, enforced before a request is made: the endpoint's `throttleRate`
//! (a token bucket, as the generic cell rate algorithm) and a cap on its requests in flight.
//!
//! What happens to a delivery that may not go now:
//! - Over the rate: it goes back to the queue at a reserved slot (the bucket is charged when
//!   the slot is granted, so it goes through without a second check when it comes back).
//! - Over the in-flight cap: it waits in memory, in a short per-endpoint line (no longer than
//!   the cap, so its lease cannot run out while it waits), and starts the moment a request of
//!   that endpoint ends, on the same task. Past that line it goes back to the queue at a time
//!   paced by the endpoint's measured throughput (the interval between its requests ending),
//!   each one later than the last,
//!   so a backlog is spread over the time the endpoint needs for it instead of being claimed
//!   and sent back again and again.
//!
//! Either way an endpoint's backlog moves out of the head of the queue and holds at most two
//! caps' worth of the dispatcher's permits, so one slow or throttled endpoint never holds back
//! deliveries to the others. The state is per node: with several nodes, each enforces the
//! limits on its own share.

use crate::domain::{Endpoint, EndpointId};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Whether a claimed delivery may be sent now.
#[derive(Debug)]
pub enum Admission<T> {
    /// Send it now; it counts as in flight until [`Limiter::next`].
    Go(T),
    /// Kept in the endpoint's line; [`Limiter::next`] hands it to a finishing request.
    Queued,
    /// Back to the queue until then; `reserved` when the throttle has granted that slot.
    Wait {
        item: T,
        until: DateTime<Utc>,
        reserved: bool,
    },
}

#[derive(Debug)]
struct EndpointState<T> {
    /// The GCRA's theoretical arrival time: when the bucket will be full again.
    tat: DateTime<Utc>,
    /// When the next delivery sent back for the in-flight cap is due.
    next_free: DateTime<Utc>,
    in_flight: u32,
    line: VecDeque<T>,
    /// When a request of this endpoint last ended.
    last_done: Option<DateTime<Utc>>,
    /// Moving average of the time between requests ending: how fast the endpoint is really
    /// served, whatever holds it back (its latency, our CPU, the database), for pacing what
    /// the line cannot hold.
    avg_interval_us: f64,
}

pub struct Limiter<T> {
    max_in_flight: u32,
    endpoints: Mutex<HashMap<EndpointId, EndpointState<T>>>,
}

impl<T> Limiter<T> {
    /// `max_in_flight`: requests one endpoint may have open at once.
    pub fn new(max_in_flight: u32) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// Decides for one claimed delivery (`item`).
    pub fn admit(
        &self,
        endpoint: &Endpoint,
        reserved: bool,
        now: DateTime<Utc>,
        item: T,
    ) -> Admission<T> {
        let mut map = self.endpoints.lock().expect("limiter lock");
        let st = map
            .entry(endpoint.id.clone())
            .or_insert_with(|| EndpointState {
                tat: now,
                next_free: now,
                in_flight: 0,
                line: VecDeque::new(),
                last_done: None,
                avg_interval_us: 1000.0,
            });
        let mut reserved = reserved;
        if let (Some(rate), false) = (endpoint.fields.throttle_rate.filter(|r| *r > 0), reserved) {
            // A bucket of one second's worth of tokens, refilled at `rate` per second.
            let interval = chrono::Duration::microseconds(1_000_000 / i64::from(rate));
            let tolerance = interval * (i32::from(rate) - 1);
            let tat = st.tat.max(now);
            st.tat = tat + interval;
            if tat - tolerance > now {
                return Admission::Wait {
                    item,
                    until: tat - tolerance,
                    reserved: true,
                };
            }
            // The token is spent: if it now waits for the in-flight cap, it keeps it.
            reserved = true;
        }
        if st.in_flight < self.max_in_flight {
            st.in_flight += 1;
            return Admission::Go(item);
        }
        if st.line.len() < self.max_in_flight as usize {
            st.line.push_back(item);
            return Admission::Queued;
        }
        let per_slot_us = st.avg_interval_us.clamp(20.0, 60_000_000.0);
        st.next_free = st.next_free.max(now) + chrono::Duration::microseconds(per_slot_us as i64);
        Admission::Wait {
            item,
            until: st.next_free,
            reserved,
        }
    }

    /// A request admitted by [`Self::admit`] has ended. Returns the next delivery waiting in
    /// the endpoint's line, which takes over its slot, or `None` when the line is empty and
    /// the slot is freed.
    pub fn next(&self, endpoint: &EndpointId, now: DateTime<Utc>) -> Option<T> {
        let mut map = self.endpoints.lock().expect("limiter lock");
        let st = map.get_mut(endpoint)?;
        if let Some(last) = st.last_done {
            let dt = (now - last).num_microseconds().unwrap_or(i64::MAX).max(0) as f64;
            st.avg_interval_us = 0.9 * st.avg_interval_us + 0.1 * dt;
        }
        st.last_done = Some(now);
        if let Some(next) = st.line.pop_front() {
            return Some(next);
        }
        st.in_flight = st.in_flight.saturating_sub(1);
        if st.in_flight == 0 && st.tat <= now && st.next_free <= now {
            // Idle, with a full bucket: forget it, so the map only holds active endpoints.
            map.remove(endpoint);
        }
        None
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
        for n in 0..30 {
            match l.admit(&ep, false, now, n) {
                Admission::Go(_) => go += 1,
                Admission::Queued => panic!("the cap is not reached"),
                Admission::Wait {
                    until, reserved, ..
                } => {
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
        assert!(matches!(
            l.admit(&ep, true, slots[0], 99),
            Admission::Go(99)
        ));
    }

    #[test]
    fn over_the_cap_deliveries_wait_in_line_then_are_paced_back() {
        let l = Limiter::new(2);
        let ep = endpoint(None);
        let now = Utc::now();
        assert!(matches!(l.admit(&ep, false, now, 1), Admission::Go(1)));
        assert!(matches!(l.admit(&ep, false, now, 2), Admission::Go(2)));
        assert!(matches!(l.admit(&ep, false, now, 3), Admission::Queued));
        assert!(matches!(l.admit(&ep, false, now, 4), Admission::Queued));
        // Past the line: back to the queue, each later than the one before.
        let mut last = now;
        for n in 5..10 {
            match l.admit(&ep, false, now, n) {
                Admission::Wait {
                    until, reserved, ..
                } => {
                    assert!(!reserved);
                    assert!(until > last);
                    last = until;
                }
                other => panic!("expected a wait, got {other:?}"),
            }
        }
        // Another endpoint is not affected.
        assert!(matches!(
            l.admit(&endpoint(None), false, now, 0),
            Admission::Go(0)
        ));
        // Finishing hands the slot to the line, in order, then frees it.
        assert_eq!(l.next(&ep.id, now), Some(3));
        assert_eq!(l.next(&ep.id, now), Some(4));
        assert_eq!(l.next(&ep.id, now), None);
        assert!(matches!(l.admit(&ep, false, now, 10), Admission::Go(10)));
    }
}
