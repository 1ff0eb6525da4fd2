//! What senders post to an incoming webhook, parsed as leniently as Slack parses it.
//!
//! Real senders are sloppy in well-known ways, and Slack accepts all of them, so Kanca does:
//!
//! - JSON with `application/json`, or a form body `payload=<json>` (old Jenkins, many shell
//!   scripts), or JSON sent with a form content type (`curl -d '{…}'` without `-H`).
//! - Raw newlines and tabs inside JSON strings (Mattermost and Slack both accept them; strict
//!   JSON does not): they are escaped before parsing.
//! - `""` for an override means "not given"; numbers and booleans where strings are
//!   documented are taken as their text; `null` inside `attachments`/`blocks` is skipped.
//! - `attachments`/`blocks` given as a JSON *string* holding the list (form senders do this).
//! - Flags (`mrkdwn`) as booleans, as `"true"`/`"false"`, `"1"`/`"0"` or numbers; a value
//!   that is none of these leaves the flag at its default rather than refusing the post.
//!
//! Attachments and blocks are kept as the sender's JSON text, every field in its order; only
//! their shape and counts are checked.

use crate::domain::text::strip_nul_escapes;
use crate::domain::workspace::Ts;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

use super::post::MAX_TEXT_CHARS;

/// Slack's limits on one message.
pub const MAX_BLOCKS: usize = 50;
pub const MAX_ATTACHMENTS: usize = 100;

/// Why Slack would refuse a payload: the status and the `text/plain` body it answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadError {
    /// Not JSON, or not a JSON object.
    InvalidPayload,
    /// No text, attachments or blocks.
    NoText,
    /// `blocks` is not a list of block objects, or has more than 50.
    InvalidBlocks,
    /// `attachments` is not a list of objects.
    InvalidAttachments,
    TooManyAttachments,
    /// Text over 40,000 characters.
    MsgTooLong,
}

impl PayloadError {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidPayload => "invalid_payload",
            Self::NoText => "no_text",
            Self::InvalidBlocks => "invalid_blocks",
            Self::InvalidAttachments => "invalid_attachments",
            Self::TooManyAttachments => "too_many_attachments",
            Self::MsgTooLong => "msg_too_long",
        }
    }
}

/// A payload that Slack would post.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingPayload {
    pub text: Option<String>,
    /// Slack's `mrkdwn` flag: `false` turns off the formatting of `text`. Default `true`.
    pub mrkdwn: bool,
    /// The attachments JSON list as given.
    pub attachments: Option<String>,
    /// The blocks JSON list as given.
    pub blocks: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    /// `#name`, `name` or `C…`.
    pub channel: Option<String>,
    pub thread_ts: Option<Ts>,
}

/// Parses a request body given its `Content-Type`.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<IncomingPayload, PayloadError> {
    let text = std::str::from_utf8(body).map_err(|_| PayloadError::InvalidPayload)?;
    let is_form = content_type.is_some_and(|ct| {
        ct.trim()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let json: Cow<str> = if is_form && !text.trim_start().starts_with('{') {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(text).map_err(|_| PayloadError::InvalidPayload)?;
        let payload = pairs
            .into_iter()
            .rev()
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v)
            .ok_or(PayloadError::InvalidPayload)?;
        Cow::Owned(payload)
    } else {
        Cow::Borrowed(text)
    };
    parse_json(&json)
}

