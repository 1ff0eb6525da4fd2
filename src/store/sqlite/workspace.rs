//! The workspace's tables on SQLite ([`WorkspaceStore`]). Writes go through the one-connection
//! write pool, reads through the read pool, like the rest of this backend.
//!
//! A change's follow-up messages (events, outgoing-webhook requests) are inserted with the
//! message path's own [`create_in`] on the change's transaction, not queued to the group-commit
//! writer: that writer commits on its own schedule, and the point is one commit for both. The
//! writer shares the one write connection, so the two never interleave.

use super::messages::create_in;
use super::writer::HotTx;
use super::{conflict_or, SqliteStore};
use crate::domain::workspace::*;
use crate::domain::Message;
use crate::store::cells::{
    channel, channel_message as message, incoming_hook as incoming, json_list,
    outgoing_hook as outgoing, Cells,
};
use crate::store::rules::EndpointsByApp;
use crate::store::workspace::{ChannelMessageQuery, FollowUps, PostResult, WorkspaceStore};
use crate::store::{to_ms, CreateMessageOutcome, FanOut, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sqlx::SqliteConnection;

/// Inserts `messages` and their deliveries on `conn` (inside the caller's transaction);
/// returns the deliveries queued.
pub(super) async fn queue_in(
    conn: &mut SqliteConnection,
    messages: &[Message],
) -> StoreResult<usize> {
    let mut cache = EndpointsByApp::default();
    let mut queued = 0;
    for msg in messages {
        if let CreateMessageOutcome::Created { deliveries, .. } = create_in(
            conn,
            &mut cache,
            msg,
            &FanOut::Subscribed,
            None,
            msg.created_at,
        )
        .await?
        {
            queued += deliveries;
        }
    }
    Ok(queued)
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn ensure_team(&self, candidate: &TeamId) -> StoreResult<TeamId> {
        sqlx::query(
            "INSERT INTO ws_team (singleton, id, created_at) VALUES (1, ?1, ?2)
             ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(candidate.as_str())
        .bind(to_ms(self.clock.now()))
        .execute(&self.write)
        .await?;
        let id: String = sqlx::query_scalar("SELECT id FROM ws_team WHERE singleton = 1")
            .fetch_one(&self.write)
            .await?;
        Ok(TeamId::from_trusted(id))
    }

    async fn create_channel(&self, c: &Channel, events: &[Message]) -> StoreResult<usize> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO ws_channel (id, name, archived, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.archived)
        .bind(to_ms(c.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, "a channel with this name already exists"))?;
        let deliveries = queue_in(&mut tx, events).await?;
        tx.commit().await?;
        Ok(deliveries)
    }

    async fn get_channel(&self, key: &ChannelRef) -> StoreResult<Option<Channel>> {
        // Every incoming-webhook post reads its channel: inline, not through sqlx (`reads.rs`).
        let (sql, value) = match key {
            ChannelRef::Id(id) => ("SELECT * FROM ws_channel WHERE id = ?1", id.as_str()),
            ChannelRef::Name(n) => ("SELECT * FROM ws_channel WHERE name = ?1", n.as_str()),
        };
        self.reads.with(|c| {
            c.prepare_cached(sql)?
                .query_row([value], |r| Ok(channel(r)))
                .optional()
        })
    }

    async fn list_channels(&self) -> StoreResult<Vec<Channel>> {
        let rows = sqlx::query("SELECT * FROM ws_channel ORDER BY name")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(channel).collect())
    }

    async fn rename_channel(&self, id: &ChannelId, name: &SlackChannelName) -> StoreResult<()> {
        let done = sqlx::query("UPDATE ws_channel SET name = ?2 WHERE id = ?1")
            .bind(id.as_str())
            .bind(name.as_str())
            .execute(&self.write)
            .await
            .map_err(|e| conflict_or(e, "a channel with this name already exists"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_channel_archived(
        &self,
        id: &ChannelId,
        archived: bool,
        events: &[Message],
    ) -> StoreResult<Option<usize>> {
        let mut tx = self.write.begin().await?;
        let done =
            sqlx::query("UPDATE ws_channel SET archived = ?2 WHERE id = ?1 AND archived <> ?2")
                .bind(id.as_str())
                .bind(archived)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM ws_channel WHERE id = ?1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            return match exists {
                Some(_) => Ok(None),
                None => Err(StoreError::NotFound),
            };
        }
        let deliveries = queue_in(&mut tx, events).await?;
        tx.commit().await?;
        Ok(Some(deliveries))
    }

    /// A job of the group-commit writer (`hot.rs`): incoming-webhook posts come by the
    /// thousand, and many share one commit, follow-up messages included.
    async fn post_channel_message(
        &self,
        channel_id: &ChannelId,
        m: &NewChannelMessage,
        now_us: i64,
        follow_ups: FollowUps,
    ) -> StoreResult<PostResult> {
        let (channel_id, m) = (channel_id.clone(), m.clone());
        self.writer
            .job(
                move |tx| HotTx::of(tx)?.post_channel_message(&channel_id, &m, now_us, follow_ups),
                |posted| match posted {
                    PostResult::Posted { deliveries, .. } => *deliveries as u64,
                    _ => 0,
                },
            )
            .await
    }

    async fn list_channel_messages(
        &self,
        channel_id: &ChannelId,
        q: &ChannelMessageQuery,
    ) -> StoreResult<Vec<ChannelMessage>> {
        let (sql, values) = q.sql('?');
        // Live streams read each channel's new messages as they come: inline, not through
        // sqlx (`reads.rs`), each of the few statement shapes prepared once per connection.
        self.reads.with(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            stmt.raw_bind_parameter(1, channel_id.as_str())?;
            for (i, v) in values.iter().enumerate() {
                stmt.raw_bind_parameter(i + 2, v)?;
            }
            let columns = crate::store::cells::Columns::of(&stmt);
            let mut rows = stmt.raw_query();
            let mut page = Vec::new();
            while let Some(row) = rows.next()? {
                page.push(message(&columns.on(row)));
            }
            Ok(page)
        })
    }

    async fn create_incoming_hook(&self, h: &IncomingHook, digest: &[u8; 32]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ws_incoming_hook (id, name, channel_id, username, icon_emoji, icon_url,
                 locked, rate_per_sec, rate_burst, allowed_ips, token_digest, revoked, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .bind(h.id.as_str())
        .bind(&h.name)
        .bind(h.channel_id.as_str())
        .bind(&h.username)
        .bind(&h.icon_emoji)
        .bind(&h.icon_url)
        .bind(h.locked)
        .bind(h.rate.map(|r| i64::from(r.per_second)))
        .bind(h.rate.map(|r| i64::from(r.burst)))
        .bind(json_list(h.allowed_ips.to_strings()))
        .bind(hex::encode(digest))
        .bind(h.revoked)
        .bind(to_ms(h.created_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_incoming_hook(&self, id: &HookId) -> StoreResult<Option<(IncomingHook, Vec<u8>)>> {
        // Every incoming-webhook post reads its hook: inline, not through sqlx (`reads.rs`).
        self.reads.with(|c| {
            c.prepare_cached("SELECT * FROM ws_incoming_hook WHERE id = ?1")?
                .query_row([id.as_str()], |r| {
                    let digest = hex::decode(r.text("token_digest")).unwrap_or_default();
                    Ok((incoming(r), digest))
                })
                .optional()
        })
    }

    async fn list_incoming_hooks(&self) -> StoreResult<Vec<IncomingHook>> {
        let rows = sqlx::query("SELECT * FROM ws_incoming_hook ORDER BY created_at, id")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(incoming).collect())
    }

    async fn revoke_incoming_hook(&self, id: &HookId) -> StoreResult<()> {
        let done = sqlx::query("UPDATE ws_incoming_hook SET revoked = 1 WHERE id = ?1")
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_incoming_hook_token(&self, id: &HookId, digest: &[u8; 32]) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE ws_incoming_hook SET token_digest = ?2 WHERE id = ?1 AND revoked = 0",
        )
        .bind(id.as_str())
        .bind(hex::encode(digest))
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_outgoing_hook(&self, h: &OutgoingHook) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ws_outgoing_hook (id, name, channel_id, trigger_words, trigger_when,
                 callback_urls, endpoint_ids, content_type, token, signing_secret, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(h.id.as_str())
        .bind(&h.name)
        .bind(h.channel_id.as_ref().map(|c| c.as_str()))
        .bind(json_list(h.trigger_words.iter().map(|w| w.as_str())))
        .bind(h.trigger_when.as_str())
        .bind(json_list(h.callback_urls.iter().map(|u| u.as_str())))
        .bind(json_list(h.endpoint_ids.iter().map(|e| e.as_str())))
        .bind(h.content_type.as_str())
        .bind(&h.token)
        .bind(&h.signing_secret)
        .bind(to_ms(h.created_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_outgoing_hook(&self, id: &OutgoingHookId) -> StoreResult<Option<OutgoingHook>> {
        let row = sqlx::query("SELECT * FROM ws_outgoing_hook WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(outgoing))
    }

    async fn list_outgoing_hooks(&self) -> StoreResult<Vec<OutgoingHook>> {
        let rows = sqlx::query("SELECT * FROM ws_outgoing_hook ORDER BY created_at, id")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(outgoing).collect())
    }

    async fn delete_outgoing_hook(&self, id: &OutgoingHookId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM ws_outgoing_hook WHERE id = ?1")
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{explain, migrated};
    use super::*;

    /// A live stream reads a page after the last message it sent, once per new message: the
    /// page must seek to it in the `(channel_id, ts)` key, not read the channel from its start.
    #[tokio::test]
    async fn a_page_of_channel_messages_seeks_to_its_cursor() {
        let (_dir, store) = migrated().await;
        let after = ChannelMessageQuery {
            from: Some(Ts::from_micros(1)),
            limit: 100,
            ascending: true,
            thread: None,
            top_level: false,
        };
        for q in [
            after.clone(),
            ChannelMessageQuery {
                ascending: false,
                top_level: true,
                ..after.clone()
            },
        ] {
            let (sql, values) = q.sql('?');
            let plan = explain(&store, &sql, &values).await;
            assert!(
                plan.iter().any(|d| d.contains("(channel_id=? AND ts")),
                "{sql}: {plan:?}"
            );
        }
        let thread = ChannelMessageQuery {
            thread: Some(Ts::from_micros(5)),
            ..after
        };
        let (sql, values) = thread.sql('?');
        let plan = explain(&store, &sql, &values).await;
        assert!(
            !plan.iter().any(|d| d.starts_with("SCAN")),
            "{sql}: {plan:?}"
        );
    }
}
