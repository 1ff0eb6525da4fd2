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
        // `Value` refuses numbers it cannot hold (`1e999`) that JSON allows; compare when it can.
        let b = serde_json::from_str::<serde_json::Value>(&out);
        if let Ok(a) = serde_json::from_str::<serde_json::Value>(text) {
            assert_eq!(a, b.expect("the output is JSON when the input is"));
        }
    }
});
