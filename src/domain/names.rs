//! Names that users choose: uids, event type names, channel names.
//!
//! They share Svix's alphabet (`a-z A-Z 0-9 - _ .`, channels also `:`) so that they are safe
//! in URLs and logs without escaping, and they have length limits so that a list or an index
//! entry can never grow without bound.

use super::ParseError;

fn check_name(kind: &str, s: &str, max: usize, extra: &[u8]) -> Result<(), ParseError> {
    if s.is_empty() {
        return Err(ParseError::new(format!("{kind} must not be empty")));
    }
    if s.len() > max {
        return Err(ParseError::new(format!(
            "{kind} is longer than {max} characters"
        )));
    }
    let ok = s.bytes().all(|b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || extra.contains(&b)
    });
    if !ok {
        let allowed = if extra.is_empty() { "" } else { ", ':'" };
        return Err(ParseError::new(format!(
            "{kind} `{s}` may only contain letters, digits, '-', '_', '.'{allowed}"
        )));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $extra:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                check_name($kind, s, $max, $extra)?;
                Ok(Self(s.to_owned()))
            }

            /// For values read back from our own database.
            pub(crate) fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A user-chosen unique id for an application or endpoint, usable wherever its id is.
    Uid, "uid", 256, &[]
);
name_type!(
    /// The name of an event type, e.g. `invoice.paid`.
    EventTypeName, "event type name", 256, &[]
);
name_type!(
    /// A channel that messages are tagged with and endpoints may subscribe to.
    ChannelName, "channel", 128, b":"
);

impl Uid {
    /// A uid must not look like a generated id, or `GET /app/{x}` would be ambiguous.
    pub fn parse_for(prefix: &str, s: &str) -> Result<Self, ParseError> {
        if s.starts_with(prefix) {
            return Err(ParseError::new(format!(
                "uid `{s}` must not start with `{prefix}`, which is reserved for generated ids"
            )));
        }
        Self::parse(s)
    }
}

/// A path segment that names a resource either by its generated id or by its uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdOrUid(String);

impl IdOrUid {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_name("id", s, 256, &[])?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdOrUid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_svix_alphabet() {
        assert!(EventTypeName::parse("invoice.paid").is_ok());
        assert!(EventTypeName::parse("invoice paid").is_err());
        assert!(EventTypeName::parse("").is_err());
        assert!(EventTypeName::parse(&"a".repeat(257)).is_err());
        assert!(ChannelName::parse("project:1").is_ok());
        assert!(Uid::parse("project:1").is_err());
    }

    #[test]
    fn uids_cannot_impersonate_ids() {
        assert!(Uid::parse_for("app_", "app_123").is_err());
        assert!(Uid::parse_for("app_", "my-app").is_ok());
    }
}
