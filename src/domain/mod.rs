//! Domain types: the values Kanca works with, parsed once at the boundary.
//!
//! Everything that arrives from outside (a JSON body, a path segment, a setting) becomes one
//! of these types before any I/O happens, so the store and the delivery engine never see an
//! unchecked string. Their fields are private and `parse`/`TryFrom` are the only ways in
//! ("parse, don't validate"). This module knows nothing about HTTP or SQL.

pub mod bins;
pub mod ids;
pub mod names;
pub mod portal;
pub mod records;
pub mod secret;
pub mod sources;
pub mod text;
pub mod url;
pub mod workspace;

pub use ids::{AppId, AppTokenId, AttemptId, EndpointId, MessageId, TaskId};
pub use names::{ChannelName, EventTypeName, IdOrUid, Uid};
pub use records::*;
pub use secret::EndpointSecret;
pub use url::EndpointUrl;

/// Why a value from outside was refused. The message is written for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}
