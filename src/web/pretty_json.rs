//! JSON indented for reading, keeping the sender's key order and number spelling.
//!
//! `serde_json::Value` (without its `preserve_order` feature, which would change every map in
//! the crate) sorts keys and rewrites numbers, but a request inspector must show what was
//! sent. So the text is re-indented as it is: after checking that it is JSON at all, one pass
//! over its characters adds line breaks and indentation outside strings and drops the
//! insignificant whitespace; strings are copied byte for byte.
//!
//! Indenting amplifies: each line gets two spaces per level, so 1 MiB nested 126 deep became
//! a 134 MB page. [`pretty_within`] works to a [`Budget`] (depth and output size) and gives up
//! as soon as it is spent, never holding more than the budget; the caller then shows the raw
//! body instead.

/// How far pretty-printing may go.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Deepest nesting that is indented.
    pub max_depth: usize,
    /// Largest indented text, in bytes.
    pub max_bytes: usize,
}

impl Budget {
    /// What the console's pages use: 32 levels (64 spaces of indent) and 512 KiB.
    pub const PAGE: Budget = Budget {
        max_depth: 32,
        max_bytes: 512 * 1024,
    };
}

/// Why a text was not indented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPretty {
    NotJson,
    /// Deeper or larger than the budget.
    OverBudget,
}

/// `text` indented by two spaces per level, within `budget`.
pub fn pretty_within(text: &str, budget: Budget) -> Result<String, NotPretty> {
    if crate::domain::text::json_depth(text.as_bytes()) > budget.max_depth {
        return Err(NotPretty::OverBudget);
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| NotPretty::NotJson)?;
    let mut out = String::with_capacity(text.len().min(budget.max_bytes) + 64);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if out.len() > budget.max_bytes {
            return Err(NotPretty::OverBudget);
        }
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
    if out.len() > budget.max_bytes {
        return Err(NotPretty::OverBudget);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(text: &str) -> Option<String> {
        let unbounded = Budget {
            max_depth: usize::MAX,
            max_bytes: usize::MAX,
        };
        pretty_within(text, unbounded).ok()
    }

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

    #[test]
    fn gives_up_past_its_budget() {
        let budget = Budget {
            max_depth: 3,
            max_bytes: 64,
        };
        assert!(pretty_within("[[[1]]]", budget).is_ok());
        assert_eq!(
            pretty_within("[[[[1]]]]", budget),
            Err(NotPretty::OverBudget)
        );
        let long = format!("[{}]", vec!["1"; 100].join(","));
        assert_eq!(pretty_within(&long, budget), Err(NotPretty::OverBudget));
        assert_eq!(pretty_within("nope", budget), Err(NotPretty::NotJson));
    }

    /// From fuzzing: numbers `serde_json::Value` cannot hold are still JSON, indented as sent.
    #[test]
    fn huge_numbers_are_kept_as_written() {
        assert_eq!(
            pretty("[1e999,-1e999]").unwrap(),
            "[\n  1e999,\n  -1e999\n]"
        );
    }
}
