//! Slack mrkdwn as the console renders it (anyone can post it through a hook): never a panic,
//! and no markup but what the renderer makes itself.
#![no_main]
use kanca::web::mrkdwn::{plain, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for html in [render(text).into_string(), plain(text).into_string()] {
        // Escaped text may say anything; what must never appear is markup the renderer did
        // not make, or a link to a script.
        let lower = html.to_ascii_lowercase();
        for bad in ["<script", "<img", "<iframe", "href=\"javascript:", "href=\"data:", " onerror="] {
            assert!(!lower.contains(bad), "{bad} in {html}");
        }
    }
});
