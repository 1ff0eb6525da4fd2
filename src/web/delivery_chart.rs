//! Charts of an endpoint's deliveries (last 24 hours and last 7 days): per interval, stacked
//! bars of attempts that succeeded and failed, and lines of latency p50 and p99. Drawn here as
//! inline SVG, so the page needs no script and no chart library, and colours come from the
//! stylesheet's classes (the CSP allows no inline style). Each chart says the same in words
//! (`title`/`desc`, and a table of its intervals) for those who cannot see it.

use super::error::PageError;
use crate::domain::{AppId, EndpointId};
use crate::send::ActivitySpan;
use crate::services::Services;
use crate::store::charts::ActivityBucket;
use maud::{html, Markup};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 170.0;
/// Room above the bars for the scale's labels.
const TOP: f64 = 24.0;
const BOTTOM: f64 = 140.0;

/// The "Deliveries" section with both charts.
pub async fn section(state: &Services, app: &AppId, ep: &EndpointId) -> Result<Markup, PageError> {
    let day = state
        .send
        .endpoint_activity(app, ep, ActivitySpan::Day)
        .await?;
    let week = state
        .send
        .endpoint_activity(app, ep, ActivitySpan::Week)
        .await?;
    Ok(html! {
        section class="card" aria-labelledby="deliveries" {
            h2 id="deliveries" { "Deliveries" }
            p class="hint" {
                span class="key ok" {} " succeeded " span class="key bad" {} " failed "
                span class="key p50" {} " latency p50 " span class="key p99" {} " latency p99"
            }
            div class="charts" {
                (chart("chart-day", "Last 24 hours", &day, "%a %H:%M"))
                (chart("chart-week", "Last 7 days", &week, "%a %H:%M"))
            }
        }
    })
}

fn chart(id: &str, title: &str, buckets: &[ActivityBucket], time_format: &str) -> Markup {
    let n = buckets.len().max(1) as f64;
    let slot = WIDTH / n;
    let max_count = buckets
        .iter()
        .map(|b| b.succeeded + b.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max_latency = buckets
        .iter()
        .filter_map(|b| b.p99_ms)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let y = |v: f64, max: f64| BOTTOM - (v / max) * (BOTTOM - TOP);
    // The latency points of one percentile, as (x, y).
    let points = |pick: fn(&ActivityBucket) -> Option<i64>| -> Vec<(f64, f64)> {
        buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                pick(b).map(|ms| (slot * (i as f64 + 0.5), y(ms as f64, max_latency)))
            })
            .collect()
    };
    let line = |pts: &[(f64, f64)]| -> String {
        pts.iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let p50 = points(|b| b.p50_ms);
    let p99 = points(|b| b.p99_ms);
    let succeeded: u64 = buckets.iter().map(|b| b.succeeded).sum();
    let failed: u64 = buckets.iter().map(|b| b.failed).sum();
    let worst_p99 = buckets.iter().filter_map(|b| b.p99_ms).max();
    let desc = match worst_p99 {
        None => "No attempts in this time.".to_owned(),
        Some(p99) => format!(
            "{succeeded} attempts succeeded and {failed} failed; latency p99 at most {p99} ms."
        ),
    };
    let first = buckets
        .first()
        .map(|b| b.start.format(time_format).to_string());
    let last = buckets
        .last()
        .map(|b| b.start.format(time_format).to_string());
    html! {
        figure class="chart" id=(id) {
            figcaption { (title) }
            svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-labelledby={(id) "-title " (id) "-desc"} preserveAspectRatio="none" {
                title id={(id) "-title"} { (title) }
                desc id={(id) "-desc"} { (desc) }
                line class="axis" x1="0" x2=(WIDTH) y1=(BOTTOM) y2=(BOTTOM) {}
                @for (i, b) in buckets.iter().enumerate() {
                    @let x = slot * i as f64 + slot * 0.1;
                    @let w = slot * 0.8;
                    @let ok_top = y(b.succeeded as f64, max_count);
                    @let bad_top = y((b.succeeded + b.failed) as f64, max_count);
                    @if b.succeeded > 0 {
                        rect class="ok" x=(format!("{x:.1}")) y=(format!("{ok_top:.1}")) width=(format!("{w:.1}")) height=(format!("{:.1}", BOTTOM - ok_top)) {}
                    }
                    @if b.failed > 0 {
                        rect class="bad" x=(format!("{x:.1}")) y=(format!("{bad_top:.1}")) width=(format!("{w:.1}")) height=(format!("{:.1}", ok_top - bad_top)) {}
                    }
                }
                polyline class="p50" points=(line(&p50)) {}
                polyline class="p99" points=(line(&p99)) {}
                @for (x, y) in &p50 { circle class="p50 dot" cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" {} }
                @for (x, y) in &p99 { circle class="p99 dot" cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" {} }
                @if let (Some(f), Some(l)) = (&first, &last) {
                    text x="0" y=(HEIGHT - 8.0) class="tick" { (f) }
                    text x=(WIDTH) y=(HEIGHT - 8.0) class="tick end" { (l) }
                }
                text x="2" y="14" class="tick" { "bars: up to " (max_count as u64) " attempts" }
                text x=(WIDTH - 2.0) y="14" class="tick end" { "lines: up to " (max_latency as i64) " ms" }
            }
            details {
                summary { "As a table" }
                div class="table-wrap" {
                    table {
                        thead { tr { th { "From (UTC)" } th { "Succeeded" } th { "Failed" } th { "p50" } th { "p99" } } }
                        tbody {
                            @for b in buckets.iter().filter(|b| b.succeeded + b.failed > 0) {
                                tr {
                                    td { (b.start.format("%Y-%m-%d %H:%M")) }
                                    td { (b.succeeded) } td { (b.failed) }
                                    td { (ms(b.p50_ms)) } td { (ms(b.p99_ms)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn ms(v: Option<i64>) -> String {
    v.map(|v| format!("≤ {v} ms")).unwrap_or_else(|| "—".into())
}
