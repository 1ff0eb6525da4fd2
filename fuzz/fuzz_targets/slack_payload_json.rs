//! An incoming-webhook JSON body: never a panic, and what is accepted is what Slack would post.
#![no_main]
use kanca::workspace::payload::{parse_json, PayloadError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_json(text) {
        Ok(p) => {
            for field in [&p.text, &p.username, &p.icon_url, &p.icon_emoji, &p.channel] {
                assert!(
                    !field.as_deref().unwrap_or_default().contains('\0'),
                    "NUL kept"
                );
            }
            let has_text = p.text.as_deref().is_some_and(|t| !t.trim().is_empty());
            assert!(has_text || p.attachments.is_some() || p.blocks.is_some());
            // Kept as JSON text: no string in it may decode to a NUL (an escaped backslash
            // followed by `u0000` is text, and fine).
            for list in [&p.attachments, &p.blocks].into_iter().flatten() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(list) {
                    assert!(!holds_nul(&v), "NUL kept in {list}");
                }
            }
        }
        Err(PayloadError::MsgTooLong | PayloadError::NoText) => {}
        Err(_) => {}
    }
});

fn holds_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}
