//! Inline SVG charts for the HTML report, drawn here so that the report is one file that opens
//! anywhere, offline, with no script or stylesheet to fetch.
//!
//! Two kinds are enough: lines over time (throughput, latency, memory) and bars (the latency
//! histogram). Each chart is an `<svg role="img">` whose `<title>` and `<desc>` say what it
//! shows in words, with labelled axes; the numbers themselves are also in the report's tables.

use maud::{html, Markup};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 48.0;

/// One line of a line chart; a `None` point leaves a gap.
pub struct Line<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub values: Vec<Option<f64>>,
}

/// What every chart has: an id (for `aria-labelledby`), a title, a description, axis labels.
pub struct Frame<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub desc: String,
    pub x_label: &'a str,
    pub y_label: &'a str,
}

/// Lines over `xs` (the same x for every line), y from 0.
pub fn lines(frame: &Frame, xs: &[f64], lines: &[Line]) -> Markup {
    let x_max = xs
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let y_max = lines
        .iter()
        .flat_map(|l| l.values.iter().flatten().copied())
        .fold(0.0, f64::max);
    let y_top = nice_ceiling(y_max);
    let x = |v: f64| LEFT + v / x_max * (WIDTH - LEFT - RIGHT);
    let y = |v: f64| HEIGHT - BOTTOM - v / y_top * (HEIGHT - TOP - BOTTOM);
    // Round steps, about six of them, up to the end of the run.
    let step = nice_ceiling(x_max / 6.0);
    let x_ticks: Vec<f64> = (0..)
        .map(|i| i as f64 * step)
        .take_while(|&t| t <= x_max * 1.000_001)
        .collect();
    html! {
        (open(frame, html! {
            (y_axis(frame.y_label, y_top, &y))
            @for t in &x_ticks {
                line class="grid" x1=(fmt(x(*t))) x2=(fmt(x(*t))) y1=(fmt(HEIGHT - BOTTOM)) y2=(fmt(HEIGHT - BOTTOM + 4.0)) {}
                text x=(fmt(x(*t))) y=(fmt(HEIGHT - BOTTOM + 16.0)) text-anchor="middle" { (label(*t)) }
            }
            text x=(fmt(LEFT + (WIDTH - LEFT - RIGHT) / 2.0)) y=(fmt(HEIGHT - 8.0)) text-anchor="middle" class="axis-label" { (frame.x_label) }
            @for (i, l) in lines.iter().enumerate() {
                path d=(path(xs, &l.values, &x, &y)) fill="none" stroke=(l.color) stroke-width="2" {}
                @if lines.len() > 1 {
                    rect x=(fmt(LEFT + 8.0 + i as f64 * 120.0)) y="8" width="12" height="4" fill=(l.color) {}
                    text x=(fmt(LEFT + 24.0 + i as f64 * 120.0)) y="14" { (l.name) }
                }
            }
        }))
    }
}

/// Bars with a label each, y from 0.
pub fn bars(frame: &Frame, bars: &[(String, u64)]) -> Markup {
    let y_top = nice_ceiling(bars.iter().map(|(_, n)| *n as f64).fold(0.0, f64::max));
    let y = |v: f64| HEIGHT - BOTTOM - v / y_top * (HEIGHT - TOP - BOTTOM);
    let slot = (WIDTH - LEFT - RIGHT) / bars.len().max(1) as f64;
    // Labels are thinned so they do not overlap.
    let every = ((bars.len() as f64 * 44.0) / (WIDTH - LEFT - RIGHT))
        .ceil()
        .max(1.0) as usize;
    html! {
        (open(frame, html! {
            (y_axis(frame.y_label, y_top, &y))
            @for (i, (name, n)) in bars.iter().enumerate() {
                @let left = LEFT + i as f64 * slot;
                rect class="bar" x=(fmt(left + slot * 0.1)) y=(fmt(y(*n as f64))) width=(fmt(slot * 0.8)) height=(fmt(HEIGHT - BOTTOM - y(*n as f64))) {
                    title { (name) " ms: " (n) }
                }
                @if i % every == 0 {
                    text x=(fmt(left + slot / 2.0)) y=(fmt(HEIGHT - BOTTOM + 16.0)) text-anchor="middle" { (name) }
                }
            }
            text x=(fmt(LEFT + (WIDTH - LEFT - RIGHT) / 2.0)) y=(fmt(HEIGHT - 8.0)) text-anchor="middle" class="axis-label" { (frame.x_label) }
        }))
    }
}

fn open(frame: &Frame, body: Markup) -> Markup {
    let title_id = format!("{}-title", frame.id);
    let desc_id = format!("{}-desc", frame.id);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" id=(frame.id) class="chart" role="img"
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) aria-labelledby=(format!("{title_id} {desc_id}")) {
            title id=(title_id) { (frame.title) }
            desc id=(desc_id) { (frame.desc) }
            (body)
        }
    }
}

fn y_axis(label_text: &str, y_top: f64, y: &impl Fn(f64) -> f64) -> Markup {
    html! {
        line class="axis" x1=(fmt(LEFT)) x2=(fmt(LEFT)) y1=(fmt(TOP)) y2=(fmt(HEIGHT - BOTTOM)) {}
        line class="axis" x1=(fmt(LEFT)) x2=(fmt(WIDTH - RIGHT)) y1=(fmt(HEIGHT - BOTTOM)) y2=(fmt(HEIGHT - BOTTOM)) {}
        @for t in ticks(y_top) {
            line class="grid" x1=(fmt(LEFT)) x2=(fmt(WIDTH - RIGHT)) y1=(fmt(y(t))) y2=(fmt(y(t))) {}
            text x=(fmt(LEFT - 6.0)) y=(fmt(y(t) + 4.0)) text-anchor="end" { (label(t)) }
        }
        text class="axis-label" transform=(format!("translate(14 {}) rotate(-90)", fmt(TOP + (HEIGHT - TOP - BOTTOM) / 2.0))) text-anchor="middle" { (label_text) }
    }
}

/// `M x y L x y …`, starting again after every gap.
fn path(
    xs: &[f64],
    values: &[Option<f64>],
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (xv, v) in xs.iter().zip(values) {
        match v {
            Some(v) => {
                d.push_str(if pen_down { " L" } else { " M" });
                d.push_str(&format!("{} {}", fmt(x(*xv)), fmt(y(*v))));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_start().to_owned()
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (1 for nothing), so ticks are round.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= v * 0.999_999)
        .unwrap_or(10.0 * magnitude)
}

/// Five ticks from 0 to `top`.
fn ticks(top: f64) -> Vec<f64> {
    (0..=5).map(|i| top * i as f64 / 5.0).collect()
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(150.0), 200.0);
        assert_eq!(nice_ceiling(4000.0), 5000.0);
        assert_eq!(nice_ceiling(0.03), 0.05);
    }

    #[test]
    fn a_gap_lifts_the_pen() {
        let d = path(
            &[0.0, 1.0, 2.0, 3.0],
            &[Some(1.0), None, Some(2.0), Some(3.0)],
            &|x| x,
            &|y| y,
        );
        assert_eq!(d, "M0.0 1.0 M2.0 2.0 L3.0 3.0");
    }
}
