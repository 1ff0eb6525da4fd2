//! An endpoint's activity on SQLite ([`ActivityStore`]).

use super::SqliteStore;
use crate::domain::{AppId, EndpointId};
use crate::store::charts::{latency_class_sql, ActivityCount, ActivityStore, ActivityWindow};
use crate::store::rules::status;
use crate::store::{to_ms, StoreResult};
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl ActivityStore for SqliteStore {
    async fn activity_counts(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        window: ActivityWindow,
    ) -> StoreResult<Vec<ActivityCount>> {
        let sql = format!(
            "SELECT (created_at - ?1) / ?2 AS bucket, status = {} AS ok, {} AS class,
                    COUNT(*) AS n
             FROM attempt
             WHERE endpoint_id = ?3 AND app_id = ?4 AND created_at >= ?1 AND created_at < ?5
             GROUP BY bucket, ok, class",
            status!(Success),
            latency_class_sql()
        );
        let rows = sqlx::query(&sql)
            .bind(to_ms(window.start()))
            .bind(window.width.num_milliseconds().max(1))
            .bind(endpoint.as_str())
            .bind(app.as_str())
            .bind(to_ms(window.end))
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(|r| ActivityCount {
                bucket: r.get::<i64, _>("bucket"),
                succeeded: r.get::<i64, _>("ok") != 0,
                class: r.get::<i64, _>("class") as usize,
                count: r.get::<i64, _>("n") as u64,
            })
            .collect())
    }
}
