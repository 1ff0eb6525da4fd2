//! A captured request, whatever it held, as the API shows it (JSON, base64 for binary bodies)
//! and as a `curl` command: never a panic, the JSON always serialises, the body survives.
#![no_main]
use kanca::domain::bins::{BinId, Capture, CaptureId};
use kanca::inspect::capture::CaptureJson;
use kanca::inspect::export::curl_command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // method | path | query | header name | header value | body, split at 0xff bytes.
    let mut parts = data.splitn(6, |b| *b == 0xff);
    let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (method, path, query, name, value) = (text(), text(), text(), text(), text());
    let body = parts.next().unwrap_or_default().to_vec();
    let capture = Capture {
        id: CaptureId::from_seq(data.len() as i64),
        bin_id: BinId::generate(),
        method,
        path,
        query,
        headers: vec![(name, value)],
        body: body.clone(),
        remote_addr: "192.0.2.1:4242".into(),
        received_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
    };
    let curl = curl_command(&capture, "http://127.0.0.1:8080/b/bin_x");
    // A binary body is piped in from `base64 -d`, so `curl` need not come first.
    assert!(curl.contains("curl "), "{curl}");
    let json = CaptureJson::from(capture);
    let text = serde_json::to_string(&json).expect("a capture always serialises");
    let back: serde_json::Value = serde_json::from_str(&text).expect("and reads back");
    assert_eq!(back["size"], body.len());
});
