//! The app portal's credential: an application-scoped token and what it may do.
//!
//! Svix's `app-portal-access` hands a product a token per customer; the token works as a
//! bearer token on the API for that one application, within its *capabilities*, and opens the
//! portal pages (`/portal`). The token is a random string shown once ([`AppTokenSecret`]);
//! what is stored is its SHA-256 ([`AppTokenSecret::digest`]) beside a public handle
//! ([`crate::domain::AppTokenId`]) that the console lists and ends it by, so a database dump
//! does not hand out working tokens. Its `Debug` prints nothing of the token.
//!
//! Capabilities are Svix's names; [`Capabilities::permits`] is the one place that says which
//! of them allows which [`PortalAction`], so the API's scoping and the portal's pages agree.

use super::{AppId, AppTokenId, ParseError};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// What every application token starts with, so the API tells it from the admin token
/// without a lookup, and a leaked one is recognisable in a secret scanner.
pub const APP_TOKEN_PREFIX: &str = "appsk_";

/// How long a token lives when the request does not say: 7 days, Svix's default and maximum.
pub const DEFAULT_EXPIRY_SECS: u64 = 7 * 24 * 3600;
/// The shortest lifetime Svix accepts (1 hour).
pub const MIN_EXPIRY_SECS: u64 = 3600;
/// The longest lifetime Svix accepts (7 days).
pub const MAX_EXPIRY_SECS: u64 = DEFAULT_EXPIRY_SECS;

/// One of Svix's `AppPortalCapability` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Read-only access to the application's endpoints (without secrets), messages,
    /// attempts, statistics and the event catalog. Always granted.
    ViewBase,
    ViewEndpointSecret,
    ManageEndpointSecret,
    ManageTransformations,
    CreateAttempts,
    ManageEndpoint,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Self::ViewBase,
        Self::ViewEndpointSecret,
        Self::ManageEndpointSecret,
        Self::ManageTransformations,
        Self::CreateAttempts,
        Self::ManageEndpoint,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ViewBase => "ViewBase",
            Self::ViewEndpointSecret => "ViewEndpointSecret",
            Self::ManageEndpointSecret => "ManageEndpointSecret",
            Self::ManageTransformations => "ManageTransformations",
            Self::CreateAttempts => "CreateAttempts",
            Self::ManageEndpoint => "ManageEndpoint",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                ParseError::new(format!(
                    "`{s}` is not a capability (expected one of {})",
                    Self::ALL.map(Capability::as_str).join(", ")
                ))
            })
    }
}

/// Something a token's holder asks to do, in the terms capabilities grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalAction {
    /// Read endpoints (without secrets), messages, attempts, stats, the catalog.
    View,
    /// Read an endpoint's signing secret.
    ViewSecret,
    /// Rotate an endpoint's signing secret.
    RotateSecret,
    /// Change an endpoint's transformation.
    ManageTransformations,
    /// Send example events, resend, recover, replay.
    CreateAttempts,
    /// Create, change, disable and delete endpoints and their headers.
    ManageEndpoint,
}

/// The capabilities of one token: always at least `ViewBase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities(BTreeSet<Capability>);

impl Capabilities {
    /// What a token gets when the request names no capabilities: all of them, as Svix does.
    pub fn all() -> Self {
        Self(Capability::ALL.into_iter().collect())
    }

    /// `readOnly: true`, as Svix maps it: `ViewBase` and nothing else.
    pub fn read_only() -> Self {
        Self([Capability::ViewBase].into_iter().collect())
    }

