//! `kanca bench`: how fast a webhook server accepts messages and delivers them, measured from
//! the outside, the way its users see it.
//!
//! # What is measured, from when to when
//!
//! The bench is a client of the server's public API only (it shares no code with the server),
//! so the same run can measure Kanca started by the bench (`kanca serve` children, SQLite or
//! PostgreSQL, one or more nodes) or any running Svix-compatible server (`--server`).
//!
//! 1. **Baseline** (`--baseline`), first: the same load generator POSTs the same messages at
//!    the same concurrency straight to a fresh instance of the bench's receiver. Its rate is
//!    the loopback HTTP ceiling of this machine for this client and this receiver, measured
//!    in the same run; Kanca's delivery rate is reported as a fraction of it. It always runs
//!    as fast as it can (`--rate` does not apply): it is a ceiling, not a scenario.
//! 2. **Setup**, not timed: one application, `--endpoints` endpoints all pointing at the
//!    receiver (each message fans out to every one of them).
//! 3. **Publish**: `--concurrency` publishers POST `--messages` messages. The clock starts
//!    when the first publish starts. The publish rate is acknowledged (2xx) publishes divided
//!    by the time from then to the last acknowledgement.
//! 4. **Deliver**: the receiver answers 200 (or, for `--fail-ratio`, 500 to the first attempt
//!    of some messages) and notes when each (endpoint, message) first succeeds. The run waits
//!    until every acknowledged message has reached every endpoint, or `--timeout` after
//!    publishing ends. The delivery rate is successful deliveries divided by the time from the
//!    first publish to the last successful delivery; it therefore includes the publish phase,
//!    which is what a user waiting for webhooks experiences.
//! 5. **Backlog** (`--backlog`): the receiver does not listen while messages are published (the
//!    server's attempts are refused), and starts once the last publish is acknowledged. The
//!    drain is timed from that moment to the last successful delivery. Spawned servers then
//!    retry every second (unless `--retry-schedule` says otherwise), so that when the
//!    receiver comes back every waiting delivery is due within about a second and the drain
//!    measures the server rather than its retry schedule.
//!
//! # The receive and inspect scenarios (`--scenario incoming-webhook`, `--scenario bin`)
//!
//! The same load generator posts to Kanca's other two front doors instead, and the bench
//! watches the live stream that each feeds, as a console or `kanca listen` would
//! (`inbound.rs`):
//!
//! 1. **Setup**, not timed, through the public API: a channel and an incoming webhook into
//!    it, or a bin (keeping its maximum of requests, so that a stream that falls behind by
//!    less than that loses nothing). Spawned servers get `KANCA_HOOK_RATE_LIMIT` and
//!    `KANCA_HOOK_RATE_BURST` of 100000: the default of one post a second per hook is a
//!    security limit, not what is measured. The report says so.
//! 2. **Stream**: the channel's or the bin's Server-Sent Events stream is opened (the
//!    server has answered its headers) before the first post, and reconnects with
//!    `Last-Event-ID` if it drops.
//! 3. **Post**: `--concurrency` posters send `--messages` hook posts (the payload below is the
//!    message's `text`) or bin captures (the payload is the body). The accept rate is 2xx
//!    answers per second, timed as the publish rate above.
//! 4. **Seen**: each stream event is matched to its post by the `seq` in it; the run waits
//!    until every accepted post has been seen, or `--timeout`. The stream rate is distinct
//!    posts seen per second from the first post to the last one seen; the latencies are post
//!    → 2xx and post (`sentAtUs`) → seen on the stream. Events seen twice, events the bench
//!    cannot place, and accepted posts never seen are errors.
//!
//! # Why latency comes from the payload
//!
//! Each payload carries `sentAtUs`, the wall-clock time (µs since the Unix epoch) just before
//! its publish request was sent, and `seq`, its number in the run. The receiver subtracts
//! `sentAtUs` from its own clock reading on arrival. Publisher and receiver are this one
//! process, so the two readings come from the same clock. Carrying the time in the payload
//! rather than in a table keyed by message id is deliberate: the id is only known when the
//! publish is answered, and a delivery can arrive before that answer does; the payload needs
//! no shared state between publishers and receiver; and it works with any server, whatever
//! ids and headers it sends. The latency of a delivery is that of its first successful
//! receipt, so a delivery whose first attempt failed includes its wait for the retry. With
//! `--rate`, `sentAtUs` is when the request went out, not when the schedule said it was due:
//! if the publishers fall behind, that shows in the publish rate, not in the latency.
//!
//! # What else is reported
//!
//! Errors by kind (publish statuses and transport errors, missing, duplicate and unexpected
//! deliveries, 500s served on purpose); for spawned servers their peak and end RSS, CPU time
//! and CPU time per 1,000 deliveries (`cpuSecondsPer1k`: what a delivery costs, whatever the
//! machine), delivery outcomes from `/metrics`, and what they logged at `warn` and above. The bench
//! judges nothing: it reports, and exits successfully unless it could not run.
//!
//! Over the run, interval by interval (`series.rs`): publishes and deliveries, latency p50/p99,
//! and the servers' RSS and CPU, with a latency histogram of every sample; the hot path pays
//! one atomic add per delivery for it. People compare runs by looking at them, so
//! `--report FILE.html` draws all of it on one self-contained page (`html.rs`, `chart.rs`),
//! rendered from the JSON report so that a saved run renders the same later; `--compare`
//! sets two saved runs' headline figures (`figures.rs`) side by side (`compare.rs`).

