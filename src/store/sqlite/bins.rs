//! Request bins on SQLite ([`BinStore`]).
//!
//! Captures go straight to the write connection rather than through the group-commit writer:
//! they come from people poking at a bin, not by the thousand, and the caller waits for the
//! commit anyway (the capture must be stored before the bin answers). The single writer makes
//! the numbering trivially follow commit order.

use super::SqliteStore;
use crate::domain::bins::*;
use crate::store::bins::*;
use crate::store::cells::{bin, capture};
use crate::store::{to_ms, PageRequest, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[async_trait]
impl BinStore for SqliteStore {
    async fn create_bin(&self, b: &Bin) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO bin (id, name, response, max_requests, expires_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(b.id.as_str())
        .bind(b.settings.name.as_deref())
        .bind(response_to_json(&b.settings.response))
        .bind(i64::from(b.settings.max_requests))
        .bind(to_ms(b.expires_at))
        .bind(to_ms(b.created_at))
        .bind(to_ms(b.updated_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_bin(&self, id: &BinId) -> StoreResult<Option<Bin>> {
        let row = sqlx::query("SELECT * FROM bin WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(bin))
    }

    async fn list_bins(&self, page: &PageRequest) -> StoreResult<Vec<Bin>> {
        let (cmp, dir) = super::resources::page_sql(page);
        let sql = format!(
            "SELECT * FROM bin WHERE (?1 IS NULL OR id {cmp} ?1) ORDER BY id {dir} LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(bin).collect())
    }

    async fn update_bin(
        &self,
        id: &BinId,
        settings: &BinSettings,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Bin> {
        let row = sqlx::query(
            "UPDATE bin SET name = ?, response = ?, max_requests = ?, expires_at = ?, updated_at = ?
             WHERE id = ? RETURNING *",
        )
        .bind(settings.name.as_deref())
        .bind(response_to_json(&settings.response))
        .bind(i64::from(settings.max_requests))
        .bind(to_ms(expires_at))
        .bind(to_ms(now))
        .bind(id.as_str())
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(bin).ok_or(StoreError::NotFound)
    }

    async fn delete_bin(&self, id: &BinId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM bin WHERE id = ?")
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn capture(&self, bin_id: &BinId, r: &NewCapture) -> StoreResult<CaptureOutcome> {
        let mut tx = self.write.begin().await?;
        let Some(row) = sqlx::query(
            "UPDATE bin SET last_seq = last_seq + 1
             WHERE id = ?1 AND (expires_at IS NULL OR expires_at > ?2)
             RETURNING last_seq, max_requests, response",
        )
        .bind(bin_id.as_str())
        .bind(to_ms(r.received_at))
        .fetch_optional(&mut *tx)
        .await?
        else {
            let exists = sqlx::query("SELECT 1 FROM bin WHERE id = ?")
                .bind(bin_id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            return Ok(if exists {
                CaptureOutcome::Expired
            } else {
                CaptureOutcome::NotFound
            });
        };
        let seq: i64 = row.get("last_seq");
        let max: i64 = row.get("max_requests");
        let response = response_from_json(row.get::<&str, _>("response"));
        sqlx::query(
            "INSERT INTO bin_request
               (bin_id, seq, method, path, query, headers, body, remote_addr, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(bin_id.as_str())
        .bind(seq)
        .bind(&r.method)
        .bind(&r.path)
        .bind(&r.query)
        .bind(headers_to_json(&r.headers))
        .bind(r.body.as_ref())
        .bind(&r.remote_addr)
        .bind(to_ms(r.received_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM bin_request WHERE bin_id = ? AND seq <= ?")
            .bind(bin_id.as_str())
            .bind(seq - max)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let captured = Capture {
            id: CaptureId::from_seq(seq),
            bin_id: bin_id.clone(),
            method: r.method.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            headers: r.headers.clone(),
            body: r.body.to_vec(),
            remote_addr: r.remote_addr.clone(),
            received_at: r.received_at,
        };
        Ok(CaptureOutcome::Captured(Box::new(captured), response))
    }

    async fn list_captures(
        &self,
        bin_id: &BinId,
        page: &CapturePage,
        filter: &CaptureFilter,
    ) -> StoreResult<Vec<Capture>> {
        let (cmp, dir) = if page.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let sql = format!(
            "SELECT * FROM bin_request WHERE bin_id = ?1
               AND (?2 IS NULL OR seq {cmp} ?2)
               AND (?3 IS NULL OR method = ?3)
               AND (?4 IS NULL OR substr(path, 1, length(?4)) = ?4)
               AND (?5 IS NULL OR instr(path, ?5) > 0 OR instr(query, ?5) > 0
                    OR instr(headers, ?5) > 0 OR instr(body, CAST(?5 AS BLOB)) > 0)
             ORDER BY seq {dir} LIMIT ?6"
        );
        let rows = sqlx::query(&sql)
            .bind(bin_id.as_str())
            .bind(page.after.map(CaptureId::seq))
            .bind(filter.method.as_deref())
            .bind(filter.path_prefix.as_deref())
            .bind(filter.text.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(capture).collect())
    }

    async fn get_capture(&self, bin_id: &BinId, id: CaptureId) -> StoreResult<Option<Capture>> {
        let row = sqlx::query("SELECT * FROM bin_request WHERE bin_id = ? AND seq = ?")
            .bind(bin_id.as_str())
            .bind(id.seq())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(capture))
    }

    async fn delete_capture(&self, bin_id: &BinId, id: CaptureId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM bin_request WHERE bin_id = ? AND seq = ?")
            .bind(bin_id.as_str())
            .bind(id.seq())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn clear_captures(&self, bin_id: &BinId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM bin_request WHERE bin_id = ?")
            .bind(bin_id.as_str())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
