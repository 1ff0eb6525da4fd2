//! Slack apps and the people of the workspace: an app's bot token, signing secret, event
//! subscription, slash commands and interactivity URL; users (people and bot users); reaction
//! names.
//!
//! A bot token is the Web API's credential, so it is treated like an incoming webhook's URL
//! token: generated here, shown once, stored only as its SHA-256 digest, and never printed by
//! `Debug`. The signing secret, on the contrary, is shown on every GET: an app needs it to
//! check the requests Kanca sends it (as an outgoing webhook's `signingSecret`).

use super::*;
use crate::domain::EndpointUrl;
use chrono::{DateTime, Utc};

/// A bot token, `xoxb-<team digits>-<bot digits>-<24 alphanumerics>` as Slack shapes them
/// (SDKs and Bolt only look at the `xoxb-` prefix).
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let digits = |rng: &mut rand::rngs::ThreadRng| -> String {
            (0..13)
                .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
                .collect()
        };
        let team = digits(&mut rng);
        let bot = digits(&mut rng);
        let secret = Alphanumeric.sample_string(&mut rng, 24);
        Self(format!("xoxb-{team}-{bot}-{secret}"))
    }

    /// Any `xoxb-` token of sane length and characters; whether it is known is for the store.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let ok = s.starts_with("xoxb-")
            && (10..=255).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new("not a bot token"))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks the token up by.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotToken(…)")
    }
}

/// An app's signing secret: 32 lower-case hex digits, Slack's shape.
pub fn generate_signing_secret() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// A slash command's name: `/` and 1 to 31 lower-case letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct CommandName(String);

impl CommandName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim().to_lowercase();
        let ok = s.strip_prefix('/').is_some_and(|rest| {
            (1..=31).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
        if ok {
            Ok(Self(s))
        } else {
            Err(ParseError::new(format!(
                "`{s}` is not a slash command: use `/` and 1 to 31 lower-case letters, digits, `-` or `_`"
            )))
        }
    }

    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Slack event type an app subscribes to (`message`, `app_mention`, `message.channels` …):
/// 1 to 64 lower-case letters, digits, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct SlackEventName(String);

impl SlackEventName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(format!("`{s}` is not a Slack event type")))
        }
    }

    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A slash command of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand {
    pub command: CommandName,
    pub url: EndpointUrl,
    pub description: String,
    pub usage_hint: String,
}

/// Where an app's events go, and which. `verified` is set once the URL has answered Slack's
/// `url_verification` challenge (phase 2 sends it; until then it stays `false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSubscription {
    pub request_url: EndpointUrl,
    pub event_types: Vec<SlackEventName>,
    pub verified: bool,
}

/// A Slack app with its bot.
#[derive(Debug, Clone)]
pub struct SlackApp {
    pub id: SlackAppId,
    pub name: String,
    pub bot_id: BotId,
    pub bot_user_id: UserId,
    pub signing_secret: String,
    pub events: Option<EventSubscription>,
    pub slash_commands: Vec<SlashCommand>,
    pub interactivity_url: Option<EndpointUrl>,
    pub created_at: DateTime<Utc>,
}

/// A person or an app's bot user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUser {
    pub id: UserId,
    /// The handle (`name` in Slack's user object).
    pub name: String,
    pub real_name: String,
    pub is_bot: bool,
    /// The app and bot of a bot user.
    pub app_id: Option<SlackAppId>,
    pub bot_id: Option<BotId>,
    /// A deleted app's bot user.
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
}

/// An emoji name as `reactions.add` takes it: `thumbsup`, `+1`, `white_check_mark`, a skin
/// tone suffix (`wave::skin-tone-2`); surrounding colons are dropped as Slack's clients do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ReactionName(String);

impl ReactionName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let name = s.trim().trim_matches(':');
        let ok = (1..=100).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-':".contains(&b));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(ParseError::new(format!("`{s}` is not an emoji name")))
        }
    }

    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One person's (or bot's) reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub ts: Ts,
    pub name: ReactionName,
    pub user_id: UserId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_tokens_look_like_slacks_and_hide_in_debug() {
        let token = BotToken::generate();
        assert!(token.expose().starts_with("xoxb-"), "{}", token.expose());
        assert_eq!(token.expose().split('-').count(), 4);
        assert_eq!(BotToken::parse(token.expose()).unwrap(), token);
        assert!(!format!("{token:?}").contains("xoxb"));
        assert!(BotToken::parse("xoxp-1234567890").is_err());
        assert!(BotToken::parse("xoxb-a b").is_err());
    }

    #[test]
    fn command_event_and_reaction_names() {
        assert_eq!(CommandName::parse("/Deploy").unwrap().as_str(), "/deploy");
        assert!(CommandName::parse("deploy").is_err());
        assert!(CommandName::parse("/").is_err());
        assert!(SlackEventName::parse("message.channels").is_ok());
        assert!(SlackEventName::parse("Message").is_err());
        assert_eq!(ReactionName::parse(":+1:").unwrap().as_str(), "+1");
        assert!(ReactionName::parse("wave::skin-tone-2").is_ok());
        assert!(ReactionName::parse("no spaces").is_err());
        assert!(ReactionName::parse("").is_err());
    }

    #[test]
    fn signing_secrets_are_32_hex_digits() {
        let s = generate_signing_secret();
        assert_eq!(s.len(), 32);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
