//! `kanca bench`: the flags, checked into [`crate::bench::Options`], and the report printed.
//! How the measurement works is in the module doc of [`crate::bench`].

use crate::bench::{self, Options, Scenario};
use anyhow::{bail, Context};
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The retry schedule for spawned servers: short, so a first attempt failed on purpose
/// (`--fail-ratio`) comes back within seconds.
const RETRY_SCHEDULE: &str = "1s,2s,5s";

/// The flags of `kanca bench` (its `--help` text is the doc comment on `Command::Bench`).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What to measure: `send` publishes Svix messages and times their delivery to the
    /// bench's receiver; `incoming-webhook` posts to a Slack-compatible incoming webhook and
    /// `bin` sends requests to a request bin, both timing post → 2xx and post → seen on the
    /// channel's or bin's live stream (SSE). Spawned servers get KANCA_HOOK_RATE_LIMIT and
    /// KANCA_HOOK_RATE_BURST of 100000 for `incoming-webhook` (with --server, the server's
    /// own hook limit applies: 1/s by default). --endpoints, --fail-ratio, --baseline,
    /// --backlog and --receiver-url apply to `send` only.
    #[arg(long, value_enum, default_value_t = Scenario::Send)]
    scenario: Scenario,
    /// Messages to publish. Each is delivered once to every endpoint, so the run expects
    /// messages × endpoints deliveries. In the incoming-webhook and bin scenarios: posts.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    messages: u64,
    /// Publishers sending at once, sharing one pooled HTTP client: the number of publish
    /// requests in flight, which is what the publish rate is measured under.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,
    /// Approximate size of each message's payload JSON in bytes (padded with a string field);
    /// shows the cost of moving and storing bigger messages.
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// Endpoints of the bench application, all pointing at the receiver: each message fans
    /// out to all of them, measuring fan-out throughput. 0 measures publishing alone: every
    /// message is stored and acknowledged (durable, as always) and nothing is delivered; the
    /// CPU figure is then per 1,000 publishes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=1_000))]
    endpoints: u64,
    /// Messages per second offered in total, on one schedule all publishers share; 0 sends
    /// as fast as the server acknowledges. With a rate, latency is measured at a set load
    /// rather than at saturation.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Fraction (0 to 1) of messages whose first delivery attempt the receiver answers with
    /// 500 (to every endpoint); their retries succeed. Measures the cost of retries and
    /// their effect on latency.
    #[arg(long, default_value_t = 0.0)]
    fail_ratio: f64,
    /// First send the same messages at the same concurrency straight to a receiver (always
    /// unpaced), to measure this machine's loopback HTTP ceiling; the delivery rate is also
    /// reported as a ratio of it (meaningful with --rate 0).
    #[arg(long)]
    baseline: bool,
    /// Backlog scenario: the receiver refuses connections while every message is published,
    /// then starts listening; measures how fast the server drains the backlog (receiver up →
    /// last delivery). Spawned servers then retry every second (see --retry-schedule).
    #[arg(long)]
    backlog: bool,
    /// Print one JSON object instead of the table (with --compare: the comparison as JSON).
    /// Save it to compare runs later or render it again: `kanca bench --json > run.json`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    files: Box<ReportFiles>,
    /// Measure this running Svix-compatible server (e.g. http://127.0.0.1:8071) instead of
    /// spawning Kanca; it must be able to deliver to the receiver's URL. No RSS is reported.
    #[arg(long, value_name = "URL", requires = "token",
          conflicts_with_all = ["database_url", "nodes", "fresh_database", "retry_schedule", "server_env", "server_log"])]
    server: Option<String>,
    /// The API token of --server.
    #[arg(long, value_name = "TOKEN", requires = "server")]
    token: Option<String>,
    /// Run the spawned servers on this PostgreSQL database (postgres://…) instead of SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Create an empty database `kanca_bench_<random>` on --database-url's server for the run
    /// and drop it afterwards, so earlier runs' data does not skew this one.
    #[arg(long, requires = "database_url")]
    fresh_database: bool,
    /// Spawned servers sharing --database-url (one admin token); publishes are spread over
    /// them in turn, and all of them deliver. Measures scale-out.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    nodes: u64,
    /// How long to wait for outstanding deliveries once publishing ends (e.g. 300s, 5m, or
    /// seconds); what has not arrived by then is reported as missing.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    timeout: Duration,
    /// KANCA_RETRY_SCHEDULE of the spawned servers [default: 1s,2s,5s; with --backlog 1s
    /// thirty times then 5s sixty times, so that when the receiver comes back every waiting
    /// delivery is due within about a second and the drain measures the server, not the
    /// schedule].
    #[arg(long, value_name = "LIST")]
    retry_schedule: Option<String>,
    /// Address of the bench's receiver; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    receiver_listen: SocketAddr,
    /// The receiver's base URL as the server must call it (default: http://<receiver
    /// address>); for a --server that reaches this machine by another name.
    #[arg(long, value_name = "URL")]
    receiver_url: Option<String>,
    /// An extra setting for the spawned servers, e.g. KANCA_MAX_IN_FLIGHT=1024 (repeatable;
    /// applied last), to compare settings under the same load.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_env)]
    server_env: Vec<(String, String)>,
    /// Also write every line the spawned servers print to this file.
    #[arg(long, value_name = "FILE")]
    server_log: Option<PathBuf>,
}

