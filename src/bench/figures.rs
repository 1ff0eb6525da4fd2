//! The headline figures of a saved report, read from its JSON: what `--compare` sets side by
//! side and what the HTML report's table shows.
//!
//! They are read from JSON (`serde_json::Value`) rather than from [`super::Report`] so that a
//! report saved by an older or newer bench still compares: a figure it lacks is shown as
//! missing, not refused. The one list below names each figure once for both uses.

use anyhow::{bail, Context};
use serde_json::Value;
use std::path::Path;

/// Which way is better for a figure, so a change can be called an improvement or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// A count that only has to match (messages, deliveries).
    Neither,
}

/// One headline figure: where it is in the JSON and how to show it.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub label: &'static str,
    /// A JSON pointer into the report.
    pub pointer: &'static str,
    pub unit: &'static str,
    /// The JSON value is multiplied by this for showing (bytes → MiB).
    pub scale: f64,
    pub better: Better,
}

const fn figure(
    label: &'static str,
    pointer: &'static str,
    unit: &'static str,
    better: Better,
) -> Figure {
    Figure {
        label,
        pointer,
        unit,
        scale: 1.0,
        better,
    }
}

const MIB: f64 = 1.0 / (1024.0 * 1024.0);

const SEND: &[Figure] = &[
    figure("messages acknowledged", "/messages", "", Better::Neither),
    figure("deliveries", "/deliveries", "", Better::Neither),
    figure("publish rate", "/publishRate", "/s", Better::Higher),
    figure("delivery rate", "/deliveryRate", "/s", Better::Higher),
    figure(
        "drain rate (backlog)",
        "/backlog/drainRate",
        "/s",
        Better::Higher,
    ),
    figure("duration", "/durationSecs", "s", Better::Lower),
    figure("latency p50", "/latencyMs/p50", "ms", Better::Lower),
    figure("latency p90", "/latencyMs/p90", "ms", Better::Lower),
    figure("latency p99", "/latencyMs/p99", "ms", Better::Lower),
    figure("latency max", "/latencyMs/max", "ms", Better::Lower),
    figure(
        "publish request p50",
        "/publishLatencyMs/p50",
        "ms",
        Better::Lower,
    ),
    figure(
        "publish request p99",
        "/publishLatencyMs/p99",
        "ms",
        Better::Lower,
    ),
    figure("baseline rate", "/baselineRate", "/s", Better::Higher),
    figure(
        "delivery ÷ baseline",
        "/ratioToBaseline",
        "",
        Better::Higher,
    ),
    Figure {
        scale: MIB,
        ..figure("peak RSS", "/peakRssBytes", "MiB", Better::Lower)
    },
    Figure {
        scale: MIB,
        ..figure("end RSS", "/endRssBytes", "MiB", Better::Lower)
    },
    figure(
        "server CPU per 1,000",
        "/cpuSecondsPer1k",
        "s",
        Better::Lower,
    ),
    Figure {
        scale: 1.0 / 1024.0,
        ..figure(
            "disk written per message",
            "/diskBytesPerMessage",
            "KiB",
            Better::Lower,
        )
    },
    figure(
        "missing deliveries",
        "/errors/missingDeliveries",
        "",
        Better::Lower,
    ),
];

const INBOUND: &[Figure] = &[
    figure("posts accepted", "/accepted", "", Better::Neither),
    figure("seen on stream", "/seen", "", Better::Neither),
    figure("accept rate", "/acceptRate", "/s", Better::Higher),
    figure("stream rate", "/streamRate", "/s", Better::Higher),
    figure(
        "post → accepted p50",
        "/acceptLatencyMs/p50",
        "ms",
        Better::Lower,
    ),
    figure(
        "post → accepted p99",
        "/acceptLatencyMs/p99",
        "ms",
        Better::Lower,
    ),
    figure(
        "post → seen p50",
        "/streamLatencyMs/p50",
        "ms",
        Better::Lower,
    ),
    figure(
        "post → seen p90",
        "/streamLatencyMs/p90",
        "ms",
        Better::Lower,
    ),
    figure(
        "post → seen p99",
        "/streamLatencyMs/p99",
        "ms",
        Better::Lower,
    ),
    figure(
        "post → seen max",
        "/streamLatencyMs/max",
        "ms",
        Better::Lower,
    ),
    Figure {
        scale: MIB,
        ..figure("peak RSS", "/peakRssBytes", "MiB", Better::Lower)
    },
    Figure {
        scale: MIB,
        ..figure("end RSS", "/endRssBytes", "MiB", Better::Lower)
    },
    figure(
        "server CPU per 1,000",
        "/cpuSecondsPer1k",
        "s",
        Better::Lower,
    ),
    figure(
        "missing from stream",
        "/errors/missingEvents",
        "",
        Better::Lower,
    ),
];

/// The scenario a report is of: `send` unless it says otherwise (send reports carry no
/// top-level `scenario`).
pub fn scenario(report: &Value) -> &str {
    report["scenario"].as_str().unwrap_or("send")
}

/// The figures that apply to a report of this scenario.
pub fn figures_of(scenario: &str) -> &'static [Figure] {
    match scenario {
        "send" => SEND,
        _ => INBOUND,
    }
}

/// A figure's value in a report, scaled for showing; `None` when absent or null.
pub fn value(report: &Value, figure: &Figure) -> Option<f64> {
    report
        .pointer(figure.pointer)
        .and_then(Value::as_f64)
        .map(|v| v * figure.scale)
}

/// A figure's value as text with its unit, or `-`.
pub fn show(value: Option<f64>, figure: &Figure) -> String {
    let Some(v) = value else {
        return "-".into();
    };
    let whole_count = figure.unit.is_empty() && v.fract() == 0.0;
    let number = if whole_count || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    match figure.unit {
        "" => number,
        "/s" => format!("{number}/s"),
        unit => format!("{number} {unit}"),
    }
}

/// Reads a report saved with `kanca bench --json`, with an error that says what is wrong with
/// the file.
pub fn load(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the bench report {}", path.display()))?;
    let report: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON; save a report with `kanca bench --json > FILE.json`",
            path.display()
        )
    })?;
    if !(report["target"].is_string() && report["options"].is_object()) {
        bail!(
            "{} is JSON but not a kanca bench report (no \"target\" and \"options\"); save one with `kanca bench --json > FILE.json`",
            path.display()
        );
    }
    Ok(report)
}
