//! Request bins on SQLite ([`BinStore`]).
//!
//! Captures are the group-commit writer's jobs (`hot.rs`): a bin hit by a load test or a
//! chatty provider takes thousands a second, and many share one commit. The caller is
//! answered after that commit (the capture is stored before the bin answers); the single
//! writer makes the numbering follow commit order.

use super::writer::HotTx;
use super::SqliteStore;
use crate::domain::bins::*;
use crate::store::bins::*;
use crate::store::cells::{bin, capture};
use crate::store::{to_ms, PageRequest, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

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
        let (bin_id, r) = (bin_id.clone(), r.clone());
        self.writer
            .job(move |tx| HotTx::of(tx)?.capture(&bin_id, &r), |_| 0)
            .await
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
