//! The workspace's tables on PostgreSQL ([`WorkspaceStore`]), the twin of the SQLite file.
//!
//! What differs is that several nodes write at once: the UPDATE that hands out a channel's
//! next `ts` takes the channel's row lock until the message commits, so messages of one
//! channel commit in `ts` order and a live stream's "after this ts" never misses a late one.
//!
//! A change's follow-up messages (events, outgoing-webhook requests) are inserted with the
//! message path's [`create_in`] on the change's transaction, and other nodes hear of the new
//! work after the commit, as they do for any published message ([`PgStore::announce_work`]).

use super::messages::create_in;
use super::{conflict_or, PgStore};
use crate::domain::workspace::*;
use crate::domain::Message;
use crate::store::cells::{
    channel, channel_message as message, incoming_hook as incoming, json_list,
    outgoing_hook as outgoing,
};
use crate::store::workspace::{ChannelMessageQuery, FollowUps, PostResult, WorkspaceStore};
use crate::store::{to_ms, CreateMessageOutcome, FanOut, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::{PgConnection, Row};

/// Inserts `messages` and their deliveries on `conn` (inside the caller's transaction);
/// returns the deliveries queued.
pub(super) async fn queue_in(conn: &mut PgConnection, messages: &[Message]) -> StoreResult<usize> {
    let mut queued = 0;
    for msg in messages {
        if let CreateMessageOutcome::Created { deliveries, .. } =
            create_in(conn, msg, &FanOut::Subscribed, None).await?
        {
            queued += deliveries;
        }
    }
    Ok(queued)
}

#[async_trait]
impl WorkspaceStore for PgStore {
    async fn ensure_team(&self, candidate: &TeamId) -> StoreResult<TeamId> {
        sqlx::query(
            "INSERT INTO ws_team (singleton, id, created_at) VALUES (1, $1, $2)
             ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(candidate.as_str())
        .bind(to_ms(self.clock.now()))
        .execute(&self.pool)
        .await?;
        let id: String = sqlx::query_scalar("SELECT id FROM ws_team WHERE singleton = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(TeamId::from_trusted(id))
    }

    async fn create_channel(&self, c: &Channel, events: &[Message]) -> StoreResult<usize> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO ws_channel (id, name, archived, created_at) VALUES ($1, $2, $3, $4)",
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
        if deliveries > 0 {
            self.announce_work();
        }
        Ok(deliveries)
    }

    async fn get_channel(&self, key: &ChannelRef) -> StoreResult<Option<Channel>> {
        let (sql, value) = match key {
            ChannelRef::Id(id) => ("SELECT * FROM ws_channel WHERE id = $1", id.as_str()),
            ChannelRef::Name(n) => ("SELECT * FROM ws_channel WHERE name = $1", n.as_str()),
        };
        let row = sqlx::query(sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(channel))
    }

    async fn list_channels(&self) -> StoreResult<Vec<Channel>> {
        let rows = sqlx::query("SELECT * FROM ws_channel ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(channel).collect())
    }

    async fn rename_channel(&self, id: &ChannelId, name: &SlackChannelName) -> StoreResult<()> {
        let done = sqlx::query("UPDATE ws_channel SET name = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(name.as_str())
            .execute(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        // Only a real change writes: of two nodes archiving at once, one publishes the event.
        let done =
            sqlx::query("UPDATE ws_channel SET archived = $2 WHERE id = $1 AND archived <> $2")
                .bind(id.as_str())
                .bind(archived)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1::BIGINT FROM ws_channel WHERE id = $1")
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
        if deliveries > 0 {
            self.announce_work();
        }
        Ok(Some(deliveries))
    }

    async fn post_channel_message(
        &self,
        channel_id: &ChannelId,
        m: &NewChannelMessage,
        now_us: i64,
        follow_ups: FollowUps,
    ) -> StoreResult<PostResult> {
        let mut tx = self.pool.begin().await?;
        let ts: Option<i64> = sqlx::query_scalar(
            "UPDATE ws_channel SET last_ts = GREATEST($2, last_ts + 1)
             WHERE id = $1 AND archived = FALSE RETURNING last_ts",
        )
        .bind(channel_id.as_str())
        .bind(now_us)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(ts) = ts else {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1::BIGINT FROM ws_channel WHERE id = $1")
                    .bind(channel_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(if exists.is_some() {
                PostResult::Archived
            } else {
                PostResult::NoChannel
            });
        };
        sqlx::query(
            "INSERT INTO ws_message (channel_id, ts, text, username, icon_emoji, icon_url,
                 attachments, blocks, thread_ts, posted_by, poster_name, mrkdwn, user_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(channel_id.as_str())
        .bind(ts)
        .bind(&m.text)
        .bind(&m.username)
        .bind(&m.icon_emoji)
        .bind(&m.icon_url)
        .bind(&m.attachments)
        .bind(&m.blocks)
        .bind(m.thread_ts.map(Ts::micros))
        .bind(m.posted_by.as_str())
        .bind(&m.poster_name)
        .bind(m.mrkdwn)
        .bind(m.user_id.as_ref().map(|u| u.as_str()))
        .execute(&mut *tx)
        .await?;
        let message = m.stored_as(channel_id, Ts::from_micros(ts));
        let deliveries = queue_in(&mut tx, &follow_ups(&message)).await?;
        tx.commit().await?;
        if deliveries > 0 {
            self.announce_work();
        }
        Ok(PostResult::Posted {
            message: Box::new(message),
            deliveries,
        })
    }

    async fn list_channel_messages(
        &self,
        channel_id: &ChannelId,
        q: &ChannelMessageQuery,
    ) -> StoreResult<Vec<ChannelMessage>> {
        let (sql, values) = q.sql('$');
        let mut query = sqlx::query(&sql).bind(channel_id.as_str());
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(message).collect())
    }

    async fn create_incoming_hook(&self, h: &IncomingHook, digest: &[u8; 32]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ws_incoming_hook (id, name, channel_id, username, icon_emoji, icon_url,
                 locked, rate_per_sec, rate_burst, allowed_ips, token_digest, revoked, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_incoming_hook(&self, id: &HookId) -> StoreResult<Option<(IncomingHook, Vec<u8>)>> {
        let row = sqlx::query("SELECT * FROM ws_incoming_hook WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| {
            let digest = hex::decode(r.get::<&str, _>("token_digest")).unwrap_or_default();
            (incoming(&r), digest)
        }))
    }

    async fn list_incoming_hooks(&self) -> StoreResult<Vec<IncomingHook>> {
        let rows = sqlx::query("SELECT * FROM ws_incoming_hook ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(incoming).collect())
    }

    async fn revoke_incoming_hook(&self, id: &HookId) -> StoreResult<()> {
        let done = sqlx::query("UPDATE ws_incoming_hook SET revoked = TRUE WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_incoming_hook_token(&self, id: &HookId, digest: &[u8; 32]) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE ws_incoming_hook SET token_digest = $2 WHERE id = $1 AND revoked = FALSE",
        )
        .bind(id.as_str())
        .bind(hex::encode(digest))
        .execute(&self.pool)
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_outgoing_hook(&self, id: &OutgoingHookId) -> StoreResult<Option<OutgoingHook>> {
        let row = sqlx::query("SELECT * FROM ws_outgoing_hook WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(outgoing))
    }

    async fn list_outgoing_hooks(&self) -> StoreResult<Vec<OutgoingHook>> {
        let rows = sqlx::query("SELECT * FROM ws_outgoing_hook ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(outgoing).collect())
    }

    async fn delete_outgoing_hook(&self, id: &OutgoingHookId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM ws_outgoing_hook WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
