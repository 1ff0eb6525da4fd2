//! Sources on SQLite ([`SourceStore`]).

use super::resources::page_sql;
use super::rows::to_json;
use super::writer::HotTx;
use super::{conflict_or, SqliteStore};
use crate::domain::sources::*;
use crate::domain::{AppId, IdOrUid, Message};
use crate::store::cells;
use crate::store::sources::SourceStore;
use crate::store::{to_ms, PageRequest, StoreError, StoreResult};
use async_trait::async_trait;

const UID_TAKEN: &str = "a source with this uid already exists";

#[async_trait]
impl SourceStore for SqliteStore {
    async fn create_source(&self, f: SourceFields, token: &IngestToken) -> StoreResult<Source> {
        let now = self.clock.now();
        let source = Source {
            id: SourceId::generate(),
            app_id: AppId::generate(),
            fields: f,
            token: token.clone(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO application (id, uid, name, internal, created_at, updated_at)
             VALUES (?1, NULL, ?2, 1, ?3, ?3)",
        )
        .bind(source.app_id.as_str())
        .bind(format!("Source {}", source.id))
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO ingest_source (id, app_id, uid, name, kind, config, metadata, token,
                                        created_at, updated_at, publish_app_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
        )
        .bind(source.id.as_str())
        .bind(source.app_id.as_str())
        .bind(source.fields.uid.as_ref().map(|u| u.as_str()))
        .bind(&source.fields.name)
        .bind(source.fields.kind.type_name())
        .bind(source.fields.kind.stored_config().to_string())
        .bind(to_json(&source.fields.metadata))
        .bind(token.as_str())
        .bind(to_ms(now))
        .bind(source.fields.publish_to.as_ref().map(|a| a.as_str()))
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, UID_TAKEN))?;
        tx.commit().await?;
        Ok(source)
    }

    async fn get_source(&self, key: &IdOrUid) -> StoreResult<Option<Source>> {
        let row = sqlx::query("SELECT * FROM ingest_source WHERE id = ?1 OR uid = ?1")
            .bind(key.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(cells::source).transpose()
    }

    async fn source_by_token(&self, token: &IngestToken) -> StoreResult<Option<Source>> {
        // From the read pool: in WAL mode a read sees every committed write, so a rotation
        // stops the old URL at once. (The write pool's one connection is the group-commit
        // writer's lock: reading through it made every request wait for a commit.)
        let row = sqlx::query("SELECT * FROM ingest_source WHERE token = ?1")
            .bind(token.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(cells::source).transpose()
    }

    async fn list_sources(&self, page: &PageRequest) -> StoreResult<Vec<Source>> {
        let (cmp, dir) = page_sql(page);
        let sql = format!(
            "SELECT * FROM ingest_source WHERE (?1 IS NULL OR id {cmp} ?1)
             ORDER BY id {dir} LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(cells::source).collect()
    }

    async fn update_source(&self, id: &SourceId, f: SourceFields) -> StoreResult<Source> {
        let now = to_ms(self.clock.now());
        let done = sqlx::query(
            "UPDATE ingest_source SET uid = ?2, name = ?3, kind = ?4, config = ?5, metadata = ?6,
                                      updated_at = ?7, publish_app_id = ?8
             WHERE id = ?1",
        )
        .bind(id.as_str())
        .bind(f.uid.as_ref().map(|u| u.as_str()))
        .bind(&f.name)
        .bind(f.kind.type_name())
        .bind(f.kind.stored_config().to_string())
        .bind(to_json(&f.metadata))
        .bind(now)
        .bind(f.publish_to.as_ref().map(|a| a.as_str()))
        .execute(&self.write)
        .await
        .map_err(|e| conflict_or(e, UID_TAKEN))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query("SELECT * FROM ingest_source WHERE id = ?1")
            .bind(id.as_str())
            .fetch_one(&self.write)
            .await?;
        cells::source(&row)
    }

    async fn rotate_source_token(&self, id: &SourceId, token: &IngestToken) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE ingest_source SET token = ?2, updated_at = ?3 WHERE id = ?1")
                .bind(id.as_str())
                .bind(token.as_str())
                .bind(to_ms(self.clock.now()))
                .execute(&self.write)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_source(&self, id: &SourceId) -> StoreResult<()> {
        let done = sqlx::query(
            "DELETE FROM application WHERE id = (SELECT app_id FROM ingest_source WHERE id = ?1)",
        )
        .bind(id.as_str())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A writer job, so log entries share group commits with everything else written.
    async fn record_arrival(&self, a: &Arrival) -> StoreResult<i64> {
        let a = a.clone();
        self.writer
            .job(move |tx| HotTx::of(tx)?.record_arrival(&a), |_| 0)
            .await
    }

    /// A writer job, like the entries it removes.
    async fn prune_arrivals(&self, source: &SourceId, keep: u32) -> StoreResult<u64> {
        let source = source.clone();
        self.writer
            .job(
                move |tx| {
                    let hot = HotTx::of(tx)?;
                    Ok(hot.prune_arrivals(&source, keep)? as u64)
                },
                |_| 0,
            )
            .await
    }

    async fn get_arrival(&self, source: &SourceId, id: i64) -> StoreResult<Option<Arrival>> {
        let row = sqlx::query("SELECT * FROM ingest_arrival WHERE source_id = ?1 AND id = ?2")
            .bind(source.as_str())
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(cells::arrival))
    }

    async fn cron_sources(&self) -> StoreResult<Vec<Source>> {
        let rows = sqlx::query("SELECT * FROM ingest_source WHERE kind = 'cron' ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(cells::source).collect()
    }

    /// A writer job: the messages share a group commit with other writes, under their own
    /// savepoint, so a duplicate undoes only them.
    async fn accept_messages(
        &self,
        messages: Vec<Message>,
        entry: Option<Arrival>,
    ) -> StoreResult<u64> {
        self.writer
            .job(
                move |tx| {
                    let hot = HotTx::of(tx)?;
                    let queued = hot.publish_together(&messages)? as u64;
                    if let Some(entry) = &entry {
                        hot.record_arrival(entry)?;
                    }
                    Ok(queued)
                },
                |queued| *queued,
            )
            .await
    }

    async fn list_arrivals(
        &self,
        source: &SourceId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Arrival>> {
        let (cmp, dir) = page_sql(page);
        let after: Option<i64> = page.iterator.as_deref().and_then(|i| i.parse().ok());
        let sql = format!(
            "SELECT * FROM ingest_arrival WHERE source_id = ?1 AND (?2 IS NULL OR id {cmp} ?2)
             ORDER BY id {dir} LIMIT ?3"
        );
        let rows = sqlx::query(&sql)
            .bind(source.as_str())
            .bind(after)
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(cells::arrival).collect())
    }
}
