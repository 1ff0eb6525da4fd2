//! Endpoints: CRUD scoped to their application, and delivery counts.
//!
//! A create, update, delete or disable commits together with the events that describe it
//! ([`EndpointEvents`]), inserted by the workspace's `queue_in` on the same transaction.

use super::resources::page_sql;
use super::rows::{self, names_to_json, to_json, StoredSecret};
use super::workspace::queue_in;
use super::{conflict_or, SqliteStore};
use crate::domain::*;
use crate::store::rules::status;
use crate::store::{
    to_ms, AttemptStats, EndpointEvents, EndpointStore, PageRequest, StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

const UID_TAKEN: &str = "an endpoint with this uid already exists in this application";

#[async_trait]
impl EndpointStore for SqliteStore {
    async fn attempt_stats(
        &self,
        app: &AppId,
        id: &EndpointId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<AttemptStats> {
        let row = sqlx::query(concat!(
            "SELECT
               (SELECT COUNT(*) FROM attempt WHERE app_id = ? AND endpoint_id = ? AND status = ",
            status!(Success),
            " AND created_at >= ? AND created_at < ?) AS success,
               (SELECT COUNT(*) FROM attempt WHERE app_id = ? AND endpoint_id = ? AND status = ",
            status!(Fail),
            " AND created_at >= ? AND created_at < ?) AS fail,
               (SELECT COUNT(*) FROM delivery WHERE app_id = ? AND endpoint_id = ? AND status = ",
            status!(Canceled),
            " AND updated_at >= ? AND updated_at < ?) AS canceled"
        ))
        .bind(app.as_str())
        .bind(id.as_str())
        .bind(to_ms(since))
        .bind(to_ms(until))
        .fetch_one(&self.read)
        .await?;
        let count = |c: &str| row.get::<i64, _>(c).max(0) as u64;
        Ok(AttemptStats {
            success: count("success"),
            fail: count("fail"),
            canceled: count("canceled"),
        })
    }

    async fn create_endpoint_with_events(
        &self,
        app: &AppId,
        f: EndpointFields,
        secret: EndpointSecret,
        events: EndpointEvents,
    ) -> StoreResult<Endpoint> {
        let now = self.clock.now();
        let ep = Endpoint {
            id: EndpointId::generate(),
            app_id: app.clone(),
            fields: f,
            secret,
            retired_secrets: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let f = &ep.fields;
        let mut tx = self.write.begin().await?;
        sqlx::query(
        "INSERT INTO endpoint (id, app_id, uid, url, description, event_types, channels, disabled,
                               throttle_rate, metadata, headers, secret, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ep.id.as_str())
    .bind(app.as_str())
    .bind(f.uid.as_ref().map(|u| u.as_str()))
    .bind(f.url.as_str())
    .bind(&f.description)
    .bind(names_to_json(&f.event_types))
    .bind(names_to_json(&f.channels))
    .bind(f.disabled)
    .bind(f.throttle_rate.map(i64::from))
    .bind(to_json(&f.metadata))
    .bind(to_json(&f.headers))
    .bind(ep.secret.expose())
    .bind(to_ms(now))
    .bind(to_ms(now))
    .execute(&mut *tx)
    .await
    .map_err(|e| conflict_or(e, UID_TAKEN))?;
        queue_in(&mut tx, &events(&ep)).await?;
        tx.commit().await?;
        Ok(ep)
    }

    async fn get_endpoint(&self, app: &AppId, key: &IdOrUid) -> StoreResult<Option<Endpoint>> {
        let row = sqlx::query("SELECT * FROM endpoint WHERE app_id = ?1 AND (id = ?2 OR uid = ?2)")
            .bind(app.as_str())
            .bind(key.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(rows::endpoint))
    }

    async fn list_endpoints(&self, app: &AppId, page: &PageRequest) -> StoreResult<Vec<Endpoint>> {
        let (cmp, dir) = page_sql(page);
        let sql = format!(
            "SELECT * FROM endpoint WHERE app_id = ?1 AND (?2 IS NULL OR id {cmp} ?2)
         ORDER BY id {dir} LIMIT ?3"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(rows::endpoint).collect())
    }

    async fn update_endpoint_with_events(
        &self,
        app: &AppId,
        id: &EndpointId,
        f: EndpointFields,
        events: EndpointEvents,
    ) -> StoreResult<Endpoint> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "UPDATE endpoint SET uid = ?, url = ?, description = ?, event_types = ?, channels = ?,
                disabled = ?, throttle_rate = ?, metadata = ?, headers = ?, updated_at = ?
         WHERE app_id = ? AND id = ? RETURNING *",
        )
        .bind(f.uid.as_ref().map(|u| u.as_str()))
        .bind(f.url.as_str())
        .bind(&f.description)
        .bind(names_to_json(&f.event_types))
        .bind(names_to_json(&f.channels))
        .bind(f.disabled)
        .bind(f.throttle_rate.map(i64::from))
        .bind(to_json(&f.metadata))
        .bind(to_json(&f.headers))
        .bind(to_ms(self.clock.now()))
        .bind(app.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, UID_TAKEN))?;
        let ep = row
            .as_ref()
            .map(rows::endpoint)
            .ok_or(StoreError::NotFound)?;
        queue_in(&mut tx, &events(&ep)).await?;
        tx.commit().await?;
        Ok(ep)
    }

    async fn delete_endpoint_with_events(
        &self,
        app: &AppId,
        id: &EndpointId,
        events: EndpointEvents,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("DELETE FROM endpoint WHERE app_id = ? AND id = ? RETURNING *")
            .bind(app.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let ep = row
            .as_ref()
            .map(rows::endpoint)
            .ok_or(StoreError::NotFound)?;
        queue_in(&mut tx, &events(&ep)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn endpoint_stats(&self, app: &AppId, id: &EndpointId) -> StoreResult<EndpointStats> {
        let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM delivery WHERE app_id = ? AND endpoint_id = ? GROUP BY status",
    )
    .bind(app.as_str())
    .bind(id.as_str())
    .fetch_all(&self.read)
    .await?;
        let mut out = EndpointStats::default();
        for row in rows {
            let n: i64 = row.get("n");
            match DeliveryStatus::from_i64(row.get("status")) {
                DeliveryStatus::Success => out.success += n,
                DeliveryStatus::Pending => out.pending += n,
                DeliveryStatus::Fail => out.fail += n,
                DeliveryStatus::Sending => out.sending += n,
                DeliveryStatus::Canceled => out.canceled += n,
            }
        }
        Ok(out)
    }

    async fn rotate_secret(
        &self,
        app: &AppId,
        id: &EndpointId,
        new: &EndpointSecret,
        old_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT * FROM endpoint WHERE app_id = ? AND id = ?")
            .bind(app.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let ep = rows::endpoint(&row);
        // Keep the secrets still in their grace period, plus the one being replaced.
        let mut kept: Vec<StoredSecret> = ep
            .retired_secrets
            .iter()
            .filter(|r| r.expires_at > now)
            .map(|r| StoredSecret {
                key: r.secret.expose(),
                expires_at: to_ms(r.expires_at),
            })
            .collect();
        kept.push(StoredSecret {
            key: ep.secret.expose(),
            expires_at: to_ms(old_expires_at),
        });
        sqlx::query("UPDATE endpoint SET secret = ?, old_secrets = ?, updated_at = ? WHERE id = ?")
            .bind(new.expose())
            .bind(to_json(&kept))
            .bind(to_ms(now))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_endpoint_headers(
        &self,
        app: &AppId,
        id: &EndpointId,
        headers: &std::collections::BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE endpoint SET headers = ?, updated_at = ? WHERE app_id = ? AND id = ?",
        )
        .bind(to_json(headers))
        .bind(to_ms(self.clock.now()))
        .bind(app.as_str())
        .bind(id.as_str())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_endpoint_disabled_with_events(
        &self,
        app: &AppId,
        id: &EndpointId,
        disabled: bool,
        events: EndpointEvents,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
        "UPDATE endpoint SET disabled = ?, updated_at = ? WHERE app_id = ? AND id = ? RETURNING *",
    )
    .bind(disabled)
    .bind(to_ms(self.clock.now()))
    .bind(app.as_str())
    .bind(id.as_str())
    .fetch_optional(&mut *tx)
    .await?;
        let ep = row
            .as_ref()
            .map(rows::endpoint)
            .ok_or(StoreError::NotFound)?;
        queue_in(&mut tx, &events(&ep)).await?;
        tx.commit().await?;
        Ok(())
    }
}
