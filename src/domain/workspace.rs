//! The Slack-compatible workspace's values: team, channel and hook ids, channel names, message
//! timestamps (`ts`), trigger words, IP allow-lists, and the records built from them.
//!
//! Slack's ids are a letter and upper-case alphanumerics (`T…` team, `C…` channel, `B…` hook);
//! channel names are lower case, so a path segment that parses as an id is never a name
//! ([`ChannelRef`]). A message's `ts` is Slack's "seconds.microseconds" string; Kanca keeps it
//! as microseconds, unique and increasing per channel, so it doubles as the cursor of a
//! channel's live stream.

use super::ParseError;
use ipnet::IpNet;
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use std::net::IpAddr;

mod apps;
mod records;
pub use apps::*;
pub use records::*;

macro_rules! slack_id {
    ($(#[$doc:meta])* $name:ident, $letter:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The letter and ten random upper-case alphanumerics.
            pub fn generate() -> Self {
                const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                let mut rng = rand::thread_rng();
                let rest: String = (0..10)
                    .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
                    .collect();
                Self(format!("{}{rest}", $letter))
            }

            /// Slack's shape: the letter, then 6 to 20 upper-case letters or digits.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                match s.strip_prefix($letter) {
                    Some(rest)
                        if (6..=20).contains(&rest.len())
                            && rest
                                .bytes()
                                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) =>
                    {
                        Ok(Self(s.to_owned()))
                    }
                    _ => Err(ParseError::new(format!(
                        "`{s}` is not a valid {} id",
                        $letter
                    ))),
                }
            }

            /// For values read back from our own database.
            pub(crate) fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

slack_id!(
    /// The workspace (one per installation).
    TeamId, "T"
);
slack_id!(
    /// A channel.
    ChannelId, "C"
);
slack_id!(
    /// An incoming webhook (Slack calls its integrations "bots": `B…`).
    HookId, "B"
);
slack_id!(
    /// An outgoing webhook.
    OutgoingHookId, "W"
);
slack_id!(
    /// A Slack app (`A…`, Slack's `api_app_id`).
    SlackAppId, "A"
);
slack_id!(
    /// An app's bot (`B…`, Slack's `bot_id`), beside its bot *user* ([`UserId`]).
    BotId, "B"
);
slack_id!(
    /// A user: a person or an app's bot user (`U…`).
    UserId, "U"
);

/// A channel's name as Slack allows it: 1–80 characters of lower-case letters, digits, `-`
/// and `_`. A leading `#` is dropped and upper case is folded, as Slack's own UI does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SlackChannelName(String);

impl SlackChannelName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let name = s.trim().trim_start_matches('#').to_lowercase();
        let ok = (1..=80).contains(&name.chars().count())
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(name))
        } else {
            Err(ParseError::new(format!(
                "`{s}` is not a valid channel name: use 1 to 80 lower-case letters, digits, `-` or `_`"
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

/// A channel named by id (`C…`) or by name (`alerts`, `#alerts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelRef {
    Id(ChannelId),
    Name(SlackChannelName),
}

impl ChannelRef {
    /// Ids are upper case and names lower case, so the id is tried first on the text as given.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match ChannelId::parse(s.trim()) {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => SlackChannelName::parse(s).map(Self::Name),
        }
    }
}

/// A message's Slack timestamp, kept as microseconds since the epoch. Shown as Slack shows it,
/// `"1531420618.000200"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(i64);

impl Ts {
    pub fn from_micros(us: i64) -> Self {
        Self(us)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// `seconds[.fraction]`, as Slack sends it (the fraction is padded or cut to 6 digits).
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new(format!("`{s}` is not a message timestamp (ts)"));
        let s = s.trim();
        let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
        if secs.is_empty()
            || !secs.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || secs.len() > 12
        {
            return Err(bad());
        }
        let secs: i64 = secs.parse().map_err(|_| bad())?;
        let mut micros = 0i64;
        for (i, b) in frac.bytes().take(6).enumerate() {
            micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        Ok(Self(secs * 1_000_000 + micros))
    }
}

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{:06}",
            self.0.div_euclid(1_000_000),
            self.0.rem_euclid(1_000_000)
        )
    }
}

impl serde::Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The secret last segment of an incoming webhook's URL: 24 random alphanumerics (Slack's
/// length). Never shown in `Debug`, so it cannot reach a log by mistake.
#[derive(Clone, PartialEq, Eq)]
pub struct HookToken(String);

impl HookToken {
    pub fn generate() -> Self {
        Self(Alphanumeric.sample_string(&mut rand::thread_rng(), 24))
    }

    /// Any token a URL may carry: 8 to 128 alphanumerics. (Only tokens that match a stored
    /// digest get anywhere; this only keeps junk out of the hash.)
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if (8..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new("not a hook token"))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps: SHA-256 of the token, so a copy of the database does not hand
    /// out working hook URLs.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for HookToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookToken(…)")
    }
}

