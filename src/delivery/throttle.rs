//! Per-endpoint limits, enforced before a request is made: the endpoint's `throttleRate`
//! (a token bucket, as the generic cell rate algorithm) and its share of the node's delivery
//! slots.
//!
//! **Fair shares.** The node has a budget of requests in flight (`KANCA_MAX_IN_FLIGHT`). An
//! endpoint may hold at most its share of it: `budget / (active endpoints + 1)`, and never more
//! than `KANCA_ENDPOINT_MAX_IN_FLIGHT`. The `+ 1` keeps a share free for an endpoint that is
//! not active yet, so however many endpoints stall (never answering until the delivery
//! timeout), an endpoint with due work always finds slots. Shares shrink as endpoints become
//! active and grow as they go idle; a stalled endpoint over its new share keeps what it has in
//! flight but gets no more until it is under it.
//!
//! What happens to a delivery that may not go now:
//! - Over the rate: it goes back to the queue at a reserved slot (the bucket is charged when
//!   the slot is granted, so it goes through without a second check when it comes back).
//! - Over the endpoint's share: it waits in memory, in a short per-endpoint line (no longer
//!   than the share, so its lease cannot run out while it waits, and all lines together no
//!   longer than the budget), and starts the moment a request of that endpoint ends, on the
//!   same task and slot. A delivery in a line holds no slot. Past the line it goes back to the
//!   queue *paced*: due at a time set by the endpoint's measured throughput (the interval
//!   between its requests ending), each later than the last, so a backlog is spread over the
//!   time the endpoint needs for it instead of being claimed and sent back again and again.
//! - When an endpoint that has paced work waiting goes idle (its last request ends with an
//!   empty line), it has become faster than its pace assumed: [`Limiter::next`] says so, and
//!   the dispatcher brings that endpoint's paced deliveries forward, so a recovered endpoint
//!   drains its backlog at its new speed rather than at the old slow one.
//!
//! The state is per node: with several nodes, each enforces the limits on its own share.

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
    /// Back to the queue until then; `reserved` when the throttle has granted that slot,
    /// `paced` when it waits for the endpoint's pace (over its share, past its line).
    Wait {
        item: T,
        until: DateTime<Utc>,
        reserved: bool,
        paced: bool,
    },
}

/// What a finished request leaves to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Next<T> {
    /// The delivery from the endpoint's line that takes over the finished one's slot.
    pub item: Option<T>,
    /// The endpoint went idle while deliveries paced for it wait in the queue: bring them
    /// forward ([`crate::store::QueueStore::recall_paced`]).
    pub recall_paced: bool,
}

#[derive(Debug)]
struct EndpointState<T> {
    /// The GCRA's theoretical arrival time: when the bucket will be full again.
    tat: DateTime<Utc>,
    /// When the next delivery sent back for the endpoint's pace is due.
    next_free: DateTime<Utc>,
    in_flight: u32,
    line: VecDeque<T>,
    /// When a request of this endpoint last ended.
    last_done: Option<DateTime<Utc>>,
    /// Moving average of the time between requests ending: how fast the endpoint is really
    /// served, whatever holds it back (its latency, our CPU, the database), for pacing what
    /// the line cannot hold. It only measures the endpoint while it is kept busy: when work
    /// arrives slower than it answers, it measures the arrivals.
    avg_interval_us: f64,
    /// Moving average of how long its requests take: divided by its share, how fast it could
    /// be served if kept busy. Pacing takes the faster of the two, so a slow pace learnt
    /// while the endpoint was slow does not outlive its recovery.
    avg_latency_us: f64,
    /// When paced deliveries were last brought forward, so it happens at most once a second.
    last_recall: Option<DateTime<Utc>>,
}

struct State<T> {
    endpoints: HashMap<EndpointId, EndpointState<T>>,
    /// Deliveries in all lines together.
    lined: usize,
}

pub struct Limiter<T> {
    /// Requests one endpoint may have open at once, whatever its share.
    endpoint_cap: u32,
    /// Requests the node has open at once, across endpoints.
    budget: u32,
    state: Mutex<State<T>>,
    /// Told when an endpoint has room again (its line drained to half, or a slot freed), so a
    /// dispatcher that found every active endpoint full can wait for it instead of claiming
    /// work only to send it back ([`Self::room`]).
    room_freed: tokio::sync::Notify,
}

impl<T> Limiter<T> {
    /// `endpoint_cap`: requests one endpoint may have open at once; `budget`: requests the
    /// node may have open at once (the dispatcher's permits).
    pub fn new(endpoint_cap: u32, budget: usize) -> Self {
        Self {
            endpoint_cap: endpoint_cap.max(1),
            budget: u32::try_from(budget).unwrap_or(u32::MAX).max(1),
            state: Mutex::new(State {
                endpoints: HashMap::new(),
                lined: 0,
            }),
            room_freed: tokio::sync::Notify::new(),
        }
    }

