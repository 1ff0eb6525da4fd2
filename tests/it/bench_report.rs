//! `kanca bench`'s reporting, end to end with the real binary: the time series in `--json`, the
//! self-contained HTML page of `--report` (and `--render` of a saved run), `--compare` of two
//! saved runs, the RSS curve of a backlog run, and what bad input gets. Figures are the
//! bench's to report; only their consistency is checked (every delivery counted once in the
//! series), never their size.

use crate::common::{self, Backend};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn kanca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kanca"))
        .args(args)
        .output()
        .expect("running kanca")
}

/// Runs a bench that spawns its server (on this run's backend) and returns its output.
fn bench(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kanca"));
    command.args(["bench", "--timeout", "120s"]).args(args);
    if Backend::of_this_run() == Backend::Postgres {
        let url = common::postgres_url().unwrap();
        command.args(["--database-url", &url, "--fresh-database"]);
    }
    let output = command.output().expect("running kanca bench");
    assert_success(&output, args);
    output
}

fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

fn sum(series: &Value, key: &str) -> u64 {
    series[key]
        .as_array()
        .unwrap_or_else(|| panic!("series.{key}: {series}"))
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// The page stands alone (nothing fetched, no script) and has the four charts, each
/// described for screen readers.
fn assert_self_contained_with_charts(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"), "{html:.200}");
    for outside in [
        "src=\"http",
        "href=\"http",
        "<script",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(outside), "{outside} in the report");
    }
    for chart in ["throughput", "latency", "histogram", "rss"] {
        let opening = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{chart}\"");
        let at = html
            .find(&opening)
            .unwrap_or_else(|| panic!("no {chart} chart"));
        let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
        assert!(svg.contains("role=\"img\""), "{svg:.300}");
        assert!(
            svg.contains(&format!("<title id=\"{chart}-title\">")),
            "{svg:.300}"
        );
        assert!(
            svg.contains(&format!("<desc id=\"{chart}-desc\">")),
            "{svg:.300}"
        );
        assert!(
            svg.contains("class=\"axis-label\""),
            "{chart} has no axis label"
        );
    }
    assert!(html.contains("Headline figures"));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn bench_reports_its_series_as_json_and_html_and_compares_two_saved_runs() {
    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("a.html");
    let a = bench(&[
        "--messages",
        "200",
        "--concurrency",
        "8",
        "--json",
        "--report",
        html_path.to_str().unwrap(),
    ]);
    let report = json(&a);
    assert_eq!(report["deliveries"], 200, "{report}");
    // The fields that were there before the series are unchanged.
    for kept in [
        "deliveryRate",
        "latencyMs",
        "peakRssBytes",
        "cpuSecondsPer1k",
    ] {
        assert!(report.get(kept).is_some(), "{kept}: {report}");
    }
    let series = &report["series"];
    assert!(series["intervalMs"].as_u64().unwrap() > 0, "{series}");
    assert_eq!(
        sum(series, "deliveries"),
        200,
        "every delivery in one interval: {series}"
    );
    assert_eq!(sum(series, "published"), 200, "{series}");
    let points = series["deliveries"].as_array().unwrap().len();
    for key in ["endsMs", "p50Ms", "p99Ms", "rssBytes", "serverCpuSecs"] {
        assert_eq!(
            series[key].as_array().unwrap().len(),
            points,
            "{key}: {series}"
        );
    }
    assert!(series["rssBytes"][0].as_u64().is_some(), "{series}");
    let histogram: u64 = report["latencyHistogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bar| bar["count"].as_u64().unwrap())
        .sum();
    assert_eq!(histogram, 200, "{report}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_self_contained_with_charts(&html);
    assert!(html.contains("delivery rate"), "headline figures table");
    assert!(String::from_utf8_lossy(&a.stderr).contains("HTML report written to"));

    // A second run to compare with; both saved as --json writes them.
    let b = bench(&["--messages", "100", "--concurrency", "4", "--json"]);
    let (a_json, b_json) = (dir.path().join("a.json"), dir.path().join("b.json"));
    write(&a_json, &String::from_utf8_lossy(&a.stdout));
    write(&b_json, &String::from_utf8_lossy(&b.stdout));
    let (a_arg, b_arg) = (a_json.to_str().unwrap(), b_json.to_str().unwrap());

    let table = kanca(&["bench", "--compare", a_arg, b_arg]);
    assert_success(&table, &["--compare"]);
    let table = String::from_utf8_lossy(&table.stdout);
    for expected in [
        a_arg,
        b_arg,
        "B ÷ A",
        "delivery rate",
        "latency p99",
        "peak RSS",
    ] {
        assert!(table.contains(expected), "{expected:?} not in\n{table}");
    }
    let deliveries = table.lines().find(|l| l.starts_with("deliveries")).unwrap();
    let cells: Vec<&str> = deliveries.split_whitespace().collect();
    assert_eq!(
        &cells[1..5],
        ["200", "100", "0.500", "-50.0"],
        "{deliveries}"
    );

    let compared = kanca(&["bench", "--compare", a_arg, b_arg, "--json"]);
    assert_success(&compared, &["--compare", "--json"]);
    let compared = json(&compared);
    assert_eq!(compared["a"]["file"], a_arg, "{compared}");
    assert_eq!(compared["b"]["file"], b_arg, "{compared}");
    let figure = |name: &str| {
        compared["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {compared}"))
            .clone()
    };
    let deliveries = figure("deliveries");
    assert_eq!(
        (deliveries["a"].as_f64(), deliveries["b"].as_f64()),
        (Some(200.0), Some(100.0))
    );
    assert_eq!(deliveries["ratio"], 0.5);
    let rate = figure("delivery rate");
    assert!(
        rate["a"].as_f64().is_some() && rate["b"].as_f64().is_some(),
        "{rate}"
    );
    assert!(["better", "worse", "same"].contains(&rate["verdict"].as_str().unwrap()));

    // A saved run renders to the same kind of page later.
    let again = dir.path().join("again.html");
    let rendered = kanca(&[
        "bench",
        "--render",
        b_arg,
        "--report",
        again.to_str().unwrap(),
    ]);
    assert_success(&rendered, &["--render"]);
    assert_self_contained_with_charts(&std::fs::read_to_string(&again).unwrap());
}

#[test]
fn bench_report_covers_the_bin_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("bin.html");
    let output = bench(&[
        "--scenario",
        "bin",
        "--messages",
        "50",
        "--concurrency",
        "8",
        "--json",
        "--report",
        html_path.to_str().unwrap(),
    ]);
    let report = json(&output);
    assert_eq!(
        sum(&report["series"], "deliveries"),
        50,
        "seen on the stream: {report}"
    );
    assert_eq!(sum(&report["series"], "published"), 50, "{report}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_self_contained_with_charts(&html);
    assert!(html.contains("stream rate"), "the inbound figures");
}

/// `--endpoints 0` measures publishing alone: every message acknowledged, nothing delivered,
/// and the CPU figure per publish.
#[test]
fn a_run_without_endpoints_measures_publishing_alone() {
    let output = bench(&[
        "--endpoints",
        "0",
        "--messages",
        "200",
        "--concurrency",
        "8",
        "--json",
    ]);
    let run = json(&output);
    assert_eq!(run["messages"], 200, "{run}");
    assert_eq!(run["expectedDeliveries"], 0, "{run}");
    assert_eq!(run["deliveries"], 0, "{run}");
    assert!(run["publishRate"].as_f64().unwrap() > 0.0, "{run}");
    assert_eq!(run["timedOut"], false, "{run}");
    let table = String::from_utf8_lossy(
        &bench(&["--endpoints", "0", "--messages", "50", "--concurrency", "4"]).stdout,
    )
    .into_owned();
    assert!(table.contains("publish (2xx)"), "{table}");
    assert!(table.contains("server CPU per 1,000 publishes"), "{table}");
}

#[test]
fn a_backlog_run_prints_its_rss_curve() {
    let output = bench(&["--backlog", "--messages", "100", "--concurrency", "8"]);
    let table = String::from_utf8_lossy(&output.stdout);
    let line = table
        .lines()
        .find(|l| l.starts_with("server RSS MiB over time"))
        .unwrap_or_else(|| panic!("no RSS curve in\n{table}"));
    let samples = line.rsplit_once(": ").unwrap().1;
    assert!(
        samples.split(' ').all(|s| s.parse::<u64>().is_ok()),
        "{line}"
    );
}

#[test]
fn bench_compare_and_render_refuse_what_is_not_a_saved_report() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let not_json = dir.path().join("not.json");
    write(&not_json, "<html>a page, not a report</html>");
    let other_json = dir.path().join("other.json");
    write(&other_json, r#"{"deliveries": 3}"#);
    let send = dir.path().join("send.json");
    write(
        &send,
        r#"{"target": "t", "options": {"messages": 1}, "deliveries": 1}"#,
    );
    let bin = dir.path().join("bin.json");
    write(
        &bin,
        r#"{"target": "t", "scenario": "bin", "options": {"messages": 1}}"#,
    );
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    for (a, b, expected) in [
        (path(&missing), path(&send), "reading the bench report"),
        (path(&send), path(&not_json), "is not JSON"),
        (path(&other_json), path(&send), "not a kanca bench report"),
        (path(&send), path(&bin), "compare runs of the same scenario"),
    ] {
        let output = kanca(&["bench", "--compare", &a, &b]);
        assert!(!output.status.success(), "{a} {b}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
        assert!(output.stdout.is_empty(), "nothing on stdout");
    }
    // The files it names are in the message.
    let output = kanca(&["bench", "--compare", &path(&missing), &path(&send)]);
    assert!(String::from_utf8_lossy(&output.stderr).contains(&path(&missing)));

    // One file, or --render without a page to write: refused by the flags.
    let one = kanca(&["bench", "--compare", &path(&send)]);
    assert!(!one.status.success());
    let render = kanca(&["bench", "--render", &path(&send)]);
    assert!(!render.status.success());
    assert!(String::from_utf8_lossy(&render.stderr).contains("--report"));
    let render = kanca(&[
        "bench",
        "--render",
        &path(&not_json),
        "--report",
        &path(&dir.path().join("x.html")),
    ]);
    assert!(!render.status.success());
    assert!(String::from_utf8_lossy(&render.stderr).contains("is not JSON"));

    // A page that cannot be written fails before anything runs.
    let output = kanca(&[
        "bench",
        "--messages",
        "10",
        "--report",
        "/nonexistent-dir/r.html",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("creating the HTML report"), "{stderr}");
}