/// A path with a hook token in it, cut down to what can be logged and stored:
/// `/services/T…/B…/abcd…` (the first four characters of the token, then `…`).
pub fn mask_hook_path(path: &str) -> String {
    let mut parts: Vec<String> = path.split('/').map(str::to_owned).collect();
    if parts.len() >= 5 && parts[1] == "services" {
        let token = &parts[4];
        let shown: String = token.chars().take(4).collect();
        parts[4] = format!("{shown}…");
        parts.truncate(5);
    }
    let masked = parts.join("/");
    masked.chars().take(200).collect()
}

/// Who posted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosterKind {
    /// A person, through the API or the console.
    User,
    /// An incoming webhook.
    App,
    /// An outgoing webhook's reply: never triggers outgoing webhooks again.
    Bot,
}

impl PosterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::App => "app",
            Self::Bot => "bot",
        }
    }

    pub(crate) fn from_trusted(s: &str) -> Self {
        match s {
            "app" => Self::App,
            "bot" => Self::Bot,
            _ => Self::User,
        }
    }
}

/// When an outgoing webhook's trigger word matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerWhen {
    /// The message's first word equals a trigger word (Slack's default).
    FirstWord,
    /// The message starts with a trigger word.
    StartsWith,
}

impl TriggerWhen {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstWord => "first_word",
            Self::StartsWith => "starts_with",
        }
    }

    pub(crate) fn from_trusted(s: &str) -> Self {
        if s == "starts_with" {
            Self::StartsWith
        } else {
            Self::FirstWord
        }
    }
}

/// How an outgoing webhook's request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutgoingContentType {
    /// `application/x-www-form-urlencoded`, as Slack sends.
    Form,
    Json,
}

impl OutgoingContentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Json => "json",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Form => "application/x-www-form-urlencoded",
            Self::Json => "application/json",
        }
    }

    pub(crate) fn from_trusted(s: &str) -> Self {
        if s == "json" {
            Self::Json
        } else {
            Self::Form
        }
    }
}

/// A trigger word: 1–100 characters, no surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct TriggerWord(String);

impl TriggerWord {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let w = s.trim();
        if (1..=100).contains(&w.chars().count()) {
            Ok(Self(w.to_owned()))
        } else {
            Err(ParseError::new(
                "trigger words must be 1 to 100 characters long",
            ))
        }
    }

    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an incoming webhook may be called from: CIDRs (`10.0.0.0/8`) or single addresses.
/// Empty means anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedIps(Vec<IpNet>);

impl AllowedIps {
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, ParseError> {
        let mut nets = Vec::with_capacity(list.len());
        for item in list {
            let s = item.as_ref().trim();
            let net = match s.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    ParseError::new(format!("`{s}` is not an IP address or CIDR range"))
                })?,
            };
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    /// Whether `ip` may call. IPv4-mapped IPv6 addresses count as their IPv4 address.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|n| n.to_string()).collect()
    }
}

/// A per-hook rate: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookRate {
    pub per_second: u32,
    pub burst: u32,
}

impl HookRate {
    pub fn parse(per_second: u32, burst: u32) -> Result<Self, ParseError> {
        if per_second == 0 || burst == 0 || per_second > 100_000 || burst > 100_000 {
            return Err(ParseError::new(
                "rate limits must be between 1 and 100000 (per second, and burst)",
            ));
        }
        Ok(Self { per_second, burst })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_round_trips_as_slack_writes_it() {
        let ts = Ts::parse("1531420618.000200").unwrap();
        assert_eq!(ts.micros(), 1_531_420_618_000_200);
        assert_eq!(ts.to_string(), "1531420618.000200");
        assert_eq!(Ts::parse("12").unwrap().to_string(), "12.000000");
        assert_eq!(Ts::parse("12.5").unwrap().micros(), 12_500_000);
        assert!(Ts::parse("x.1").is_err());
        assert!(Ts::parse("").is_err());
    }

    #[test]
    fn ids_and_names_do_not_collide() {
        let id = ChannelId::generate();
        assert_eq!(ChannelRef::parse(id.as_str()).unwrap(), ChannelRef::Id(id));
        assert_eq!(
            ChannelRef::parse("#Alerts").unwrap(),
            ChannelRef::Name(SlackChannelName::parse("alerts").unwrap())
        );
        assert!(SlackChannelName::parse("has space").is_err());
        assert!(HookId::parse("C12345678").is_err());
    }

    #[test]
    fn hook_paths_are_masked() {
        assert_eq!(
            mask_hook_path("/services/T0001/B0002/abcdefghijklmnopqrstuvwx"),
            "/services/T0001/B0002/abcd…"
        );
    }

    #[test]
    fn allow_lists_match_cidrs_and_mapped_addresses() {
        let list = AllowedIps::parse(&["10.0.0.0/8", "192.168.1.7"]).unwrap();
        assert!(list.allows("10.2.3.4".parse().unwrap()));
        assert!(list.allows("::ffff:10.2.3.4".parse().unwrap()));
        assert!(list.allows("192.168.1.7".parse().unwrap()));
        assert!(!list.allows("192.168.1.8".parse().unwrap()));
        assert!(AllowedIps::default().allows("8.8.8.8".parse().unwrap()));
        assert!(AllowedIps::parse(&["nope"]).is_err());
    }
}
