//! A bin's page: its URL, the requests it captured (new ones added live, without a reload),
//! and a detail pane for the one selected: method, path, query, the body (indented when it is
//! JSON, keys in the sender's order; base64 and a hex dump when it is binary), the headers in
//! the order they came, a replay form that shows the target's answer, and the request as a
//! `curl` command to copy.
//!
//! The live list is the API's bin stream (`http::sse::resumable` on the bin's topic) served
//! behind the console's session, since `EventSource` cannot send the API's bearer token. Its
//! events carry the list row already rendered on the server ([`request_row`]), so the script
//! only inserts it. Everything a request held is escaped by maud: bins take requests from
//! anyone.

use super::bins::{bin_url, load_bin};
use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, badge, Field};
use super::pretty_json::{pretty_within, Budget, NotPretty};
use super::session::Session;
use crate::domain::bins::*;
use crate::domain::EndpointUrl;
use crate::http::sse::{self, LiveItem};
use crate::inspect;
use crate::inspect::replay::ReplayResult;
use crate::services::Services;
use crate::store::bins::CapturePage;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use maud::{html, Markup};
use serde::Deserialize;

/// How many captured requests the page lists.
const REQUESTS_SHOWN: u32 = 100;
/// How much of a binary body the hex view shows.
const HEX_SHOWN: usize = 4096;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/bins/{bin_id}", get(show))
        .route("/bins/{bin_id}/requests/{req_id}/replay", post(replay))
        .route("/bins/{bin_id}/requests/{req_id}/body", get(download_body))
        .route("/bins/{bin_id}/live", get(live))
}

/// A captured request in the list: a link that selects it.
pub fn request_row(c: &Capture, selected: bool) -> Markup {
    let query = if c.query.is_empty() {
        String::new()
    } else {
        format!("?{}", c.query)
    };
    html! {
        li id={"req-" (c.id)} data-req=(c.id) {
            a href={"/bins/" (c.bin_id) "?req=" (c.id)} aria-current=[selected.then_some("true")] {
                span class="method" { (c.method) }
                " "
                span class="mono path" { (c.path) (query) }
                span class="muted small" { (layout::time(c.received_at)) " · " (c.body.len()) " bytes" }
            }
        }
    }
}

/// The most of a body shown as text (raw, or base64 for a binary one) when it is not
/// indented; the rest is behind the download link. HTML escaping can make it up to 6 times
/// larger on the page, still well under a megabyte more per request shown.
const RAW_SHOWN: usize = 128 * 1024;

/// The body as people read it: pretty JSON, text, or (binary) base64 and a hex dump.
///
/// Pretty-printing has a budget ([`Budget::PAGE`]): a body that would indent past it (deep
/// nesting amplifies, two spaces per level on every line) is shown raw, cut at
/// [`RAW_SHOWN`], with a link to download it whole. So a page never holds an amplified body.
fn body_view(c: &Capture) -> Markup {
    if c.body.is_empty() {
        return html! { p class="muted" { "(empty body)" } };
    }
    let download = format!("/bins/{}/requests/{}/body", c.bin_id, c.id);
    match std::str::from_utf8(&c.body) {
        Ok(text) => match pretty_within(text, Budget::PAGE) {
            Ok(p) => html! {
                p class="muted" { "JSON, " (c.body.len()) " bytes · " a href=(download) download { "Download" } }
                pre class="body json" { (p) }
            },
            Err(why) => {
                let shown = cut_at_char(text, RAW_SHOWN);
                html! {
                    p class="muted" {
                        @if why == NotPretty::OverBudget { "JSON (too deep or too large to indent), " } @else { "Text, " }
                        (c.body.len()) " bytes"
                        @if shown.len() < text.len() { ", first " (shown.len()) " shown" }
                        " · " a href=(download) download { "Download" }
                    }
                    pre class="body" { (shown) }
                }
            }
        },
        Err(_) => {
            let head = &c.body[..c.body.len().min(RAW_SHOWN / 4 * 3)];
            let b64 = base64::engine::general_purpose::STANDARD.encode(head);
            html! {
                p class="muted" { "Binary, " (c.body.len()) " bytes · " a href=(download) download { "Download" } }
                h4 { "Base64" @if head.len() < c.body.len() { " (first " (head.len()) " bytes)" } }
                pre class="body" { (b64) }
                h4 { "Hex" @if c.body.len() > HEX_SHOWN { " (first " (HEX_SHOWN) " bytes)" } }
                pre class="body hex" { (hex_dump(&c.body[..c.body.len().min(HEX_SHOWN)])) }
            }
        }
    }
}

