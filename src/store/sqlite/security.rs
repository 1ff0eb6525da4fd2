//! Security records on SQLite ([`SecurityStore`]).

use super::resources::page_sql;
use super::SqliteStore;
use crate::domain::workspace::Incident;
use crate::store::security::SecurityStore;
use crate::store::{from_ms, to_ms, PageRequest, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[async_trait]
impl SecurityStore for SqliteStore {
    async fn record_incident(&self, i: &Incident, window_start: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ws_incident (at, last_at, window_start, hits, ip, path, reason)
             VALUES (?1, ?1, ?2, 1, ?3, ?4, ?5)
             ON CONFLICT (ip, reason, window_start)
             DO UPDATE SET hits = ws_incident.hits + 1, last_at = excluded.last_at",
        )
        .bind(to_ms(i.at))
        .bind(to_ms(window_start))
        .bind(&i.ip)
        .bind(&i.path)
        .bind(&i.reason)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn list_incidents(&self, page: &PageRequest) -> StoreResult<Vec<Incident>> {
        let (cmp, order) = page_sql(page);
        let after: Option<i64> = page.iterator.as_deref().and_then(|i| i.parse().ok());
        let sql = format!(
            "SELECT * FROM ws_incident WHERE (?1 IS NULL OR id {cmp} ?1)
             ORDER BY id {order} LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(|r| Incident {
                id: r.get("id"),
                at: from_ms(r.get("at")),
                last_at: from_ms(r.get("last_at")),
                hits: r.get::<i64, _>("hits"),
                ip: r.get("ip"),
                path: r.get("path"),
                reason: r.get("reason"),
            })
            .collect())
    }

    async fn prune_incidents(&self, older_than: DateTime<Utc>, keep: u32) -> StoreResult<u64> {
        let old = sqlx::query("DELETE FROM ws_incident WHERE last_at < ?1")
            .bind(to_ms(older_than))
            .execute(&self.write)
            .await?
            .rows_affected();
        let over = sqlx::query(
            "DELETE FROM ws_incident WHERE id <= (
                 SELECT id FROM ws_incident ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        )
        .bind(i64::from(keep))
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(old + over)
    }

    async fn end_session(&self, id: &str, expires_at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_session_end WHERE expires_at < ?1")
            .bind(to_ms(self.clock.now()))
            .execute(&self.write)
            .await?;
        sqlx::query(
            "INSERT INTO console_session_end (id, expires_at) VALUES (?1, ?2)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(to_ms(expires_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn session_ended(&self, id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM console_session_end WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }
}
