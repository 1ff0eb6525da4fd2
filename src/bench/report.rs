//! What a run found: one [`Report`], printed as a table or as one JSON object (`--json`).
//!
//! Field names in JSON are camelCase like the API's; a figure that could not be measured
//! (no RSS for `--server`, no baseline without `--baseline`) is `null`, never 0.

use super::cluster::{LogSummary, NodeFigures};
use super::series::{HistogramBar, Series};
use super::Options;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// At most this many RSS samples in the text output's memory line.
const RSS_LINE_SAMPLES: usize = 40;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// What was measured, in words.
    pub target: String,
    /// Publishes acknowledged with a 2xx.
    pub messages: u64,
    /// Distinct (endpoint, message) deliveries that succeeded.
    pub deliveries: u64,
    /// `messages` × endpoints.
    pub expected_deliveries: u64,
    /// From the first publish to the last successful delivery (or the end of the wait).
    pub duration_secs: f64,
    /// From the first publish to the last acknowledgement.
    pub publish_secs: f64,
    /// Acknowledged publishes per second of `publishSecs`.
    pub publish_rate: Option<f64>,
    /// Successful deliveries per second of `durationSecs`.
    pub delivery_rate: Option<f64>,
    /// Publish (payload timestamp) to first successful receipt, over every delivery.
    pub latency_ms: Option<Percentiles>,
    /// How long the publish request took until its 2xx.
    pub publish_latency_ms: Option<Percentiles>,
    /// Requests per second the same generator achieves straight to the receiver.
    pub baseline_rate: Option<f64>,
    pub baseline_latency_ms: Option<Percentiles>,
    /// `deliveryRate / baselineRate`.
    pub ratio_to_baseline: Option<f64>,
    /// Only with `--backlog`.
    pub backlog: Option<Backlog>,
    /// The largest peak of any spawned server.
    pub peak_rss_bytes: Option<u64>,
    /// The largest end value of any spawned server.
    pub end_rss_bytes: Option<u64>,
    /// Per spawned server.
    pub nodes: Vec<NodeFigures>,
    /// The largest any spawned server's SQLite write-ahead log grew (none on PostgreSQL).
    pub peak_wal_bytes: Option<u64>,
    /// Bytes the spawned servers wrote to storage, per acknowledged message.
    pub disk_bytes_per_message: Option<f64>,
    /// Server CPU seconds per 1,000 successful deliveries (spawned servers only).
    #[serde(rename = "cpuSecondsPer1k")]
    pub cpu_seconds_per_1k: Option<f64>,
    pub errors: Errors,
    /// CPU time the bench itself used from the first publish to the end of the wait
    /// (publishers, receiver, bookkeeping): on a small machine it competes with the server
    /// for the same cores.
    pub bench_cpu_secs: Option<f64>,
    /// Kanca's `kanca_deliveries_total` by outcome, summed over nodes (spawned servers only).
    pub server_delivery_outcomes: Option<BTreeMap<String, u64>>,
    /// What the spawned servers logged at `warn` and above.
    pub server_logs: Option<LogSummary>,
    /// Whether `--timeout` ended the wait before every delivery arrived.
    pub timed_out: bool,
    /// Interval by interval (see [`super::series`]); absent from reports saved before it.
    pub series: Option<Series>,
    /// Every latency sample (`latencyMs`'s) in bars on a log scale (1, 1.5, 2, 3, 5, 7 × 10ⁿ ms).
    pub latency_histogram: Vec<HistogramBar>,
    pub options: Options,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backlog {
    /// When the receiver started listening, after the first publish.
    pub receiver_up_after_secs: f64,
    /// From the receiver starting to listen to the last successful delivery.
    pub drain_secs: f64,
    /// Successful deliveries per second of `drainSecs`.
    pub drain_rate: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Errors {
    /// Publishes answered with a non-2xx status, by status.
    pub publish_status: BTreeMap<String, u64>,
    /// Publishes that got no answer, by kind (`timeout`, `connect`, `other`).
    pub publish_transport: BTreeMap<String, u64>,
    /// Deliveries of acknowledged messages that had not succeeded when the wait ended.
    pub missing_deliveries: u64,
    /// 500s the receiver answered on purpose (`--fail-ratio`).
    pub receiver_failures_served: u64,
    /// Successful deliveries of a (message, endpoint) that had already succeeded.
    pub duplicate_deliveries: u64,
    /// Deliveries of messages whose publish was not acknowledged to the bench.
    pub delivered_unacknowledged: u64,
    /// Requests the receiver could not place (unknown path, no `seq`/`sentAtUs`).
    pub unexpected_requests: u64,
    /// A spawned server that died during the run, with its last output.
    pub server_exited: Option<String>,
}

impl Errors {
    fn is_empty(&self) -> bool {
        self.publish_status.is_empty()
            && self.publish_transport.is_empty()
            && self.missing_deliveries == 0
            && self.receiver_failures_served == 0
            && self.duplicate_deliveries == 0
            && self.delivered_unacknowledged == 0
            && self.unexpected_requests == 0
            && self.server_exited.is_none()
    }
}

/// Milliseconds at the 50th, 90th and 99th percentile (nearest rank) and the maximum.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub samples: usize,
}

