//! The budgeted JSON pretty-printer: never a panic, never past its budget, and what it indents
//! is the same JSON.
#![no_main]
use kanca::web::pretty_json::{pretty_within, Budget};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let budget = Budget {
        max_depth: 16,
        max_bytes: 4 * text.len() + 64,
    };
    if let Ok(out) = pretty_within(text, budget) {
        assert!(out.len() <= budget.max_bytes);
        let a: serde_json::Value = serde_json::from_str(text).expect("input was JSON");
        let b: serde_json::Value = serde_json::from_str(&out).expect("output is JSON");
        assert_eq!(a, b);
    }
});
