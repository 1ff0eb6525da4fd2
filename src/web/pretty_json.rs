//! JSON indented for reading, keeping the sender's key order and number spelling.
//!
//! `serde_json::Value` (without its `preserve_order` feature, which would change every map in
//! the crate) sorts keys and rewrites numbers, but a request inspector must show what was
//! sent. So the text is re-indented as it is: after checking that it is JSON at all, one pass
//! over its characters adds line breaks and indentation outside strings and drops the
//! insignificant whitespace; strings are copied byte for byte.

/// `text` indented by two spaces per level, or `None` when it is not JSON.
pub fn pretty(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on one line.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|n| *n == '}' || *n == ']') {
                    out.push(chars.next().unwrap_or_default());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn keeps_order_numbers_and_strings() {
        assert_eq!(
            pretty(r#"{"z":1.50,"a":[1, 2,{}],"s":"a, {b}: \"c\"","e":[ ]}"#).unwrap(),
            "{\n  \"z\": 1.50,\n  \"a\": [\n    1,\n    2,\n    {}\n  ],\n  \"s\": \"a, {b}: \\\"c\\\"\",\n  \"e\": []\n}"
        );
        assert_eq!(pretty(" 42 ").unwrap(), "42");
        assert_eq!(pretty("not json"), None);
        assert_eq!(pretty(r#"{"a":1"#), None);
    }
}
