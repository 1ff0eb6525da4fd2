//! Each provider's signature scheme, exactly as the provider documents it, and the id it
//! gives each delivery (what a retry of the same webhook repeats, so duplicates can be told).
//!
//! Every comparison of a signature is constant-time (`Mac::verify_slice`, or `subtle` inside
//! [`crate::delivery::signing::verify`]). Schemes that sign a timestamp refuse one more than
//! [`TOLERANCE_SECS`] away from now in either direction, so a captured request cannot be
//! replayed later; GitHub and Shopify sign no timestamp, and their replays are caught by the
//! delivery id instead.

use crate::delivery::signing;
use crate::domain::sources::SourceKind;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

/// How far a signed timestamp may be from now (Stripe's, Slack's and Standard Webhooks'
/// default: five minutes).
pub const TOLERANCE_SECS: i64 = 300;

/// A request that passed its source's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The provider's id of this delivery, when its scheme has one.
    pub dedupe_id: Option<String>,
}

/// Why a request was refused: short, safe to answer and to log (it never holds a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

fn reject(why: &str) -> Rejected {
    Rejected(why.to_owned())
}

/// Checks `body` and `headers` against the source's scheme at `now` (seconds since the epoch).
pub fn verify(
    kind: &SourceKind,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Verified, Rejected> {
    match kind {
        SourceKind::GenericWebhook => Ok(Verified { dedupe_id: None }),
        // Kanca is the only sender of a cron source's webhooks.
        SourceKind::Cron(_) => Err(reject(
            "a cron source takes no requests: Kanca sends its payload on the schedule",
        )),
        SourceKind::Github(secret) => {
            let sig = header(headers, "x-hub-signature-256")
                .ok_or_else(|| reject("missing X-Hub-Signature-256"))?;
            let hex_sig = sig
                .strip_prefix("sha256=")
                .ok_or_else(|| reject("X-Hub-Signature-256 must start with sha256="))?;
            let given = hex::decode(hex_sig).map_err(|_| reject("malformed signature"))?;
            hmac(secret.expose().as_bytes(), &[body])
                .verify_slice(&given)
                .map_err(|_| reject("signature does not match"))?;
            Ok(Verified {
                dedupe_id: header(headers, "x-github-delivery").map(str::to_owned),
            })
        }
        SourceKind::Stripe(secret) => {
            let sig = header(headers, "stripe-signature")
                .ok_or_else(|| reject("missing Stripe-Signature"))?;
            let mut t = None;
            let mut v1 = Vec::new();
            for part in sig.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", v)) => t = v.parse::<i64>().ok(),
                    Some(("v1", v)) => v1.push(v),
                    _ => {}
                }
            }
            let t = t.ok_or_else(|| reject("Stripe-Signature has no timestamp"))?;
            if v1.is_empty() {
                return Err(reject("Stripe-Signature has no v1 signature"));
            }
            check_timestamp(t, now)?;
            let t_text = t.to_string();
            let mac = hmac(secret.expose().as_bytes(), &[t_text.as_bytes(), b".", body]);
            // Any v1 may match (Stripe sends two while a secret is being rolled).
            let matched = v1.iter().fold(false, |found, candidate| {
                let ok = hex::decode(candidate)
                    .map(|given| mac.clone().verify_slice(&given).is_ok())
                    .unwrap_or(false);
                found | ok
            });
            if !matched {
                return Err(reject("signature does not match"));
            }
            Ok(Verified {
                dedupe_id: json_field(body, &["id"]),
            })
        }
        SourceKind::Slack(secret) => {
            let ts_text = header(headers, "x-slack-request-timestamp")
                .ok_or_else(|| reject("missing X-Slack-Request-Timestamp"))?;
            let ts: i64 = ts_text
                .parse()
                .map_err(|_| reject("malformed X-Slack-Request-Timestamp"))?;
            let sig = header(headers, "x-slack-signature")
                .ok_or_else(|| reject("missing X-Slack-Signature"))?;
            let hex_sig = sig
                .strip_prefix("v0=")
                .ok_or_else(|| reject("X-Slack-Signature must start with v0="))?;
            check_timestamp(ts, now)?;
            let given = hex::decode(hex_sig).map_err(|_| reject("malformed signature"))?;
            hmac(
                secret.expose().as_bytes(),
                &[b"v0:", ts_text.as_bytes(), b":", body],
            )
            .verify_slice(&given)
            .map_err(|_| reject("signature does not match"))?;
            Ok(Verified {
                dedupe_id: json_field(body, &["event_id"]),
            })
        }
        SourceKind::Shopify(secret) => {
            let sig = header(headers, "x-shopify-hmac-sha256")
                .ok_or_else(|| reject("missing X-Shopify-Hmac-Sha256"))?;
            let given = STANDARD
                .decode(sig)
                .map_err(|_| reject("malformed signature"))?;
            hmac(secret.expose().as_bytes(), &[body])
                .verify_slice(&given)
                .map_err(|_| reject("signature does not match"))?;
            Ok(Verified {
                dedupe_id: header(headers, "x-shopify-webhook-id").map(str::to_owned),
            })
        }
        SourceKind::StandardWebhooks { key, .. } => {
            let pick = |name: &str| {
                header(headers, &format!("webhook-{name}"))
                    .or_else(|| header(headers, &format!("svix-{name}")))
            };
            let id = pick("id").ok_or_else(|| reject("missing webhook-id"))?;
            let ts: i64 = pick("timestamp")
                .ok_or_else(|| reject("missing webhook-timestamp"))?
                .parse()
                .map_err(|_| reject("malformed webhook-timestamp"))?;
            let sig = pick("signature").ok_or_else(|| reject("missing webhook-signature"))?;
            check_timestamp(ts, now)?;
            if !signing::verify(key, id, ts, body, sig) {
                return Err(reject("signature does not match"));
            }
            Ok(Verified {
                dedupe_id: Some(id.to_owned()),
            })
        }
    }
}