mod api;
mod baseline;
mod chart;
mod cluster;
mod compare;
mod database;
mod figures;
mod html;
mod inbound;
mod inbound_report;
mod load;
mod progress;
mod receiver;
mod report;
mod rss;
mod series;
mod stream;
mod target;

pub use compare::{compare, Comparison};
pub use figures::load as load_report;
pub use html::render as render_html;
pub use inbound::{run as run_inbound, HOOK_RATE_ENV};
pub use inbound_report::InboundReport;
pub use report::Report;

use anyhow::Context;
use api::Api;
use baseline::Baseline;
use load::{Destination, Live, Load, Shape};
use progress::Progress;
use receiver::{Receiver, Tally};
use report::{Backlog, Errors, Percentiles};
use serde::Serialize;
use series::Sampler;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use target::Target;
use tokio::net::TcpListener;

/// How often the wait for deliveries looks at the tally.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// Everything a run is configured by; reported back in full (credentials masked).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    /// What is measured; reported only when it is not the default.
    #[serde(skip_serializing_if = "Scenario::is_send")]
    pub scenario: Scenario,
    pub messages: usize,
    pub concurrency: usize,
    pub payload_bytes: usize,
    pub endpoints: usize,
    /// Messages per second offered in total; 0 is as fast as possible.
    pub rate: f64,
    pub fail_ratio: f64,
    pub baseline: bool,
    pub backlog: bool,
    pub json: bool,
    /// A running server to measure instead of spawning Kanca.
    pub server: Option<String>,
    #[serde(serialize_with = "masked")]
    pub token: Option<String>,
    #[serde(serialize_with = "redacted_url")]
    pub database_url: Option<String>,
    pub fresh_database: bool,
    pub nodes: usize,
    pub timeout_secs: f64,
    /// Passed to spawned servers as `KANCA_RETRY_SCHEDULE`.
    pub retry_schedule: String,
    pub receiver_listen: SocketAddr,
    pub receiver_url: Option<String>,
    /// Extra environment for spawned servers, applied last.
    pub server_env: Vec<(String, String)>,
    pub server_log: Option<PathBuf>,
}

/// Which of Kanca's front doors a run measures: `Send` by [`run`], the others by
/// [`run_inbound`]. (The variants' doc lines are `--scenario`'s help.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Publish Svix messages and time their delivery to the bench's receiver.
    Send,
    /// Post to a Slack-compatible incoming webhook and watch the channel's live stream.
    IncomingWebhook,
    /// Send requests to a bin and watch its live stream.
    Bin,
    /// Post GitHub-signed requests to a source (Ingest API) whose endpoint delivers into a
    /// bin, and watch the bin: verified, stored, delivered, captured.
    Source,
}

impl Scenario {
    pub fn is_send(&self) -> bool {
        *self == Self::Send
    }
}

fn masked<S: serde::Serializer>(token: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    token.as_ref().map(|_| "***").serialize(s)
}

fn redacted_url<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    url.as_deref().map(database::redact).serialize(s)
}

