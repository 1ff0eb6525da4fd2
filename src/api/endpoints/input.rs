//! What the endpoint routes accept and answer, parsed into domain types before any I/O.

use super::super::extract::{double_option, parse_json};
use crate::domain::*;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How many channels one endpoint may subscribe to (Svix's limit).
pub(crate) const MAX_CHANNELS: usize = 10;

/// An endpoint as PUT or POST gives it. Either generation of Svix's field names is accepted
/// (`eventTypes` or `filterTypes`, `throttleRate` or `rateLimit`); see [`EndpointInWire`].
#[derive(Debug, Deserialize)]
#[serde(try_from = "EndpointInWire")]
pub(crate) struct EndpointIn {
    pub(crate) url: String,
    pub(crate) description: Option<String>,
    pub(crate) throttle_rate: Option<u16>,
    pub(crate) uid: Option<String>,
    pub(crate) disabled: Option<bool>,
    pub(crate) event_types: Option<BTreeSet<String>>,
    pub(crate) channels: Option<BTreeSet<String>>,
    pub(crate) secret: Option<String>,
    pub(crate) metadata: Option<Metadata>,
    pub(crate) headers: Option<BTreeMap<String, String>>,
}

/// What the JSON may hold: both names of a renamed field as separate fields, so that a body
/// carrying both (a client that read an endpoint and sends it back, as
/// `{...await endpoint.get(), description}` does) is accepted when they agree and refused when
/// they do not, rather than one silently winning.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointInWire {
    url: String,
    description: Option<String>,
    throttle_rate: Option<u16>,
    rate_limit: Option<u16>,
    uid: Option<String>,
    disabled: Option<bool>,
    event_types: Option<BTreeSet<String>>,
    filter_types: Option<BTreeSet<String>>,
    channels: Option<BTreeSet<String>>,
    secret: Option<String>,
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    metadata: Option<Metadata>,
    headers: Option<BTreeMap<String, String>>,
}

impl TryFrom<EndpointInWire> for EndpointIn {
    type Error = String;

    fn try_from(w: EndpointInWire) -> Result<Self, String> {
        Ok(Self {
            url: w.url,
            description: w.description,
            throttle_rate: either_name(w.throttle_rate, w.rate_limit, "throttleRate", "rateLimit")?,
            uid: w.uid,
            disabled: w.disabled,
            event_types: either_name(
                w.event_types.filter(|t| !t.is_empty()),
                w.filter_types.filter(|t| !t.is_empty()),
                "eventTypes",
                "filterTypes",
            )?,
            channels: w.channels,
            secret: w.secret,
            metadata: w.metadata,
            headers: w.headers,
        })
    }
}

/// One value from a field that Svix renamed: the old name, the new one, or both when they
/// agree.
fn either_name<T: PartialEq>(
    old: Option<T>,
    new: Option<T>,
    old_name: &str,
    new_name: &str,
) -> Result<Option<T>, String> {
    match (old, new) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "`{old_name}` and `{new_name}` name the same setting and were given different values; give one, or the same value in both"
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// A PATCH body: absent fields stay as they are, `null` clears. Both names are accepted as for
/// [`EndpointIn`].
#[derive(Debug, Deserialize)]
#[serde(try_from = "EndpointPatchWire")]
pub(crate) struct EndpointPatch {
    pub(crate) url: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) throttle_rate: Option<Option<u16>>,
    pub(crate) uid: Option<Option<String>>,
    pub(crate) disabled: Option<bool>,
    pub(crate) event_types: Option<Option<BTreeSet<String>>>,
    pub(crate) channels: Option<Option<BTreeSet<String>>>,
    pub(crate) metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointPatchWire {
    url: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u16>)]
    throttle_rate: Option<Option<u16>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u16>)]
    rate_limit: Option<Option<u16>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    uid: Option<Option<String>>,
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    event_types: Option<Option<BTreeSet<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    filter_types: Option<Option<BTreeSet<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    channels: Option<Option<BTreeSet<String>>>,
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    metadata: Option<Metadata>,
}

impl TryFrom<EndpointPatchWire> for EndpointPatch {
    type Error = String;

    fn try_from(w: EndpointPatchWire) -> Result<Self, String> {
        // `[]` and `null` both mean "no filter": compare them as equal.
        let no_empty = |t: Option<Option<BTreeSet<String>>>| t.map(|t| t.filter(|s| !s.is_empty()));
        Ok(Self {
            url: w.url,
            description: w.description,
            throttle_rate: either_name(w.throttle_rate, w.rate_limit, "throttleRate", "rateLimit")?,
            uid: w.uid,
            disabled: w.disabled,
            event_types: either_name(
                no_empty(w.event_types),
                no_empty(w.filter_types),
                "eventTypes",
                "filterTypes",
            )?,
            channels: w.channels,
            metadata: w.metadata,
        })
    }
}

