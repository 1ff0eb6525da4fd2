//! One channel message as the console shows it: who posted it (with an app or bot badge for
//! webhook posts, and the hook's `icon_url` as its avatar; `icon_emoji` names are not drawn), its mrkdwn text, Slack's legacy attachments (colour bar, pretext, author,
//! title, text, fields, image, footer) and the simple Block Kit blocks.
//!
//! Formatting follows the sender's flags, as Slack documents them: a message's `text` is mrkdwn
//! unless the message came with `"mrkdwn": false` (then it is shown as typed), and an
//! attachment's `pretext`, `text` and field values are mrkdwn only when its `mrkdwn_in` list
//! names them (`"pretext"`, `"text"`, `"fields"`); Slack's formatting guide: "by default bot
//! message text will be formatted, but attachments are not". An attachment's `fallback`, shown
//! when it has no `text`, `title` or `pretext`, stands in for its `text` and follows its rule.
//!
//! Attachments and blocks are the sender's JSON kept as given, so they are read here
//! leniently: a field of the wrong type is skipped, never an error. Everything shown is
//! escaped; a colour is used only when it is one of Slack's names or a `#rrggbb` value, and
//! it is drawn as an SVG `fill` (the console's CSP forbids inline styles).
//!
//! The same function renders the page and the live stream's events, so a message that
//! arrives live looks exactly like one that was there on load.

use super::layout;
use super::mrkdwn;
use super::session::Session;
use crate::domain::workspace::{ChannelMessage, PosterKind, Ts};
use maud::{html, Markup};
use serde_json::Value;

/// The `id` of a message's element, and of the list of its replies.
pub fn dom_id(ts: Ts) -> String {
    format!("m-{}", ts.to_string().replace('.', "-"))
}

pub fn replies_id(ts: Ts) -> String {
    format!("r-{}", ts.to_string().replace('.', "-"))
}

/// The parent a reply belongs under; `None` for a message that starts a thread or stands
/// alone.
pub fn parent_of(m: &ChannelMessage) -> Option<Ts> {
    m.thread_ts.filter(|t| *t != m.ts)
}

fn who(m: &ChannelMessage) -> &str {
    match m.posted_by {
        // A hook's post shows its `username` override, as Slack does.
        PosterKind::App | PosterKind::Bot => m.username.as_deref().unwrap_or(&m.poster_name),
        PosterKind::User => &m.poster_name,
    }
}

fn avatar(m: &ChannelMessage) -> Markup {
    let initial = who(m)
        .chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_else(|| "?".into());
    let kind = m.posted_by.as_str();
    // A hook's `icon_url` is its avatar, as in Slack (web URLs only, no referrer sent).
    let icon = m
        .icon_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    html! {
        @match icon {
            Some(u) => img class={"avatar " (kind)} src=(u.as_str()) alt="" loading="lazy" referrerpolicy="no-referrer";,
            None => span class={"avatar " (kind)} aria-hidden="true" { (initial) },
        }
    }
}

/// A message, with `replies` (already rendered) under it; `reply_form` is the composer for its
/// thread, when it is shown on the channel page.
///
/// With a `session`, the buttons of its blocks are forms that click them (a `block_actions`
/// to the app that posted the message); without one (the live stream's copy before a reload,
/// an ephemeral message) they are shown but inert.
pub fn render(
    m: &ChannelMessage,
    replies: Option<Markup>,
    reply_form: Option<Markup>,
    session: Option<&Session>,
) -> Markup {
    let ts = m.ts.to_string();
    html! {
        article class="msg" id=(dom_id(m.ts)) data-ts=(ts) {
            (avatar(m))
            div class="msg-body" {
                div class="msg-head" {
                    strong class="msg-who" { (who(m)) }
                    @match m.posted_by {
                        PosterKind::App => { " " (layout::badge("app", "APP")) }
                        PosterKind::Bot => { " " (layout::badge("app", "BOT")) }
                        PosterKind::User => {}
                    }
                    " " span class="muted msg-time" { (layout::time(crate::store::from_ms(m.ts.micros() / 1000))) }
                }
                // With blocks, `text` is the notification fallback: Slack shows only the blocks.
                @if !m.text.is_empty() && !has_blocks(m) { (formatted(&m.text, m.mrkdwn)) }
                @if let Some(a) = m.attachments.as_deref() { (attachments(a)) }
                @if let Some(b) = m.blocks.as_deref() { (blocks(b, session.map(|s| (s, m)))) }
                @if let Some(r) = replies {
                    div class="replies" id=(replies_id(m.ts)) aria-label="Replies" { (r) }
                }
                @if let Some(f) = reply_form { (f) }
            }
        }
    }
}

/// `s` as mrkdwn, or as typed (escaped, Slack's `&lt;` entities decoded, line breaks kept by
/// the stylesheet) when the sender turned formatting off.
fn formatted(s: &str, mrkdwn: bool) -> Markup {
    html! {
        @if mrkdwn { div class="mrkdwn" { (mrkdwn::render(s)) } }
        @else { div class="plain" { (mrkdwn::plain(s)) } }
    }
}

