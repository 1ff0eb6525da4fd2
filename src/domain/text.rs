//! Text as it enters Kanca: what becomes of U+0000 (NUL), and how deep JSON may nest.
//!
//! **NUL is removed.** PostgreSQL's `text` cannot hold U+0000 while SQLite's can, so the same
//! post used to be stored on one backend and answered 500 on the other. Slack accepts such
//! posts, so refusing them would break senders that work with Slack; removing the character
//! is what a reader sees anyway (it prints as nothing). It is decided here, once, and applied
//! where text comes in: API bodies ([`strip_nul_escapes`] on the JSON text, except a message's
//! `payload`, which is delivered byte for byte and stored as JSON text, where `\u0000` is six
//! ordinary characters), incoming-webhook posts (JSON and form), outgoing-webhook replies, and
//! console forms ([`strip_nul`]).
//!
//! **JSON nests at most [`MAX_JSON_DEPTH`] levels**, the limit of `serde_json` (and near that
//! of most SDKs): a payload stored deeper could not be read back by the clients that list it.

use std::borrow::Cow;

/// The deepest nesting of arrays and objects accepted in a JSON body.
pub const MAX_JSON_DEPTH: usize = 128;

/// `s` without U+0000.
pub fn strip_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', ""))
    } else {
        Cow::Borrowed(s)
    }
}

/// JSON text without the escape `\u0000` in its strings (raw NUL bytes are not valid JSON and
/// are left for the parser to refuse). An escaped backslash followed by `u0000` is text, and
/// stays.
///
/// Escapes are read as whole units (`\uXXXX` is six characters, whatever they are), so
/// removing one can never join what is around it into a new `\u0000`: fuzzing found
/// `\u00` + NUL + `00`, which a plain search-and-remove turned into a NUL.
pub fn strip_nul_escapes(json: &str) -> Cow<'_, str> {
    const ESCAPE: &str = "\\u0000";
    if !json.contains(ESCAPE) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix(ESCAPE) {
            rest = after;
            continue;
        }
        // A backslash and what it escapes (`u` and four more characters for `\u`), copied as
        // they are.
        let mut chars = tail.char_indices().skip(1);
        let unit = match chars.next() {
            Some((_, 'u')) => 6,
            Some(_) => 2,
            None => 1,
        };
        let end = tail.char_indices().nth(unit).map_or(tail.len(), |(i, _)| i);
        out.push_str(&tail[..end]);
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// How deeply `json` nests arrays and objects (0 for a scalar), counted on the text without
/// parsing it, so a body nested 100,000 deep costs one pass and no recursion. Brackets inside
/// strings do not count.
pub fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_removed_and_escaped_backslashes_kept() {
        assert_eq!(strip_nul_escapes(r#"{"a":"x\u0000y"}"#), r#"{"a":"xy"}"#);
        assert_eq!(
            strip_nul_escapes(r#"{"a":"x\\u0000y"}"#),
            r#"{"a":"x\\u0000y"}"#
        );
        assert_eq!(strip_nul_escapes(r#"{"a":"\\\u0000"}"#), r#"{"a":"\\"}"#);
        assert_eq!(
            strip_nul_escapes(r#"{"é":"\u00e9\u0000"}"#),
            r#"{"é":"\u00e9"}"#
        );
        assert_eq!(strip_nul_escapes("\\"), "\\");
        // From fuzzing: removing an escape must not make one out of its neighbours.
        assert_eq!(strip_nul_escapes(r#""\u00\u000000""#), r#""\u00\u000000""#);
        assert_eq!(strip_nul_escapes(r#""\u0\u00000""#), r#""\u0\u00000""#);
        assert_eq!(strip_nul_escapes(r#""a\u0000\u0000b\u"#), r#""ab\u"#);
        assert_eq!(strip_nul("a\0b\0"), "ab");
    }

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert_eq!(json_depth(b"1"), 0);
        assert_eq!(json_depth(br#"{"a":[1,{"b":"[[[["}]}"#), 3);
        assert_eq!(json_depth(br#"["\"[[", []]"#), 2);
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(json_depth(deep.as_bytes()), 100_000);
    }
}