/// The longest start of `text` within `max` bytes that ends on a character boundary.
fn cut_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `GET /bins/{bin}/requests/{req}/body`: the captured body as it came, as a download (never
/// rendered inline: it is anyone's bytes).
async fn download_body(
    State(state): State<Services>,
    Path((bin_id, req_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let bin = load_bin(&state, &bin_id).await?;
    let id = CaptureId::parse(&req_id).map_err(|_| PageError::not_found("request"))?;
    let capture = state
        .store
        .get_capture(&bin.id, id)
        .await?
        .ok_or_else(|| PageError::not_found("request"))?;
    let disposition = format!("attachment; filename=\"{}-{}.bin\"", bin.id, capture.id);
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                CONTENT_DISPOSITION,
                // Ids are URL-safe characters, so this always parses.
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        capture.body,
    )
        .into_response())
}

fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = line
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!("{:08x}  {:<47}  {ascii}\n", i * 16, hex.join(" ")));
    }
    out
}

fn replay_view(r: &ReplayResult) -> Markup {
    let ok = r.status.is_some_and(|s| (200..300).contains(&s));
    html! {
        div class="result" id="replay-result" data-state=(if ok { "success" } else { "fail" }) role="status" {
            @match r.status {
                Some(s) => p { strong { "HTTP " (s) } " in " (r.duration_ms) " ms" },
                None => p { strong { "No response" } ": " (r.error.as_deref().unwrap_or("")) " (" (r.duration_ms) " ms)" },
            }
            @if !r.headers.is_empty() {
                details { summary { (r.headers.len()) " response headers" }
                    pre { @for (n, v) in &r.headers { (n) ": " (v) "\n" } }
                }
            }
            @if !r.body.is_empty() { pre { (r.body) } }
        }
    }
}

/// What the detail pane shows besides the request: the replay form's state.
#[derive(Default)]
struct ReplayState {
    url: String,
    error: Option<String>,
    result: Option<ReplayResult>,
}