/// The flags about report files (boxed: the other commands' arguments are much smaller).
#[derive(Debug, Clone, clap::Args)]
struct ReportFiles {
    /// Also write the run as one self-contained HTML page (inline CSS and SVG charts, no
    /// scripts): settings, headline figures, throughput, latency p50/p99 and server memory
    /// over time, and the latency histogram. Every scenario.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Run nothing: render a report saved with --json into --report's HTML page. The other
    /// flags of a run are ignored.
    #[arg(long, value_name = "FILE.json", requires = "report")]
    render: Option<PathBuf>,
    /// Run nothing: print the headline figures of two reports saved with --json side by side,
    /// with B's change from A (B ÷ A and percent, better or worse); --json prints it as JSON.
    /// The other flags of a run are ignored.
    #[arg(long, num_args = 2, value_names = ["A.json", "B.json"], conflicts_with_all = ["report", "render"])]
    compare: Vec<PathBuf>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let [a, b] = &args.files.compare[..] {
        let comparison = bench::compare(a, b)?;
        if args.json {
            println!("{}", serde_json::to_string(&comparison)?);
        } else {
            print!("{}", comparison.table());
        }
        return Ok(());
    }
    if let Some(saved) = &args.files.render {
        let report = bench::load_report(saved)?;
        let html_path = args
            .files
            .report
            .as_deref()
            .expect("clap requires --report");
        let mut file = create_report_file(html_path)?;
        write_html(&mut file, html_path, &report)?;
        return Ok(());
    }
    // Created now, so a path that cannot be written fails before the run rather than after.
    let html = match &args.files.report {
        Some(path) => Some((create_report_file(path)?, path.clone())),
        None => None,
    };
    let options = args.check()?;
    if options.scenario != Scenario::Send {
        return run_inbound(options, html).await;
    }
    let json = options.json;
    let report = tokio::select! {
        report = bench::run(options) => report?,
        // Dropping the run kills the spawned servers and drops a fresh database.
        () = interrupted() => bail!("interrupted; the spawned servers were stopped"),
    };
    if let Some((mut file, path)) = html {
        write_html(&mut file, &path, &serde_json::to_value(&report)?)?;
    }
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

async fn run_inbound(options: Options, html: Option<(File, PathBuf)>) -> anyhow::Result<()> {
    let json = options.json;
    let report = tokio::select! {
        report = bench::run_inbound(options) => report?,
        () = interrupted() => bail!("interrupted; the spawned servers were stopped"),
    };
    if let Some((mut file, path)) = html {
        write_html(&mut file, &path, &serde_json::to_value(&report)?)?;
    }
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn create_report_file(path: &Path) -> anyhow::Result<File> {
    File::create(path).with_context(|| format!("creating the HTML report {}", path.display()))
}

/// Writes the page; says where on stderr, so that stdout stays the report (or its JSON).
fn write_html(file: &mut File, path: &Path, report: &serde_json::Value) -> anyhow::Result<()> {
    file.write_all(bench::render_html(report).as_bytes())
        .with_context(|| format!("writing the HTML report {}", path.display()))?;
    eprintln!("HTML report written to {}", path.display());
    Ok(())
}

impl BenchArgs {
    fn check(self) -> anyhow::Result<Options> {
        if self.scenario != Scenario::Send {
            let send_only = [
                ("--endpoints", self.endpoints != 1),
                ("--fail-ratio", self.fail_ratio != 0.0),
                ("--baseline", self.baseline),
                ("--backlog", self.backlog),
                ("--receiver-url", self.receiver_url.is_some()),
            ];
            if let Some((flag, _)) = send_only.iter().find(|(_, given)| *given) {
                bail!("{flag} applies to --scenario send only: the receive and inspect scenarios have no receiver");
            }
        }
        if !(0.0..=1.0).contains(&self.fail_ratio) {
            bail!("--fail-ratio must be between 0 and 1");
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            bail!("--rate must be 0 (unlimited) or a positive number of messages per second");
        }
        // The receiver keeps 5 bytes per expected delivery.
        if self.messages.saturating_mul(self.endpoints) > 100_000_000 {
            bail!("--messages × --endpoints must stay within 100 million deliveries");
        }
        if self.nodes > 1 && self.database_url.is_none() {
            bail!("--nodes above 1 needs --database-url postgres://…: SQLite is one node's");
        }
        if self.fresh_database
            && !self
                .database_url
                .as_deref()
                .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            bail!("--fresh-database needs a postgres:// --database-url");
        }
        let retry_schedule = self.retry_schedule.unwrap_or_else(|| {
            if self.backlog {
                let every_second = std::iter::repeat_n("1s", 30);
                let every_five = std::iter::repeat_n("5s", 60);
                every_second.chain(every_five).collect::<Vec<_>>().join(",")
            } else {
                RETRY_SCHEDULE.into()
            }
        });
        let mut server_env = self.server_env;
        if self.scenario == Scenario::IncomingWebhook {
            // Before the user's --server-env, which is applied last and so can override them.
            let hook_rate = bench::HOOK_RATE_ENV.map(|(k, v)| (k.to_owned(), v.to_owned()));
            server_env.splice(0..0, hook_rate);
        }
        Ok(Options {
            scenario: self.scenario,
            messages: self.messages as usize,
            concurrency: self.concurrency as usize,
            payload_bytes: self.payload_bytes,
            endpoints: self.endpoints as usize,
            rate: self.rate,
            fail_ratio: self.fail_ratio,
            baseline: self.baseline,
            backlog: self.backlog,
            json: self.json,
            server: self.server,
            token: self.token,
            database_url: self.database_url,
            fresh_database: self.fresh_database,
            nodes: self.nodes as usize,
            timeout_secs: self.timeout.as_secs_f64(),
            retry_schedule,
            receiver_listen: self.receiver_listen,
            receiver_url: self.receiver_url,
            server_env,
            server_log: self.server_log,
        })
    }
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// `300s`, `5m`, or a plain number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs >= 0.0 && secs.is_finite() => Ok(Duration::from_secs_f64(secs)),
        _ => humantime::parse_duration(s).map_err(|e| e.to_string()),
    }
}

