//! The live stream the receive and inspect scenarios watch: a channel's messages or a bin's
//! captures as Server-Sent Events, read the way a console or `kanca listen` reads them.
//!
//! Each event is matched to the post that caused it by what the bench put in the post (the
//! payload's `seq` and `sentAtUs`, found in the event's `text` or `body` field), never by the
//! ids the server gives, so the tally is a dense array indexed by `seq` and updated with
//! atomics, like the receiver's (see [`super::receiver`]). The stream is read by one task;
//! the wait loop and the progress line read the counters while it runs.
//!
//! If the stream ends or fails, it is opened again with `Last-Event-ID` set to the last event
//! read, as a browser would; the server then sends exactly what came after, so a reconnect
//! shows up as a count in the report, not as missing or duplicate events.

use super::receiver::{json_u64_field, unix_micros};
use super::series::LatencyBins;
use anyhow::bail;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The pause before opening a stream again after it ended.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// Which stream to read and how its events carry the bench's payload.
#[derive(Clone, Debug)]
pub struct Feed {
    /// `http://host:port/api/v1/…/stream`.
    pub url: String,
    pub token: String,
    /// The SSE event name that carries posts (`message`, `request`); others are skipped.
    pub event: &'static str,
    /// The string field of the event's JSON that holds the payload (`text`, `body`).
    pub field: &'static str,
}

/// Everything the stream has shown, shared between its reader and the bench.
pub struct StreamTally {
    /// Per seq, whether it has been seen.
    seen_flags: Vec<AtomicBool>,
    /// Per seq, post → seen in µs, plus one (0 = not seen).
    latency_us: Vec<AtomicU32>,
    seen: AtomicU64,
    duplicates: AtomicU64,
    unexpected: AtomicU64,
    reconnects: AtomicU64,
    /// When the last first sighting happened, in µs after `epoch` (0 = none yet).
    last_seen_us: AtomicU64,
    epoch: Instant,
    /// Every first success's latency again, binned per interval for the time series.
    pub bins: Arc<LatencyBins>,
}

impl StreamTally {
    pub fn new(messages: usize, epoch: Instant) -> Arc<Self> {
        Arc::new(Self {
            seen_flags: (0..messages).map(|_| AtomicBool::new(false)).collect(),
            latency_us: (0..messages).map(|_| AtomicU32::new(0)).collect(),
            seen: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            last_seen_us: AtomicU64::new(0),
            epoch,
            bins: Arc::default(),
        })
    }

    /// Distinct posts seen on the stream.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Events for a post that had been seen already.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Events the bench cannot place (no payload, or a `seq` out of range).
    pub fn unexpected(&self) -> u64 {
        self.unexpected.load(Ordering::Relaxed)
    }

