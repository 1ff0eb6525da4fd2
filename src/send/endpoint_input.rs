//! What an endpoint may be: the inputs of its create, update, patch, headers and secret
//! rotation, and how each is checked into domain values (the same rules for the API and the
//! console's form).

use super::SendError;
use crate::domain::*;
use std::collections::{BTreeMap, BTreeSet};

/// How many channels one endpoint may subscribe to (Svix's limit).
pub const MAX_CHANNELS: usize = 10;
/// Svix's default grace period for a rotated secret: 24 hours.
pub const ROTATION_GRACE_SECONDS: u32 = 24 * 60 * 60;
/// The longest grace period the SDKs document (`gracePeriodSeconds`, 0 to 7 days).
pub(super) const MAX_ROTATION_GRACE_SECONDS: u32 = 7 * 24 * 60 * 60;

/// An endpoint as a create or a full update gives it, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: String,
    pub description: Option<String>,
    pub throttle_rate: Option<u16>,
    pub uid: Option<String>,
    pub disabled: Option<bool>,
    pub event_types: Option<BTreeSet<String>>,
    pub channels: Option<BTreeSet<String>>,
    pub secret: Option<String>,
    pub metadata: Option<Metadata>,
    /// `None` on a full update keeps the endpoint's headers (they have their own route).
    pub headers: Option<BTreeMap<String, String>>,
}

/// A partial update: absent fields stay as they are, `Some(None)` clears.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatchInput {
    pub url: Option<String>,
    pub description: Option<String>,
    pub throttle_rate: Option<Option<u16>>,
    pub uid: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub event_types: Option<Option<BTreeSet<String>>>,
    pub channels: Option<Option<BTreeSet<String>>>,
    pub metadata: Option<Metadata>,
    /// The whole set of custom headers, replacing the endpoint's (the console's form edits
    /// them with the rest); `None` keeps them. Svix's PATCH has no such field, so the API
    /// never sets it.
    pub headers: Option<BTreeMap<String, String>>,
}

/// A new signing secret: `key`, or a fresh one; the old one keeps signing for the grace
/// period (default [`ROTATION_GRACE_SECONDS`]).
#[derive(Debug, Clone, Default)]
pub struct SecretRotateInput {
    pub key: Option<String>,
    pub grace_period_seconds: Option<u32>,
}

/// Custom headers to set (`None` removes one) and names to remove.
#[derive(Debug, Clone, Default)]
pub struct HeadersInput {
    pub headers: BTreeMap<String, Option<String>>,
    pub delete_headers: Option<Vec<String>>,
}

pub(super) fn parse_uid(uid: &str) -> Result<Uid, SendError> {
    Ok(Uid::parse_for(EndpointId::PREFIX, uid)?)
}

/// Whether `key` could be an endpoint's uid (an upsert by it creates one).
pub(super) fn is_uid(key: &str) -> bool {
    parse_uid(key).is_ok()
}

/// An empty list means "no filter", as in Svix.
pub(super) fn parse_event_types(
    set: Option<BTreeSet<String>>,
) -> Result<Option<BTreeSet<EventTypeName>>, SendError> {
    match set {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => Ok(Some(
            s.iter()
                .map(|t| EventTypeName::parse(t))
                .collect::<Result<_, _>>()?,
        )),
    }
}

/// Custom headers sent with every delivery. Names that would break signing or the HTTP
/// exchange itself (hop-by-hop headers) are refused, and so is anything the delivery
/// engine's client could not send (checked with its own header types). Public so that a form
/// can show the refusal beside its own field before anything is saved.
pub fn parse_headers(
    headers: Option<BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, SendError> {
    const RESERVED: &[&str] = &[
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
    ];
    let mut out = BTreeMap::new();
    for (name, value) in headers.unwrap_or_default() {
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::try_from(lower.as_str()).is_err() {
            return Err(SendError::Validation(format!(
                "`{name}` is not a valid header name"
            )));
        }
        if RESERVED.contains(&lower.as_str())
            || lower.starts_with("webhook-")
            || lower.starts_with("svix-")
        {
            return Err(SendError::Validation(format!(
                "header `{name}` is set by Kanca itself and cannot be overridden"
            )));
        }
        if reqwest::header::HeaderValue::try_from(value.as_str()).is_err() {
            return Err(SendError::Validation(format!(
                "the value of header `{name}` is not valid"
            )));
        }
        out.insert(lower, value);
    }
    Ok(out)
}

impl EndpointInput {
    pub(super) fn parse(
        self,
        allow_private: bool,
    ) -> Result<(EndpointFields, Option<EndpointSecret>), SendError> {
        let fields = EndpointFields {
            uid: self.uid.as_deref().map(parse_uid).transpose()?,
            url: EndpointUrl::parse(&self.url, allow_private)?,
            description: self.description.unwrap_or_default(),
            event_types: parse_event_types(self.event_types)?,
            channels: super::parse_channels(self.channels, MAX_CHANNELS)?,
            disabled: self.disabled.unwrap_or(false),
            throttle_rate: self.throttle_rate,
            metadata: self.metadata.unwrap_or_default(),
            headers: parse_headers(self.headers)?,
        };
        let secret = self
            .secret
            .as_deref()
            .map(EndpointSecret::parse)
            .transpose()?;
        Ok((fields, secret))
    }
}
