//! Request bins on PostgreSQL ([`BinStore`]): the SQLite statements with `$n` placeholders.
//!
//! Many nodes may capture into one bin at once. The capture transaction's first statement
//! bumps the bin's `last_seq`, which takes the bin row's lock until commit: a second capture
//! of the same bin waits there, so it gets the next number *and* commits after the first.
//! A live stream reading "after req_N" can therefore never miss a row that commits late.
//! Captures of different bins do not wait for each other.

use super::PgStore;
use crate::domain::bins::*;
use crate::store::bins::*;
use crate::store::cells::{bin, capture};
use crate::store::{to_ms, PageRequest, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[async_trait]
impl BinStore for PgStore {
    async fn create_bin(&self, b: &Bin) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO bin (id, name, response, max_requests, expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(b.id.as_str())
        .bind(b.settings.name.as_deref())
        .bind(response_to_json(&b.settings.response))
        .bind(b.settings.max_requests as i32)
        .bind(to_ms(b.expires_at))
        .bind(to_ms(b.created_at))
        .bind(to_ms(b.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_bin(&self, id: &BinId) -> StoreResult<Option<Bin>> {
        let row = sqlx::query("SELECT * FROM bin WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(bin))
    }

    async fn list_bins(&self, page: &PageRequest) -> StoreResult<Vec<Bin>> {
        let (cmp, dir) = super::resources::page_sql(page);
        let sql = format!(
            "SELECT * FROM bin WHERE ($1::text IS NULL OR id {cmp} $1) ORDER BY id {dir} LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
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
            "UPDATE bin SET name = $1, response = $2, max_requests = $3, expires_at = $4,
               updated_at = $5
             WHERE id = $6 RETURNING *",
        )
        .bind(settings.name.as_deref())
        .bind(response_to_json(&settings.response))
        .bind(settings.max_requests as i32)
        .bind(to_ms(expires_at))
        .bind(to_ms(now))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(bin).ok_or(StoreError::NotFound)
    }

    async fn delete_bin(&self, id: &BinId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM bin WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn capture(&self, bin_id: &BinId, r: &NewCapture) -> StoreResult<CaptureOutcome> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "UPDATE bin SET last_seq = last_seq + 1
             WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)
             RETURNING last_seq, max_requests, response",
        )
        .bind(bin_id.as_str())
        .bind(to_ms(r.received_at))
        .fetch_optional(&mut *tx)
        .await?
        else {
            let exists = sqlx::query("SELECT 1 FROM bin WHERE id = $1")
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
        let max = i64::from(row.get::<i32, _>("max_requests"));
        let response = response_from_json(row.get::<&str, _>("response"));
        sqlx::query(
            "INSERT INTO bin_request
               (bin_id, seq, method, path, query, headers, body, remote_addr, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        sqlx::query("DELETE FROM bin_request WHERE bin_id = $1 AND seq <= $2")
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
            "SELECT * FROM bin_request WHERE bin_id = $1
               AND ($2::bigint IS NULL OR seq {cmp} $2)
               AND ($3::text IS NULL OR method = $3)
               AND ($4::text IS NULL OR left(path, length($4)) = $4)
               AND ($5::text IS NULL OR strpos(path, $5) > 0 OR strpos(query, $5) > 0
                    OR strpos(headers, $5) > 0 OR position(convert_to($5, 'UTF8') IN body) > 0)
             ORDER BY seq {dir} LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(bin_id.as_str())
            .bind(page.after.map(CaptureId::seq))
            .bind(filter.method.as_deref())
            .bind(filter.path_prefix.as_deref())
            .bind(filter.text.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(capture).collect())
    }

    async fn get_capture(&self, bin_id: &BinId, id: CaptureId) -> StoreResult<Option<Capture>> {
        let row = sqlx::query("SELECT * FROM bin_request WHERE bin_id = $1 AND seq = $2")
            .bind(bin_id.as_str())
            .bind(id.seq())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(capture))
    }

    async fn delete_capture(&self, bin_id: &BinId, id: CaptureId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM bin_request WHERE bin_id = $1 AND seq = $2")
            .bind(bin_id.as_str())
            .bind(id.seq())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn clear_captures(&self, bin_id: &BinId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM bin_request WHERE bin_id = $1")
            .bind(bin_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