/// An endpoint as answered. Svix renamed `eventTypes` to `filterTypes` and `throttleRate` to
/// `rateLimit`; SDKs of either generation read the answer, so both names are sent with the
/// same value, and `version` (always 1) as the newer SDKs expect.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    #[schema(value_type = String)]
    id: EndpointId,
    #[schema(value_type = Option<String>)]
    uid: Option<Uid>,
    url: String,
    description: String,
    version: u8,
    #[schema(value_type = Option<Vec<String>>)]
    event_types: Option<BTreeSet<EventTypeName>>,
    #[schema(value_type = Option<Vec<String>>)]
    filter_types: Option<BTreeSet<EventTypeName>>,
    #[schema(value_type = Option<Vec<String>>)]
    channels: Option<BTreeSet<ChannelName>>,
    disabled: bool,
    throttle_rate: Option<u16>,
    rate_limit: Option<u16>,
    #[schema(value_type = std::collections::HashMap<String, String>)]
    metadata: Metadata,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Svix's endpoint version: the field is required by newer SDKs and has only ever been 1.
pub(crate) const ENDPOINT_VERSION: u8 = 1;

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        let f = e.fields;
        Self {
            id: e.id,
            uid: f.uid,
            url: f.url.as_str().to_owned(),
            description: f.description,
            version: ENDPOINT_VERSION,
            filter_types: f.event_types.clone(),
            event_types: f.event_types,
            channels: f.channels,
            disabled: f.disabled,
            throttle_rate: f.throttle_rate,
            rate_limit: f.throttle_rate,
            metadata: f.metadata,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

pub(crate) fn parse_uid(uid: &str) -> Result<Uid, ApiError> {
    Ok(Uid::parse_for(EndpointId::PREFIX, uid)?)
}

/// An empty list means "no filter", as in Svix.
pub(crate) fn parse_event_types(
    set: Option<BTreeSet<String>>,
) -> Result<Option<BTreeSet<EventTypeName>>, ApiError> {
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

pub(crate) fn parse_channels(
    set: Option<BTreeSet<String>>,
    max: usize,
) -> Result<Option<BTreeSet<ChannelName>>, ApiError> {
    match set {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.len() > max => Err(ApiError::Validation(format!(
            "at most {max} channels are allowed"
        ))),
        Some(s) => Ok(Some(
            s.iter()
                .map(|c| ChannelName::parse(c))
                .collect::<Result<_, _>>()?,
        )),
    }
}

/// Custom headers sent with every delivery. Names that would break signing or the HTTP
/// exchange itself (hop-by-hop headers) are refused.
pub(crate) fn parse_headers(
    headers: Option<BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, ApiError> {
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
        if axum::http::HeaderName::try_from(lower.as_str()).is_err() {
            return Err(ApiError::Validation(format!(
                "`{name}` is not a valid header name"
            )));
        }
        if RESERVED.contains(&lower.as_str())
            || lower.starts_with("webhook-")
            || lower.starts_with("svix-")
        {
            return Err(ApiError::Validation(format!(
                "header `{name}` is set by Kanca itself and cannot be overridden"
            )));
        }
        if axum::http::HeaderValue::try_from(value.as_str()).is_err() {
            return Err(ApiError::Validation(format!(
                "the value of header `{name}` is not valid"
            )));
        }
        out.insert(lower, value);
    }
    Ok(out)
}

impl EndpointIn {
    pub(crate) fn parse(
        self,
        allow_private: bool,
    ) -> Result<(EndpointFields, Option<EndpointSecret>), ApiError> {
        let fields = EndpointFields {
            uid: self.uid.as_deref().map(parse_uid).transpose()?,
            url: EndpointUrl::parse(&self.url, allow_private)?,
            description: self.description.unwrap_or_default(),
            event_types: parse_event_types(self.event_types)?,
            channels: parse_channels(self.channels, MAX_CHANNELS)?,
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

/// The rotate body is optional: `curl -X POST …/secret/rotate` with nothing rotates to a
/// fresh secret.
pub(crate) fn parse_rotate_body(bytes: &[u8]) -> Result<SecretRotateIn, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(SecretRotateIn {
            key: None,
            grace_period_seconds: None,
        });
    }
    parse_json(bytes)
}

/// Svix's default grace period for a rotated secret: 24 hours.
pub(crate) const ROTATION_GRACE_SECONDS: u32 = 24 * 60 * 60;
/// The longest grace period the SDKs document (`gracePeriodSeconds`, 0 to 7 days).
pub(crate) const MAX_ROTATION_GRACE_SECONDS: u32 = 7 * 24 * 60 * 60;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecretRotateIn {
    pub(crate) key: Option<String>,
    pub(crate) grace_period_seconds: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeadersIn {
    pub(crate) headers: BTreeMap<String, Option<String>>,
    pub(crate) delete_headers: Option<Vec<String>>,
}