impl Percentiles {
    /// From samples in µs; `None` when there are none.
    pub fn from_micros(mut samples: Vec<u32>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        let rank = |p: f64| {
            let index = ((p / 100.0) * n as f64).ceil() as usize;
            f64::from(samples[index.clamp(1, n) - 1]) / 1000.0
        };
        let sum: u64 = samples.iter().map(|&s| u64::from(s)).sum();
        Some(Self {
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: f64::from(samples[n - 1]) / 1000.0,
            mean: sum as f64 / n as f64 / 1000.0,
            samples: n,
        })
    }
}

impl Report {
    /// The human-readable form, for stdout.
    pub fn table(&self) -> String {
        let o = &self.options;
        let mut t = String::new();
        let rate = match o.rate {
            r if r > 0.0 => format!("{r} msg/s offered"),
            _ => "as fast as possible".into(),
        };
        let _ = writeln!(t, "kanca bench — {}", self.target);
        let _ = writeln!(
            t,
            "{} messages × {} endpoint(s), {} publishers, ~{} B payloads, {rate}{}{}",
            o.messages,
            o.endpoints,
            o.concurrency,
            o.payload_bytes,
            if o.fail_ratio > 0.0 {
                format!(
                    ", first attempt of {:.1} % of messages fails",
                    o.fail_ratio * 100.0
                )
            } else {
                String::new()
            },
            if o.backlog {
                ", backlog (receiver down while publishing)"
            } else {
                ""
            },
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<26}{:>12}{:>10}{:>18}",
            "", "per second", "seconds", "count"
        );
        let _ = writeln!(
            t,
            "{:<26}{:>12}{:>10.2}{:>18}",
            "publish (2xx)",
            fmt_rate(self.publish_rate),
            self.publish_secs,
            format!("{}/{}", self.messages, o.messages)
        );
        let _ = writeln!(
            t,
            "{:<26}{:>12}{:>10.2}{:>18}",
            "delivery (first → last)",
            fmt_rate(self.delivery_rate),
            self.duration_secs,
            format!("{}/{}", self.deliveries, self.expected_deliveries)
        );
        if let Some(b) = &self.backlog {
            let _ = writeln!(
                t,
                "{:<26}{:>12}{:>10.2}{:>18}",
                "drain (receiver up → last)",
                fmt_rate(b.drain_rate),
                b.drain_secs,
                format!("up at {:.2} s", b.receiver_up_after_secs)
            );
        }
        if o.baseline {
            let _ = writeln!(
                t,
                "{:<26}{:>12}",
                "baseline (loopback HTTP)",
                fmt_rate(self.baseline_rate)
            );
            let _ = writeln!(
                t,
                "{:<26}{:>12}",
                "delivery ÷ baseline",
                self.ratio_to_baseline
                    .map_or("-".into(), |r| format!("{:.3}", r))
            );
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<26}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "latency (ms)", "p50", "p90", "p99", "max", "mean"
        );
        for (name, p) in [
            ("publish → delivered", &self.latency_ms),
            ("publish request", &self.publish_latency_ms),
            ("baseline request", &self.baseline_latency_ms),
        ] {
            if let Some(p) = p {
                let _ = writeln!(
                    t,
                    "{name:<26}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
                    p.p50, p.p90, p.p99, p.max, p.mean
                );
            }
        }
        write_nodes(&mut t, &self.nodes);
        if self.peak_wal_bytes.is_some() || self.disk_bytes_per_message.is_some() {
            let _ = writeln!(
                t,
                "storage: WAL peak {}, written to disk per message {}",
                fmt_bytes(self.peak_wal_bytes),
                self.disk_bytes_per_message
                    .map_or("-".into(), |b| format!("{:.1} KiB", b / 1024.0))
            );
        }
        // A backlog run is where memory must stay flat while it drains: show the curve.
        if let Some(line) = self
            .series
            .as_ref()
            .filter(|_| o.backlog)
            .and_then(|s| s.rss_mib_line(RSS_LINE_SAMPLES))
        {
            let _ = writeln!(t, "{line}");
        }
        if let Some(per_1k) = self.cpu_seconds_per_1k {
            // A publish-only run (`--endpoints 0`) is measured per publish.
            let unit = if o.endpoints == 0 {
                "publishes"
            } else {
                "deliveries"
            };
            let _ = writeln!(t, "server CPU per 1,000 {unit}: {per_1k:.3} s");
        }
        if let Some(cpu) = self.bench_cpu_secs {
            let _ = writeln!(t, "bench itself (publish → end of wait): {cpu:.2} CPU s");
        }
        if let Some(outcomes) = self
            .server_delivery_outcomes
            .as_ref()
            .filter(|o| !o.is_empty())
        {
            let listed: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(t, "server attempt outcomes: {}", listed.join(", "));
        }
        let _ = writeln!(t);
        self.write_errors(&mut t);
        t
    }

    fn write_errors(&self, t: &mut String) {
        let e = &self.errors;
        if e.is_empty() {
            let _ = writeln!(t, "errors: none");
        } else {
            let _ = writeln!(t, "errors:");
            for (status, n) in &e.publish_status {
                let _ = writeln!(t, "  publish answered {status}: {n}");
            }
            for (kind, n) in &e.publish_transport {
                let _ = writeln!(t, "  publish got no answer ({kind}): {n}");
            }
            for (what, n) in [
                ("deliveries missing at the end", e.missing_deliveries),
                (
                    "500s served by the receiver (--fail-ratio)",
                    e.receiver_failures_served,
                ),
                ("duplicate deliveries", e.duplicate_deliveries),
                (
                    "deliveries of unacknowledged publishes",
                    e.delivered_unacknowledged,
                ),
                ("unexpected requests at the receiver", e.unexpected_requests),
            ] {
                if n > 0 {
                    let _ = writeln!(t, "  {what}: {n}");
                }
            }
            if let Some(exited) = &e.server_exited {
                let _ = writeln!(t, "  server died: {exited}");
            }
        }
        if self.timed_out {
            let _ = writeln!(
                t,
                "  the wait ended at --timeout before every delivery arrived"
            );
        }
        write_logs(t, self.server_logs.as_ref());
    }
}