    /// The named capabilities, plus `ViewBase`, which every token has.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ParseError> {
        let mut set = BTreeSet::from([Capability::ViewBase]);
        for name in names {
            set.insert(Capability::parse(name)?);
        }
        Ok(Self(set))
    }

    /// Names read back from our own database; an unknown one (from a newer version) is
    /// dropped rather than granted.
    pub fn from_stored(names: &[String]) -> Self {
        let mut set = BTreeSet::from([Capability::ViewBase]);
        set.extend(names.iter().filter_map(|n| Capability::parse(n).ok()));
        Self(set)
    }

    pub fn has(&self, c: Capability) -> bool {
        self.0.contains(&c)
    }

    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> Vec<String> {
        self.iter().map(|c| c.as_str().to_owned()).collect()
    }

    /// Whether these capabilities allow `action`. Svix documents `ManageEndpointSecret` as
    /// "rotate and view" the secret and `ManageEndpoint` as "read/modify any field or
    /// configuration of an endpoint (including secrets)".
    pub fn permits(&self, action: PortalAction) -> bool {
        use Capability::*;
        match action {
            PortalAction::View => true,
            PortalAction::ViewSecret => {
                self.has(ViewEndpointSecret)
                    || self.has(ManageEndpointSecret)
                    || self.has(ManageEndpoint)
            }
            PortalAction::RotateSecret => {
                self.has(ManageEndpointSecret) || self.has(ManageEndpoint)
            }
            PortalAction::ManageTransformations => {
                self.has(ManageTransformations) || self.has(ManageEndpoint)
            }
            PortalAction::CreateAttempts => self.has(CreateAttempts),
            PortalAction::ManageEndpoint => self.has(ManageEndpoint),
        }
    }
}

/// A freshly made token, shown once to whoever asked for it. `Debug` hides it.
pub struct AppTokenSecret(String);

impl AppTokenSecret {
    /// `appsk_` and 32 random bytes (URL-safe base64): unguessable, and safe in a URL
    /// fragment and a header.
    pub fn generate() -> Self {
        use base64::Engine;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(format!(
            "{APP_TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up: hex SHA-256 of the token. A token is 256 random bits,
    /// so a plain digest (no salt, no slow hash) is enough to make the stored value useless.
    pub fn digest(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }

    /// Whether `token` has the shape of an application token at all (not a lookup).
    pub fn looks_like(token: &str) -> bool {
        token.starts_with(APP_TOKEN_PREFIX)
    }
}

impl std::fmt::Debug for AppTokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppTokenSecret(…)")
    }
}

/// A stored application token (without the token itself).
#[derive(Debug, Clone)]
pub struct AppToken {
    pub id: AppTokenId,
    pub app_id: AppId,
    pub capabilities: Capabilities,
    pub feature_flags: Vec<String>,
    /// The product's name for the session the token was made for (`sessionId`), which
    /// `expire-all` can single out.
    pub session_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Updated at most once a minute, so using a token is not a write per request.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl AppToken {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_base_is_always_there_and_names_round_trip() {
        let c = Capabilities::parse(["CreateAttempts"]).unwrap();
        assert_eq!(c.names(), vec!["ViewBase", "CreateAttempts"]);
        assert_eq!(Capabilities::from_stored(&c.names()), c);
        assert!(Capabilities::parse(["Admin"]).is_err());
    }

    #[test]
    fn capabilities_map_to_actions_as_svix_documents() {
        let ro = Capabilities::read_only();
        assert!(ro.permits(PortalAction::View));
        assert!(!ro.permits(PortalAction::ViewSecret));
        assert!(!ro.permits(PortalAction::CreateAttempts));
        let secret = Capabilities::parse(["ManageEndpointSecret"]).unwrap();
        assert!(secret.permits(PortalAction::ViewSecret));
        assert!(secret.permits(PortalAction::RotateSecret));
        assert!(!secret.permits(PortalAction::ManageEndpoint));
        let view = Capabilities::parse(["ViewEndpointSecret"]).unwrap();
        assert!(view.permits(PortalAction::ViewSecret));
        assert!(!view.permits(PortalAction::RotateSecret));
        let all = Capabilities::all();
        for a in [
            PortalAction::View,
            PortalAction::ViewSecret,
            PortalAction::RotateSecret,
            PortalAction::ManageTransformations,
            PortalAction::CreateAttempts,
            PortalAction::ManageEndpoint,
        ] {
            assert!(all.permits(a));
        }
    }

    #[test]
    fn tokens_are_prefixed_random_and_hidden_from_debug() {
        let a = AppTokenSecret::generate();
        let b = AppTokenSecret::generate();
        assert!(AppTokenSecret::looks_like(a.expose()));
        assert_ne!(a.expose(), b.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_eq!(AppTokenSecret::digest(a.expose()).len(), 64);
    }
}
