//! Applications and event types: small tables, plain CRUD.

use super::rows::{self, to_json};
use super::{conflict_or, SqliteStore};
use crate::domain::*;
use crate::store::{to_ms, AppStore, PageRequest, StoreError, StoreResult, TaskStore};
use async_trait::async_trait;

/// `(comparison, ORDER BY direction)` for a keyset page.
pub(super) fn page_sql(page: &PageRequest) -> (&'static str, &'static str) {
    if page.ascending {
        (">", "ASC")
    } else {
        ("<", "DESC")
    }
}

#[async_trait]
impl AppStore for SqliteStore {
    async fn create_app(&self, f: ApplicationFields) -> StoreResult<Application> {
        let now = self.clock.now();
        let app = Application {
            id: AppId::generate(),
            uid: f.uid,
            name: f.name,
            throttle_rate: f.throttle_rate,
            metadata: f.metadata,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
        "INSERT INTO application (id, uid, name, throttle_rate, metadata, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(app.id.as_str())
    .bind(app.uid.as_ref().map(|u| u.as_str()))
    .bind(&app.name)
    .bind(app.throttle_rate.map(i64::from))
    .bind(to_json(&app.metadata))
    .bind(to_ms(now))
    .bind(to_ms(now))
    .execute(&self.write)
    .await
    .map_err(|e| conflict_or(e, "an application with this uid already exists"))?;
        Ok(app)
    }

    async fn get_app(&self, key: &IdOrUid) -> StoreResult<Option<Application>> {
        let row =
            sqlx::query("SELECT * FROM application WHERE (id = ?1 OR uid = ?1) AND internal = 0")
                .bind(key.as_str())
                .fetch_optional(&self.read)
                .await?;
        Ok(row.as_ref().map(rows::app))
    }

    async fn list_apps(&self, page: &PageRequest) -> StoreResult<Vec<Application>> {
        let (cmp, dir) = page_sql(page);
        let sql = format!(
            "SELECT * FROM application WHERE internal = 0 AND (?1 IS NULL OR id {cmp} ?1)
         ORDER BY id {dir} LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(rows::app).collect())
    }

    async fn update_app(&self, id: &AppId, f: ApplicationFields) -> StoreResult<Application> {
        let row = sqlx::query(
        "UPDATE application SET uid = ?, name = ?, throttle_rate = ?, metadata = ?, updated_at = ?
         WHERE id = ? RETURNING *",
    )
    .bind(f.uid.as_ref().map(|u| u.as_str()))
    .bind(&f.name)
    .bind(f.throttle_rate.map(i64::from))
    .bind(to_json(&f.metadata))
    .bind(to_ms(self.clock.now()))
    .bind(id.as_str())
    .fetch_optional(&self.write)
    .await
    .map_err(|e| conflict_or(e, "an application with this uid already exists"))?;
        row.as_ref().map(rows::app).ok_or(StoreError::NotFound)
    }

    async fn delete_app(&self, id: &AppId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM application WHERE id = ?")
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_event_type(
        &self,
        name: &EventTypeName,
        f: EventTypeFields,
    ) -> StoreResult<EventType> {
        let now = to_ms(self.clock.now());
        let row = sqlx::query(
            "INSERT INTO event_type (name, description, archived, deprecated, schemas, group_name,
                                 feature_flags, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(name.as_str())
        .bind(&f.description)
        .bind(f.archived)
        .bind(f.deprecated)
        .bind(f.schemas.as_ref().map(to_json))
        .bind(&f.group_name)
        .bind(f.feature_flags.as_ref().map(to_json))
        .bind(now)
        .bind(now)
        .fetch_one(&self.write)
        .await
        .map_err(|e| conflict_or(e, "an event type with this name already exists"))?;
        Ok(rows::event_type(&row))
    }

    async fn get_event_type(&self, name: &EventTypeName) -> StoreResult<Option<EventType>> {
        let row = sqlx::query("SELECT * FROM event_type WHERE name = ?")
            .bind(name.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(rows::event_type))
    }

    async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> StoreResult<Vec<EventType>> {
        let (cmp, dir) = page_sql(page);
        let sql = format!(
            "SELECT * FROM event_type WHERE (?1 IS NULL OR name {cmp} ?1) AND (?2 OR archived = 0)
         ORDER BY name {dir} LIMIT ?3"
        );
        let rows = sqlx::query(&sql)
            .bind(page.iterator.as_deref())
            .bind(include_archived)
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(rows::event_type).collect())
    }

    async fn update_event_type(
        &self,
        name: &EventTypeName,
        f: EventTypeFields,
    ) -> StoreResult<EventType> {
        let row = sqlx::query(
            "UPDATE event_type SET description = ?, archived = ?, deprecated = ?, schemas = ?,
                group_name = ?, feature_flags = ?, updated_at = ?
         WHERE name = ? RETURNING *",
        )
        .bind(&f.description)
        .bind(f.archived)
        .bind(f.deprecated)
        .bind(f.schemas.as_ref().map(to_json))
        .bind(&f.group_name)
        .bind(f.feature_flags.as_ref().map(to_json))
        .bind(to_ms(self.clock.now()))
        .bind(name.as_str())
        .fetch_optional(&self.write)
        .await?;
        row.as_ref()
            .map(rows::event_type)
            .ok_or(StoreError::NotFound)
    }

    async fn delete_event_type(&self, name: &EventTypeName) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM event_type WHERE name = ?")
            .bind(name.as_str())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn ensure_internal_app(&self, uid: &Uid, name: &str) -> StoreResult<AppId> {
        let now = to_ms(self.clock.now());
        // Insert-or-ignore then read, so concurrent starts agree on one application.
        sqlx::query(
            "INSERT INTO application (id, uid, name, internal, created_at, updated_at)
         VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (uid) DO NOTHING",
        )
        .bind(AppId::generate().as_str())
        .bind(uid.as_str())
        .bind(name)
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await?;
        let id: String =
            sqlx::query_scalar("SELECT id FROM application WHERE uid = ? AND internal = 1")
                .bind(uid.as_str())
                .fetch_optional(&self.write)
                .await?
                .ok_or_else(|| {
                    StoreError::Conflict(format!("the uid `{uid}` is taken by a user application"))
                })?;
        Ok(AppId::from_trusted(id))
    }
}

/// A background task from its row.
fn task(r: &sqlx::sqlite::SqliteRow) -> BackgroundTask {
    use sqlx::Row;
    BackgroundTask {
        id: TaskId::from_trusted(r.get("id")),
        task: r.get("task"),
        status: r.get("status"),
        data: serde_json::from_str(r.get::<&str, _>("data")).unwrap_or_default(),
        updated_at: crate::store::from_ms(r.get("updated_at")),
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn record_task(&self, app: &AppId, t: &BackgroundTask) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO background_task (id, app_id, task, status, data, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )
        .bind(t.id.as_str())
        .bind(app.as_str())
        .bind(&t.task)
        .bind(&t.status)
        .bind(t.data.to_string())
        .bind(to_ms(t.updated_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_task(&self, id: &TaskId) -> StoreResult<Option<BackgroundTask>> {
        let row = sqlx::query("SELECT * FROM background_task WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(task))
    }

    async fn list_tasks(
        &self,
        page: &PageRequest,
        status: Option<&str>,
        kind: Option<&str>,
    ) -> StoreResult<Vec<BackgroundTask>> {
        let (cmp, dir) = page_sql(page);
        let sql = format!(
            "SELECT * FROM background_task
             WHERE (?1 IS NULL OR id {cmp} ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR task = ?3)
             ORDER BY id {dir} LIMIT ?4"
        );
        let rows = sqlx::query(&sql)
            .bind(page.iterator.as_deref())
            .bind(status)
            .bind(kind)
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(task).collect())
    }
}
