//! Endpoints: CRUD scoped to their application, and delivery counts.
//!
//! A create, update, delete or disable commits together with the events that describe it
//! ([`EndpointEvents`]), inserted by the workspace's `queue_in` on the same transaction; other
//! nodes hear of their deliveries after the commit ([`PgStore::announce_work`]).

use super::resources::page_sql;
use super::rows::{self, names_to_json, small, to_json, StoredSecret};
use super::workspace::queue_in;
use super::{conflict_or, PgStore};
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
impl EndpointStore for PgStore {
    async fn attempt_stats(
        &self,
        app: &AppId,
        id: &EndpointId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<AttemptStats> {
        let row = sqlx::query(concat!(
            "SELECT
               (SELECT COUNT(*) FROM attempt WHERE app_id = $1 AND endpoint_id = $2 AND status = ",
            status!(Success),
            " AND created_at >= $3 AND created_at < $4) AS success,
               (SELECT COUNT(*) FROM attempt WHERE app_id = $1 AND endpoint_id = $2 AND status = ",
            status!(Fail),
            " AND created_at >= $3 AND created_at < $4) AS fail,
               (SELECT COUNT(*) FROM delivery WHERE app_id = $1 AND endpoint_id = $2 AND status = ",
            status!(Canceled),
            " AND updated_at >= $3 AND updated_at < $4) AS canceled"
        ))
        .bind(app.as_str())
        .bind(id.as_str())
        .bind(to_ms(since))
        .bind(to_ms(until))
        .fetch_one(&self.pool)
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
        // Milliseconds, as stored: what is returned now equals what is read back later.
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
        "INSERT INTO endpoint (id, app_id, uid, url, description, event_types, channels, disabled,
                               throttle_rate, metadata, headers, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(ep.id.as_str())
    .bind(app.as_str())
    .bind(f.uid.as_ref().map(|u| u.as_str()))
    .bind(f.url.as_str())
    .bind(&f.description)
    .bind(names_to_json(&f.event_types))
    .bind(names_to_json(&f.channels))
    .bind(f.disabled)
    .bind(f.throttle_rate.map(i32::from))
    .bind(to_json(&f.metadata))
    .bind(to_json(&f.headers))
    .bind(ep.secret.expose())
    .bind(to_ms(now))
    .execute(&mut *tx)
    .await
    .map_err(|e| conflict_or(e, UID_TAKEN))?;
        let deliveries = queue_in(&mut tx, &events(&ep)).await?;
        tx.commit().await?;
        if deliveries > 0 {
            self.announce_work();
        }
        Ok(ep)
    }

    async fn get_endpoint(&self, app: &AppId, key: &IdOrUid) -> StoreResult<Option<Endpoint>> {
        let row = sqlx::query("SELECT * FROM endpoint WHERE app_id = $1 AND (id = $2 OR uid = $2)")
            .bind(app.as_str())
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::endpoint))
    }

    async fn list_endpoints(&self, app: &AppId, page: &PageRequest) -> StoreResult<Vec<Endpoint>> {
        let (cmp, dir) = page_sql(page);
        let sql = format!(
            "SELECT * FROM endpoint WHERE app_id = $1 AND ($2::text IS NULL OR id {cmp} $2)
         ORDER BY id {dir} LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE endpoint SET uid = $1, url = $2, description = $3, event_types = $4,
                channels = $5, disabled = $6, throttle_rate = $7, metadata = $8, headers = $9,
                updated_at = $10
         WHERE app_id = $11 AND id = $12 RETURNING *",
        )
        .bind(f.uid.as_ref().map(|u| u.as_str()))
        .bind(f.url.as_str())
        .bind(&f.description)
        .bind(names_to_json(&f.event_types))
        .bind(names_to_json(&f.channels))
        .bind(f.disabled)
        .bind(f.throttle_rate.map(i32::from))
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
        let deliveries = queue_in(&mut tx, &events(&ep)).await?;
        tx.commit().await?;
        if deliveries > 0 {
            self.announce_work();
        }
        Ok(ep)
    }

    async fn delete_endpoint_with_events(
        &self,
        app: &AppId,
        id: &EndpointId,
        events: EndpointEvents,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("DELETE FROM endpoint WHERE app_id = $1 AND id = $2 RETURNING *")
            .bind(app.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let ep = row
            .as_ref()
            .map(rows::endpoint)
            .ok_or(StoreError::NotFound)?;
        let deliveries = queue_in(&mut tx, &events(&ep)).await?;
        tx.commit().await?;
        if deliveries > 0 {
            self.announce_work();
        }
        Ok(())
    }

    async fn endpoint_stats(&self, app: &AppId, id: &EndpointId) -> StoreResult<EndpointStats> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM delivery WHERE app_id = $1 AND endpoint_id = $2
         GROUP BY status",
        )
        .bind(app.as_str())
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out = EndpointStats::default();
        for row in rows {
            let n: i64 = row.get("n");
            match DeliveryStatus::from_i64(small(&row, "status")) {
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
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: two rotations at once (on two nodes) would otherwise both read the same
        // secrets, and the second write would drop the secret the first one retired.
        let row = sqlx::query("SELECT * FROM endpoint WHERE app_id = $1 AND id = $2 FOR UPDATE")
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
        sqlx::query(
            "UPDATE endpoint SET secret = $1, old_secrets = $2, updated_at = $3 WHERE id = $4",
        )
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
            "UPDATE endpoint SET headers = $1, updated_at = $2 WHERE app_id = $3 AND id = $4",
        )
        .bind(to_json(headers))
        .bind(to_ms(self.clock.now()))
        .bind(app.as_str())
        .bind(id.as_str())
        .execute(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE endpoint SET disabled = $1, updated_at = $2 WHERE app_id = $3 AND id = $4
         RETURNING *",
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
        let deliveries = queue_in(&mut tx, &events(&ep)).await?;
        tx.commit().await?;
        if deliveries > 0 {
            self.announce_work();
        }
        Ok(())
    }
}
