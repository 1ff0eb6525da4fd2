//! An incoming-webhook body with a form content type (`payload=<json>`, or JSON sent as a form).
#![no_main]
use kanca::workspace::payload::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse(Some("application/x-www-form-urlencoded"), data) {
        assert!(
            !p.text.as_deref().unwrap_or_default().contains('\0'),
            "NUL kept"
        );
    }
    let _ = parse(Some("application/json"), data);
    let _ = parse(None, data);
});
