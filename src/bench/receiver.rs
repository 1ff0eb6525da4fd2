//! The bench's own webhook consumer: an HTTP/1.1 keep-alive server on loopback that tallies
//! every delivery it gets.
//!
//! Every delivery is identified by what the bench itself put in it, not by what the server
//! under test adds: the endpoint by the URL path it was registered with (`/e/{index}`), the
//! message by the `seq` field of its payload. That makes the tally a dense array indexed by
//! (endpoint, message) that request handlers update with atomics only, so the receiver adds
//! no lock contention to the figures, and it works the same for any Svix-compatible server
//! (whatever ids it sends, and even if it re-serialises the payload).
//!
//! The publish→receive latency is `now − sentAtUs`, both read from the wall clock of this one
//! machine; see the module doc of [`crate::bench`] for why it is carried in the payload.

use super::series::LatencyBins;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri};
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What has happened to one (endpoint, message) delivery so far.
const UNSEEN: u8 = 0;
const REFUSED_ONCE: u8 = 1;
const DELIVERED: u8 = 2;

/// Everything the receiver has seen, shared between its handlers and the bench.
pub struct Tally {
    endpoints: usize,
    messages: usize,
    /// Deliveries of messages in this fraction get a 500 on their first attempt.
    fail_ratio: f64,
    /// Per delivery, at `endpoint * messages + seq`: `UNSEEN`, `REFUSED_ONCE` or `DELIVERED`.
    state: Vec<AtomicU8>,
    /// Per delivery, the latency of its first successful receipt in µs, plus one (0 = none).
    latency_us: Vec<AtomicU32>,
    delivered: AtomicU64,
    duplicates: AtomicU64,
    failures_served: AtomicU64,
    unexpected: AtomicU64,
    /// When the last first-time success arrived, in µs after `epoch` (0 = none yet).
    last_delivery_us: AtomicU64,
    epoch: Instant,
    /// Every first success's latency again, binned per interval for the time series.
    pub bins: Arc<LatencyBins>,
}

impl Tally {
    /// A tally for `messages` messages (seq `0..messages`) to each of `endpoints` endpoints.
    pub fn new(endpoints: usize, messages: usize, fail_ratio: f64, epoch: Instant) -> Arc<Self> {
        let n = endpoints * messages;
        Arc::new(Self {
            endpoints,
            messages,
            fail_ratio,
            state: (0..n).map(|_| AtomicU8::new(UNSEEN)).collect(),
            latency_us: (0..n).map(|_| AtomicU32::new(0)).collect(),
            delivered: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            failures_served: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            last_delivery_us: AtomicU64::new(0),
            epoch,
            bins: Arc::default(),
        })
    }

    /// Distinct deliveries answered 200 (retries and duplicates of one count once).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Successful requests for a delivery that had already succeeded (at-least-once).
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// The 500s answered on purpose (`--fail-ratio`).
    pub fn failures_served(&self) -> u64 {
        self.failures_served.load(Ordering::Relaxed)
    }

    /// Requests the bench cannot place: an unknown path, or a body without `seq`/`sentAtUs`.
    pub fn unexpected(&self) -> u64 {
        self.unexpected.load(Ordering::Relaxed)
    }

    /// When the last delivery that counted arrived, as time after the bench's epoch.
    pub fn last_delivery(&self) -> Option<std::time::Duration> {
        match self.last_delivery_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(std::time::Duration::from_micros(us)),
        }
    }

    /// How many of the deliveries of these messages (every endpoint) have not arrived.
    pub fn missing(&self, acknowledged: impl Fn(usize) -> bool) -> u64 {
        let mut missing = 0;
        for endpoint in 0..self.endpoints {
            for seq in (0..self.messages).filter(|&s| acknowledged(s)) {
                let state = self.state[endpoint * self.messages + seq].load(Ordering::Relaxed);
                missing += u64::from(state != DELIVERED);
            }
        }
        missing
    }

    /// Successful deliveries of messages the publisher never saw acknowledged (a publish that
    /// timed out on our side but was stored by the server).
    pub fn delivered_unacknowledged(&self, acknowledged: impl Fn(usize) -> bool) -> u64 {
        let mut extra = 0;
        for endpoint in 0..self.endpoints {
            for seq in (0..self.messages).filter(|&s| !acknowledged(s)) {
                let state = self.state[endpoint * self.messages + seq].load(Ordering::Relaxed);
                extra += u64::from(state == DELIVERED);
            }
        }
        extra
    }

    /// The publish→receive latencies of every delivery that arrived, in µs, unsorted.
    pub fn latencies_us(&self) -> Vec<u32> {
        self.latency_us
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .filter(|&l| l > 0)
            .map(|l| l - 1)
            .collect()
    }

    /// Whether the first attempt of this message is answered 500: decided by a hash of its
    /// seq, so the same messages fail whatever order they arrive in and on every endpoint.
    fn fails_first_attempt(&self, seq: usize) -> bool {
        self.fail_ratio > 0.0 && unit_interval(seq as u64) < self.fail_ratio
    }

    /// Records one request and says how to answer it.
    fn record(&self, path: &str, body: &[u8]) -> StatusCode {
        let arrived_unix_us = unix_micros();
        let placed = endpoint_index(path).zip(json_u64_field(body, "seq"));
        let (endpoint, seq) = match placed {
            Some((e, s)) if e < self.endpoints && (s as usize) < self.messages => (e, s as usize),
            _ => {
                self.unexpected.fetch_add(1, Ordering::Relaxed);
                return StatusCode::OK;
            }
        };
        let Some(sent_at_us) = json_u64_field(body, "sentAtUs") else {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            return StatusCode::OK;
        };
        let index = endpoint * self.messages + seq;
        if self.fails_first_attempt(seq)
            && self.state[index]
                .compare_exchange(UNSEEN, REFUSED_ONCE, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.failures_served.fetch_add(1, Ordering::Relaxed);
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        if self.state[index].swap(DELIVERED, Ordering::Relaxed) == DELIVERED {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return StatusCode::OK;
        }
        // A sample past u32::MAX µs (71 minutes) is clamped; no run waits that long.
        let latency = arrived_unix_us
            .saturating_sub(sent_at_us)
            .min(u32::MAX as u64 - 1) as u32;
        self.latency_us[index].store(latency + 1, Ordering::Relaxed);
        self.bins.record(latency);
        let since_epoch = self.epoch.elapsed().as_micros().max(1) as u64;
        self.last_delivery_us
            .fetch_max(since_epoch, Ordering::Relaxed);
        self.delivered.fetch_add(1, Ordering::Relaxed);
        StatusCode::OK
    }
}

