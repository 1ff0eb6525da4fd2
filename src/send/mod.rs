//! Sending: applications, event types, endpoints and messages, as a service below the routes.
//!
//! [`Sending`] takes domain values and answers domain results or a [`SendError`]; the API
//! (`crate::api`) and the console (`crate::web`) only translate requests and forms into those
//! values and the results into answers and pages, so both behave alike by construction. It is
//! the one place that stores a message and then wakes the dispatcher, that keeps the
//! application cache (and clears it when an application changes), and that reads the clock
//! for sending.
//!
//! An endpoint change and the operational event that tells of it (`endpoint.created` …) are
//! committed in one transaction ([`crate::store::EndpointEvents`]): the database is the
//! queue, so a change is never stored without the event that must follow it.

mod activity;
mod applications;
mod endpoint_input;
mod endpoints;
mod error;
mod event_types;
mod messages;
mod portal_access;
mod portal_logo;
mod tasks;

pub use activity::ActivitySpan;
pub use applications::{ApplicationInput, ApplicationPatch};
pub use endpoint_input::{
    parse_headers, EndpointInput, EndpointPatchInput, HeadersInput, SecretRotateInput,
    MAX_CHANNELS, ROTATION_GRACE_SECONDS,
};
pub use endpoints::{headers_out, ReplayFilter};
pub use error::SendError;
pub use event_types::{EventTypeFromSpec, EventTypeInput, EventTypePatch};
pub use messages::{
    parse_channels, Expunged, MessageInput, NewMessage, Published, MAX_BULK_EXPUNGE,
};
pub use portal_access::{IssuedToken, PortalAccessInput, MAX_EXPIRE_ALL_DELAY_SECS, TOKENS_LISTED};
pub use portal_logo::{Logo, PortalLogos, MAX_LOGO_BYTES};

use crate::clock::Clock;
use crate::delivery::operational::Operational;
use crate::delivery::Waker;
use crate::domain::bins::OwnBinUrls;
use crate::domain::AppId;
use crate::store::DynStore;

/// What [`Sending`] is built from (by `startup`).
pub struct SendingDeps {
    pub store: DynStore,
    pub waker: Waker,
    pub clock: Clock,
    pub ops: Operational,
    /// Whether endpoint URLs may point at private addresses (`KANCA_ALLOW_PRIVATE_TARGETS`).
    pub allow_private_targets: bool,
    /// This server's own bins, which an endpoint may always target.
    pub own_bins: OwnBinUrls,
    /// The workspace's events application, which may be neither deleted nor given another
    /// uid.
    pub built_in_app: AppId,
}

/// The sending service. One per process, shared by the API and the console.
pub struct Sending {
    store: DynStore,
    waker: Waker,
    clock: Clock,
    ops: Operational,
    allow_private_targets: bool,
    own_bins: OwnBinUrls,
    built_in_app: AppId,
    apps: applications::AppCache,
}

impl Sending {
    pub fn new(deps: SendingDeps) -> Self {
        Self {
            store: deps.store,
            waker: deps.waker,
            clock: deps.clock,
            ops: deps.ops,
            allow_private_targets: deps.allow_private_targets,
            own_bins: deps.own_bins,
            built_in_app: deps.built_in_app,
            apps: Default::default(),
        }
    }

    /// Whether an outgoing URL may point at a private address: when the guard is off, or
    /// when it is one of this server's own bins (reached only through the sender's client
    /// pinned to the listen address).
    pub fn allows_private_url(&self, url: &str) -> bool {
        self.allow_private_targets || self.own_bins.contains(url)
    }

    /// The internal application whose endpoints receive operational events.
    pub fn operational_app(&self) -> &AppId {
        self.ops.app_id()
    }
}