/// Memory and CPU of each spawned server (nothing for a running one).
pub(super) fn write_nodes(t: &mut String, nodes: &[NodeFigures]) {
    if !nodes.is_empty() {
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<26}{:>12}{:>12}{:>10}",
            "server (VmRSS, CPU)", "peak", "end", "CPU s"
        );
        for n in nodes {
            let _ = writeln!(
                t,
                "{:<26}{:>12}{:>12}{:>10}",
                format!("node {} (pid {})", n.node, n.pid),
                fmt_bytes(n.peak_rss_bytes),
                fmt_bytes(n.end_rss_bytes),
                n.cpu_secs.map_or("-".into(), |c| format!("{c:.2}"))
            );
        }
    }
}

/// What the spawned servers logged at `warn` and above.
pub(super) fn write_logs(t: &mut String, logs: Option<&LogSummary>) {
    if let Some(logs) = logs {
        if logs.errors + logs.warnings + logs.other > 0 {
            let _ = writeln!(
                t,
                "server logs: {} error, {} warning, {} other line(s); e.g.",
                logs.errors, logs.warnings, logs.other
            );
            for sample in &logs.samples {
                let _ = writeln!(t, "  {sample}");
            }
        } else {
            let _ = writeln!(t, "server logs: no warnings or errors");
        }
    }
}

pub(super) fn fmt_rate(rate: Option<f64>) -> String {
    rate.map_or("-".into(), |r| format!("{r:.0}"))
}

pub(super) fn fmt_bytes(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| {
        format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = Percentiles::from_micros((1..=1000).map(|ms| ms * 1000).collect()).unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.max), (500.0, 900.0, 990.0, 1000.0));
        assert!(Percentiles::from_micros(Vec::new()).is_none());
    }
}
