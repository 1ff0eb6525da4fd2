//! Slack's objects as its Web API writes them: messages, conversations, users (shared with
//! the Events API and interactivity payloads, [`crate::workspace::slack_json`]), and the
//! opaque cursors of its lists.

pub(super) use crate::workspace::slack_json::{channel, message, user};
use base64::Engine as _;
use serde_json::{json, Value};

/// An opaque cursor, base64 of `kind:value` as Slack's are (`next_ts:…`, `team:…`).
pub(super) fn cursor(kind: &str, value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}:{value}"))
}

/// The value of a cursor of this `kind`; `None` when it is not one.
pub(super) fn cursor_value(kind: &str, cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(kind)?
        .strip_prefix(':')
        .map(str::to_owned)
}

/// `response_metadata` with the next page's cursor, empty on the last page (as Slack sends).
pub(super) fn next_cursor(next: Option<String>) -> Value {
    json!({ "next_cursor": next.unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_kinds() {
        let c = cursor("next_ts", "1512085861000543");
        assert_eq!(c, "bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz");
        assert_eq!(
            cursor_value("next_ts", &c).as_deref(),
            Some("1512085861000543")
        );
        assert_eq!(cursor_value("channel", &c), None);
        assert_eq!(cursor_value("next_ts", "%%%"), None);
    }
}