/// Parses the JSON object itself.
pub fn parse_json(json: &str) -> Result<IncomingPayload, PayloadError> {
    // Raw control characters (a NUL byte included) become escapes, then NUL goes (see
    // `crate::domain::text`): every string below, and the attachments and blocks kept as JSON
    // text, are free of it on both backends.
    let escaped = escape_raw_controls(json);
    let json = strip_nul_escapes(&escaped);
    let fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(&json).map_err(|_| PayloadError::InvalidPayload)?;
    let value = |name: &str| -> Option<Value> {
        fields
            .get(name)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    };
    let text = match value("text") {
        Some(Value::Array(_)) | Some(Value::Object(_)) => return Err(PayloadError::InvalidPayload),
        v => v.and_then(as_text),
    };
    if text
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS)
    {
        return Err(PayloadError::MsgTooLong);
    }
    let blocks = list_field(
        fields.get("blocks").map(|b| &**b),
        PayloadError::InvalidBlocks,
        true,
    )?;
    if blocks.as_ref().is_some_and(|(n, _)| *n > MAX_BLOCKS) {
        return Err(PayloadError::InvalidBlocks);
    }
    let attachments = list_field(
        fields.get("attachments").map(|b| &**b),
        PayloadError::InvalidAttachments,
        false,
    )?;
    if attachments
        .as_ref()
        .is_some_and(|(n, _)| *n > MAX_ATTACHMENTS)
    {
        return Err(PayloadError::TooManyAttachments);
    }
    let blocks = blocks.filter(|(n, _)| *n > 0).map(|(_, raw)| raw);
    let attachments = attachments.filter(|(n, _)| *n > 0).map(|(_, raw)| raw);
    let has_text = text.as_ref().is_some_and(|t| !t.trim().is_empty());
    if !has_text && blocks.is_none() && attachments.is_none() {
        return Err(PayloadError::NoText);
    }
    Ok(IncomingPayload {
        text,
        mrkdwn: value("mrkdwn").and_then(as_flag).unwrap_or(true),
        attachments,
        blocks,
        username: value("username").and_then(as_text),
        icon_emoji: value("icon_emoji").and_then(as_text),
        icon_url: value("icon_url").and_then(as_text),
        channel: value("channel").and_then(as_text),
        thread_ts: value("thread_ts")
            .and_then(as_text)
            .and_then(|t| Ts::parse(&t).ok()),
    })
}

