//! The services the routes call, built once by `startup` and shared by the API (`crate::api`)
//! and the console (`crate::web`), which are peers: neither imports the other, both reach the
//! same services through [`Services`].

use crate::clock::Clock;
use crate::delivery::metrics::Metrics;
use crate::send::Sending;
use crate::store::DynStore;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What every route of the API and the console can reach: a handle to [`Shared`], one `Arc`.
///
/// axum clones the state for every request it routes and every `State` it extracts, and a
/// request passes through several; cloning a struct of a dozen `Arc`s was about 4 % of the
/// server's CPU at full publishing speed (two cores incrementing and decrementing the same
/// counters). One reference count makes that a single atomic add.
#[derive(Clone)]
pub struct Services(Arc<Shared>);

impl Services {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for Services {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The services themselves; routes reach them through [`Services`].
pub struct Shared {
    /// For reads the routes list as they are (pages of records); changes go through a
    /// service.
    pub store: DynStore,
    /// Applications, event types, endpoints and messages.
    pub send: Arc<Sending>,
    pub clock: Clock,
    pub metrics: Metrics,
    pub config: Arc<HttpConfig>,
    /// Wakes live streams (SSE) when what they show changes.
    pub live: Arc<crate::live::LiveHub>,
    /// Request bins: the replay sender and which URLs are this server's own bins.
    pub inspect: Arc<crate::inspect::Inspector>,
    /// The Slack-compatible workspace (channels, hooks).
    pub workspace: Arc<crate::workspace::Workspace>,
    /// Sources (Svix's Ingest API): what providers post, verified and delivered on.
    pub sources: Arc<crate::sources::Sources>,
    /// The app portal's logos, fetched through the SSRF guard and cached.
    pub portal_logos: Arc<crate::send::PortalLogos>,
}

/// What the HTTP side needs to know: the admin token (kept as a digest), limits, and the
/// public URL.
pub struct HttpConfig {
    /// SHA-256 of the admin token: compared in constant time, and the token itself is not
    /// kept around in memory where a debug dump could show it.
    admin_token_digest: [u8; 32],
    pub allow_private_targets: bool,
    pub max_body_bytes: usize,
    /// The base URL printed in hook and bin URLs (`KANCA_PUBLIC_URL`, else
    /// `http://<listen address>`), without a trailing slash.
    pub public_url: String,
    /// CSP `frame-ancestors` of the app portal's pages (`KANCA_PORTAL_FRAME_ANCESTORS`).
    pub portal_frame_ancestors: String,
}

impl HttpConfig {
    pub fn new(
        admin_token: &str,
        allow_private_targets: bool,
        max_body_bytes: usize,
        public_url: &str,
    ) -> Self {
        Self {
            admin_token_digest: Sha256::digest(admin_token.as_bytes()).into(),
            allow_private_targets,
            max_body_bytes,
            public_url: public_url.trim_end_matches('/').to_owned(),
            portal_frame_ancestors: "'self'".into(),
        }
    }

    /// Sets who may frame the app portal (an already checked CSP source list).
    pub fn with_portal_frame_ancestors(mut self, sources: &str) -> Self {
        self.portal_frame_ancestors = sources.to_owned();
        self
    }

    /// A key for `purpose` (e.g. signing console sessions), derived from the admin token: the
    /// same on every node that shares the token, and changed by changing the token.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"kanca derived key\0");
        h.update(purpose.as_bytes());
        h.update(b"\0");
        h.update(self.admin_token_digest);
        h.finalize().into()
    }

    /// Whether `token` is the admin token, in time that does not depend on where it differs.
    pub fn token_matches(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        digest.ct_eq(&self.admin_token_digest).into()
    }
}
