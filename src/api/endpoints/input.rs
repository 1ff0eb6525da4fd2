//! What the endpoint routes accept and answer in Svix's JSON. The values are checked by the
//! service ([`crate::send`]), which the console's form feeds too.

use super::super::extract::{double_option, parse_json};
use crate::domain::*;
use crate::error::ApiError;
use crate::send::{EndpointInput, EndpointPatchInput, HeadersInput, SecretRotateInput};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// An endpoint as PUT or POST gives it. Either generation of Svix's field names is accepted
/// (`eventTypes` or `filterTypes`, `throttleRate` or `rateLimit`); see [`EndpointInWire`].
#[derive(Debug, Deserialize)]
#[serde(try_from = "EndpointInWire")]
pub(crate) struct EndpointIn(pub(crate) EndpointInput);

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
        Ok(Self(EndpointInput {
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
        }))
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
pub(crate) struct EndpointPatch(pub(crate) EndpointPatchInput);

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
        Ok(Self(EndpointPatchInput {
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
            headers: None,
        }))
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

/// The rotate body is optional: `curl -X POST …/secret/rotate` with nothing rotates to a
/// fresh secret.
pub(crate) fn parse_rotate_body(bytes: &[u8]) -> Result<SecretRotateInput, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(SecretRotateInput::default());
    }
    let body: SecretRotateIn = parse_json(bytes)?;
    Ok(SecretRotateInput {
        key: body.key,
        grace_period_seconds: body.grace_period_seconds,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecretRotateIn {
    key: Option<String>,
    grace_period_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeadersIn {
    headers: BTreeMap<String, Option<String>>,
    delete_headers: Option<Vec<String>>,
}

impl From<HeadersIn> for HeadersInput {
    fn from(h: HeadersIn) -> Self {
        Self {
            headers: h.headers,
            delete_headers: h.delete_headers,
        }
    }
}