    /// Times the stream had to be opened again.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// When the last post was first seen, as time after the bench's epoch.
    pub fn last_seen(&self) -> Option<Duration> {
        match self.last_seen_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Accepted posts not seen.
    pub fn missing(&self, accepted: impl Fn(usize) -> bool) -> u64 {
        self.count(|seq, seen| accepted(seq) && !seen)
    }

    /// Posts seen whose 2xx the bench never got (e.g. its request timed out on our side).
    pub fn seen_unaccepted(&self, accepted: impl Fn(usize) -> bool) -> u64 {
        self.count(|seq, seen| !accepted(seq) && seen)
    }

    fn count(&self, pick: impl Fn(usize, bool) -> bool) -> u64 {
        let seen = self.seen_flags.iter().map(|f| f.load(Ordering::Relaxed));
        seen.enumerate().filter(|&(seq, s)| pick(seq, s)).count() as u64
    }

    /// Post → seen latencies in µs, unsorted.
    pub fn latencies_us(&self) -> Vec<u32> {
        self.latency_us
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .filter(|&l| l > 0)
            .map(|l| l - 1)
            .collect()
    }

    /// Records one event's data, read at `now_unix_us`.
    fn record(&self, data: &str, field: &str, now_unix_us: u64) {
        let placed = stamp(data, field).filter(|&(seq, _)| (seq as usize) < self.seen_flags.len());
        let Some((seq, sent_at_us)) = placed else {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let seq = seq as usize;
        if self.seen_flags[seq].swap(true, Ordering::Relaxed) {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // A sample past u32::MAX µs (71 minutes) is clamped; no run waits that long.
        let latency = now_unix_us
            .saturating_sub(sent_at_us)
            .min(u32::MAX as u64 - 1) as u32;
        self.latency_us[seq].store(latency + 1, Ordering::Relaxed);
        self.bins.record(latency);
        let since_epoch = self.epoch.elapsed().as_micros().max(1) as u64;
        self.last_seen_us.fetch_max(since_epoch, Ordering::Relaxed);
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
}

/// The `(seq, sentAtUs)` an event carries: its data is a JSON object whose string `field` is
/// the bench's payload (a message's text, a capture's body). `None` for anything else.
pub fn stamp(data: &str, field: &str) -> Option<(u64, u64)> {
    let event: serde_json::Value = serde_json::from_str(data).ok()?;
    let payload = event.get(field)?.as_str()?.as_bytes();
    Some((
        json_u64_field(payload, "seq")?,
        json_u64_field(payload, "sentAtUs")?,
    ))
}

/// A client for streams: unlike the posters' it has no overall timeout, since a stream is
/// one response that lasts the whole run.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("kanca-bench/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The stream being read; reading stops when this is dropped.
pub struct Watcher {
    task: JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens the stream (returns once the server has answered with its headers, so what is
/// posted from then on is on it) and reads it into `tally` until dropped.
pub async fn watch(
    client: reqwest::Client,
    feed: Feed,
    tally: Arc<StreamTally>,
) -> anyhow::Result<Watcher> {
    let first = connect(&client, &feed, None).await?;
    let task = tokio::spawn(async move {
        let mut last_id = None;
        let mut response = Some(first);
        loop {
            if let Some(r) = response.take() {
                read(r.bytes_stream(), &feed, &tally, &mut last_id).await;
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
            tally.reconnects.fetch_add(1, Ordering::Relaxed);
            response = connect(&client, &feed, last_id.as_deref()).await.ok();
        }
    });
    Ok(Watcher { task })
}

async fn connect(
    client: &reqwest::Client,
    feed: &Feed,
    last_id: Option<&str>,
) -> anyhow::Result<reqwest::Response> {
    let mut request = client
        .get(&feed.url)
        .bearer_auth(&feed.token)
        .header(reqwest::header::ACCEPT, "text/event-stream");
    if let Some(id) = last_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await?;
    if !response.status().is_success() {
        bail!("opening the live stream: answered {}", response.status());
    }
    Ok(response)
}

/// Reads events until the stream ends or fails, keeping the last id for a reconnect.
async fn read<S, E>(body: S, feed: &Feed, tally: &StreamTally, last_id: &mut Option<String>)
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>>,
{
    let mut events = std::pin::pin!(body.eventsource());
    while let Some(Ok(event)) = events.next().await {
        if event.event != feed.event {
            continue;
        }
        tally.record(&event.data, feed.field, unix_micros());
        if !event.id.is_empty() {
            *last_id = Some(event.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_event_is_placed_by_the_payload_in_its_text() {
        let data = r#"{"ts":"1700000000.000100","channelId":"C1","text":"{\"sentAtUs\":1700000000000000,\"seq\":12,\"pad\":\"xx\"}","postedBy":{"kind":"app","name":"kanca bench"}}"#;
        assert_eq!(stamp(data, "text"), Some((12, 1_700_000_000_000_000)));
        assert_eq!(stamp(data, "body"), None);
        assert_eq!(stamp("not json", "text"), None);
        assert_eq!(stamp(r#"{"text":"hello"}"#, "text"), None);
        assert_eq!(stamp(r#"{"text":7}"#, "text"), None);
    }

    #[test]
    fn events_are_tallied_once_each_and_strays_counted() {
        let tally = StreamTally::new(3, Instant::now());
        let now = 1_700_000_000_500_000;
        let event =
            |seq: u64| format!(r#"{{"body":"{{\"sentAtUs\":1700000000000000,\"seq\":{seq}}}"}}"#);
        tally.record(&event(0), "body", now);
        tally.record(&event(2), "body", now);
        tally.record(&event(2), "body", now);
        tally.record(&event(3), "body", now);
        tally.record(r#"{"body":null}"#, "body", now);
        assert_eq!(tally.seen(), 2);
        assert_eq!(tally.duplicates(), 1);
        assert_eq!(tally.unexpected(), 2);
        assert_eq!(tally.latencies_us(), vec![500_000, 500_000]);
        assert_eq!(tally.missing(|_| true), 1);
        assert_eq!(tally.missing(|seq| seq != 1), 0);
        assert_eq!(tally.seen_unaccepted(|seq| seq != 2), 1);
        assert!(tally.last_seen().is_some());
    }

    /// The bytes a server sends, through the same SSE parser the bench reads streams with:
    /// keep-alive comments and other event names are skipped, ids are kept for resuming.
    #[tokio::test]
    async fn reads_a_server_sent_event_stream() {
        let wire = concat!(
            ": keep-alive\n\n",
            "event: request\nid: req_000000000001\n",
            "data: {\"body\":\"{\\\"sentAtUs\\\":5,\\\"seq\\\":1}\"}\n\n",
            "event: other\ndata: {}\n\n",
            "event: request\nid: req_000000000002\n",
            "data: {\"body\":\"{\\\"sentAtUs\\\":5,\\\"seq\\\":0}\"}\n\n",
        );
        let chunks = wire
            .as_bytes()
            .chunks(7)
            .map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::copy_from_slice(c)));
        let feed = Feed {
            url: String::new(),
            token: String::new(),
            event: "request",
            field: "body",
        };
        let tally = StreamTally::new(2, Instant::now());
        let mut last_id = None;
        read(futures::stream::iter(chunks), &feed, &tally, &mut last_id).await;
        assert_eq!(last_id.as_deref(), Some("req_000000000002"));
        assert_eq!((tally.seen(), tally.unexpected()), (2, 0));
        assert_eq!(tally.latencies_us().len(), 2);
    }
}
