//! `kanca bench --compare A.json B.json`: two saved runs' headline figures side by side, with
//! B's change from A, without starting anything. The figures are those of
//! [`super::figures`]; a figure one report lacks (an older bench, no `--baseline`) is shown as
//! `-` rather than refusing the comparison, but runs of different scenarios are refused:
//! their figures measure different things.

use super::figures::{self, Better, Figure};
use anyhow::bail;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

/// Two reports compared; printed as a table or as JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub scenario: String,
    pub a: Run,
    pub b: Run,
    pub figures: Vec<Compared>,
}

/// Which run a side is.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub file: String,
    pub target: String,
    /// The run's options, as saved.
    pub options: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compared {
    pub name: &'static str,
    pub unit: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// `b / a`; null when either is missing or `a` is 0.
    pub ratio: Option<f64>,
    /// `(b / a − 1) × 100`.
    pub change_percent: Option<f64>,
    /// `better`, `worse` or `same` for figures with a direction; null for counts.
    pub verdict: Option<&'static str>,
}

/// Loads both reports and compares them.
pub fn compare(a_path: &Path, b_path: &Path) -> anyhow::Result<Comparison> {
    let a = figures::load(a_path)?;
    let b = figures::load(b_path)?;
    let (sa, sb) = (figures::scenario(&a), figures::scenario(&b));
    if sa != sb {
        bail!(
            "{} is a {sa} run and {} a {sb} run: compare runs of the same scenario",
            a_path.display(),
            b_path.display()
        );
    }
    let figures = figures::figures_of(sa)
        .iter()
        .map(|f| compared(f, &a, &b))
        .collect();
    Ok(Comparison {
        scenario: sa.to_owned(),
        a: run(a_path, &a),
        b: run(b_path, &b),
        figures,
    })
}

fn run(path: &Path, report: &Value) -> Run {
    Run {
        file: path.display().to_string(),
        target: report["target"].as_str().unwrap_or_default().to_owned(),
        options: report["options"].clone(),
    }
}

fn compared(figure: &Figure, a: &Value, b: &Value) -> Compared {
    let (va, vb) = (figures::value(a, figure), figures::value(b, figure));
    let ratio = va.zip(vb).filter(|(a, _)| *a != 0.0).map(|(a, b)| b / a);
    let verdict = match (figure.better, va.zip(vb)) {
        (Better::Neither, _) | (_, None) => None,
        (_, Some((a, b))) if a == b => Some("same"),
        (Better::Higher, Some((a, b))) => Some(if b > a { "better" } else { "worse" }),
        (Better::Lower, Some((a, b))) => Some(if b < a { "better" } else { "worse" }),
    };
    Compared {
        name: figure.label,
        unit: figure.unit,
        a: va,
        b: vb,
        ratio,
        change_percent: ratio.map(|r| (r - 1.0) * 100.0),
        verdict,
    }
}

impl Comparison {
    /// The human-readable form, for stdout.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "kanca bench --compare ({} scenario)", self.scenario);
        for (side, run) in [("A", &self.a), ("B", &self.b)] {
            let o = &run.options;
            let _ = writeln!(
                t,
                "{side}: {} — {}; {} messages × {} endpoint(s), {} publishers, rate {}",
                run.file,
                run.target,
                o["messages"],
                o["endpoints"],
                o["concurrency"],
                match o["rate"].as_f64() {
                    Some(r) if r > 0.0 => format!("{r}/s"),
                    _ => "unlimited".into(),
                }
            );
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<28}{:>14}{:>14}{:>9}{:>10}",
            "", "A", "B", "B ÷ A", "change"
        );
        let all = figures::figures_of(&self.scenario);
        for (c, figure) in self.figures.iter().zip(all) {
            if c.a.is_none() && c.b.is_none() {
                continue;
            }
            let _ = writeln!(
                t,
                "{:<28}{:>14}{:>14}{:>9}{:>10}{}",
                c.name,
                figures::show(c.a, figure),
                figures::show(c.b, figure),
                c.ratio.map_or("-".into(), |r| format!("{r:.3}")),
                c.change_percent
                    .map_or("-".into(), |p| format!("{p:+.1} %")),
                c.verdict.map_or(String::new(), |v| format!("  {v}")),
            );
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_is_better_or_worse_by_the_figure_s_direction() {
        let a = json!({"deliveryRate": 1000.0, "latencyMs": {"p99": 10.0}, "messages": 5});
        let b = json!({"deliveryRate": 1500.0, "latencyMs": {"p99": 20.0}, "messages": 5});
        let by_name = |name: &str| {
            let f = figures::figures_of("send")
                .iter()
                .find(|f| f.label == name)
                .unwrap();
            compared(f, &a, &b)
        };
        let rate = by_name("delivery rate");
        assert_eq!((rate.ratio, rate.verdict), (Some(1.5), Some("better")));
        assert_eq!(rate.change_percent, Some(50.0));
        let p99 = by_name("latency p99");
        assert_eq!((p99.ratio, p99.verdict), (Some(2.0), Some("worse")));
        let count = by_name("messages acknowledged");
        assert_eq!((count.ratio, count.verdict), (Some(1.0), None));
        let absent = by_name("baseline rate");
        assert_eq!((absent.a, absent.ratio, absent.verdict), (None, None, None));
    }
}
