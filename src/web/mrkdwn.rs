//! Slack's `mrkdwn`, rendered minimally and safely: message text comes from whoever holds a
//! hook URL, so nothing in it is ever markup.
//!
//! The text is split into a few kinds of span (plain text, `*bold*`, `` `code` ``, links
//! `<url|label>`, mentions `<@U…>` `<#C…|name>` `<!here>`), and each span is handed to
//! [`maud`], which escapes it. Only `http`, `https` and `mailto` links become anchors (a
//! `javascript:` URL stays text), and they open with `rel="noopener noreferrer nofollow"`.
//! Slack escapes `&`, `<` and `>` in text as entities; those are decoded before maud escapes
//! the text again, so `&lt;` reads as `<`, never as markup. Line breaks are kept by the
//! stylesheet (`white-space: pre-wrap`), not by `<br>`.

use maud::{html, Markup};

#[derive(Debug, PartialEq, Eq)]
enum Span {
    Text(String),
    Bold(String),
    Code(String),
    Link { href: String, label: String },
    Mention(String),
}

/// `text` as HTML.
pub fn render(text: &str) -> Markup {
    html! {
        @for span in parse(text) {
            @match span {
                Span::Text(t) => (t),
                Span::Bold(t) => strong { (t) },
                Span::Code(t) => code { (t) },
                Span::Link { href, label } => a href=(href) rel="noopener noreferrer nofollow" target="_blank" { (label) },
                Span::Mention(t) => span class="mention" { (t) },
            }
        }
    }
}

/// `text` shown as typed, for a message sent with `"mrkdwn": false`: nothing is formatted, but
/// Slack's escaped `&`, `<` and `>` are decoded as for formatted text (maud escapes them again).
pub fn plain(text: &str) -> Markup {
    html! { (unescape(text)) }
}

/// Slack's three escaped characters, decoded (`&amp;` last, so `&amp;lt;` stays `&lt;`).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The link as an `href` (normalised: stray quotes and spaces percent-encoded), if it is a
/// web or mail link.
fn safe_href(target: &str) -> Option<String> {
    let url = url::Url::parse(target).ok()?;
    matches!(url.scheme(), "http" | "https" | "mailto").then(|| url.to_string())
}

/// What `<…>` holds, if it is one of Slack's forms.
fn angle(inner: &str) -> Option<Span> {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(l)),
        None => (inner, None),
    };
    if let Some(id) = target.strip_prefix('@') {
        return Some(Span::Mention(format!("@{}", unescape(label.unwrap_or(id)))));
    }
    if let Some(id) = target.strip_prefix('#') {
        return Some(Span::Mention(format!("#{}", unescape(label.unwrap_or(id)))));
    }
    if let Some(word) = target.strip_prefix('!') {
        let word = word.split('^').next().unwrap_or(word);
        return Some(Span::Mention(format!(
            "@{}",
            unescape(label.unwrap_or(word))
        )));
    }
    let target = unescape(target);
    let href = safe_href(&target)?;
    let label = label.map(unescape).unwrap_or(target);
    Some(Span::Link { href, label })
}

/// The closing `marker` of a span opened at the start of `rest`, on the same line: its byte
/// offset within `rest`, if the span is not empty and does not start or end with a space.
fn closing(rest: &str, marker: char) -> Option<usize> {
    let body = &rest[marker.len_utf8()..];
    let end = body.find([marker, '\n'])?;
    if !body[end..].starts_with(marker) || end == 0 {
        return None;
    }
    let inner = &body[..end];
    if inner.starts_with(char::is_whitespace) || inner.ends_with(char::is_whitespace) {
        return None;
    }
    Some(end + marker.len_utf8())
}

fn parse(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    let flush = |plain: &mut String, spans: &mut Vec<Span>| {
        if !plain.is_empty() {
            spans.push(Span::Text(unescape(plain)));
            plain.clear();
        }
    };
    while let Some(c) = rest.chars().next() {
        let found = match c {
            '<' => rest.find('>').and_then(|end| {
                let inner = &rest[1..end];
                (!inner.is_empty() && !inner.contains(['\n', '<']))
                    .then(|| angle(inner))
                    .flatten()
                    .map(|span| (span, end + 1))
            }),
            '*' | '`' => closing(rest, c).map(|end| {
                let inner = unescape(&rest[1..end]);
                let span = if c == '*' {
                    Span::Bold(inner)
                } else {
                    Span::Code(inner)
                };
                (span, end + 1)
            }),
            _ => None,
        };
        match found {
            Some((span, len)) => {
                flush(&mut plain, &mut spans);
                spans.push(span);
                rest = &rest[len..];
            }
            None => {
                plain.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    flush(&mut plain, &mut spans);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(text: &str) -> String {
        render(text).into_string()
    }

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            html("<script>alert(1)</script> & <img src=x onerror=alert(1)>"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
        );
        // Slack's own escapes decode to characters, which are escaped again.
        assert_eq!(html("a &lt;b&gt; &amp;amp;"), "a &lt;b&gt; &amp;amp;");
    }

    #[test]
    fn links_bold_and_code() {
        assert_eq!(
            html("Deploy *done*: <https://ci.example.com/b/1?a=1&amp;b=2|build 1> `v1.2`"),
            "Deploy <strong>done</strong>: <a href=\"https://ci.example.com/b/1?a=1&amp;b=2\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">build 1</a> <code>v1.2</code>"
        );
        assert_eq!(
            html("<https://example.com>"),
            "<a href=\"https://example.com/\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">https://example.com</a>"
        );
    }

    #[test]
    fn only_web_and_mail_links_become_anchors() {
        assert_eq!(
            html("<javascript:alert(1)|click>"),
            "&lt;javascript:alert(1)|click&gt;"
        );
        assert_eq!(
            html("<https://x.example/\" onmouseover=\"alert(1)|x>"),
            "<a href=\"https://x.example/%22%20onmouseover=%22alert(1)\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">x</a>"
        );
        assert!(!html("<data:text/html,hi|x>").contains("<a"));
    }

    #[test]
    fn a_label_cannot_carry_markup() {
        assert_eq!(
            html("<https://e.example|<b>hi</b>>"),
            "&lt;https://e.example|&lt;b&gt;hi&lt;/b&gt;&gt;"
        );
        assert_eq!(html("*<b>*"), "<strong>&lt;b&gt;</strong>");
    }

    #[test]
    fn mentions_and_unclosed_markers() {
        assert_eq!(
            html("<!here> <@U123|ada> <#C42|ops>"),
            "<span class=\"mention\">@here</span> <span class=\"mention\">@ada</span> <span class=\"mention\">#ops</span>"
        );
        assert_eq!(html("2 * 3 * 4 and `open"), "2 * 3 * 4 and `open");
        assert_eq!(html("**"), "**");
        assert_eq!(html("*a\nb*"), "*a\nb*");
    }
}
