//! The page shell every console page shares: head, navigation, sign-out, and small pieces of
//! markup (timestamps, status badges) that several sections render the same way.

use super::assets;
use super::session::{Session, CSRF_FIELD};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

/// One section of the console in the navigation.
pub struct Section {
    pub path: &'static str,
    pub label: &'static str,
}

/// The navigation, in order. A new section is one module with `routes()` and one line here.
pub const SECTIONS: &[Section] = &[
    Section {
        path: "/apps",
        label: "Applications",
    },
    Section {
        path: "/event-types",
        label: "Event catalog",
    },
    Section {
        path: "/messages",
        label: "Messages",
    },
    Section {
        path: "/channels",
        label: "Channels",
    },
    Section {
        path: "/bins",
        label: "Bins",
    },
    Section {
        path: "/sources",
        label: "Sources",
    },
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Kanca" }
            link rel="stylesheet" href=(assets::CSS_PATH);
            script src=(assets::JS_PATH) defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { (body) }
        }
    }
}

/// A console page: navigation with `current` marked, then `body` as the main content.
pub fn page(session: &Session, current: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/apps" { "Kanca" }
                    nav aria-label="Console sections" {
                        ul {
                            @for s in SECTIONS {
                                li {
                                    a href=(s.path) aria-current=[(s.path == current).then_some("page")] { (s.label) }
                                }
                            }
                        }
                    }
                    form class="signout" method="post" action="/logout" {
                        (csrf_field(session))
                        button type="submit" class="link" { "Sign out" }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// The hidden field every form of a session sends back.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

/// A time as people read it, with the exact value in `datetime` for machines.
pub fn time(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
}

/// A coloured badge with a word that says the same (colour is never the only signal).
pub fn badge(kind: &str, text: &str) -> Markup {
    html! { span class={"badge " (kind)} { (text) } }
}

/// A labelled text input with its inline error.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    pub kind: &'a str,
    pub hint: Option<&'a str>,
    pub error: Option<&'a str>,
    pub required: bool,
}

impl Field<'_> {
    pub fn render(&self) -> Markup {
        let id = format!("f-{}", self.name);
        let described = match (self.hint, self.error) {
            (_, Some(_)) => Some(format!("{id}-error")),
            (Some(_), None) => Some(format!("{id}-hint")),
            _ => None,
        };
        html! {
            div class="field" {
                label for=(id) { (self.label) }
                input id=(id) name=(self.name) type=(self.kind) value=(self.value)
                    required[self.required]
                    aria-invalid=[self.error.map(|_| "true")]
                    aria-describedby=[described];
                @if let Some(e) = self.error {
                    p id={(id) "-error"} class="field-error" { (e) }
                } @else if let Some(h) = self.hint {
                    p id={(id) "-hint"} class="hint" { (h) }
                }
            }
        }
    }
}
