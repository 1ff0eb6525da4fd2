//! Storage for the app portal's application tokens ([`crate::domain::portal`]).
//!
//! A sub-trait of [`super::Store`]; each backend implements it in its `portal.rs`, and both
//! read rows through `cells::app_token`. Only a token's digest is stored, and it is
//! looked up by that digest (an index), so the token never reaches the database or its logs.
//! Ending a token moves its expiry to the moment it ends rather than deleting it: the console
//! keeps showing who used the portal and when.

use super::StoreResult;
use crate::domain::portal::AppToken;
use crate::domain::{AppId, AppTokenId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait PortalStore {
    /// Stores a new token under the digest of its secret.
    async fn create_app_token(&self, token: &AppToken, digest: &str) -> StoreResult<()>;
    /// The token with this digest, and the digest as stored (for a constant-time check).
    async fn app_token_by_digest(&self, digest: &str) -> StoreResult<Option<(AppToken, String)>>;
    /// Records that the token was used at `now`.
    async fn touch_app_token(&self, id: &AppTokenId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Ends the application's tokens that are still live at `at` (only those of these
    /// sessions, when given) by bringing their expiry forward to `at`; returns how many.
    async fn expire_app_tokens(
        &self,
        app: &AppId,
        at: DateTime<Utc>,
        sessions: Option<&[String]>,
    ) -> StoreResult<u64>;
    /// Ends one token at `at` (logout) unless it has already ended.
    async fn expire_app_token(&self, id: &AppTokenId, at: DateTime<Utc>) -> StoreResult<()>;
    /// The application's newest tokens, at most `limit`.
    async fn list_app_tokens(&self, app: &AppId, limit: u32) -> StoreResult<Vec<AppToken>>;
    /// Drops tokens that ended before `before`; returns how many.
    async fn prune_app_tokens(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
