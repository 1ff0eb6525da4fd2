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
                assert!(!field.as_deref().unwrap_or_default().contains('\0'), "NUL kept");
            }
            let has_text = p.text.as_deref().is_some_and(|t| !t.trim().is_empty());
            assert!(has_text || p.attachments.is_some() || p.blocks.is_some());
            for list in [&p.attachments, &p.blocks].into_iter().flatten() {
                assert!(!list.contains("\\u0000"), "NUL kept in {list}");
            }
        }
        Err(PayloadError::MsgTooLong | PayloadError::NoText) => {}
        Err(_) => {}
    }
});
