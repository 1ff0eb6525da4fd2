//! The Slack platform's tables on SQLite ([`SlackStore`]): writes through the write pool,
//! reads through the read pool, like the rest of this backend.

use super::workspace::queue_in;
use super::SqliteStore;
use crate::domain::workspace::*;
use crate::domain::Message;
use crate::store::cells::channel_message as message;
use crate::store::slack::rows::{commands_json, event_types_json, reaction, slack_app, user};
use crate::store::slack::{MessageEdit, ReactionChange, SlackStore};
use crate::store::{to_ms, StoreError, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl SlackStore for SqliteStore {
    async fn create_slack_app(
        &self,
        app: &SlackApp,
        bot: &WsUser,
        token_digest: &[u8; 32],
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO ws_user (id, name, real_name, is_bot, app_id, bot_id, deleted, created_at)
             VALUES (?1, ?2, ?3, 1, ?4, ?5, 0, ?6)",
        )
        .bind(bot.id.as_str())
        .bind(&bot.name)
        .bind(&bot.real_name)
        .bind(app.id.as_str())
        .bind(app.bot_id.as_str())
        .bind(to_ms(bot.created_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO ws_slack_app (id, name, bot_id, bot_user_id, token_digest, signing_secret,
                 event_request_url, event_types, events_verified, slash_commands,
                 interactivity_url, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .bind(app.id.as_str())
        .bind(&app.name)
        .bind(app.bot_id.as_str())
        .bind(app.bot_user_id.as_str())
        .bind(hex::encode(token_digest))
        .bind(&app.signing_secret)
        .bind(app.events.as_ref().map(|e| e.request_url.as_str()))
        .bind(event_types_json(app))
        .bind(app.events.as_ref().is_some_and(|e| e.verified))
        .bind(commands_json(&app.slash_commands))
        .bind(app.interactivity_url.as_ref().map(|u| u.as_str()))
        .bind(to_ms(app.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_slack_app(&self, id: &SlackAppId) -> StoreResult<Option<SlackApp>> {
        let row = sqlx::query("SELECT * FROM ws_slack_app WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(slack_app))
    }

    async fn list_slack_apps(&self) -> StoreResult<Vec<SlackApp>> {
        let rows = sqlx::query("SELECT * FROM ws_slack_app ORDER BY created_at, id")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(slack_app).collect())
    }

    async fn update_slack_app(&self, app: &SlackApp) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE ws_slack_app SET name = ?2, event_request_url = ?3, event_types = ?4,
                 events_verified = ?5, slash_commands = ?6, interactivity_url = ?7
             WHERE id = ?1",
        )
        .bind(app.id.as_str())
        .bind(&app.name)
        .bind(app.events.as_ref().map(|e| e.request_url.as_str()))
        .bind(event_types_json(app))
        .bind(app.events.as_ref().is_some_and(|e| e.verified))
        .bind(commands_json(&app.slash_commands))
        .bind(app.interactivity_url.as_ref().map(|u| u.as_str()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE ws_user SET real_name = ?2 WHERE id = ?1")
            .bind(app.bot_user_id.as_str())
            .bind(&app.name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_slack_app(&self, id: &SlackAppId) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        let bot_user: Option<String> =
            sqlx::query_scalar("DELETE FROM ws_slack_app WHERE id = ?1 RETURNING bot_user_id")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(bot_user) = bot_user else {
            return Err(StoreError::NotFound);
        };
        sqlx::query("UPDATE ws_user SET deleted = 1 WHERE id = ?1")
            .bind(bot_user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_slack_app_token(&self, id: &SlackAppId, digest: &[u8; 32]) -> StoreResult<()> {
        let done = sqlx::query("UPDATE ws_slack_app SET token_digest = ?2 WHERE id = ?1")
            .bind(id.as_str())
            .bind(hex::encode(digest))
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn slack_app_by_token(&self, digest: &[u8; 32]) -> StoreResult<Option<SlackApp>> {
        let row = sqlx::query("SELECT * FROM ws_slack_app WHERE token_digest = ?1")
            .bind(hex::encode(digest))
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(slack_app))
    }

    async fn ensure_user(&self, u: &WsUser) -> StoreResult<WsUser> {
        sqlx::query(
            "INSERT INTO ws_user (id, name, real_name, is_bot, app_id, bot_id, deleted, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(u.id.as_str())
        .bind(&u.name)
        .bind(&u.real_name)
        .bind(u.is_bot)
        .bind(u.app_id.as_ref().map(|a| a.as_str()))
        .bind(u.bot_id.as_ref().map(|b| b.as_str()))
        .bind(u.deleted)
        .bind(to_ms(u.created_at))
        .execute(&self.write)
        .await?;
        let row = sqlx::query("SELECT * FROM ws_user WHERE id = ?1")
            .bind(u.id.as_str())
            .fetch_one(&self.write)
            .await?;
        Ok(user(&row))
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<Option<WsUser>> {
        let row = sqlx::query("SELECT * FROM ws_user WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(user))
    }

    async fn list_users(&self, after: Option<&UserId>, limit: u32) -> StoreResult<Vec<WsUser>> {
        let rows =
            sqlx::query("SELECT * FROM ws_user WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2")
                .bind(after.map(|u| u.as_str()))
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
        Ok(rows.iter().map(user).collect())
    }

    async fn get_channel_message(
        &self,
        channel: &ChannelId,
        ts: Ts,
    ) -> StoreResult<Option<ChannelMessage>> {
        let row = sqlx::query("SELECT * FROM ws_message WHERE channel_id = ?1 AND ts = ?2")
            .bind(channel.as_str())
            .bind(ts.micros())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(message))
    }

    async fn edit_channel_message(
        &self,
        channel: &ChannelId,
        ts: Ts,
        edit: &MessageEdit,
        events: &[Message],
    ) -> StoreResult<Option<ChannelMessage>> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "UPDATE ws_message SET text = ?3, attachments = ?4, blocks = ?5, edited_ts = ?6
             WHERE channel_id = ?1 AND ts = ?2 RETURNING *",
        )
        .bind(channel.as_str())
        .bind(ts.micros())
        .bind(&edit.text)
        .bind(&edit.attachments)
        .bind(&edit.blocks)
        .bind(edit.edited.micros())
        .fetch_optional(&mut *tx)
        .await?;
        let queued = match row {
            Some(_) => queue_in(&mut tx, events).await?,
            None => 0,
        };
        tx.commit().await?;
        self.queued(queued);
        Ok(row.as_ref().map(message))
    }

    async fn delete_channel_message(
        &self,
        channel: &ChannelId,
        ts: Ts,
        events: &[Message],
    ) -> StoreResult<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM ws_message WHERE channel_id = ?1 AND ts = ?2")
            .bind(channel.as_str())
            .bind(ts.micros())
            .execute(&mut *tx)
            .await?;
        let deleted = done.rows_affected() > 0;
        let queued = if deleted {
            queue_in(&mut tx, events).await?
        } else {
            0
        };
        tx.commit().await?;
        self.queued(queued);
        Ok(deleted)
    }

    async fn add_reaction(
        &self,
        channel: &ChannelId,
        r: &Reaction,
        now_ms: i64,
        events: &[Message],
    ) -> StoreResult<ReactionChange> {
        let mut tx = self.write.begin().await?;
        // One statement, so two nodes reacting at once store one row and neither fails.
        let done = sqlx::query(
            "INSERT INTO ws_reaction (channel_id, ts, name, user_id, created_at)
             SELECT ?1, ?2, ?3, ?4, ?5
             WHERE EXISTS (SELECT 1 FROM ws_message WHERE channel_id = ?1 AND ts = ?2)
             ON CONFLICT DO NOTHING",
        )
        .bind(channel.as_str())
        .bind(r.ts.micros())
        .bind(r.name.as_str())
        .bind(r.user_id.as_str())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            let queued = queue_in(&mut tx, events).await?;
            tx.commit().await?;
            self.queued(queued);
            return Ok(ReactionChange::Done);
        }
        tx.rollback().await?;
        self.unchanged_or_no_message(channel, r.ts).await
    }

    async fn remove_reaction(
        &self,
        channel: &ChannelId,
        r: &Reaction,
        events: &[Message],
    ) -> StoreResult<ReactionChange> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "DELETE FROM ws_reaction
             WHERE channel_id = ?1 AND ts = ?2 AND name = ?3 AND user_id = ?4",
        )
        .bind(channel.as_str())
        .bind(r.ts.micros())
        .bind(r.name.as_str())
        .bind(r.user_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            let queued = queue_in(&mut tx, events).await?;
            tx.commit().await?;
            self.queued(queued);
            return Ok(ReactionChange::Done);
        }
        tx.rollback().await?;
        self.unchanged_or_no_message(channel, r.ts).await
    }

    async fn reactions_between(
        &self,
        channel: &ChannelId,
        first: Ts,
        last: Ts,
    ) -> StoreResult<Vec<Reaction>> {
        let rows = sqlx::query(
            "SELECT * FROM ws_reaction WHERE channel_id = ?1 AND ts BETWEEN ?2 AND ?3
             ORDER BY created_at, name, user_id",
        )
        .bind(channel.as_str())
        .bind(first.micros())
        .bind(last.micros())
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(reaction).collect())
    }
}

impl SqliteStore {
    /// Why a reaction changed nothing: the message is missing, or the reaction already was
    /// (or was not) there.
    async fn unchanged_or_no_message(
        &self,
        channel: &ChannelId,
        ts: Ts,
    ) -> StoreResult<ReactionChange> {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM ws_message WHERE channel_id = ?1 AND ts = ?2")
                .bind(channel.as_str())
                .bind(ts.micros())
                .fetch_optional(&self.read)
                .await?;
        Ok(match exists {
            Some(_) => ReactionChange::Unchanged,
            None => ReactionChange::NoMessage,
        })
    }
}

impl SqliteStore {
    /// One node: the workspace wakes the dispatcher itself after the change.
    fn queued(&self, _deliveries: usize) {}
}