/// Whether an attachment's `mrkdwn_in` names `part` (`"pretext"`, `"text"` or `"fields"`).
fn mrkdwn_in(a: &Value, part: &str) -> bool {
    a.get("mrkdwn_in")
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| p.as_str() == Some(part)))
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// Slack's colour names, or a `#rrggbb` / `rrggbb` value; anything else has no colour.
fn colour(v: &Value) -> Option<String> {
    let c = text(v, "color")?;
    let named = match c {
        "good" => Some("#2eb67d"),
        "warning" => Some("#daa038"),
        "danger" => Some("#e01e5a"),
        _ => None,
    };
    if let Some(n) = named {
        return Some(n.to_owned());
    }
    let hex = c.strip_prefix('#').unwrap_or(c);
    (hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| format!("#{hex}"))
}

/// An image from the sender: only http(s) URLs, loaded lazily without a referrer.
fn image(url: Option<&str>, alt: &str, class: &str) -> Markup {
    let url = url
        .and_then(|u| url::Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    html! {
        @if let Some(u) = url {
            img class=(class) src=(u.as_str()) alt=(alt) loading="lazy" referrerpolicy="no-referrer";
        }
    }
}

fn link_or_text(label: &str, href: Option<&str>) -> Markup {
    let href = href
        .and_then(|u| url::Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    html! {
        @match href {
            Some(u) => a href=(u.as_str()) rel="noopener noreferrer nofollow" target="_blank" { (label) },
            None => (label),
        }
    }
}

fn attachments(json: &str) -> Markup {
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(json) else {
        return html! {};
    };
    html! {
        @for a in list.iter().filter(|a| a.is_object()) {
            div class="att" {
                svg class="att-bar" viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true" {
                    rect width="1" height="1" fill=(colour(a).unwrap_or_else(|| "#d9dde3".into())) {}
                }
                div class="att-body" {
                    @if let Some(p) = text(a, "pretext") { (formatted(p, mrkdwn_in(a, "pretext"))) }
                    @if let Some(n) = text(a, "author_name") {
                        div class="att-author" { (link_or_text(n, text(a, "author_link"))) }
                    }
                    @if let Some(t) = text(a, "title") {
                        div class="att-title" { (link_or_text(t, text(a, "title_link"))) }
                    }
                    @if let Some(t) = text(a, "text") { (formatted(t, mrkdwn_in(a, "text"))) }
                    @else if let (None, None, Some(f)) = (text(a, "title"), text(a, "pretext"), text(a, "fallback")) {
                        (formatted(f, mrkdwn_in(a, "text")))
                    }
                    @if let Some(Value::Array(fields)) = a.get("fields") {
                        div class="att-fields" {
                            @for f in fields.iter().filter(|f| f.is_object()) {
                                div class={"att-field" @if f.get("short").and_then(Value::as_bool) == Some(true) { " short" }} {
                                    @if let Some(t) = text(f, "title") { div class="att-field-title" { (t) } }
                                    @if let Some(v) = text(f, "value") { (formatted(v, mrkdwn_in(a, "fields"))) }
                                }
                            }
                        }
                    }
                    (image(text(a, "image_url"), text(a, "title").unwrap_or("attached image"), "att-image"))
                    (image(text(a, "thumb_url"), "thumbnail", "att-thumb"))
                    @if let Some(f) = text(a, "footer") { div class="att-footer muted" { (f) } }
                }
            }
        }
    }
}

/// A Block Kit text object: `mrkdwn` is rendered, `plain_text` shown as is.
fn block_text(t: &Value) -> Markup {
    let Some(s) = text(t, "text") else {
        return html! {};
    };
    html! {
        @if t.get("type").and_then(Value::as_str) == Some("mrkdwn") { (mrkdwn::render(s)) } @else { (s) }
    }
}

/// Whether the message has blocks to show (then its `text` is only a fallback).
fn has_blocks(m: &ChannelMessage) -> bool {
    m.blocks
        .as_deref()
        .and_then(|b| serde_json::from_str::<Vec<Value>>(b).ok())
        .is_some_and(|b| !b.is_empty())
}

/// A button of an `actions` block or a section's accessory: a form that clicks it, when the
/// page can (`clickable`), else an inert button.
fn button(e: &Value, clickable: Option<(&Session, &ChannelMessage)>) -> Markup {
    let label = e.get("text").map(block_text).unwrap_or_default();
    let action = text(e, "action_id").unwrap_or("");
    let style = match text(e, "style") {
        Some("primary") => "block-button primary",
        Some("danger") => "block-button danger",
        _ => "block-button secondary",
    };
    html! {
        @match clickable {
            Some((session, m)) if !action.is_empty() => {
                form class="block-action" method="post"
                    action={"/channels/" (m.channel_id) "/messages/" (m.ts.to_string()) "/actions"} {
                    (layout::csrf_field(session))
                    input type="hidden" name="action_id" value=(action);
                    button type="submit" class=(style) { (label) }
                }
            },
            _ => { button type="button" class=(style) disabled { (label) } },
        }
    }
}

fn blocks(json: &str, clickable: Option<(&Session, &ChannelMessage)>) -> Markup {
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(json) else {
        return html! {};
    };
    html! {
        @for b in &list {
            @match b.get("type").and_then(Value::as_str).unwrap_or("") {
                "header" => { div class="block-header" { (b.get("text").map(block_text).unwrap_or_default()) } },
                "actions" => {
                    div class="block block-actions" {
                        @if let Some(Value::Array(els)) = b.get("elements") {
                            @for e in els {
                                @if text(e, "type") == Some("button") { (button(e, clickable)) }
                            }
                        }
                    }
                },
                "section" => {
                    div class="block mrkdwn" {
                        @if let Some(t) = b.get("text") { div { (block_text(t)) } }
                        @if let Some(a) = b.get("accessory").filter(|a| text(a, "type") == Some("button")) {
                            (button(a, clickable))
                        }
                        @if let Some(Value::Array(fields)) = b.get("fields") {
                            div class="att-fields" { @for f in fields { div class="att-field short" { (block_text(f)) } } }
                        }
                    }
                },
                "context" => {
                    div class="block muted" {
                        @if let Some(Value::Array(els)) = b.get("elements") { @for e in els { (block_text(e)) " " } }
                    }
                },
                "divider" => { hr; },
                "image" => { (image(text(b, "image_url"), text(b, "alt_text").unwrap_or("image"), "att-image")) },
                _ => {},
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_names_or_hex_only() {
        let c = |s: &str| colour(&serde_json::json!({ "color": s }));
        assert_eq!(c("danger").as_deref(), Some("#e01e5a"));
        assert_eq!(c("36a64f").as_deref(), Some("#36a64f"));
        assert_eq!(c("#36A64F").as_deref(), Some("#36A64F"));
        assert_eq!(c("red\" onload=\"x"), None);
        assert_eq!(c("url(x)"), None);
    }

    #[test]
    fn attachments_escape_and_keep_images_to_web_urls() {
        let html = attachments(
            r#"[{"color":"danger","title":"<b>CPU</b>","title_link":"javascript:alert(1)",
                "fields":[{"title":"Host","value":"*db-1*","short":true}],"mrkdwn_in":["fields"],
                "image_url":"javascript:alert(2)"}]"#,
        )
        .into_string();
        assert!(html.contains("&lt;b&gt;CPU&lt;/b&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("<strong>db-1</strong>"), "{html}");
        assert!(html.contains(r##"fill="#e01e5a""##), "{html}");
        assert_eq!(attachments("not json").into_string(), "");
    }

    #[test]
    fn text_is_plain_when_mrkdwn_is_false() {
        let mut m = crate::domain::workspace::NewChannelMessage {
            text: "*bold* &lt;b&gt;\nnext".into(),
            mrkdwn: false,
            username: None,
            icon_emoji: None,
            icon_url: None,
            attachments: None,
            blocks: None,
            thread_ts: None,
            posted_by: PosterKind::App,
            poster_name: "hook".into(),
            user_id: None,
        }
        .stored_as(
            &crate::domain::workspace::ChannelId::generate(),
            Ts::from_micros(1),
        );
        let html = render(&m, None, None, None).into_string();
        assert!(html.contains("*bold* &lt;b&gt;\nnext"), "{html}");
        assert!(!html.contains("<strong>"), "{html}");
        m.mrkdwn = true;
        let html = render(&m, None, None, None).into_string();
        assert!(html.contains("<strong>bold</strong>"), "{html}");
    }

    #[test]
    fn attachments_format_only_what_mrkdwn_in_names() {
        let att = |mrkdwn_in: &str| {
            attachments(&format!(
                r#"[{{"pretext":"*p*","text":"*t*","fields":[{{"title":"F","value":"*v*"}}]{mrkdwn_in}}}]"#
            ))
            .into_string()
        };
        let none = att("");
        assert!(!none.contains("<strong>"), "{none}");
        for part in ["*p*", "*t*", "*v*"] {
            assert!(none.contains(part), "{none}");
        }
        let text_only = att(r#","mrkdwn_in":["text"]"#);
        assert!(text_only.contains("<strong>t</strong>"), "{text_only}");
        assert!(
            text_only.contains("*p*") && text_only.contains("*v*"),
            "{text_only}"
        );
        let all = att(r#","mrkdwn_in":["pretext","text","fields"]"#);
        for part in ["p", "t", "v"] {
            assert!(all.contains(&format!("<strong>{part}</strong>")), "{all}");
        }
    }
}
