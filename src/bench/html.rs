//! `kanca bench --report FILE.html`: one self-contained HTML page per run (inline CSS, inline
//! SVG, no script), because people compare runs by looking at them.
//!
//! The page is rendered from the run's JSON report, not from the in-memory report, so a run
//! saved with `--json` renders the same later (`--render FILE.json --report FILE.html`), and
//! both scenarios' reports (send; incoming-webhook and bin) go through the one renderer. It
//! shows the settings, the headline figures (those `--compare` uses), throughput, latency
//! p50/p99 and server memory over time, and the latency histogram.

use super::chart::{self, Frame, Line};
use super::figures;
use super::series::{HistogramBar, Series};
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

const CSS: &str = "
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:820px;color:#1b1b1b;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}
th{white-space:nowrap}td{overflow-wrap:anywhere}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.chart{width:100%;height:auto;font-size:11px}.chart .axis{stroke:#333}.chart .grid{stroke:#e3e3e3}
.chart .axis-label{font-size:12px;fill:#333}.chart .bar{fill:#3a6ea5}
.note{color:#555}details{margin-top:1rem}
";

const BLUE: &str = "#3a6ea5";
const ORANGE: &str = "#c8602b";

/// The HTML page for one JSON report.
pub fn render(report: &Value) -> String {
    let scenario = figures::scenario(report);
    let series: Option<Series> = serde_json::from_value(report["series"].clone())
        .ok()
        .filter(Series::is_consistent);
    let histogram: Vec<HistogramBar> =
        serde_json::from_value(report["latencyHistogram"].clone()).unwrap_or_default();
    let (sent, arrived, latency) = match scenario {
        "send" => ("published", "delivered", "publish → delivered"),
        _ => (
            "accepted",
            "seen on the stream",
            "post → seen on the stream",
        ),
    };
    let target = report["target"].as_str().unwrap_or("?");
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "kanca bench — " (scenario) " — " (target) }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { "kanca bench: " (scenario) }
                    p { (target) }
                    h2 { "Settings" }
                    (settings(&report["options"]))
                    h2 { "Headline figures" }
                    (headline(report, scenario))
                    @match &series {
                        Some(s) if !s.deliveries.is_empty() => {
                            h2 { "Throughput over time" }
                            (throughput(s, sent, arrived))
                            h2 { "Latency over time (" (latency) ")" }
                            (latency_chart(s, latency))
                            h2 { "Latency histogram (" (latency) ")" }
                            (histogram_chart(&histogram, latency))
                            h2 { "Server memory (RSS) over time" }
                            (rss_chart(s))
                            (series_table(s, sent, arrived))
                        }
                        _ => {
                            p.note { "This report has no time series (saved by an older kanca bench, or edited), so only its histogram is drawn." }
                            h2 { "Latency histogram (" (latency) ")" }
                            (histogram_chart(&histogram, latency))
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

fn settings(options: &Value) -> Markup {
    let Some(options) = options.as_object() else {
        return html! { p.note { "No settings recorded." } };
    };
    html! {
        table {
            @for (key, value) in options {
                @if !value.is_null() && value != &Value::Array(Vec::new()) {
                    tr {
                        th scope="row" { (key) }
                        td { (value.as_str().map_or_else(|| value.to_string(), str::to_owned)) }
                    }
                }
            }
        }
    }
}

fn headline(report: &Value, scenario: &str) -> Markup {
    let errors: Vec<(String, String)> = report["errors"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !(v.is_null() || v == &0 || v.as_object().is_some_and(|o| o.is_empty())))
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    html! {
        table {
            @for f in figures::figures_of(scenario) {
                @let v = figures::value(report, f);
                @if v.is_some() {
                    tr { th scope="row" { (f.label) } td.num { (figures::show(v, f)) } }
                }
            }
            tr {
                th scope="row" { "errors" }
                td {
                    @if errors.is_empty() { "none" }
                    @for (k, v) in &errors { (k) ": " (v) br; }
                }
            }
            @if report["timedOut"] == true {
                tr { th scope="row" { "timed out" } td { "the wait ended at --timeout" } }
            }
        }
    }
}

/// When each interval starts and ends, in ms after the first publish.
fn spans_ms(s: &Series) -> Vec<(u64, u64)> {
    let starts = std::iter::once(0).chain(s.ends_ms.iter().copied());
    starts
        .zip(&s.ends_ms)
        .map(|(start, &end)| (start, end.max(start + 1)))
        .collect()
}

/// Seconds since the first publish at the end of each interval.
fn ends_secs(s: &Series) -> Vec<f64> {
    spans_ms(s)
        .iter()
        .map(|&(_, end)| end as f64 / 1000.0)
        .collect()
}

/// Per second of each interval's own length.
fn per_second(s: &Series, counts: &[u64]) -> Vec<Option<f64>> {
    counts
        .iter()
        .zip(spans_ms(s))
        .map(|(&n, (start, end))| Some(n as f64 * 1000.0 / (end - start) as f64))
        .collect()
}

fn peak(values: &[Option<f64>]) -> f64 {
    values.iter().flatten().copied().fold(0.0, f64::max)
}

fn throughput(s: &Series, sent: &str, arrived: &str) -> Markup {
    let sent_rate = per_second(s, &s.published);
    let arrived_rate = per_second(s, &s.deliveries);
    let frame = Frame {
        id: "throughput",
        title: "Throughput over time",
        desc: format!(
            "Requests {sent} and {arrived} per second, in {} ms intervals over {:.1} s; peaks {:.0}/s and {:.0}/s.",
            s.interval_ms,
            s.ends_ms.last().copied().unwrap_or(0) as f64 / 1000.0,
            peak(&sent_rate),
            peak(&arrived_rate)
        ),
        x_label: "seconds since the first publish",
        y_label: "per second",
    };
    chart::lines(
        &frame,
        &ends_secs(s),
        &[
            Line {
                name: sent,
                color: BLUE,
                values: sent_rate,
            },
            Line {
                name: arrived,
                color: ORANGE,
                values: arrived_rate,
            },
        ],
    )
}

fn latency_chart(s: &Series, latency: &str) -> Markup {
    let frame = Frame {
        id: "latency",
        title: "Latency p50 and p99 over time",
        desc: format!(
            "{latency} latency in milliseconds per {} ms interval (from log-scale bins, within about 6 %); highest p50 {:.1} ms, highest p99 {:.1} ms.",
            s.interval_ms,
            peak(&s.p50_ms),
            peak(&s.p99_ms)
        ),
        x_label: "seconds since the first publish",
        y_label: "milliseconds",
    };
    chart::lines(
        &frame,
        &ends_secs(s),
        &[
            Line {
                name: "p50",
                color: BLUE,
                values: s.p50_ms.clone(),
            },
            Line {
                name: "p99",
                color: ORANGE,
                values: s.p99_ms.clone(),
            },
        ],
    )
}

fn histogram_chart(bars: &[HistogramBar], latency: &str) -> Markup {
    let total: u64 = bars.iter().map(|b| b.count).sum();
    let frame = Frame {
        id: "histogram",
        title: "Latency histogram",
        desc: format!(
            "{total} {latency} latencies in bars on a log scale (1, 1.5, 2, 3, 5, 7 × 10ⁿ ms)."
        ),
        x_label: "latency (ms), bar from its label up to the next",
        y_label: "samples",
    };
    let labelled: Vec<(String, u64)> = bars
        .iter()
        .map(|b| (trim_number(b.from_ms), b.count))
        .collect();
    chart::bars(&frame, &labelled)
}

fn rss_chart(s: &Series) -> Markup {
    let mib: Vec<Option<f64>> = s
        .rss_bytes
        .iter()
        .map(|b| b.map(|b| b as f64 / (1024.0 * 1024.0)))
        .collect();
    if mib.iter().all(Option::is_none) {
        return html! { p.note { "No memory figures: the server was not started by the bench (--server), or /proc could not be read." } };
    }
    let first = mib.iter().flatten().next().copied().unwrap_or(0.0);
    let last = mib.iter().flatten().last().copied().unwrap_or(0.0);
    let frame = Frame {
        id: "rss",
        title: "Server memory (RSS) over time",
        desc: format!(
            "Resident set size of the largest spawned server in MiB per {} ms interval: {first:.1} MiB at the start, peak {:.1} MiB, {last:.1} MiB at the end.",
            s.interval_ms,
            peak(&mib)
        ),
        x_label: "seconds since the first publish",
        y_label: "MiB",
    };
    chart::lines(
        &frame,
        &ends_secs(s),
        &[Line {
            name: "RSS",
            color: BLUE,
            values: mib,
        }],
    )
}

/// The numbers behind the charts, for reading exactly and for screen readers.
fn series_table(s: &Series, sent: &str, arrived: &str) -> Markup {
    let opt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    html! {
        details {
            summary { "The numbers behind the charts" }
            table {
                tr {
                    th { "until (s)" } th { (sent) } th { (arrived) } th { "p50 ms" } th { "p99 ms" }
                    th { "RSS MiB" } th { "server CPU s" }
                }
                @for (i, end) in ends_secs(s).iter().enumerate() {
                    tr {
                        td.num { (format!("{end:.2}")) }
                        td.num { (s.published[i]) }
                        td.num { (s.deliveries[i]) }
                        td.num { (opt(s.p50_ms[i])) }
                        td.num { (opt(s.p99_ms[i])) }
                        td.num { (opt(s.rss_bytes[i].map(|b| b as f64 / (1024.0 * 1024.0)))) }
                        td.num { (opt(s.server_cpu_secs[i])) }
                    }
                }
            }
        }
    }
}

fn trim_number(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_report_without_a_usable_series_still_renders_its_figures() {
        let older = json!({"target": "t <b>", "options": {"messages": 5}, "deliveryRate": 12.5});
        let page = render(&older);
        assert!(page.contains("no time series"), "{page}");
        assert!(page.contains("t &lt;b&gt;"), "text is escaped");
        assert!(page.contains("12.50/s"), "{page}");
        // Lists of different lengths (an edited file) are not drawn rather than read past.
        let mut edited = older.clone();
        edited["series"] = json!({"intervalMs": 250, "endsMs": [250, 500], "published": [1],
            "deliveries": [1, 2], "p50Ms": [1.0, 1.0], "p99Ms": [1.0, 1.0],
            "rssBytes": [null, null], "serverCpuSecs": [null, null]});
        assert!(render(&edited).contains("no time series"));
    }
}
