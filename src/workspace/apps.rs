//! Slack apps (`/api/v1/slack-apps`) and the workspace's users.
//!
//! An app is what a Slack developer configures at api.slack.com: a bot user, a bot token for
//! the Web API, a signing secret, an event subscription, slash commands and an interactivity
//! URL. An event subscription is saved only once its request URL has answered Slack's
//! `url_verification` challenge ([`super::events_api`]).
//!
//! Users: Kanca has no accounts, so a person is whoever posts under a name, and their id is
//! derived from that name ([`super::outgoing::user_id_for`], the id outgoing webhooks already
//! send), stored the first time they post. Each app has one bot user, stored with the app.

use super::outgoing::user_id_for;
use super::{Workspace, WorkspaceError};
use crate::domain::workspace::*;
use crate::domain::EndpointUrl;
use crate::store::StoreError;

/// The console's (and the admin API's) person when nobody else is named.
pub const DEFAULT_PERSON: &str = "kanca";
/// At most this many slash commands per app (Slack allows 50 per app).
const MAX_COMMANDS: usize = 50;
/// At most this many event types per subscription.
const MAX_EVENT_TYPES: usize = 100;

/// An event subscription as given: the request URL and Slack event names.
#[derive(Debug, Clone)]
pub struct EventsSpec {
    pub request_url: String,
    pub event_types: Vec<String>,
}

/// A slash command as given.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub command: String,
    pub url: String,
    pub description: Option<String>,
    pub usage_hint: Option<String>,
}

/// What an app is created or changed with; `None` leaves a field as it is (on create: empty),
/// `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct SlackAppSpec {
    pub name: Option<String>,
    pub events: Option<Option<EventsSpec>>,
    pub slash_commands: Option<Vec<CommandSpec>>,
    pub interactivity_url: Option<Option<String>>,
}

/// A new app, with the bot token that is shown this once.
#[derive(Debug)]
pub struct CreatedSlackApp {
    pub app: SlackApp,
    pub token: BotToken,
}

impl Workspace {
    pub async fn create_slack_app(
        &self,
        spec: SlackAppSpec,
    ) -> Result<CreatedSlackApp, WorkspaceError> {
        let name = spec
            .name
            .as_deref()
            .ok_or_else(|| WorkspaceError::Invalid("`name` is required".into()))?;
        let now = crate::store::from_ms(crate::store::to_ms(self.deps.clock.now()));
        let mut app = SlackApp {
            id: SlackAppId::generate(),
            name: app_name(name)?,
            bot_id: BotId::generate(),
            bot_user_id: UserId::generate(),
            signing_secret: generate_signing_secret(),
            events: None,
            slash_commands: Vec::new(),
            interactivity_url: None,
            created_at: now,
        };
        self.apply_spec(&mut app, spec)?;
        self.verify_events(&mut app).await?;
        let bot = WsUser {
            id: app.bot_user_id.clone(),
            name: handle_for(&app.name),
            real_name: app.name.clone(),
            is_bot: true,
            app_id: Some(app.id.clone()),
            bot_id: Some(app.bot_id.clone()),
            deleted: false,
            created_at: now,
        };
        let token = BotToken::generate();
        self.sync_events_endpoint(&app).await?;
        self.deps
            .store
            .create_slack_app(&app, &bot, &token.digest())
            .await?;
        self.forget_apps();
        Ok(CreatedSlackApp { app, token })
    }

    pub async fn slack_app(&self, id: &str) -> Result<SlackApp, WorkspaceError> {
        let id = SlackAppId::parse(id).map_err(|_| app_not_found())?;
        self.deps
            .store
            .get_slack_app(&id)
            .await?
            .ok_or_else(app_not_found)
    }

    pub async fn list_slack_apps(&self) -> Result<Vec<SlackApp>, WorkspaceError> {
        Ok(self.deps.store.list_slack_apps().await?)
    }

    /// Changes what `spec` names. A new request URL must answer the `url_verification` challenge.
    pub async fn update_slack_app(
        &self,
        id: &str,
        spec: SlackAppSpec,
    ) -> Result<SlackApp, WorkspaceError> {
        let mut app = self.slack_app(id).await?;
        self.apply_spec(&mut app, spec)?;
        self.verify_events(&mut app).await?;
        // The endpoint first: were the app's save to fail, an endpoint no event names is
        // harmless, while a saved subscription without its endpoint would lose events.
        self.sync_events_endpoint(&app).await?;
        self.deps
            .store
            .update_slack_app(&app)
            .await
            .map_err(not_found_or)?;
        self.forget_apps();
        Ok(app)
    }

    pub async fn delete_slack_app(&self, id: &str) -> Result<(), WorkspaceError> {
        let mut app = self.slack_app(id).await?;
        self.deps
            .store
            .delete_slack_app(&app.id)
            .await
            .map_err(not_found_or)?;
        self.forget_apps();
        app.events = None;
        self.sync_events_endpoint(&app).await
    }

    /// Sends Slack's `url_verification` challenge to a request URL that has not answered it
    /// yet; the subscription is saved only once it has (Slack's own rule).
    async fn verify_events(&self, app: &mut SlackApp) -> Result<(), WorkspaceError> {
        let Some(sub) = app.events.as_ref().filter(|s| !s.verified) else {
            return Ok(());
        };
        let url = sub.request_url.clone();
        self.verify_request_url(app, &url).await?;
        if let Some(sub) = app.events.as_mut() {
            sub.verified = true;
        }
        Ok(())
    }

