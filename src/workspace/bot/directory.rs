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

    /// `conversations.info` and `conversations.join` (every bot is in every channel, so
    /// joining only checks that the channel can be joined).
    pub async fn bot_channel_info(
        &self,
        channel: Option<&str>,
        joining: bool,
    ) -> Result<Channel, SlackApiError> {
        let channel = self.bot_channel(channel).await?;
        if joining && channel.archived {
            return Err(SlackApiError::IsArchived);
        }
        Ok(channel)
    }

    /// `conversations.create`.
    pub async fn bot_create_channel(&self, name: Option<&str>) -> Result<Channel, SlackApiError> {
        let name = name.ok_or(SlackApiError::InvalidName)?;
        // Slack does not fold case or drop a `#` here: such a name is refused.
        if name.starts_with('#') || name.chars().any(|c| c.is_uppercase()) {
            return Err(SlackApiError::InvalidName);
        }
        match self.create_channel(name).await {
            Ok(channel) => Ok(channel),
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