    /// How many claimed deliveries the active endpoints can take without sending any back:
    /// their free slots and the room in their lines. With `probing`, also one more endpoint's
    /// worth (a slot share and a line), for work of endpoints not active yet.
    ///
    /// The dispatcher claims no more than this. Claiming more only moves rows out of the
    /// queue and back again: at full speed that churn was more than one extra claim and one
    /// extra write per delivery.
    pub fn room(&self, probing: bool) -> usize {
        let state = self.state.lock().expect("limiter lock");
        let active = state.endpoints.len();
        let share = self.share(active) as usize;
        let (mut slots, mut lines) = (0usize, 0usize);
        for st in state.endpoints.values() {
            slots += share.saturating_sub(st.in_flight as usize);
            lines += share.saturating_sub(st.line.len());
        }
        let lines = lines.min((self.budget as usize).saturating_sub(state.lined));
        let newcomer = if probing {
            2 * self.share(active + 1) as usize
        } else {
            0
        };
        slots + lines + newcomer
    }

    /// Resolves once an endpoint has room again after [`Self::room`] said there was none (or
    /// at once, if room was made since the last call).
    pub async fn room_freed(&self) {
        self.room_freed.notified().await
    }

    /// An endpoint's share of the budget when `active` endpoints hold slots or lines.
    fn share(&self, active: usize) -> u32 {
        let active = u32::try_from(active).unwrap_or(u32::MAX);
        (self.budget / active.saturating_add(1)).clamp(1, self.endpoint_cap)
    }

