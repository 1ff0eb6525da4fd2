//! The load generator: `--concurrency` publishers sharing one pooled HTTP client, each taking
//! the next message number and POSTing it, until `--messages` are sent.
//!
//! The same generator drives both the server under test and the `--baseline` run straight at
//! the receiver, so the two figures differ only in what is behind the URL.
//!
//! With `--rate`, message *n* is due at `start + n / rate` on one schedule that all publishers
//! share: a publisher that takes message *n* waits for that instant, not for a fixed pause
//! after its previous request. A slow answer therefore does not lower the offered rate (the
//! other publishers keep to the schedule), and when every publisher is busy the messages that
//! fell behind go out as soon as one is free, so the offered rate is kept on average rather
//! than silently dropped.

use super::receiver::unix_micros;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one publish may take before it counts as a transport error.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// What to send.
#[derive(Clone, Debug)]
pub struct Load {
    pub messages: usize,
    pub concurrency: usize,
    pub payload_bytes: usize,
    /// Messages per second offered in total; `None` is as fast as the target answers.
    pub rate: Option<f64>,
    /// How each request body carries the payload.
    pub shape: Shape,
}

/// How the payload `{"sentAtUs":…,"seq":…,"pad":"…"}` is wrapped in a request body, which is
/// what the target of each scenario takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A Svix message: `{"eventType":"bench.event","payload":{…}}`.
    SvixMessage,
    /// A Slack incoming-webhook post whose `text` is the payload as a string:
    /// `{"text":"{\"sentAtUs\":…}"}`, so that it comes back whole in the message's text.
    SlackText,
    /// The payload itself (a bin captures the body byte for byte).
    Bare,
}

/// Where to send it: message *n* goes to `urls[n % urls.len()]`.
#[derive(Clone, Debug)]
pub struct Destination {
    pub urls: Vec<String>,
    pub token: Option<String>,
    /// Sign each request as GitHub does with this secret (`X-Hub-Signature-256`), with a
    /// delivery id of its own (`X-GitHub-Delivery`): what a source of type `github` verifies.
    pub github_secret: Option<String>,
}

/// GitHub's `X-Hub-Signature-256` of `body`: its HMAC-SHA256 under the secret, in hex. Made
/// per request, so the cost of signing is the load generator's, as it is the provider's.
fn github_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Counters that the progress line reads while the load runs.
#[derive(Default)]
pub struct Live {
    pub acknowledged: AtomicU64,
}

/// What the generator saw.
pub struct Outcome {
    /// Per message, whether the target acknowledged it with a 2xx.
    acknowledged: Vec<AtomicBool>,
    pub acknowledged_count: u64,
    /// Non-2xx answers by status code.
    pub status_errors: BTreeMap<u16, u64>,
    /// Requests that got no answer, by kind (`timeout`, `connect`, `other`).
    pub transport_errors: BTreeMap<&'static str, u64>,
    /// When the first publish started.
    pub started: Instant,
    /// When the last 2xx arrived; `None` when none did.
    pub last_ack: Option<Instant>,
    /// How long each acknowledged publish took, in µs.
    pub ack_latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn is_acknowledged(&self, seq: usize) -> bool {
        self.acknowledged[seq].load(Ordering::Relaxed)
    }

    /// From the first publish to the last acknowledgement.
    pub fn publish_time(&self) -> Duration {
        self.last_ack
            .map_or(Duration::ZERO, |last| last.duration_since(self.started))
    }

    /// Acknowledged publishes per second over [`Self::publish_time`].
    pub fn rate(&self) -> Option<f64> {
        let secs = self.publish_time().as_secs_f64();
        (secs > 0.0).then(|| self.acknowledged_count as f64 / secs)
    }
}

