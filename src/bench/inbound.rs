//! The receive and inspect scenarios (`--scenario incoming-webhook`, `--scenario bin`,
//! `--scenario source`): post to a Slack-compatible incoming webhook, to a bin, or (signed as
//! GitHub signs) to a source whose endpoint delivers into a bin, and watch the live stream
//! that shows what was stored. The method is in the module doc of [`crate::bench`].
//!
//! It reuses the send scenario's parts rather than branching inside them: the same server
//! targets ([`Target`]), the same load generator (only the body [`Shape`] and the URL differ),
//! the same percentiles and server figures. What is new is the setup and the
//! [`stream`](super::stream) that stands where the receiver stands in the send scenario.

use super::api::Api;
use super::inbound_report::{InboundErrors, InboundReport};
use super::load::{self, Destination, Live, Load, Shape};
use super::progress::Progress;
use super::receiver::unix_micros;
use super::report::Percentiles;
use super::rss;
use super::series::{self, Sampler};
use super::stream::{self, Feed, StreamTally};
use super::target::Target;
use super::{Options, Scenario};
use anyhow::{bail, Context};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the wait for the stream looks at the tally.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// The most requests a bin keeps (the API's maximum): the stream may fall this far behind
/// before captures are trimmed away unseen.
const BIN_MAX_REQUESTS: u32 = 10_000;

/// The settings spawned servers get for the incoming-webhook scenario (before `--server-env`,
/// which may override them): the per-hook limit is a security limit, not what is measured.
pub const HOOK_RATE_ENV: [(&str, &str); 2] = [
    ("KANCA_HOOK_RATE_LIMIT", "100000"),
    ("KANCA_HOOK_RATE_BURST", "100000"),
];

/// Where posts go and which stream shows them.
struct Setup {
    /// Path posts go to, on every node in turn.
    post_path: String,
    feed: Feed,
    shape: Shape,
    /// The source's secret, when posts are signed as GitHub signs them.
    github_secret: Option<String>,
}