/// A running receiver; it stops serving when dropped.
pub struct Receiver {
    task: JoinHandle<()>,
}

impl Receiver {
    /// Serves `listener` until dropped, tallying into `tally`.
    pub fn start(listener: TcpListener, tally: Arc<Tally>) -> Self {
        let app = Router::new()
            .fallback(receive)
            // Whatever arrives is tallied, however large: --payload-bytes can exceed axum's
            // default limit.
            .layer(DefaultBodyLimit::disable())
            .with_state(tally);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("warning: the bench receiver stopped: {e}");
            }
        });
        Self { task }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(tally): State<Arc<Tally>>, uri: Uri, body: Bytes) -> StatusCode {
    tally.record(uri.path(), &body)
}

/// The path an endpoint is registered with: `/e/{index}`.
pub fn endpoint_path(index: usize) -> String {
    format!("/e/{index}")
}

fn endpoint_index(path: &str) -> Option<usize> {
    path.strip_prefix("/e/")?.trim_end_matches('/').parse().ok()
}

/// The unsigned integer after `"name":` in a JSON text, found without parsing the whole
/// document (deliveries are scanned on the receiver's hot path). Whitespace around the colon
/// is allowed, so a server that re-serialises the payload is read the same. The bench's own
/// field names do not occur anywhere else in the payloads it sends.
pub fn json_u64_field(body: &[u8], name: &str) -> Option<u64> {
    let key = format!("\"{name}\"");
    let at = body.windows(key.len()).position(|w| w == key.as_bytes())?;
    let rest = &body[at + key.len()..];
    let rest = trim_start(rest).strip_prefix(b":")?;
    let rest = trim_start(rest);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

fn trim_start(s: &[u8]) -> &[u8] {
    let skip = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[skip..]
}

/// Microseconds since the Unix epoch on this machine's wall clock.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A number in `[0, 1)` that is the same for the same input every run (SplitMix64).
fn unit_interval(x: u64) -> f64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// For the backlog scenario: a free port on `addr`'s host (when its port is 0) that nothing
/// listens on yet, so connections to it are refused until the receiver binds it.
pub fn reserve(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let probe = std::net::TcpListener::bind(addr)?;
    probe.local_addr()
    // `probe` closes here: the port is free again, and connections to it are refused until
    // the receiver binds it (tokio sets SO_REUSEADDR, so rebinding it succeeds).
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_written_compactly_or_re_serialised() {
        let compact = br#"{"sentAtUs":1700000000123456,"seq":42,"pad":"xx"}"#;
        assert_eq!(json_u64_field(compact, "seq"), Some(42));
        assert_eq!(
            json_u64_field(compact, "sentAtUs"),
            Some(1_700_000_000_123_456)
        );
        let pretty = br#"{ "pad": "xx", "seq" : 7 }"#;
        assert_eq!(json_u64_field(pretty, "seq"), Some(7));
        assert_eq!(json_u64_field(pretty, "sentAtUs"), None);
    }

    #[test]
    fn fails_about_the_asked_fraction_of_messages() {
        let tally = Tally::new(1, 100_000, 0.1, Instant::now());
        let failing = (0..100_000)
            .filter(|&s| tally.fails_first_attempt(s))
            .count();
        assert!((9_000..11_000).contains(&failing), "{failing}");
    }

    #[test]
    fn a_failing_message_is_refused_once_then_delivered_once() {
        let tally = Tally::new(2, 10, 1.0, Instant::now());
        let body = br#"{"sentAtUs":1,"seq":3}"#;
        assert_eq!(
            tally.record("/e/1", body),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(tally.record("/e/1", body), StatusCode::OK);
        assert_eq!(tally.record("/e/1", body), StatusCode::OK);
        assert_eq!(tally.record("/nowhere", body), StatusCode::OK);
        assert_eq!(
            (
                tally.failures_served(),
                tally.delivered(),
                tally.duplicates(),
                tally.unexpected()
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(tally.missing(|s| s == 3), 1, "endpoint 0 never got it");
    }
}
