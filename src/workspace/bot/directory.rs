//! What a bot can look up and create: channels (listed by name, one by id or name, created,
//! joined) and users.

use super::{page_of, Page, SlackApiError};
use crate::domain::workspace::*;
use crate::workspace::{Workspace, WorkspaceError};

impl Workspace {
    /// `conversations.list`: channels by name, after the cursor's name.
    pub async fn bot_channels(
        &self,
        after: Option<&SlackChannelName>,
        limit: u32,
        exclude_archived: bool,
    ) -> Result<Page<Channel, SlackChannelName>, SlackApiError> {
        let rows: Vec<Channel> = self
            .deps
            .store
            .list_channels()
            .await?
            .into_iter()
            .filter(|c| after.is_none_or(|a| c.name > *a))
            .filter(|c| !(exclude_archived && c.archived))
            .take(limit as usize + 1)
            .collect();
        Ok(page_of(rows, limit, |c| c.name.clone()))
    }

    /// `conversations.info` and `conversations.join`. Every bot is in every channel, so
    /// joining checks that the channel can be joined and tells subscribed apps
    /// (`member_joined_channel`), as a first join does in Slack.
    pub async fn bot_channel_info(
        &self,
        app: &SlackApp,
        channel: Option<&str>,
        joining: bool,
    ) -> Result<Channel, SlackApiError> {
        let channel = self.bot_channel(channel).await?;
        if joining {
            if channel.archived {
                return Err(SlackApiError::IsArchived);
            }
            self.announce_joined(&app.bot_user_id, &channel).await;
        }
        Ok(channel)
    }

    /// `member_joined_channel` for `user` joining `channel`.
    async fn announce_joined(&self, user: &UserId, channel: &Channel) {
        let event = serde_json::json!({
            "type": "member_joined_channel",
            "user": user,
            "channel": channel.id,
            "channel_type": "C",
            "team": self.team_id(),
            "event_ts": crate::workspace::channels::event_ts(self.deps.clock.now()),
        });
        self.announce("member_joined_channel", event).await;
    }

    /// `conversations.create`.
    pub async fn bot_create_channel(
        &self,
        app: &SlackApp,
        name: Option<&str>,
    ) -> Result<Channel, SlackApiError> {
        let name = name.ok_or(SlackApiError::InvalidName)?;
        // Slack does not fold case or drop a `#` here: such a name is refused.
        if name.starts_with('#') || name.chars().any(|c| c.is_uppercase()) {
            return Err(SlackApiError::InvalidName);
        }
        match self.create_channel_by(name, Some(&app.bot_user_id)).await {
            Ok(channel) => {
                self.announce_joined(&app.bot_user_id, &channel).await;
                Ok(channel)
            }
            Err(WorkspaceError::Invalid(_)) => Err(SlackApiError::InvalidName),
            Err(e) => Err(e.into()),
        }
    }

    /// `users.list`: users by id, after the cursor's.
    pub async fn bot_users(
        &self,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Page<WsUser, UserId>, SlackApiError> {
        let rows = self.deps.store.list_users(after, limit + 1).await?;
        Ok(page_of(rows, limit, |u| u.id.clone()))
    }

    /// `users.info`.
    pub async fn bot_user(&self, id: Option<&str>) -> Result<WsUser, SlackApiError> {
        let id = id
            .and_then(|id| UserId::parse(id.trim()).ok())
            .ok_or(SlackApiError::UserNotFound)?;
        self.deps
            .store
            .get_user(&id)
            .await?
            .ok_or(SlackApiError::UserNotFound)
    }
}