/// Runs a receive or inspect scenario and reports. Dropping the returned future kills the
/// spawned servers, as for [`super::run`].
pub async fn run(options: Options) -> anyhow::Result<InboundReport> {
    if options.scenario == Scenario::Send {
        bail!("the send scenario is measured by kanca::bench::run");
    }
    let epoch = Instant::now();
    let progress = Progress::start();
    let mut target = Target::start(&options, &progress).await?;
    let client = load::client(options.concurrency)?;
    let base_urls = target.base_urls();
    let setup = {
        let api = Api {
            client: &client,
            base_url: &base_urls[0],
            token: target.token(),
        };
        set_up(options.scenario, &api, &progress).await?
    };

    progress.phase(|| "opening the live stream".into());
    let tally = StreamTally::new(options.messages, epoch);
    let watcher = stream::watch(stream::client()?, setup.feed, tally.clone()).await?;

    let live = Arc::new(Live::default());
    {
        let (live, tally) = (live.clone(), tally.clone());
        let messages = options.messages;
        progress.phase(move || {
            format!(
                "posting: accepted {}/{messages}, seen on the stream {}",
                live.acknowledged.load(Ordering::Relaxed),
                tally.seen()
            )
        });
    }
    let load = Load {
        messages: options.messages,
        concurrency: options.concurrency,
        payload_bytes: options.payload_bytes,
        rate: (options.rate > 0.0).then_some(options.rate),
        shape: setup.shape,
    };
    let destination = Destination {
        urls: base_urls
            .iter()
            .map(|base| format!("{base}{}", setup.post_path))
            .collect(),
        // The hook's URL is its credential; a bin takes anything; a source checks signatures.
        token: None,
        github_secret: setup.github_secret.clone(),
    };
    let bench_cpu_before = rss::cpu_seconds(std::process::id());
    let sampler = Sampler::start(tally.bins.clone(), live.clone(), target.pids());
    let posted = load::run(&load, &destination, &client, live).await;

    let accepted = posted.acknowledged_count;
    {
        let tally = tally.clone();
        progress.phase(move || format!("waiting for the stream: seen {}/{accepted}", tally.seen()));
    }
    let deadline = Instant::now() + Duration::from_secs_f64(options.timeout_secs);
    let mut server_exited = None;
    let timed_out = loop {
        if tally.seen() >= accepted && tally.missing(|s| posted.is_acknowledged(s)) == 0 {
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
    drop(watcher);
    let series = sampler.finish();
    let bench_cpu_secs = rss::cpu_seconds(std::process::id())
        .zip(bench_cpu_before)
        .map(|(after, before)| after - before);
    // No deliveries to wait for: the counters are read as they are.
    let server = target.figures(&client, 0).await;

    let post_start = posted.started.duration_since(epoch);
    let stream_time = tally
        .last_seen()
        .map(|last| last.saturating_sub(post_start));
    let seen = tally.seen();
    let accepted_fn = |s| posted.is_acknowledged(s);
    let latencies_us = tally.latencies_us();
    let latency_histogram = series::latency_histogram(&latencies_us);
    let errors = InboundErrors {
        post_status: posted
            .status_errors
            .iter()
            .map(|(status, n)| (status.to_string(), *n))
            .collect(),
        post_transport: posted
            .transport_errors
            .iter()
            .map(|(kind, n)| ((*kind).to_owned(), *n))
            .collect(),
        missing_events: tally.missing(accepted_fn),
        duplicate_events: tally.duplicates(),
        seen_unaccepted: tally.seen_unaccepted(accepted_fn),
        unexpected_events: tally.unexpected(),
        stream_reconnects: tally.reconnects(),
        server_exited,
    };
    let server_settings = match (&target, options.scenario) {
        (Target::Spawned { .. }, Scenario::IncomingWebhook) => HOOK_RATE_ENV
            .iter()
            .map(|(key, value)| {
                // --server-env is applied last, so it wins; report what the server got.
                let value = options
                    .server_env
                    .iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map_or(*value, |(_, v)| v.as_str());
                format!("{key}={value}")
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(InboundReport {
        target: target.describe(),
        scenario: options.scenario,
        accepted,
        seen,
        accept_secs: posted.publish_time().as_secs_f64(),
        accept_rate: posted.rate(),
        stream_secs: stream_time.map_or(0.0, |t| t.as_secs_f64()),
        stream_rate: stream_time
            .filter(|t| !t.is_zero())
            .map(|t| seen as f64 / t.as_secs_f64()),
        accept_latency_ms: Percentiles::from_micros(posted.ack_latencies_us.clone()),
        stream_latency_ms: Percentiles::from_micros(latencies_us),
        peak_rss_bytes: server.nodes.iter().filter_map(|n| n.peak_rss_bytes).max(),
        end_rss_bytes: server.nodes.iter().filter_map(|n| n.end_rss_bytes).max(),
        cpu_seconds_per_1k: super::cluster::cpu_seconds_per_1k(&server.nodes, accepted),
        nodes: server.nodes,
        errors,
        bench_cpu_secs,
        server_settings,
        server_logs: server.logs,
        timed_out,
        series: Some(series),
        latency_histogram,
        options,
    })
}

/// Makes what the scenario posts to through the public API, and says which stream shows it.
async fn set_up(scenario: Scenario, api: &Api<'_>, progress: &Progress) -> anyhow::Result<Setup> {
    let stream_url = |path: String| format!("{}{path}", api.base_url);
    match scenario {
        Scenario::IncomingWebhook => {
            progress.phase(|| "creating the channel and incoming webhook".into());
            let channel = api
                .create_channel(&format!("kanca-bench-{}", unix_micros()))
                .await?;
            let post_path = api.create_incoming_webhook(&channel).await?;
            Ok(Setup {
                post_path,
                feed: Feed {
                    url: stream_url(format!("/api/v1/channels/{channel}/stream")),
                    token: api.token.to_owned(),
                    event: "message",
                    field: "text",
                },
                shape: Shape::SlackText,
                github_secret: None,
            })
        }
        Scenario::Bin => {
            progress.phase(|| "creating the bin".into());
            let bin = api.create_bin(BIN_MAX_REQUESTS).await?;
            Ok(Setup {
                post_path: format!("/b/{bin}"),
                feed: Feed {
                    url: stream_url(format!("/api/v1/bin/{bin}/stream")),
                    token: api.token.to_owned(),
                    event: "request",
                    field: "body",
                },
                shape: Shape::Bare,
                github_secret: None,
            })
        }
        Scenario::Source => {
            progress.phase(|| "creating the bin, and the source that delivers into it".into());
            let bin = api.create_bin(BIN_MAX_REQUESTS).await?;
            let secret = format!("kanca-bench-{}", unix_micros());
            let ingest_url = api
                .create_github_source(&secret, &format!("{}/b/{bin}", api.base_url))
                .await?;
            // Posts go to each node's own address; the URL's path is the source's token.
            let post_path = ingest_url
                .find("/ingest/")
                .map(|at| ingest_url[at..].to_owned())
                .with_context(|| format!("an ingest URL without /ingest/: {ingest_url}"))?;
            Ok(Setup {
                post_path,
                feed: Feed {
                    url: stream_url(format!("/api/v1/bin/{bin}/stream")),
                    token: api.token.to_owned(),
                    event: "request",
                    field: "body",
                },
                shape: Shape::Bare,
                github_secret: Some(secret),
            })
        }
        Scenario::Send => bail!("the send scenario has no stream"),
    }
}
