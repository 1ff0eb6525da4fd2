//! Application tokens on SQLite ([`PortalStore`]).

use super::SqliteStore;
use crate::domain::portal::AppToken;
use crate::domain::{AppId, AppTokenId};
use crate::store::cells::{app_token, to_json};
use crate::store::portal::PortalStore;
use crate::store::{to_ms, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[async_trait]
impl PortalStore for SqliteStore {
    async fn create_app_token(&self, t: &AppToken, digest: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO app_token (id, app_id, token_hash, capabilities, feature_flags,
                                    session_id, created_at, expires_at, last_used_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
        )
        .bind(t.id.as_str())
        .bind(t.app_id.as_str())
        .bind(digest)
        .bind(to_json(&t.capabilities.names()))
        .bind(to_json(&t.feature_flags))
        .bind(&t.session_id)
        .bind(to_ms(t.created_at))
        .bind(to_ms(t.expires_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn app_token_by_digest(&self, digest: &str) -> StoreResult<Option<(AppToken, String)>> {
        let row = sqlx::query("SELECT * FROM app_token WHERE token_hash = ?1")
            .bind(digest)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| (app_token(&r), r.get::<String, _>("token_hash"))))
    }

    async fn touch_app_token(&self, id: &AppTokenId, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE app_token SET last_used_at = ?2 WHERE id = ?1")
            .bind(id.as_str())
            .bind(to_ms(now))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn expire_app_tokens(
        &self,
        app: &AppId,
        at: DateTime<Utc>,
        sessions: Option<&[String]>,
    ) -> StoreResult<u64> {
        let sessions = sessions.map(|s| to_json(&s));
        let done = sqlx::query(
            "UPDATE app_token SET expires_at = ?2
             WHERE app_id = ?1 AND expires_at > ?2
               AND (?3 IS NULL OR session_id IN (SELECT value FROM json_each(?3)))",
        )
        .bind(app.as_str())
        .bind(to_ms(at))
        .bind(sessions)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn expire_app_token(&self, id: &AppTokenId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE app_token SET expires_at = ?2 WHERE id = ?1 AND expires_at > ?2")
            .bind(id.as_str())
            .bind(to_ms(at))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn list_app_tokens(&self, app: &AppId, limit: u32) -> StoreResult<Vec<AppToken>> {
        let rows =
            sqlx::query("SELECT * FROM app_token WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2")
                .bind(app.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
        Ok(rows.iter().map(app_token).collect())
    }

    async fn prune_app_tokens(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM app_token WHERE expires_at < ?1")
            .bind(to_ms(before))
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
