//! Standard Webhooks signatures: what is signed verifies, a header from anyone never panics,
//! and a changed body does not verify.
#![no_main]
use kanca::delivery::signing::{sign, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // key | msg id | body, split at the first two 0xff bytes; the header is the whole input.
    let mut parts = data.splitn(3, |b| *b == 0xff);
    let key = parts.next().unwrap_or_default();
    let id = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let ts = i64::from(data.len() as u32) * 7919;
    let header = String::from_utf8_lossy(data);
    let _ = verify(key, &id, ts, body, &header);
    let good = sign(key, &id, ts, body);
    let rotated = format!("v1,bm90IGl0 {good} v2,x");
    assert!(verify(key, &id, ts, body, &rotated));
    let mut other = body.to_vec();
    other.push(b'!');
    assert!(!verify(key, &id, ts, &other, &good));
});
