//! Issuing, checking and ending the app portal's application tokens (Svix's
//! `authentication.app_portal_access`, `expire_all`, `logout`).
//!
//! A token is made here and shown once; the store keeps its digest ([`AppTokenSecret::digest`]).
//! Checking a token is a lookup by digest followed by a constant-time comparison of the digest
//! read back, then an expiry check against Kanca's clock, so an ended token fails on every
//! node at once (the row is shared). Use is recorded at most once a minute per token: the
//! console can show when a customer last used the portal without a write per request.
//!
//! What a token may do is decided by its capabilities ([`Capabilities::permits`]); the API's
//! scoping (`crate::api`) and the portal pages (`crate::web::portal`) both ask that.

use super::{ApplicationInput, SendError, Sending};
use crate::domain::portal::{
    AppToken, AppTokenSecret, Capabilities, DEFAULT_EXPIRY_SECS, MAX_EXPIRY_SECS, MIN_EXPIRY_SECS,
};
use crate::domain::{AppId, AppTokenId, Application, Uid};
use subtle::ConstantTimeEq;

/// How long an ended token stays listed in the console before it is pruned.
const KEEP_ENDED_TOKENS: chrono::Duration = chrono::Duration::days(30);
/// Use is recorded when the last record is older than this.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);
/// The longest `expiry` `expire-all` accepts: an ended token should not linger for days.
pub const MAX_EXPIRE_ALL_DELAY_SECS: i64 = 24 * 3600;
/// How many tokens the console and `GET …/tokens` list.
pub const TOKENS_LISTED: u32 = 100;
/// Longest `sessionId` kept.
const MAX_SESSION_ID_LEN: usize = 256;

/// `AppPortalAccessIn`, not yet checked.
#[derive(Debug, Default)]
pub struct PortalAccessInput {
    /// Creates the application when nothing has the path's id or uid yet.
    pub application: Option<ApplicationInput>,
    /// `None`: every capability (Svix's default).
    pub capabilities: Option<Vec<String>>,
    /// `true`: `ViewBase` only, whatever `capabilities` says.
    pub read_only: Option<bool>,
    /// Seconds, between 1 hour and 7 days; default 7 days.
    pub expiry: Option<u64>,
    pub session_id: Option<String>,
    pub feature_flags: Option<Vec<String>>,
}

/// A new token: the secret to hand out once, and what is stored of it.
#[derive(Debug)]
pub struct IssuedToken {
    pub secret: AppTokenSecret,
    pub token: AppToken,
    pub application: Application,
}

impl Sending {
    /// Makes a token for the application `key` (id or uid), creating the application from
    /// `input.application` when there is none yet (the path's key becomes its uid unless the
    /// input names one, as Svix does).
    pub async fn issue_app_token(
        &self,
        key: &str,
        input: PortalAccessInput,
    ) -> Result<IssuedToken, SendError> {
        let expiry = input.expiry.unwrap_or(DEFAULT_EXPIRY_SECS);
        if !(MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS).contains(&expiry) {
            return Err(SendError::Validation(format!(
                "expiry must be between {MIN_EXPIRY_SECS} and {MAX_EXPIRY_SECS} seconds"
            )));
        }
        let capabilities = match (input.read_only, &input.capabilities) {
            (Some(true), _) => Capabilities::read_only(),
            (_, Some(names)) => Capabilities::parse(names.iter().map(String::as_str))?,
            (_, None) => Capabilities::all(),
        };
        let session_id = input.session_id.filter(|s| !s.is_empty());
        if session_id
            .as_ref()
            .is_some_and(|s| s.len() > MAX_SESSION_ID_LEN)
        {
            return Err(SendError::Validation(format!(
                "sessionId must be at most {MAX_SESSION_ID_LEN} characters"
            )));
        }
        let application = match (self.app(key).await, input.application) {
            (Ok(app), _) => app,
            (Err(SendError::NotFound(_)), Some(mut new)) => {
                if new.uid.is_none() && Uid::parse_for(AppId::PREFIX, key).is_ok() {
                    new.uid = Some(key.to_owned());
                }
                self.create_app(new, true).await?.0
            }
            (Err(e), _) => return Err(e),
        };
        let now = self.clock.now();
        let token = AppToken {
            id: AppTokenId::generate(),
            app_id: application.id.clone(),
            capabilities,
            feature_flags: input.feature_flags.unwrap_or_default(),
            session_id,
            created_at: now,
            expires_at: now + chrono::Duration::seconds(expiry as i64),
            last_used_at: None,
        };
        let secret = AppTokenSecret::generate();
        self.store
            .create_app_token(&token, &AppTokenSecret::digest(secret.expose()))
            .await?;
        // Housekeeping on the (rare) issuing path rather than a timer of its own.
        if let Err(e) = self.store.prune_app_tokens(now - KEEP_ENDED_TOKENS).await {
            tracing::debug!(error = %e, "pruning ended app tokens failed");
        }
        Ok(IssuedToken {
            secret,
            token,
            application,
        })
    }

    /// The live token `presented` stands for, or `None` (unknown, ended or expired).
    pub async fn verify_app_token(&self, presented: &str) -> Result<Option<AppToken>, SendError> {
        if !AppTokenSecret::looks_like(presented) {
            return Ok(None);
        }
        let digest = AppTokenSecret::digest(presented);
        let Some((token, stored)) = self.store.app_token_by_digest(&digest).await? else {
            return Ok(None);
        };
        if !bool::from(stored.as_bytes().ct_eq(digest.as_bytes())) {
            return Ok(None);
        }
        let now = self.clock.now();
        if !token.is_live(now) {
            return Ok(None);
        }
        if token.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
            self.store.touch_app_token(&token.id, now).await?;
        }
        Ok(Some(token))
    }

    /// Ends the application's live tokens (only those of `sessions`, when given) `delay_secs`
    /// from now (default: now). Returns how many.
    pub async fn expire_app_tokens(
        &self,
        key: &str,
        delay_secs: Option<i64>,
        sessions: Option<Vec<String>>,
    ) -> Result<u64, SendError> {
        let delay = delay_secs.unwrap_or(0);
        if !(0..=MAX_EXPIRE_ALL_DELAY_SECS).contains(&delay) {
            return Err(SendError::Validation(format!(
                "expiry must be between 0 and {MAX_EXPIRE_ALL_DELAY_SECS} seconds"
            )));
        }
        let app = self.app(key).await?;
        let at = self.clock.now() + chrono::Duration::seconds(delay);
        // An empty list names no session: Svix then ends every token.
        let sessions = sessions.filter(|s| !s.is_empty());
        Ok(self
            .store
            .expire_app_tokens(&app.id, at, sessions.as_deref())
            .await?)
    }

    /// Ends one token now (`POST /api/v1/auth/logout`, the portal's sign-out).
    pub async fn end_app_token(&self, id: &AppTokenId) -> Result<(), SendError> {
        Ok(self.store.expire_app_token(id, self.clock.now()).await?)
    }

    /// The application's newest tokens, live and ended, for the console.
    pub async fn app_tokens(&self, app: &AppId) -> Result<Vec<AppToken>, SendError> {
        Ok(self.store.list_app_tokens(app, TOKENS_LISTED).await?)
    }
}
