//! What a bin captured: list (filtered, paged), get, delete, replay, export as curl or
//! JSON, and the live stream.

use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct RequestListQuery {
    limit: Option<u32>,
    iterator: Option<String>,
    /// Only this method.
    method: Option<String>,
    /// Only paths under the bin that start with this.
    path: Option<String>,
    /// Only requests whose path, query, headers or body contain this text.
    q: Option<String>,
}

pub(super) async fn list_requests(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
    ApiQuery(q): ApiQuery<RequestListQuery>,
) -> Result<Json<ListResponse<CaptureJson>>, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let page = page_request(q.limit, q.iterator)?;
    let after = page.iterator.as_deref().map(CaptureId::parse).transpose()?;
    let filter = CaptureFilter {
        method: q
            .method
            .filter(|m| !m.is_empty())
            .map(|m| m.to_ascii_uppercase()),
        path_prefix: q.path.filter(|p| !p.is_empty()),
        text: q.q.filter(|t| !t.is_empty()),
    };
    let captures = state
        .store
        .list_captures(
            &bin.id,
            &CapturePage {
                after,
                ascending: false,
                limit: page.limit,
            },
            &filter,
        )
        .await?;
    Ok(Json(ListResponse::from_rows(
        captures,
        &page,
        |c| c.id.to_string(),
        CaptureJson::from,
    )))
}

pub(super) async fn fetch_request(
    State(state): State<Services>,
    Path((bin_id, req_id)): Path<(String, String)>,
) -> Result<Json<CaptureJson>, ApiError> {
    let capture = load_capture(&state, &bin_id, &req_id).await?;
    Ok(Json(capture.into()))
}

pub(super) async fn delete_request(
    State(state): State<Services>,
    Path((bin_id, req_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let id = parse_req_id(&req_id)?;
    if state.store.delete_capture(&bin.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("request"))
    }
}

pub(super) async fn clear(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    state.store.clear_captures(&bin.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayIn {
    url: String,
}

pub(super) async fn replay(
    State(state): State<Services>,
    Path((bin_id, req_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ReplayResult>, ApiError> {
    let input: ReplayIn = parse_json(&body_or_413(body, state.config.max_body_bytes)?)?;
    let url = EndpointUrl::parse(&input.url, state.send.allows_private_url(&input.url))?;
    let capture = load_capture(&state, &bin_id, &req_id).await?;
    Ok(Json(
        inspect::replay::replay(&state.inspect, &capture, &url).await,
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct CurlQuery {
    /// The base URL the command targets (default: the bin's own URL).
    url: Option<String>,
}

pub(super) async fn curl(
    State(state): State<Services>,
    Path((bin_id, req_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<CurlQuery>,
) -> Result<Response, ApiError> {
    let capture = load_capture(&state, &bin_id, &req_id).await?;
    let base = match q.url.filter(|u| !u.is_empty()) {
        Some(u) => EndpointUrl::parse(&u, true)?.as_str().to_owned(),
        None => bin_url(&state, &capture.bin_id),
    };
    let command = inspect::export::curl_command(&capture, &base);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        command + "\n",
    )
        .into_response())
}

/// Every captured request of the bin as one JSON array, oldest first, streamed page by page
/// so a full bin is never held in memory at once.
pub(super) async fn export(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
) -> Result<Response, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let store = state.store.clone();
    let id = bin.id.clone();
    // (cursor, first item written yet, finished)
    let pages = futures::stream::unfold(
        (None::<CaptureId>, false, false),
        move |(after, started, finished)| {
            let store = store.clone();
            let id = id.clone();
            async move {
                if finished {
                    return None;
                }
                let page = CapturePage {
                    after,
                    ascending: true,
                    limit: sse::PAGE,
                };
                let rows = match store.list_captures(&id, &page, &Default::default()).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "a bin export could not read; it is cut short");
                        return Some((
                            Err(std::io::Error::other("export failed")),
                            (after, started, true),
                        ));
                    }
                };
                let last = rows.last().map(|c| c.id);
                let done = rows.len() < sse::PAGE as usize;
                let mut chunk = String::new();
                if !started {
                    chunk.push('[');
                }
                for (i, capture) in rows.into_iter().enumerate() {
                    if started || i > 0 {
                        chunk.push(',');
                    }
                    chunk.push_str(
                        &serde_json::to_string(&CaptureJson::from(capture)).unwrap_or_default(),
                    );
                }
                if done {
                    chunk.push(']');
                }
                let started = started || last.is_some();
                Some((
                    Ok::<_, std::io::Error>(Bytes::from(chunk)),
                    (last.or(after), started, done),
                ))
            }
        },
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.json\"", bin.id),
            ),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamQuery {
    last_event_id: Option<String>,
}

/// One `request` event per capture, resumable with `Last-Event-ID` (or `?lastEventId=`).
pub(super) async fn stream(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let after = sse::last_event_id(&headers, q.last_event_id)
        .map(|s| CaptureId::parse(&s))
        .transpose()?;
    let store = state.store.clone();
    let id = bin.id.clone();
    let sse = sse::resumable(
        &state.live,
        &bin.id.topic(),
        "request",
        after.map(|a| a.to_string()),
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
                        data: serde_json::to_string(&CaptureJson::from(c)).unwrap_or_default(),
                    })
                    .collect())
            })
        },
    );
    Ok(sse.into_response())
}
