//! What a receive or inspect run found: one [`InboundReport`], printed as a table or as one
//! JSON object (`--json`), in the same conventions as the send scenario's
//! [`Report`](super::Report): camelCase, `null` for what could not be measured.

use super::cluster::{LogSummary, NodeFigures};
use super::report::{fmt_rate, write_logs, write_nodes, Percentiles};
use super::series::{HistogramBar, Series};
use super::{Options, Scenario};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundReport {
    /// What was measured, in words.
    pub target: String,
    pub scenario: Scenario,
    /// Posts answered with a 2xx.
    pub accepted: u64,
    /// Distinct posts seen on the live stream.
    pub seen: u64,
    /// From the first post to the last 2xx.
    pub accept_secs: f64,
    /// 2xx answers per second of `acceptSecs`.
    pub accept_rate: Option<f64>,
    /// From the first post to the last post first seen on the stream.
    pub stream_secs: f64,
    /// Distinct posts seen per second of `streamSecs`.
    pub stream_rate: Option<f64>,
    /// Post → 2xx.
    pub accept_latency_ms: Option<Percentiles>,
    /// Post (payload timestamp) → first seen on the stream.
    pub stream_latency_ms: Option<Percentiles>,
    /// The largest peak of any spawned server.
    pub peak_rss_bytes: Option<u64>,
    /// The largest end value of any spawned server.
    pub end_rss_bytes: Option<u64>,
    pub nodes: Vec<NodeFigures>,
    /// Server CPU seconds per 1,000 accepted posts (spawned servers only).
    #[serde(rename = "cpuSecondsPer1k")]
    pub cpu_seconds_per_1k: Option<f64>,
    pub errors: InboundErrors,
    /// CPU time the bench itself used from the first post to the end of the wait.
    pub bench_cpu_secs: Option<f64>,
    /// Settings the bench gave spawned servers for this scenario (`KEY=VALUE`).
    pub server_settings: Vec<String>,
    /// What the spawned servers logged at `warn` and above.
    pub server_logs: Option<LogSummary>,
    /// Whether `--timeout` ended the wait before every accepted post was seen.
    pub timed_out: bool,
    /// Interval by interval (see [`super::series`]); absent from reports saved before it.
    pub series: Option<Series>,
    /// Every post → seen sample (`streamLatencyMs`'s) in bars on a log scale (1, 1.5, 2, 3, 5, 7 × 10ⁿ ms).
    pub latency_histogram: Vec<HistogramBar>,
    pub options: Options,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundErrors {
    /// Posts answered with a non-2xx status, by status.
    pub post_status: BTreeMap<String, u64>,
    /// Posts that got no answer, by kind (`timeout`, `connect`, `other`).
    pub post_transport: BTreeMap<String, u64>,
    /// Accepted posts not seen on the stream when the wait ended.
    pub missing_events: u64,
    /// Stream events for a post already seen.
    pub duplicate_events: u64,
    /// Posts seen on the stream whose 2xx the bench never got.
    pub seen_unaccepted: u64,
    /// Stream events the bench could not place (no `seq`/`sentAtUs`, or out of range).
    pub unexpected_events: u64,
    /// Times the stream ended and was opened again (with `Last-Event-ID`).
    pub stream_reconnects: u64,
    /// A spawned server that died during the run, with its last output.
    pub server_exited: Option<String>,
}

impl InboundErrors {
    fn is_empty(&self) -> bool {
        self.post_status.is_empty()
            && self.post_transport.is_empty()
            && self.missing_events == 0
            && self.duplicate_events == 0
            && self.seen_unaccepted == 0
            && self.unexpected_events == 0
            && self.stream_reconnects == 0
            && self.server_exited.is_none()
    }
}

impl InboundReport {
    /// The human-readable form, for stdout.
    pub fn table(&self) -> String {
        let o = &self.options;
        let mut t = String::new();
        let (what, stream) = match self.scenario {
            Scenario::IncomingWebhook => ("incoming-webhook posts", "the channel's live stream"),
            Scenario::Source => (
                "GitHub-signed source posts",
                "the live stream of the bin they are delivered to",
            ),
            _ => ("bin captures", "the bin's live stream"),
        };
        let rate = match o.rate {
            r if r > 0.0 => format!("{r} posts/s offered"),
            _ => "as fast as possible".into(),
        };
        let _ = writeln!(
            t,
            "kanca bench --scenario {} — {}",
            self.scenario_name(),
            self.target
        );
        let _ = writeln!(
            t,
            "{} {what}, {} posters, ~{} B payloads, {rate}; watching {stream}",
            o.messages, o.concurrency, o.payload_bytes,
        );
        if !self.server_settings.is_empty() {
            let _ = writeln!(
                t,
                "server settings: {} (the default 1/s per hook is a security limit, not measured here)",
                self.server_settings.join(", ")
            );
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<26}{:>12}{:>10}{:>18}",
            "", "per second", "seconds", "count"
        );
        let _ = writeln!(
            t,
            "{:<26}{:>12}{:>10.2}{:>18}",
            "accepted (2xx)",
            fmt_rate(self.accept_rate),
            self.accept_secs,
            format!("{}/{}", self.accepted, o.messages)
        );
        let _ = writeln!(
            t,
            "{:<26}{:>12}{:>10.2}{:>18}",
            "seen on stream",
            fmt_rate(self.stream_rate),
            self.stream_secs,
            format!("{}/{}", self.seen, self.accepted)
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<26}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "latency (ms)", "p50", "p90", "p99", "max", "mean"
        );
        for (name, p) in [
            ("post → accepted", &self.accept_latency_ms),
            ("post → seen on stream", &self.stream_latency_ms),
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
        if let Some(per_1k) = self.cpu_seconds_per_1k {
            let _ = writeln!(t, "server CPU per 1,000 posts: {per_1k:.3} s");
        }
        if let Some(cpu) = self.bench_cpu_secs {
            let _ = writeln!(t, "bench itself (post → end of wait): {cpu:.2} CPU s");
        }
        let _ = writeln!(t);
        self.write_errors(&mut t);
        write_logs(&mut t, self.server_logs.as_ref());
        t
    }

    fn scenario_name(&self) -> &'static str {
        match self.scenario {
            Scenario::Send => "send",
            Scenario::IncomingWebhook => "incoming-webhook",
            Scenario::Bin => "bin",
            Scenario::Source => "source",
        }
    }

    fn write_errors(&self, t: &mut String) {
        let e = &self.errors;
        if e.is_empty() {
            let _ = writeln!(t, "errors: none");
        } else {
            let _ = writeln!(t, "errors:");
            for (status, n) in &e.post_status {
                let _ = writeln!(t, "  post answered {status}: {n}");
            }
            for (kind, n) in &e.post_transport {
                let _ = writeln!(t, "  post got no answer ({kind}): {n}");
            }
            for (what, n) in [
                ("accepted posts missing from the stream", e.missing_events),
                ("duplicate stream events", e.duplicate_events),
                ("stream events of unaccepted posts", e.seen_unaccepted),
                (
                    "stream events the bench could not place",
                    e.unexpected_events,
                ),
                (
                    "stream reconnects (resumed with Last-Event-ID)",
                    e.stream_reconnects,
                ),
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
                "  the wait ended at --timeout before every accepted post was seen"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(errors: InboundErrors) -> InboundReport {
        let options = Options {
            scenario: Scenario::IncomingWebhook,
            messages: 100,
            concurrency: 4,
            payload_bytes: 1024,
            endpoints: 1,
            rate: 0.0,
            fail_ratio: 0.0,
            baseline: false,
            backlog: false,
            json: false,
            server: None,
            token: None,
            database_url: None,
            fresh_database: false,
            nodes: 1,
            timeout_secs: 300.0,
            retry_schedule: "1s".into(),
            receiver_listen: "127.0.0.1:0".parse().unwrap(),
            receiver_url: None,
            server_env: Vec::new(),
            server_log: None,
        };
        InboundReport {
            target: "kanca serve × 1 (SQLite), spawned".into(),
            scenario: Scenario::IncomingWebhook,
            accepted: 98,
            seen: 97,
            accept_secs: 2.0,
            accept_rate: Some(49.0),
            stream_secs: 2.5,
            stream_rate: Some(38.8),
            accept_latency_ms: Percentiles::from_micros(vec![1_000, 3_000]),
            stream_latency_ms: Percentiles::from_micros(vec![2_000, 9_000]),
            peak_rss_bytes: Some(22 * 1024 * 1024),
            end_rss_bytes: Some(20 * 1024 * 1024),
            nodes: Vec::new(),
            cpu_seconds_per_1k: None,
            errors,
            bench_cpu_secs: Some(1.5),
            server_settings: vec!["KANCA_HOOK_RATE_LIMIT=100000".into()],
            server_logs: None,
            timed_out: true,
            series: None,
            latency_histogram: Vec::new(),
            options,
        }
    }

    #[test]
    fn the_table_shows_rates_latencies_settings_and_every_kind_of_error() {
        let errors = InboundErrors {
            post_status: [("429".to_owned(), 2)].into(),
            missing_events: 1,
            duplicate_events: 3,
            stream_reconnects: 1,
            ..InboundErrors::default()
        };
        let table = report(errors).table();
        for expected in [
            "kanca bench --scenario incoming-webhook",
            "server settings: KANCA_HOOK_RATE_LIMIT=100000",
            "accepted (2xx)",
            "98/100",
            "seen on stream",
            "97/98",
            "post answered 429: 2",
            "accepted posts missing from the stream: 1",
            "duplicate stream events: 3",
            "stream reconnects (resumed with Last-Event-ID): 1",
            "before every accepted post was seen",
        ] {
            assert!(table.contains(expected), "{expected:?} not in\n{table}");
        }
        let seen_line = table
            .lines()
            .find(|l| l.starts_with("post → seen on stream"))
            .unwrap();
        let figures: Vec<&str> = seen_line.split_whitespace().rev().take(5).collect();
        assert_eq!(
            figures,
            ["5.50", "9.00", "9.00", "9.00", "2.00"],
            "{seen_line}"
        );
        let clean = report(InboundErrors::default()).table();
        assert!(clean.contains("errors: none"), "{clean}");
    }

    #[test]
    fn the_json_has_the_new_figures_in_camel_case() {
        let json = serde_json::to_value(report(InboundErrors::default())).unwrap();
        assert_eq!(json["scenario"], "incoming-webhook");
        assert_eq!(json["acceptRate"], 49.0);
        assert_eq!(json["streamRate"], 38.8);
        assert_eq!(json["streamLatencyMs"]["p99"], 9.0);
        assert_eq!(json["acceptLatencyMs"]["max"], 3.0);
        assert_eq!(json["errors"]["missingEvents"], 0);
        assert_eq!(json["errors"]["duplicateEvents"], 0);
        assert_eq!(json["options"]["scenario"], "incoming-webhook");
        assert!(json["nodes"].as_array().unwrap().is_empty());
    }
}