/// Runs the whole benchmark and reports. Dropping the returned future (Ctrl-C) kills the
/// spawned servers and drops the fresh database.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let epoch = Instant::now();
    let progress = Progress::start();
    let load = Load {
        messages: options.messages,
        concurrency: options.concurrency,
        payload_bytes: options.payload_bytes,
        rate: (options.rate > 0.0).then_some(options.rate),
        shape: Shape::SvixMessage,
    };
    let baseline = match options.baseline {
        true => Some(baseline::run(&load, options.receiver_listen, &progress, epoch).await?),
        false => None,
    };
    let mut target = Target::start(&options, &progress).await?;

    // The receiver, listening now, or (backlog) on an address that refuses until later.
    let tally = Tally::new(
        options.endpoints,
        options.messages,
        options.fail_ratio,
        epoch,
    );
    let mut receiver = None;
    let receiver_addr = if options.backlog {
        receiver::reserve(options.receiver_listen).context("finding a port for the receiver")?
    } else {
        let (listening, addr) = listen(options.receiver_listen, &tally).await?;
        receiver = Some(listening);
        addr
    };
    let receiver_url = options
        .receiver_url
        .clone()
        .unwrap_or_else(|| format!("http://{receiver_addr}"));

    progress.phase(|| "creating the application and endpoints".into());
    let client = load::client(options.concurrency)?;
    let app = create_app(&client, &target, &receiver_url, options.endpoints).await?;

    let live = Arc::new(Live::default());
    {
        let (live, tally) = (live.clone(), tally.clone());
        let (messages, endpoints) = (options.messages, options.endpoints as u64);
        let phase = match options.backlog {
            true => "publishing (receiver down)",
            false => "publishing",
        };
        progress.phase(move || {
            let acknowledged = live.acknowledged.load(Ordering::Relaxed);
            format!(
                "{phase}: published {acknowledged}/{messages}, delivered {}/{}",
                tally.delivered(),
                acknowledged * endpoints
            )
        });
    }
    let destination = Destination {
        urls: target
            .base_urls()
            .iter()
            .map(|base| format!("{base}/api/v1/app/{app}/msg"))
            .collect(),
        token: Some(target.token().to_owned()),
        github_secret: None,
    };
    let bench_cpu_before = rss::cpu_seconds(std::process::id());
    let sampler = Sampler::start(tally.bins.clone(), live.clone(), target.pids());
    let published = load::run(&load, &destination, &client, live).await;

    let receiver_up = if options.backlog {
        receiver = Some(listen(receiver_addr, &tally).await?.0);
        Some(Instant::now())
    } else {
        None
    };
    let expected = published.acknowledged_count * options.endpoints as u64;
    {
        let tally = tally.clone();
        let phase = match options.backlog {
            true => "draining",
            false => "waiting for deliveries",
        };
        progress.phase(move || format!("{phase}: delivered {}/{expected}", tally.delivered()));
    }
    let deadline = Instant::now() + Duration::from_secs_f64(options.timeout_secs);
    let mut server_exited = None;
    let timed_out = loop {
        if tally.delivered() >= expected && tally.missing(|s| published.is_acknowledged(s)) == 0 {
            break false;
        }
        if let Some(why) = target.exited() {
            server_exited = Some(why);
            break false;
        }
        if Instant::now() >= deadline {
            break true;
        }
        tokio::time::sleep(WAIT_POLL).await;
    };
    progress.finish();
    let series = sampler.finish();
    let bench_cpu_secs = rss::cpu_seconds(std::process::id())
        .zip(bench_cpu_before)
        .map(|(after, before)| after - before);
    let answered_ok = tally.delivered() + tally.duplicates() + tally.unexpected();
    let server = target.figures(&client, answered_ok).await;
    drop(receiver);

    let publish_start = published.started.duration_since(epoch);
    let delivery_time = tally
        .last_delivery()
        .map(|last| last.saturating_sub(publish_start));
    let deliveries = tally.delivered();
    let delivery_rate = delivery_time
        .filter(|t| !t.is_zero())
        .map(|t| deliveries as f64 / t.as_secs_f64());
    let Baseline {
        rate: baseline_rate,
        latency_ms: baseline_latency_ms,
    } = baseline.unwrap_or(Baseline {
        rate: None,
        latency_ms: None,
    });
    let backlog = receiver_up.map(|up| {
        let up = up.duration_since(epoch);
        let drain = tally.last_delivery().map(|last| last.saturating_sub(up));
        Backlog {
            receiver_up_after_secs: up.saturating_sub(publish_start).as_secs_f64(),
            drain_secs: drain.map_or(0.0, |d| d.as_secs_f64()),
            drain_rate: drain
                .filter(|d| !d.is_zero())
                .map(|d| deliveries as f64 / d.as_secs_f64()),
        }
    });
    let latencies_us = tally.latencies_us();
    let latency_histogram = series::latency_histogram(&latencies_us);
    let errors = Errors {
        publish_status: published
            .status_errors
            .iter()
            .map(|(status, n)| (status.to_string(), *n))
            .collect(),
        publish_transport: published
            .transport_errors
            .iter()
            .map(|(kind, n)| ((*kind).to_owned(), *n))
            .collect(),
        missing_deliveries: tally.missing(|s| published.is_acknowledged(s)),
        receiver_failures_served: tally.failures_served(),
        duplicate_deliveries: tally.duplicates(),
        delivered_unacknowledged: tally.delivered_unacknowledged(|s| published.is_acknowledged(s)),
        unexpected_requests: tally.unexpected(),
        server_exited,
    };
    Ok(Report {
        target: target.describe(),
        messages: published.acknowledged_count,
        deliveries,
        expected_deliveries: expected,
        duration_secs: delivery_time.map_or(0.0, |t| t.as_secs_f64()),
        publish_secs: published.publish_time().as_secs_f64(),
        publish_rate: published.rate(),
        delivery_rate,
        latency_ms: Percentiles::from_micros(latencies_us),
        publish_latency_ms: Percentiles::from_micros(published.ack_latencies_us.clone()),
        ratio_to_baseline: delivery_rate.zip(baseline_rate).map(|(d, b)| d / b),
        baseline_rate,
        baseline_latency_ms,
        backlog,
        peak_rss_bytes: server.nodes.iter().filter_map(|n| n.peak_rss_bytes).max(),
        end_rss_bytes: server.nodes.iter().filter_map(|n| n.end_rss_bytes).max(),
        peak_wal_bytes: server.nodes.iter().filter_map(|n| n.peak_wal_bytes).max(),
        disk_bytes_per_message: disk_bytes_per_message(&server.nodes, published.acknowledged_count),
        // With no endpoints (`--endpoints 0`) the run measures publishing alone: its CPU is
        // per publish.
        cpu_seconds_per_1k: cluster::cpu_seconds_per_1k(
            &server.nodes,
            match options.endpoints {
                0 => published.acknowledged_count,
                _ => deliveries,
            },
        ),
        nodes: server.nodes,
        errors,
        bench_cpu_secs,
        server_delivery_outcomes: server.delivery_outcomes,
        server_logs: server.logs,
        timed_out,
        series: Some(series),
        latency_histogram,
        options,
    })
}