    /// A new bot token; the old one stops working at once (Slack's token rotation).
    pub async fn rotate_slack_app_token(
        &self,
        id: &str,
    ) -> Result<(SlackApp, BotToken), WorkspaceError> {
        let app = self.slack_app(id).await?;
        let token = BotToken::generate();
        self.deps
            .store
            .set_slack_app_token(&app.id, &token.digest())
            .await
            .map_err(not_found_or)?;
        Ok((app, token))
    }

    /// The app a bot token belongs to, looked up by the token's SHA-256 digest: the token
    /// itself is never stored nor compared, so there is no comparison whose timing could
    /// leak it.
    pub async fn app_for_token(&self, token: &str) -> Result<Option<SlackApp>, WorkspaceError> {
        let Ok(token) = BotToken::parse(token) else {
            return Ok(None);
        };
        Ok(self.deps.store.slack_app_by_token(&token.digest()).await?)
    }

    /// The person posting as `name`, stored the first time they post.
    pub async fn ensure_person(&self, name: &str) -> Result<WsUser, WorkspaceError> {
        let id = UserId::parse(&user_id_for(name)).expect("user ids are U and hex");
        if let Some(user) = self.deps.store.get_user(&id).await? {
            return Ok(user);
        }
        let user = WsUser {
            id,
            name: name.to_owned(),
            real_name: name.to_owned(),
            is_bot: false,
            app_id: None,
            bot_id: None,
            deleted: false,
            created_at: self.deps.clock.now(),
        };
        Ok(self.deps.store.ensure_user(&user).await?)
    }

    fn apply_spec(&self, app: &mut SlackApp, spec: SlackAppSpec) -> Result<(), WorkspaceError> {
        let allow_private = self.deps.allow_private_targets;
        let url = |s: &str, what: &str| {
            EndpointUrl::parse(s.trim(), allow_private)
                .map_err(|e| WorkspaceError::Invalid(format!("{what}: {}", e.0)))
        };
        if let Some(name) = spec.name {
            app.name = app_name(&name)?;
        }
        if let Some(events) = spec.events {
            app.events = match events {
                None => None,
                Some(e) => {
                    if e.event_types.len() > MAX_EVENT_TYPES {
                        return Err(WorkspaceError::Invalid(format!(
                            "at most {MAX_EVENT_TYPES} event types"
                        )));
                    }
                    let mut event_types = Vec::with_capacity(e.event_types.len());
                    for t in &e.event_types {
                        let t = SlackEventName::parse(t)?;
                        if !event_types.contains(&t) {
                            event_types.push(t);
                        }
                    }
                    let request_url = url(&e.request_url, "events.requestUrl")?;
                    // A URL that changes must answer the challenge again.
                    let verified = app
                        .events
                        .as_ref()
                        .is_some_and(|old| old.verified && old.request_url == request_url);
                    Some(EventSubscription {
                        request_url,
                        event_types,
                        verified,
                    })
                }
            };
        }
        if let Some(commands) = spec.slash_commands {
            if commands.len() > MAX_COMMANDS {
                return Err(WorkspaceError::Invalid(format!(
                    "at most {MAX_COMMANDS} slash commands"
                )));
            }
            let mut parsed: Vec<SlashCommand> = Vec::with_capacity(commands.len());
            for c in commands {
                let command = CommandName::parse(&c.command)?;
                if parsed.iter().any(|p| p.command == command) {
                    return Err(WorkspaceError::Invalid(format!(
                        "slash command `{}` is listed twice",
                        command.as_str()
                    )));
                }
                parsed.push(SlashCommand {
                    url: url(&c.url, "slashCommands.url")?,
                    description: short_text(c.description, "description", 200)?,
                    usage_hint: short_text(c.usage_hint, "usageHint", 200)?,
                    command,
                });
            }
            app.slash_commands = parsed;
        }
        if let Some(interactivity) = spec.interactivity_url {
            app.interactivity_url = interactivity
                .map(|u| url(&u, "interactivityUrl"))
                .transpose()?;
        }
        Ok(())
    }
}

/// An app's name: 1 to 35 characters (Slack's limit), trimmed.
fn app_name(name: &str) -> Result<String, WorkspaceError> {
    let name = name.trim();
    if (1..=35).contains(&name.chars().count()) {
        Ok(name.to_owned())
    } else {
        Err(WorkspaceError::Invalid(
            "`name` must be 1 to 35 characters long".into(),
        ))
    }
}

fn short_text(s: Option<String>, what: &str, max: usize) -> Result<String, WorkspaceError> {
    let s = s.unwrap_or_default().trim().to_owned();
    if s.chars().count() > max {
        return Err(WorkspaceError::Invalid(format!(
            "`{what}` must be at most {max} characters long"
        )));
    }
    Ok(s)
}

/// A bot user's handle from its app's name, as Slack makes one: lower case, runs of other
/// characters turned into one `-`.
pub(crate) fn handle_for(name: &str) -> String {
    let mut handle = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            handle.push(c);
        } else if !handle.ends_with('-') && !handle.is_empty() {
            handle.push('-');
        }
    }
    let handle = handle.trim_end_matches('-').to_owned();
    if handle.is_empty() {
        "bot".into()
    } else {
        handle
    }
}

fn app_not_found() -> WorkspaceError {
    WorkspaceError::NotFound("slack app not found".into())
}

fn not_found_or(e: StoreError) -> WorkspaceError {
    match e {
        StoreError::NotFound => app_not_found(),
        other => WorkspaceError::Store(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_handles_are_slack_like() {
        assert_eq!(handle_for("Deploy Bot"), "deploy-bot");
        assert_eq!(handle_for("  CI / CD!! "), "ci-cd");
        assert_eq!(handle_for("!!!"), "bot");
    }
}