fn detail(state: &Services, session: &Session, c: &Capture, replay: &ReplayState) -> Markup {
    // A large body is not spelled out (twice: shown and in the copy button) but read from the
    // downloaded file.
    let curl = if c.body.len() > RAW_SHOWN {
        let without_body = Capture {
            body: Vec::new(),
            ..c.clone()
        };
        format!(
            "{} --data-binary @{}-{}.bin",
            inspect::export::curl_command(&without_body, &bin_url(state, &c.bin_id)),
            c.bin_id,
            c.id
        )
    } else {
        inspect::export::curl_command(c, &bin_url(state, &c.bin_id))
    };
    html! {
        section class="card detail" aria-label="Selected request" {
            h2 class="mono" { span class="method" { (c.method) } " " (c.path) }
            dl class="facts" {
                dt { "Query" } dd class="mono" { @if c.query.is_empty() { span class="muted" { "(none)" } } @else { (c.query) } }
                dt { "From" } dd class="mono" { (c.remote_addr) }
                dt { "Received" } dd { (layout::time(c.received_at)) }
                dt { "Id" } dd class="mono" { (c.id) }
            }
            h3 { "Body" }
            (body_view(c))
            h3 { "Headers" }
            div class="table-wrap" {
                table class="headers" {
                    thead { tr { th { "Name" } th { "Value" } } }
                    tbody { @for (n, v) in &c.headers { tr { td class="mono" { (n) } td class="mono" { (v) } } } }
                }
            }
            h3 { "Replay" }
            form method="post" action={"/bins/" (c.bin_id) "/requests/" (c.id) "/replay"} {
                (layout::csrf_field(session))
                div class="row" {
                    (Field { name: "url", label: "Send it again to", value: &replay.url, kind: "url",
                        hint: Some("The same method, headers and body, through the SSRF guard"),
                        error: replay.error.as_deref(), required: true }.render())
                    div class="field" { button type="submit" { "Replay" } }
                }
            }
            @if let Some(r) = &replay.result { (replay_view(r)) }
            h3 { "As curl" }
            div class="copy-row" {
                pre id="curl" class="curl" { (curl) }
                button type="button" class="secondary" data-copy=(curl) hidden { "Copy" }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct ShowQuery {
    req: Option<String>,
}

async fn show(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(bin_id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let selected = match q.req.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => Some(CaptureId::parse(r).map_err(|_| PageError::not_found("request"))?),
        None => None,
    };
    bin_page(
        &state,
        &session,
        &bin_id,
        selected,
        ReplayState::default(),
        StatusCode::OK,
    )
    .await
}

async fn bin_page(
    state: &Services,
    session: &Session,
    bin_id: &str,
    selected: Option<CaptureId>,
    replay: ReplayState,
    status: StatusCode,
) -> Result<Response, PageError> {
    let bin = load_bin(state, bin_id).await?;
    let captures = state
        .store
        .list_captures(
            &bin.id,
            &CapturePage {
                after: None,
                ascending: false,
                limit: REQUESTS_SHOWN,
            },
            &Default::default(),
        )
        .await?;
    // The one asked for (it may be older than the list shows), else the newest.
    let chosen = match selected {
        Some(id) => Some(
            state
                .store
                .get_capture(&bin.id, id)
                .await?
                .ok_or_else(|| PageError::not_found("request"))?,
        ),
        None => captures.first().cloned(),
    };
    let url = bin_url(state, &bin.id);
    let newest = captures
        .first()
        .map(|c| c.id.to_string())
        .unwrap_or_default();
    let title = bin
        .settings
        .name
        .clone()
        .unwrap_or_else(|| bin.id.to_string());
    let body = html! {
        p class="muted" { a href="/bins" { "Request bins" } " /" }
        h1 { (title) @if bin.is_expired(state.clock.now()) { " " (badge("off", "expired")) } }
        div class="card" {
            label for="bin-url" { "Send requests to" }
            div class="copy-row" {
                input id="bin-url" type="text" readonly value=(url) class="mono";
                button type="button" class="secondary" data-copy=(url) hidden { "Copy" }
            }
            p class="hint" { "Any method, any path under it. It answers " (bin.settings.response.status()) " and keeps the last " (bin.settings.max_requests) " requests." }
        }
        div class="inspect" {
            section class="requests" aria-label="Captured requests" {
                h2 { "Requests" }
                p class="muted empty" hidden[!captures.is_empty()] { "Nothing yet. New requests appear here as they arrive: "
                    code { "curl -X POST " (url) " -d '{\"hello\":\"world\"}'" } }
                ul id="requests" class="request-list" aria-live="polite" data-live={"/bins/" (bin.id) "/live"} data-after=(newest) {
                    @for c in &captures { (request_row(c, chosen.as_ref().is_some_and(|s| s.id == c.id))) }
                }
            }
            @if let Some(c) = &chosen { (detail(state, session, c, &replay)) }
        }
    };
    let page = layout::page(session, "/bins", &title, body);
    Ok((status, Html(page.into_string())).into_response())
}

async fn replay(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path((bin_id, req_id)): Path<(String, String)>,
    form: FormFields,
) -> Result<Response, PageError> {
    let bin = load_bin(&state, &bin_id).await?;
    let id = CaptureId::parse(&req_id).map_err(|_| PageError::not_found("request"))?;
    let capture = state
        .store
        .get_capture(&bin.id, id)
        .await?
        .ok_or_else(|| PageError::not_found("request"))?;
    let raw = form.text("url");
    let mut replay = ReplayState {
        url: raw.clone(),
        ..Default::default()
    };
    let status = match EndpointUrl::parse(&raw, state.send.allows_private_url(&raw)) {
        Ok(url) => {
            replay.result = Some(inspect::replay::replay(&state.inspect, &capture, &url).await);
            StatusCode::OK
        }
        Err(e) => {
            replay.error = Some(e.0);
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    bin_page(
        &state,
        &session,
        bin.id.as_str(),
        Some(capture.id),
        replay,
        status,
    )
    .await
}

#[derive(Debug, Deserialize)]
struct LiveQuery {
    /// The newest request the page already shows.
    after: Option<String>,
}

async fn live(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
) -> Result<Response, PageError> {
    let bin = load_bin(&state, &bin_id).await?;
    let after = sse::last_event_id(&headers, q.after)
        .map(|s| CaptureId::parse(&s).map(|c| c.to_string()))
        .transpose()
        .map_err(|_| {
            PageError::status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`after` is not a request id.",
            )
        })?;
    let store = state.store.clone();
    let id = bin.id.clone();
    let sse = sse::resumable(
        &state.live,
        &bin.id.topic(),
        "request",
        after,
        move |after| {
            let store = store.clone();
            let id = id.clone();
            sse::fetched(async move {
                let rows =
                    inspect::capture::captures_after(&store, &id, after.as_deref(), sse::PAGE)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|c| LiveItem {
                        id: c.id.to_string(),
                        data: serde_json::to_string(&serde_json::json!({
                            "id": format!("req-{}", c.id),
                            "html": request_row(&c, false).into_string(),
                        }))
                        .unwrap_or_default(),
                    })
                    .collect())
            })
        },
    );
    Ok(sse.into_response())
}
