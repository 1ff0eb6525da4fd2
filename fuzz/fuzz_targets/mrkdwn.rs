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
        // Escaped text may say anything (`<` only ever starts a tag the renderer made); what
        // must never appear is a tag it did not make, or an attribute that runs script.
        for tag in html
            .split('<')
            .skip(1)
            .map(|t| t.split('>').next().unwrap_or_default())
        {
            let tag = tag.to_ascii_lowercase();
            let name = tag
                .trim_start_matches('/')
                .split([' ', '>'])
                .next()
                .unwrap_or_default();
            assert!(
                [
                    "a",
                    "b",
                    "strong",
                    "code",
                    "pre",
                    "span",
                    "em",
                    "i",
                    "s",
                    "del",
                    "br",
                    "blockquote"
                ]
                .contains(&name),
                "a <{name}> tag in {html}"
            );
            // Attribute names only: a URL inside a quoted value may say `style=`.
            let outside_quotes: String = tag.split('"').step_by(2).collect();
            assert!(
                !outside_quotes.contains(" on") && !outside_quotes.contains("style="),
                "<{tag}> in {html}"
            );
            if let Some(href) = tag.split("href=\"").nth(1) {
                assert!(
                    ["http://", "https://", "mailto:"]
                        .iter()
                        .any(|s| href.starts_with(s)),
                    "a link to {href} in {html}"
                );
            }
        }
    }
});
