//! `kanca bench --scenario incoming-webhook`, `--scenario bin` and `--scenario source` run end
//! to end: the real
//! binary spawns its own `kanca serve`, sets up through the public API, posts, and sees every
//! post on the live stream. Only completeness is checked here; figures are the bench's to
//! report, never a test's to assert.

use crate::common::{self, Backend};
use serde_json::Value;
use std::process::Command;

/// Runs `kanca bench --json` with `args` and returns its report.
fn bench(args: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kanca"));
    command
        .args(["bench", "--json", "--timeout", "120s"])
        .args(args);
    if Backend::of_this_run() == Backend::Postgres {
        let url = common::postgres_url().unwrap();
        command.args(["--database-url", &url, "--fresh-database"]);
    }
    let output = command.output().expect("running kanca bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no JSON report ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn assert_all_seen(report: &Value, scenario: &str) {
    assert_eq!(report["scenario"], scenario, "{report}");
    assert_eq!(report["accepted"], 50, "{report}");
    assert_eq!(report["seen"], 50, "{report}");
    assert_eq!(report["timedOut"], false, "{report}");
    let errors = &report["errors"];
    for count in [
        "missingEvents",
        "duplicateEvents",
        "seenUnaccepted",
        "unexpectedEvents",
    ] {
        assert_eq!(errors[count], 0, "{count}: {report}");
    }
    assert_eq!(errors["postStatus"], serde_json::json!({}), "{report}");
    assert_eq!(errors["postTransport"], serde_json::json!({}), "{report}");
    assert_eq!(report["streamLatencyMs"]["samples"], 50, "{report}");
    assert_eq!(report["acceptLatencyMs"]["samples"], 50, "{report}");
    assert!(report["peakRssBytes"].as_u64().is_some(), "{report}");
    let storage = match Backend::of_this_run() {
        Backend::Postgres => "PostgreSQL, fresh database",
        Backend::Sqlite => "SQLite",
    };
    let target = report["target"].as_str().unwrap();
    assert!(target.contains(storage), "{target}");
}

#[test]
fn bench_sees_every_bin_capture_on_the_live_stream() {
    let report = bench(&[
        "--scenario",
        "bin",
        "--messages",
        "50",
        "--concurrency",
        "8",
    ]);
    assert_all_seen(&report, "bin");
    assert_eq!(report["serverSettings"], serde_json::json!([]), "{report}");
}

#[test]
fn bench_sees_every_signed_source_post_delivered_into_the_bin() {
    let report = bench(&[
        "--scenario",
        "source",
        "--messages",
        "50",
        "--concurrency",
        "8",
    ]);
    // Every post passed GitHub's signature check (a 401 would be a postStatus error), was
    // stored, delivered by the engine and captured by the bin.
    assert_all_seen(&report, "source");
}

#[test]
fn bench_sees_every_incoming_webhook_post_on_the_channel_stream() {
    let report = bench(&[
        "--scenario",
        "incoming-webhook",
        "--messages",
        "50",
        "--concurrency",
        "8",
    ]);
    assert_all_seen(&report, "incoming-webhook");
    // 50 posts at once to one hook pass only because the bench lifted the hook's rate limit,
    // and the report says so.
    assert_eq!(
        report["serverSettings"],
        serde_json::json!([
            "KANCA_HOOK_RATE_LIMIT=100000",
            "KANCA_HOOK_RATE_BURST=100000"
        ]),
        "{report}"
    );
}

#[test]
fn bench_refuses_receiver_flags_outside_the_send_scenario() {
    let output = Command::new(env!("CARGO_BIN_EXE_kanca"))
        .args(["bench", "--scenario", "bin", "--endpoints", "3"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--endpoints applies to --scenario send only"),
        "{stderr}"
    );
}
