//! Prefixed, time-ordered identifiers (`app_…`, `ep_…`, `msg_…`, `atmpt_…`).
//!
//! Ids are KSUIDs with millisecond precision, the same scheme Svix uses, so they sort by
//! creation time: lists page by id and "newest first" is an index scan. The prefix is part of
//! the type, so a message id can never be passed where an endpoint id is expected.

use super::ParseError;
use svix_ksuid::{KsuidLike, KsuidMs};

/// A KSUID's random part, from the thread's CSPRNG (seeded and reseeded from the OS).
/// Left to itself, `svix_ksuid` makes a `getrandom` system call for every id, and a delivery
/// at full speed makes ids for its message and its attempt.
fn random_part() -> [u8; KsuidMs::PAYLOAD_BYTES] {
    let mut part = [0u8; KsuidMs::PAYLOAD_BYTES];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut part);
    part
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id ordered after every id generated earlier (to 1/256 of a second).
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, KsuidMs::new(None, Some(&random_part()))))
            }

            /// Accepts a string that has this type's prefix followed by a KSUID.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                match s.strip_prefix($prefix) {
                    Some(rest) if rest.len() == 27 && rest.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                        Ok(Self(s.to_owned()))
                    }
                    _ => Err(ParseError::new(format!("`{s}` is not a valid {} id", $prefix.trim_end_matches('_')))),
                }
            }

            /// For values read back from our own database, which only ever holds valid ids.
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

prefixed_id!(
    /// An application: the tenant that owns endpoints and messages.
    AppId, "app_"
);
prefixed_id!(
    /// An endpoint: a URL subscribed to some of an application's messages.
    EndpointId, "ep_"
);
prefixed_id!(
    /// A message: one published event, fanned out to endpoints.
    MessageId, "msg_"
);
prefixed_id!(
    /// One HTTP request made (or refused) while delivering a message to an endpoint.
    AttemptId, "atmpt_"
);
prefixed_id!(
    /// A task Svix runs in the background (recover, replay, purge); Kanca does the work
    /// before answering and keeps the record for `GET /api/v1/background-task`.
    TaskId, "qtask_"
);
prefixed_id!(
    /// An application-scoped token issued by `app-portal-access`: the public handle an admin
    /// sees and ends it by; the token itself is never stored.
    AppTokenId, "apptok_"
);
prefixed_id!(
    /// A source (Svix's Ingest API): one URL that a provider posts its webhooks to.
    SourceId, "src_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_and_sort_by_time() {
        let a = MessageId::generate();
        // KsuidMs orders to 1/256 s; ids within one tick are in random order.
        std::thread::sleep(std::time::Duration::from_millis(10));
        let b = MessageId::generate();
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(MessageId::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn generated_ids_do_not_repeat() {
        let ids: std::collections::HashSet<_> =
            (0..10_000).map(|_| AttemptId::generate()).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn wrong_prefix_is_refused() {
        let a = AppId::generate();
        assert!(EndpointId::parse(a.as_str()).is_err());
        assert!(AppId::parse("app_short").is_err());
    }
}