/// One pooled client for all publishers: keep-alive connections, one per publisher at most.
pub fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        // The bench talks to servers it names directly; a proxy would measure the proxy.
        .no_proxy()
        .timeout(PUBLISH_TIMEOUT)
        .user_agent(concat!("kanca-bench/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Sends every message and returns what happened.
pub async fn run(
    load: &Load,
    destination: &Destination,
    client: &reqwest::Client,
    live: Arc<Live>,
) -> Outcome {
    let template = Arc::new(BodyTemplate::new(
        load.payload_bytes,
        load.messages,
        load.shape,
    ));
    let acknowledged: Arc<Vec<AtomicBool>> =
        Arc::new((0..load.messages).map(|_| AtomicBool::new(false)).collect());
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut publishers = tokio::task::JoinSet::new();
    for _ in 0..load.concurrency.max(1) {
        let publisher = Publisher {
            load: load.clone(),
            destination: destination.clone(),
            client: client.clone(),
            template: template.clone(),
            acknowledged: acknowledged.clone(),
            next: next.clone(),
            live: live.clone(),
            started,
        };
        publishers.spawn(publisher.run());
    }
    let mut total = Tally::default();
    while let Some(joined) = publishers.join_next().await {
        match joined {
            Ok(tally) => total.merge(tally),
            // A publisher only ends early by panicking, which is a bug in the bench.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    let acknowledged = Arc::try_unwrap(acknowledged).unwrap_or_else(|shared| {
        shared
            .iter()
            .map(|a| AtomicBool::new(a.load(Ordering::Relaxed)))
            .collect()
    });
    Outcome {
        acknowledged_count: total.ack_latencies_us.len() as u64,
        acknowledged,
        status_errors: total.status_errors,
        transport_errors: total.transport_errors,
        started,
        last_ack: total.last_ack,
        ack_latencies_us: total.ack_latencies_us,
    }
}

/// One publisher's own counts, merged when all are done (no shared state on the hot path
/// besides the message counter).
#[derive(Default)]
struct Tally {
    status_errors: BTreeMap<u16, u64>,
    transport_errors: BTreeMap<&'static str, u64>,
    last_ack: Option<Instant>,
    ack_latencies_us: Vec<u32>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (status, n) in other.status_errors {
            *self.status_errors.entry(status).or_default() += n;
        }
        for (kind, n) in other.transport_errors {
            *self.transport_errors.entry(kind).or_default() += n;
        }
        self.last_ack = self.last_ack.max(other.last_ack);
        self.ack_latencies_us.extend(other.ack_latencies_us);
    }
}

struct Publisher {
    load: Load,
    destination: Destination,
    client: reqwest::Client,
    template: Arc<BodyTemplate>,
    acknowledged: Arc<Vec<AtomicBool>>,
    next: Arc<AtomicU64>,
    live: Arc<Live>,
    started: Instant,
}

impl Publisher {
    async fn run(self) -> Tally {
        let mut tally = Tally::default();
        loop {
            let seq = self.next.fetch_add(1, Ordering::Relaxed) as usize;
            if seq >= self.load.messages {
                return tally;
            }
            if let Some(rate) = self.load.rate {
                let due = self.started + Duration::from_secs_f64(seq as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            let url = &self.destination.urls[seq % self.destination.urls.len()];
            let mut request = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            if let Some(token) = &self.destination.token {
                request = request.bearer_auth(token);
            }
            let sent = Instant::now();
            let body = self.template.render(seq, unix_micros());
            if let Some(secret) = &self.destination.github_secret {
                request = request
                    .header("x-hub-signature-256", github_signature(secret, &body))
                    .header("x-github-delivery", format!("kanca-bench-{seq}"))
                    .header("x-github-event", "push");
            }
            let answer = match request.body(body).send().await {
                // Reading the body to its end hands the connection back to the pool.
                Ok(response) => {
                    let status = response.status();
                    response.bytes().await.map(|_| status)
                }
                Err(e) => Err(e),
            };
            match answer {
                Ok(status) if status.is_success() => {
                    let now = Instant::now();
                    self.acknowledged[seq].store(true, Ordering::Relaxed);
                    self.live.acknowledged.fetch_add(1, Ordering::Relaxed);
                    tally.last_ack = tally.last_ack.max(Some(now));
                    let took = now.duration_since(sent).as_micros();
                    tally
                        .ack_latencies_us
                        .push(took.min(u32::MAX as u128) as u32);
                }
                Ok(status) => *tally.status_errors.entry(status.as_u16()).or_default() += 1,
                Err(e) => {
                    *tally
                        .transport_errors
                        .entry(transport_kind(&e))
                        .or_default() += 1
                }
            }
        }
    }
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "other"
    }
}

/// The request body, by default `{"eventType":"bench.event","payload":{"sentAtUs":…,"seq":…,"pad":"xx…"}}`
/// (see [`Shape`] for the others), with the padding sized once so that the payload is about
/// `--payload-bytes` long.
struct BodyTemplate {
    pad: String,
    shape: Shape,
}

impl BodyTemplate {
    fn new(payload_bytes: usize, messages: usize, shape: Shape) -> Self {
        // The payload without padding, with the widest seq this run sends and a 16-digit
        // timestamp (Unix µs until the year 2286).
        let widest = Self::payload(1_000_000_000_000_000, messages, "");
        Self {
            pad: "x".repeat(payload_bytes.saturating_sub(widest.len())),
            shape,
        }
    }

    fn payload(sent_at_us: u64, seq: usize, pad: &str) -> String {
        format!(r#"{{"sentAtUs":{sent_at_us},"seq":{seq},"pad":"{pad}"}}"#)
    }

    fn render(&self, seq: usize, sent_at_us: u64) -> Vec<u8> {
        let payload = Self::payload(sent_at_us, seq, &self.pad);
        match self.shape {
            Shape::SvixMessage => {
                format!(r#"{{"eventType":"bench.event","payload":{payload}}}"#).into_bytes()
            }
            // The payload holds digits, letters and quotes only, so escaping the quotes makes
            // it a JSON string.
            Shape::SlackText => {
                format!(r#"{{"text":"{}"}}"#, payload.replace('"', r#"\""#)).into_bytes()
            }
            Shape::Bare => payload.into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::receiver::json_u64_field;

    #[test]
    fn the_payload_is_about_the_asked_size_and_carries_seq_and_time() {
        let template = BodyTemplate::new(1024, 10_000, Shape::SvixMessage);
        let body = template.render(9_999, 1_700_000_000_000_000);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let payload = json["payload"].to_string();
        assert!((1000..=1024).contains(&payload.len()), "{}", payload.len());
        assert_eq!(json_u64_field(&body, "seq"), Some(9_999));
        assert_eq!(
            json_u64_field(&body, "sentAtUs"),
            Some(1_700_000_000_000_000)
        );
    }

    #[test]
    fn a_slack_post_carries_the_payload_as_its_text_and_a_bin_gets_it_bare() {
        let slack = BodyTemplate::new(200, 100, Shape::SlackText).render(42, 1_700_000_000_000_000);
        let json: serde_json::Value = serde_json::from_slice(&slack).unwrap();
        let text = json["text"].as_str().unwrap();
        assert_eq!(json_u64_field(text.as_bytes(), "seq"), Some(42));
        assert_eq!(
            json_u64_field(text.as_bytes(), "sentAtUs"),
            Some(1_700_000_000_000_000)
        );
        let bare = BodyTemplate::new(200, 100, Shape::Bare).render(7, 1_700_000_000_000_000);
        let json: serde_json::Value = serde_json::from_slice(&bare).unwrap();
        assert_eq!(json["seq"], 7);
        assert!((190..=200).contains(&bare.len()), "{}", bare.len());
    }
}