async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn check(args: &[&str]) -> anyhow::Result<Options> {
        let argv = std::iter::once("kanca-bench").chain(args.iter().copied());
        Cli::try_parse_from(argv)?.bench.check()
    }

    #[test]
    fn send_is_the_default_and_keeps_its_server_settings() {
        let options = check(&[]).unwrap();
        assert_eq!(options.scenario, Scenario::Send);
        assert!(options.server_env.is_empty());
        // The default scenario is not reported, so send's JSON is as it was.
        let json = serde_json::to_value(&options).unwrap();
        assert!(json.get("scenario").is_none(), "{json}");
    }

    #[test]
    fn the_incoming_webhook_scenario_lifts_the_hook_rate_limit_unless_told_otherwise() {
        let options = check(&["--scenario", "incoming-webhook"]).unwrap();
        assert_eq!(options.scenario, Scenario::IncomingWebhook);
        let env: Vec<_> = options
            .server_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            env,
            [
                "KANCA_HOOK_RATE_LIMIT=100000",
                "KANCA_HOOK_RATE_BURST=100000"
            ]
        );
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(json["scenario"], "incoming-webhook");

        let options = check(&[
            "--scenario",
            "incoming-webhook",
            "--server-env",
            "KANCA_HOOK_RATE_LIMIT=5",
        ])
        .unwrap();
        // Applied in order, so the user's value comes last and wins.
        assert_eq!(
            options.server_env.last().unwrap(),
            &("KANCA_HOOK_RATE_LIMIT".to_owned(), "5".to_owned())
        );

        let bin = check(&["--scenario", "bin"]).unwrap();
        assert!(bin.server_env.is_empty());
    }

    #[test]
    fn receiver_flags_are_refused_outside_the_send_scenario() {
        for flags in [
            &["--endpoints", "2"][..],
            &["--fail-ratio", "0.1"],
            &["--baseline"],
            &["--backlog"],
            &["--receiver-url", "http://10.0.0.1:9000"],
        ] {
            for scenario in ["bin", "incoming-webhook"] {
                let mut args = vec!["--scenario", scenario];
                args.extend_from_slice(flags);
                let e = check(&args).unwrap_err().to_string();
                assert!(e.contains(flags[0]) && e.contains("send only"), "{e}");
            }
            let mut args = vec!["--scenario", "send"];
            args.extend_from_slice(flags);
            assert!(check(&args).is_ok(), "{flags:?}");
        }
        let e = check(&["--scenario", "bins"]).unwrap_err().to_string();
        assert!(e.contains("invalid value"), "{e}");
    }
}