/// A string field as Slack reads it: `""` and `null` are absent, numbers and booleans are
/// their text, anything else is ignored.
fn as_text(v: Value) -> Option<String> {
    match v {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A flag as Slack reads it: a boolean, a number (0 is false) or its text (`"true"`,
/// `"false"`, `"1"`, `"0"`, any case); anything else (`null`, `""`, `"maybe"`) is not given.
fn as_flag(v: Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `attachments` or `blocks`: a list (or a string holding one) of objects, `null`s skipped.
/// Returns how many objects it has and the list's JSON text as given.
fn list_field(
    raw: Option<&RawValue>,
    invalid: PayloadError,
    need_type: bool,
) -> Result<Option<(usize, String)>, PayloadError> {
    let Some(raw) = raw else { return Ok(None) };
    let (value, text): (Value, String) = match serde_json::from_str(raw.get()) {
        Ok(Value::Null) => return Ok(None),
        Ok(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Ok(Value::String(s)) => {
            let inner = strip_nul_escapes(&escape_raw_controls(&s)).into_owned();
            (serde_json::from_str(&inner).map_err(|_| invalid)?, inner)
        }
        Ok(v) => (v, raw.get().to_owned()),
        Err(_) => return Err(invalid),
    };
    let Value::Array(items) = value else {
        return Err(invalid);
    };
    let mut count = 0;
    for item in &items {
        match item {
            Value::Null => {}
            Value::Object(o) => {
                if need_type && !o.get("type").is_some_and(Value::is_string) {
                    return Err(invalid);
                }
                count += 1;
            }
            _ => return Err(invalid),
        }
    }
    Ok(Some((count, text)))
}

/// Escapes control characters (raw newlines, tabs …) that appear *inside* JSON strings, which
/// strict JSON forbids and Slack accepts. Outside strings they are white space and stay.
pub fn escape_raw_controls(json: &str) -> Cow<'_, str> {
    if !json.bytes().any(|b| b < 0x20 && b != b' ') {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
                out.push(c);
                continue;
            }
            match c {
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_newlines_inside_strings_are_accepted() {
        let p = parse_json("{\"text\": \"line one\nline\ttwo\"}\n").unwrap();
        assert_eq!(p.text.as_deref(), Some("line one\nline\ttwo"));
    }

    #[test]
    fn lenient_types_as_slack() {
        let p = parse_json(
            r#"{"text": 42, "username": "", "channel": null, "thread_ts": 1531420618.0002}"#,
        )
        .unwrap();
        assert_eq!(p.text.as_deref(), Some("42"));
        assert_eq!(p.username, None);
        assert_eq!(p.channel, None);
        assert_eq!(p.thread_ts.unwrap().to_string(), "1531420618.000200");
    }

    #[test]
    fn mrkdwn_flag_defaults_to_true_and_reads_lenient_forms() {
        let flag = |extra: &str| {
            parse_json(&format!(r#"{{"text": "t"{extra}}}"#))
                .unwrap()
                .mrkdwn
        };
        assert!(flag(""));
        assert!(!flag(r#", "mrkdwn": false"#));
        assert!(!flag(r#", "mrkdwn": "false""#));
        assert!(!flag(r#", "mrkdwn": "FALSE""#));
        assert!(!flag(r#", "mrkdwn": 0"#));
        assert!(!flag(r#", "mrkdwn": "0""#));
        assert!(flag(r#", "mrkdwn": "true""#));
        assert!(flag(r#", "mrkdwn": 1"#));
        assert!(flag(r#", "mrkdwn": null"#));
        assert!(flag(r#", "mrkdwn": "maybe""#));
    }

    #[test]
    fn refusals() {
        assert_eq!(parse_json("{").unwrap_err(), PayloadError::InvalidPayload);
        assert_eq!(parse_json("[1]").unwrap_err(), PayloadError::InvalidPayload);
        assert_eq!(parse_json("{}").unwrap_err(), PayloadError::NoText);
        assert_eq!(
            parse_json(r#"{"text": "", "attachments": []}"#).unwrap_err(),
            PayloadError::NoText
        );
        assert_eq!(
            parse_json(r#"{"blocks": "nope"}"#).unwrap_err(),
            PayloadError::InvalidBlocks
        );
        assert_eq!(
            parse_json(r#"{"blocks": [1]}"#).unwrap_err(),
            PayloadError::InvalidBlocks
        );
        assert_eq!(
            parse_json(r#"{"blocks": [{"text": "no type"}]}"#).unwrap_err(),
            PayloadError::InvalidBlocks
        );
    }

    #[test]
    fn attachments_are_kept_as_given() {
        let raw = r#"[{"zeta": 1, "alpha": {"b": 2, "a": 1}}, null]"#;
        let p = parse_json(&format!(r#"{{"attachments": {raw}}}"#)).unwrap();
        assert_eq!(p.attachments.as_deref(), Some(raw));
    }

    #[test]
    fn form_payload() {
        let body = "payload=%7B%22text%22%3A+%22hi+there%22%7D";
        let p = parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap();
        assert_eq!(p.text.as_deref(), Some("hi there"));
        let p = parse(
            Some("application/x-www-form-urlencoded"),
            br#"{"text":"curl -d"}"#,
        )
        .unwrap();
        assert_eq!(p.text.as_deref(), Some("curl -d"));
    }

    /// From fuzzing: an escaped backslash followed by `u0000` is text, not a NUL, and stays;
    /// a real `\u0000` escape goes, in attachments too.
    #[test]
    fn only_real_nul_escapes_are_removed() {
        let p = parse_json(r#"{"text":"a\\u0000b\u0000c","attachments":[{"text":"x\u0000y"}]}"#)
            .unwrap();
        assert_eq!(p.text.as_deref(), Some("a\\u0000bc"));
        assert_eq!(p.attachments.as_deref(), Some(r#"[{"text":"xy"}]"#));
    }

    /// From fuzzing (slack_payload_form): `\u00`, raw NULs, `00` must not come out as a NUL.
    #[test]
    fn raw_nul_bytes_next_to_a_broken_escape_leave_no_nul() {
        let body = b"{\"text\":\"l -t\\u00\x00\x00\x0000\x00\x00 2\"}";
        if let Ok(p) = parse(Some("application/x-www-form-urlencoded"), body) {
            assert!(!p.text.unwrap_or_default().contains('\0'));
        }
        let body = b"{\"text\":\"a\x00b\"}";
        let p = parse(Some("application/json"), body).unwrap();
        assert_eq!(p.text.as_deref(), Some("ab"));
    }
}
