//! A Web API call's arguments: the query string, then a form or JSON body over it.
//!
//! Form values are all text; JSON values keep their types (`"limit": 10`, `"blocks": […]`).
//! Readers here take either, as Slack does: a number or a boolean where text is expected is
//! its text, `"true"`/`"1"` is true.

use serde_json::{Map, Value};

#[derive(Debug, Default)]
pub(super) struct Args(Map<String, Value>);

impl Args {
    /// Reads the arguments; `Err` is Slack's error name for a body it cannot read.
    pub(super) fn read(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Self, &'static str> {
        let mut args = Map::new();
        if let Some(query) = query {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(query).map_err(|_| "invalid_arguments")?;
            args.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
        }
        let is_json = content_type.is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
        if is_json {
            if !body.iter().all(u8::is_ascii_whitespace) {
                let fields: Map<String, Value> =
                    serde_json::from_slice(body).map_err(|_| "invalid_json")?;
                args.extend(fields);
            }
        } else if !body.is_empty() {
            let is_form = content_type.is_none_or(|ct| {
                ct.trim()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
            if !is_form {
                return Err("invalid_form_data");
            }
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).map_err(|_| "invalid_form_data")?;
            args.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
        }
        Ok(Self(args))
    }

    /// An argument as text; empty text is not given.
    pub(super) fn str(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// An argument as text, numbers and booleans included.
    pub(super) fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub(super) fn flag(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
            Some(Value::String(s)) => matches!(s.trim(), "true" | "1" | "TRUE" | "True"),
            _ => false,
        }
    }

    /// A page size: `default` when absent or 0, at most `max`; `Err` when it is not a number.
    pub(super) fn limit(&self, default: u32, max: u32) -> Result<u32, ()> {
        match self.text("limit") {
            None => Ok(default),
            Some(s) => match s.trim().parse::<u64>() {
                Ok(0) => Ok(default),
                Ok(n) => Ok(n.min(u64::from(max)) as u32),
                Err(_) => Err(()),
            },
        }
    }

    /// Every argument as one JSON object (what a message's payload parser reads).
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("JSON values serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_form_and_json_merge_with_the_body_winning() {
        let args = Args::read(
            Some("channel=C1&limit=5"),
            Some("application/x-www-form-urlencoded"),
            b"limit=7&text=hi%20there",
        )
        .unwrap();
        assert_eq!(args.str("channel"), Some("C1"));
        assert_eq!(args.limit(100, 1000), Ok(7));
        assert_eq!(args.str("text"), Some("hi there"));
        let args = Args::read(
            None,
            Some("application/json; charset=utf-8"),
            br#"{"limit": 2000, "inclusive": true, "blocks": []}"#,
        )
        .unwrap();
        assert_eq!(args.limit(100, 1000), Ok(1000));
        assert!(args.flag("inclusive"));
        assert_eq!(args.text("limit").as_deref(), Some("2000"));
    }

    #[test]
    fn unreadable_bodies_get_slacks_names() {
        let json = Some("application/json");
        assert_eq!(
            Args::read(None, json, b"{nope").unwrap_err(),
            "invalid_json"
        );
        assert_eq!(Args::read(None, json, b"[1]").unwrap_err(), "invalid_json");
        let multipart = Some("multipart/form-data; boundary=x");
        assert_eq!(
            Args::read(None, multipart, b"--x").unwrap_err(),
            "invalid_form_data"
        );
        assert!(Args::read(None, json, b"").is_ok());
    }
}
