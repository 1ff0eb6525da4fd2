//! Server-Sent Events that resume where the client left off.
//!
//! Every live stream (a channel's messages, a bin's captures) has the same shape: rows with an
//! increasing id in the database, and a [`crate::live`] topic that says "there are new rows".
//! [`resumable`] turns that into an SSE response: it reads the rows after the client's
//! `Last-Event-ID` (the header browsers send when they reconnect, or `?lastEventId=` for a
//! first connection that wants to resume), sends them, then sleeps on the topic and reads
//! again after the last id it sent. A reconnect therefore never loses or repeats an event.
//!
//! The stream ends when the server shuts down (so graceful shutdown is not held up) or when a
//! read fails (the client reconnects and resumes from its last id).

use crate::error::ApiError;
use crate::live::{LiveHub, Subscription};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

/// How many rows one read fetches; a full page is followed by another read at once.
pub const PAGE: u32 = 200;

/// One event of a stream: its id (the resume cursor) and its JSON data.
pub struct LiveItem {
    pub id: String,
    pub data: String,
}

type Fetched = Pin<Box<dyn Future<Output = Result<Vec<LiveItem>, ApiError>> + Send>>;

/// The id a client resumes after: the `Last-Event-ID` header, else `lastEventId` from the
/// query (which callers extract and pass as `query_value`).
pub fn last_event_id(headers: &HeaderMap, query_value: Option<String>) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query_value)
        .filter(|v| !v.is_empty())
}

/// An SSE response for `topic`. `fetch(after)` returns up to [`PAGE`] rows after the cursor
/// (all from the start when `None`) in ascending id order; each becomes an event named
/// `event_name`.
pub fn resumable<F>(
    hub: &LiveHub,
    topic: &str,
    event_name: &'static str,
    after: Option<String>,
    fetch: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: Fn(Option<String>) -> Fetched + Send + Sync + 'static,
{
    // Subscribed before the first read: news committed in between still wakes us.
    let state = StreamState {
        subscription: hub.subscribe(topic),
        cursor: after,
        pending: Vec::new().into_iter(),
        read_again: true,
        fetch,
    };
    let stream = futures::stream::unfold(state, move |mut s| async move {
        loop {
            if let Some(item) = s.pending.next() {
                s.cursor = Some(item.id.clone());
                let event = Event::default()
                    .event(event_name)
                    .id(item.id)
                    .data(item.data);
                return Some((Ok(event), s));
            }
            if !s.read_again && !s.subscription.changed().await {
                return None;
            }
            match (s.fetch)(s.cursor.clone()).await {
                Ok(items) => {
                    s.read_again = items.len() >= PAGE as usize;
                    s.pending = items.into_iter();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a live stream could not read; it ends and the client resumes");
                    return None;
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

struct StreamState<F> {
    subscription: Subscription,
    cursor: Option<String>,
    pending: std::vec::IntoIter<LiveItem>,
    /// Read before waiting: on the first poll, and after a full page.
    read_again: bool,
    fetch: F,
}

/// Boxes a fetch future, so callers can write `|after| fetched(async move { … })`.
pub fn fetched<Fut>(fut: Fut) -> Fetched
where
    Fut: Future<Output = Result<Vec<LiveItem>, ApiError>> + Send + 'static,
{
    Box::pin(fut)
}