/// What the servers wrote to storage per acknowledged message, when it could be read.
fn disk_bytes_per_message(nodes: &[cluster::NodeFigures], messages: u64) -> Option<f64> {
    let written: Option<u64> = nodes.iter().map(|n| n.disk_written_bytes).sum();
    written
        .filter(|_| messages > 0)
        .map(|w| w as f64 / messages as f64)
}

/// Starts the receiver on `addr`; returns it and the address it got.
async fn listen(addr: SocketAddr, tally: &Arc<Tally>) -> anyhow::Result<(Receiver, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the receiver to {addr}"))?;
    let bound = listener.local_addr()?;
    Ok((Receiver::start(listener, tally.clone()), bound))
}

/// The bench application, with `endpoints` endpoints at the receiver (`/e/0`, `/e/1`, …);
/// returns its id.
async fn create_app(
    client: &reqwest::Client,
    target: &Target,
    receiver_url: &str,
    endpoints: usize,
) -> anyhow::Result<String> {
    let base_urls = target.base_urls();
    let api = Api {
        client,
        base_url: &base_urls[0],
        token: target.token(),
    };
    let app = api
        .create_app(&format!("kanca bench {}", receiver::unix_micros()))
        .await?;
    let receiver_url = receiver_url.trim_end_matches('/');
    for index in 0..endpoints {
        let url = format!("{receiver_url}{}", receiver::endpoint_path(index));
        api.create_endpoint(&app, &url).await?;
    }
    Ok(app)
}