    /// Decides for one claimed delivery (`item`).
    pub fn admit(
        &self,
        endpoint: &Endpoint,
        reserved: bool,
        now: DateTime<Utc>,
        item: T,
    ) -> Admission<T> {
        let mut guard = self.state.lock().expect("limiter lock");
        let state = &mut *guard;
        let known = state.endpoints.contains_key(&endpoint.id);
        let active = state.endpoints.len() + usize::from(!known);
        let share = self.share(active);
        let budget_lines = self.budget as usize;
        let st = state
            .endpoints
            .entry(endpoint.id.clone())
            .or_insert_with(|| EndpointState {
                tat: now,
                next_free: now,
                in_flight: 0,
                line: VecDeque::new(),
                last_done: None,
                avg_interval_us: 1000.0,
                avg_latency_us: 1000.0,
                last_recall: None,
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
                    paced: false,
                };
            }
            // The token is spent: if it now waits for a slot, it keeps it.
            reserved = true;
        }
        if st.in_flight < share && st.line.is_empty() {
            st.in_flight += 1;
            return Admission::Go(item);
        }
        if st.line.len() < share as usize && state.lined < budget_lines {
            st.line.push_back(item);
            state.lined += 1;
            return Admission::Queued;
        }
        let per_slot_us = st
            .avg_interval_us
            .min(st.avg_latency_us / f64::from(share))
            .clamp(20.0, 60_000_000.0);
        st.next_free = st.next_free.max(now) + chrono::Duration::microseconds(per_slot_us as i64);
        Admission::Wait {
            item,
            until: st.next_free,
            reserved,
            paced: true,
        }
    }

    /// A request admitted by [`Self::admit`] has ended after `took`. Returns the next delivery
    /// waiting in the endpoint's line, which takes over its slot (none when the line is empty:
    /// the slot is freed), and whether paced deliveries should be brought forward.
    pub fn next(
        &self,
        endpoint: &EndpointId,
        now: DateTime<Utc>,
        took: std::time::Duration,
    ) -> Next<T> {
        let mut guard = self.state.lock().expect("limiter lock");
        let state = &mut *guard;
        let idle = Next {
            item: None,
            recall_paced: false,
        };
        let half_line = self.share(state.endpoints.len()) as usize / 2;
        let Some(st) = state.endpoints.get_mut(endpoint) else {
            return idle;
        };
        if let Some(last) = st.last_done {
            let dt = (now - last).num_microseconds().unwrap_or(i64::MAX).max(0) as f64;
            st.avg_interval_us = 0.9 * st.avg_interval_us + 0.1 * dt;
        }
        st.last_done = Some(now);
        let took_us = took.as_micros() as f64;
        st.avg_latency_us = 0.9 * st.avg_latency_us + 0.1 * took_us;
        if let Some(next) = st.line.pop_front() {
            state.lined -= 1;
            // At half a line there is room for a claim worth making; not on every pop, which
            // would wake the dispatcher once per delivery.
            if st.line.len() == half_line {
                self.room_freed.notify_one();
            }
            return Next {
                item: Some(next),
                recall_paced: false,
            };
        }
        st.in_flight = st.in_flight.saturating_sub(1);
        self.room_freed.notify_one();
        let mut recall_paced = false;
        if st.in_flight == 0 && st.next_free > now {
            // Idle, yet work was paced into the future for it: the endpoint keeps up better
            // than its pace said. At most once a second, so a slow endpoint that idles between
            // paced deliveries does not churn the queue.
            let due = st
                .last_recall
                .is_none_or(|at| now - at >= chrono::Duration::seconds(1));
            if due {
                st.last_recall = Some(now);
                st.next_free = now;
                // The averages still remember the slow past; the latest request is the better
                // guess now, and the averages correct it if it was a lucky one.
                st.avg_latency_us = st.avg_latency_us.min(took_us.max(20.0));
                st.avg_interval_us = st.avg_interval_us.min(st.avg_latency_us);
                recall_paced = true;
            }
        }
        if st.in_flight == 0 && st.tat <= now && st.next_free <= now && !recall_paced {
            // Idle, with a full bucket: forget it, so the map only holds active endpoints.
            state.endpoints.remove(endpoint);
        }
        Next {
            item: None,
            recall_paced,
        }
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
        let l = Limiter::new(1000, 100_000);
        let ep = endpoint(Some(10));
        let now = Utc::now();
        let mut go = 0;
        let mut slots = vec![];
        for n in 0..30 {
            match l.admit(&ep, false, now, n) {
                Admission::Go(_) => go += 1,
                Admission::Queued => panic!("the cap is not reached"),
                Admission::Wait {
                    until,
                    reserved,
                    paced,
                    ..
                } => {
                    assert!(reserved);
                    assert!(!paced);
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
        let l = Limiter::new(2, 1000);
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
                    until,
                    reserved,
                    paced,
                    ..
                } => {
                    assert!(!reserved);
                    assert!(paced);
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
        assert_eq!(
            l.next(&ep.id, now, std::time::Duration::from_millis(1))
                .item,
            Some(3)
        );
        assert_eq!(
            l.next(&ep.id, now, std::time::Duration::from_millis(1))
                .item,
            Some(4)
        );
        assert_eq!(
            l.next(&ep.id, now, std::time::Duration::from_millis(1))
                .item,
            None
        );
        // The last request ends with paced work in the queue: bring it forward, once.
        let last = l.next(&ep.id, now, std::time::Duration::from_millis(1));
        assert_eq!(last.item, None);
        assert!(last.recall_paced);
        assert!(matches!(l.admit(&ep, false, now, 10), Admission::Go(10)));
        assert!(
            !l.next(&ep.id, now, std::time::Duration::from_millis(1))
                .recall_paced,
            "at most once a second"
        );
    }

    #[test]
    fn room_is_what_the_active_endpoints_can_take_plus_a_newcomer_when_probing() {
        // Budget 8, cap 2: one endpoint's share is 2 slots and a line of 2.
        let l = Limiter::new(2, 8);
        let ep = endpoint(None);
        let now = Utc::now();
        assert_eq!(l.room(false), 0, "nobody active");
        assert_eq!(l.room(true), 4, "a newcomer's slots and line");
        assert!(matches!(l.admit(&ep, false, now, 1), Admission::Go(1)));
        assert_eq!(l.room(false), 1 + 2);
        assert!(matches!(l.admit(&ep, false, now, 2), Admission::Go(2)));
        assert!(matches!(l.admit(&ep, false, now, 3), Admission::Queued));
        assert!(matches!(l.admit(&ep, false, now, 4), Admission::Queued));
        assert_eq!(l.room(false), 0, "full: claiming more would send it back");
        assert_eq!(l.room(true), 4);
        // Half the line drains: room again, and the dispatcher hears of it.
        let next = l.next(&ep.id, now, std::time::Duration::from_millis(1));
        assert_eq!(next.item, Some(3));
        assert_eq!(l.room(false), 1);
        let heard = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(1), l.room_freed())
                    .await
                    .is_ok()
            });
        assert!(heard);
    }

    #[test]
    fn a_handful_of_stalled_endpoints_leave_slots_for_the_others() {
        // The defaults' proportions: a budget of 8 caps, at most one cap per endpoint.
        let l = Limiter::new(8, 64);
        let now = Utc::now();
        let mut held = 0;
        for _ in 0..5 {
            let stalled = endpoint(None);
            for n in 0..100 {
                if let Admission::Go(_) = l.admit(&stalled, false, now, n) {
                    held += 1;
                }
            }
        }
        // Each took at most its share when it arrived (8, 8, 8, 8, then 64 / 6 = 10 → 8),
        // lines included: nothing past the share is queued in memory.
        assert!(held <= 40, "five stalled endpoints hold {held} of 64 slots");
        // Shares shrink as endpoints become active: a sixth gets 64 / 7 = 9, capped at 8.
        let fresh = endpoint(None);
        assert!(matches!(l.admit(&fresh, false, now, 0), Admission::Go(0)));
        assert_eq!(l.share(7), 8);
        assert_eq!(l.share(15), 4);
        assert_eq!(l.share(1000), 1);
    }
}
