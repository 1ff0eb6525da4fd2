//! What the endpoint routes accept and answer, parsed into domain types before any I/O.

use super::super::extract::{double_option, parse_json};
use crate::domain::*;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How many channels one endpoint may subscribe to (Svix's limit).
pub(crate) const MAX_CHANNELS: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointIn {
    pub(crate) url: String,
    pub(crate) description: Option<String>,
    #[serde(alias = "rateLimit")]
    pub(crate) throttle_rate: Option<u16>,
    pub(crate) uid: Option<String>,
    pub(crate) disabled: Option<bool>,
    #[serde(alias = "filterTypes")]
    pub(crate) event_types: Option<BTreeSet<String>>,
    pub(crate) channels: Option<BTreeSet<String>>,
    pub(crate) secret: Option<String>,
    pub(crate) metadata: Option<Metadata>,
    pub(crate) headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointPatch {
    pub(crate) url: Option<String>,
    pub(crate) description: Option<String>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    pub(crate) throttle_rate: Option<Option<u16>>,
    #[serde(default, deserialize_with = "double_option")]
    pub(crate) uid: Option<Option<String>>,
    pub(crate) disabled: Option<bool>,
    #[serde(default, alias = "filterTypes", deserialize_with = "double_option")]
    pub(crate) event_types: Option<Option<BTreeSet<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    pub(crate) channels: Option<Option<BTreeSet<String>>>,
    pub(crate) metadata: Option<Metadata>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    id: EndpointId,
    uid: Option<Uid>,
    url: String,
    description: String,
    event_types: Option<BTreeSet<EventTypeName>>,
    channels: Option<BTreeSet<ChannelName>>,
    disabled: bool,
    throttle_rate: Option<u16>,
    metadata: Metadata,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        let f = e.fields;
        Self {
            id: e.id,
            uid: f.uid,
            url: f.url.as_str().to_owned(),
            description: f.description,
            event_types: f.event_types,
            channels: f.channels,
            disabled: f.disabled,
            throttle_rate: f.throttle_rate,
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

/// Svix's default and longest grace period for a rotated secret: 24 hours.
pub(crate) const ROTATION_GRACE_SECONDS: u32 = 24 * 60 * 60;

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
