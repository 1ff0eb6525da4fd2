//! Slack's `v0=` request signatures: signed verifies, forged or changed does not, nothing panics.
#![no_main]
use kanca::workspace::callback::{slack_signature, verify_slack_signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (secret, body) = data.split_at(data.len().min(data.first().copied().unwrap_or(0) as usize));
    let ts = 1_531_420_618 + data.len() as i64;
    let header = String::from_utf8_lossy(body);
    let _ = verify_slack_signature(secret, ts, body, &header);
    let good = slack_signature(secret, ts, body);
    assert!(verify_slack_signature(secret, ts, body, &good));
    assert!(!verify_slack_signature(secret, ts + 1, body, &good));
});