fn check_timestamp(ts: i64, now: i64) -> Result<(), Rejected> {
    if ts < now - TOLERANCE_SECS {
        return Err(reject("timestamp too old (replayed or delayed request)"));
    }
    if ts > now + TOLERANCE_SECS {
        return Err(reject("timestamp too far in the future"));
    }
    Ok(())
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A string (or number) field at `path` in a JSON body; `None` for bodies that are not JSON.
fn json_field(body: &[u8], path: &[&str]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut cur = &v;
    for key in path {
        cur = cur.get(key)?;
    }
    match cur {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn kind(t: &str, secret: &str) -> SourceKind {
        SourceKind::parse(t, Some(&serde_json::json!({ "secret": secret }))).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// GitHub's published example (DESIGN.md; docs.github.com "Validating webhook
    /// deliveries").
    #[test]
    fn github_vector() {
        let k = kind("github", "It's a Secret to Everybody");
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let h = headers(&[
            ("x-hub-signature-256", sig),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ]);
        let v = verify(&k, &h, b"Hello, World!", 0).unwrap();
        assert_eq!(
            v.dedupe_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert!(verify(&k, &h, b"Hello, World?", 0).is_err());
        let wrong = kind("github", "another secret");
        assert!(verify(&wrong, &h, b"Hello, World!", 0).is_err());
        assert!(verify(&k, &HeaderMap::new(), b"Hello, World!", 0).is_err());
    }

    /// Stripe: hex(HMAC-SHA256(the whole `whsec_…` string, "<t>.<body>")), computed here
    /// independently with the formula from Stripe's docs; any v1 may match; 300 s tolerance.
    #[test]
    fn stripe_scheme() {
        let secret = "whsec_test_secret";
        let k = kind("stripe", secret);
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let t = 1_700_000_000;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let good = hex::encode(mac.finalize().into_bytes());
        let h = headers(&[(
            "stripe-signature",
            &format!("t={t},v1={},v1={good},v0=abc", "00".repeat(32)),
        )]);
        let v = verify(&k, &h, body, t + 10).unwrap();
        assert_eq!(v.dedupe_id.as_deref(), Some("evt_1"));
        assert_eq!(
            verify(&k, &h, body, t + 301).unwrap_err().0,
            "timestamp too old (replayed or delayed request)"
        );
        assert!(verify(&k, &h, b"{}", t).is_err());
        let no_v1 = headers(&[("stripe-signature", &format!("t={t}"))]);
        assert!(verify(&k, &no_v1, body, t).is_err());
    }

    /// Slack's published vector (DESIGN.md; api.slack.com "Verifying requests from Slack").
    #[test]
    fn slack_vector() {
        let k = kind("slack", "8f742231b10e8888abcd99yyyzzz85a5");
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let h = headers(&[
            ("x-slack-request-timestamp", "1531420618"),
            (
                "x-slack-signature",
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
        ]);
        let v = verify(&k, &h, body.as_bytes(), 1531420618 + 60).unwrap();
        assert_eq!(v.dedupe_id, None);
        assert!(verify(&k, &h, body.as_bytes(), 1531420618 + 301).is_err());
        assert!(verify(&k, &h, b"token=changed", 1531420618).is_err());
    }

    /// Shopify: base64(HMAC-SHA256(secret, body)), computed independently here.
    #[test]
    fn shopify_scheme() {
        let k = kind("shopify", "shpss_secret");
        let body = br#"{"id":820982911946154508}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"shpss_secret").unwrap();
        mac.update(body);
        let good = STANDARD.encode(mac.finalize().into_bytes());
        let h = headers(&[
            ("x-shopify-hmac-sha256", &good),
            (
                "x-shopify-webhook-id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
        ]);
        let v = verify(&k, &h, body, 0).unwrap();
        assert_eq!(
            v.dedupe_id.as_deref(),
            Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        );
        assert!(verify(&k, &h, b"{}", 0).is_err());
        let bad = headers(&[("x-shopify-hmac-sha256", "not base64!")]);
        assert!(verify(&k, &bad, body, 0).is_err());
    }

    /// Standard Webhooks' published vector (DESIGN.md), under both header families.
    #[test]
    fn standard_webhooks_vector() {
        let k = kind("clerk", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        for family in ["webhook", "svix"] {
            let mut h = HeaderMap::new();
            let name = |s: &str| http::HeaderName::try_from(format!("{family}-{s}")).unwrap();
            h.insert(name("id"), "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap());
            h.insert(name("timestamp"), "1614265330".parse().unwrap());
            h.insert(
                name("signature"),
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
                    .parse()
                    .unwrap(),
            );
            let v = verify(&k, &h, body, 1614265330).unwrap();
            assert_eq!(v.dedupe_id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
            assert!(verify(&k, &h, body, 1614265330 + 301).is_err());
            assert!(verify(&k, &h, body, 1614265330 - 301).is_err());
            assert!(verify(&k, &h, b"{}", 1614265330).is_err());
        }
    }

    #[test]
    fn generic_webhooks_take_anything() {
        assert!(verify(&SourceKind::GenericWebhook, &HeaderMap::new(), b"x", 0).is_ok());
    }
}
