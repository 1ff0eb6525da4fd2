//! The event type a source's request is published under in an application (a Kanca
//! extension: a source with `publishToApp` also publishes what it accepts into that
//! application, so the application's endpoints and its portal see provider events as their
//! own event types).
//!
//! The type is the provider's own name for the event, under the source type's prefix:
//! `github.push` (`X-GitHub-Event`), `stripe.invoice.paid` (the event's `type`),
//! `shopify.orders.create` (`X-Shopify-Topic`, `/` read as `.`), `slack.app_mention` (the
//! Events API's inner `event.type`), `clerk.user.created` (Standard Webhooks payloads'
//! `type`). What names no event (a generic webhook, a body without a type) is
//! `{prefix}.webhook`; a cron source's tick is `cron.tick`. Characters outside event type
//! names' alphabet become `_`, so a provider can never make a name the catalog refuses.

use crate::domain::sources::SourceKind;
use crate::domain::EventTypeName;
use http::HeaderMap;

/// Longest provider part kept; event type names may be 256 characters.
const MAX_PROVIDER_PART: usize = 200;

/// The event type of a request the source `kind` accepted.
pub fn event_type_of(kind: &SourceKind, headers: &HeaderMap, body: &[u8]) -> EventTypeName {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let json = || serde_json::from_slice::<serde_json::Value>(body).ok();
    let json_type = |path: &[&str]| {
        let v = json()?;
        let mut cur = &v;
        for key in path {
            cur = cur.get(*key)?;
        }
        cur.as_str().map(str::to_owned)
    };
    let (prefix, provider): (&str, Option<String>) = match kind {
        SourceKind::GenericWebhook => ("generic", None),
        SourceKind::Cron(_) => ("cron", Some("tick".to_owned())),
        SourceKind::Github(_) => ("github", header("x-github-event").map(str::to_owned)),
        SourceKind::Stripe(_) => ("stripe", json_type(&["type"])),
        SourceKind::Shopify(_) => (
            "shopify",
            header("x-shopify-topic").map(|t| t.replace('/', ".")),
        ),
        SourceKind::Slack(_) => (
            "slack",
            json_type(&["event", "type"]).or_else(|| json_type(&["type"])),
        ),
        SourceKind::StandardWebhooks { type_name, .. } => (type_name, json_type(&["type"])),
    };
    let part = provider
        .map(|p| sanitize(&p))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "webhook".to_owned());
    EventTypeName::parse(&format!("{prefix}.{part}"))
        .unwrap_or_else(|_| EventTypeName::parse(&format!("{prefix}.webhook")).expect("static"))
}

/// `s` in event type names' alphabet, cut to [`MAX_PROVIDER_PART`] bytes.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .take(MAX_PROVIDER_PART)
        .collect::<String>()
        .trim_matches('.')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(t: &str) -> SourceKind {
        let config = match t {
            "svix" | "clerk" => json!({ "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
            _ => json!({ "secret": "s3cret" }),
        };
        SourceKind::parse(t, Some(&config)).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn each_provider_names_its_event() {
        let none = HeaderMap::new();
        let cases = [
            (
                kind("github"),
                headers(&[("x-github-event", "push")]),
                &b"{}"[..],
                "github.push",
            ),
            (
                kind("stripe"),
                none.clone(),
                br#"{"id":"evt_1","type":"invoice.paid"}"#,
                "stripe.invoice.paid",
            ),
            (
                kind("shopify"),
                headers(&[("x-shopify-topic", "orders/create")]),
                b"{}",
                "shopify.orders.create",
            ),
            (
                kind("slack"),
                none.clone(),
                br#"{"type":"event_callback","event":{"type":"app_mention"}}"#,
                "slack.app_mention",
            ),
            (
                kind("clerk"),
                none.clone(),
                br#"{"type":"user.created"}"#,
                "clerk.user.created",
            ),
            (
                SourceKind::GenericWebhook,
                none.clone(),
                b"anything",
                "generic.webhook",
            ),
        ];
        for (kind, headers, body, want) in cases {
            assert_eq!(event_type_of(&kind, &headers, body).as_str(), want);
        }
    }

    #[test]
    fn what_a_provider_sends_cannot_make_a_bad_name() {
        let h = headers(&[("x-github-event", "pu sh/x")]);
        assert_eq!(
            event_type_of(&kind("github"), &h, b"").as_str(),
            "github.pu_sh_x"
        );
        let h = headers(&[("x-github-event", "...")]);
        assert_eq!(
            event_type_of(&kind("github"), &h, b"").as_str(),
            "github.webhook"
        );
        let long = "a".repeat(1000);
        let body = serde_json::to_vec(&json!({ "type": long })).unwrap();
        let name = event_type_of(&kind("stripe"), &HeaderMap::new(), &body);
        assert!(name.as_str().len() <= 256);
        assert_eq!(
            event_type_of(&kind("stripe"), &HeaderMap::new(), b"not json").as_str(),
            "stripe.webhook"
        );
    }
}
