//! The public capture route: any method under `/b/{id}`, no token; the bin's own answer.

use super::*;

pub(super) async fn capture(
    State(state): State<Services>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // The raw path, not the decoded parameters: the capture shows what was sent.
    let under_b = uri.path().strip_prefix("/b/").unwrap_or_default();
    let (raw_id, rest) = match under_b.find('/') {
        Some(i) => under_b.split_at(i),
        None => (under_b, ""),
    };
    let bin_id = BinId::parse(raw_id).map_err(|_| ApiError::not_found("bin"))?;
    let body = body_or_413(body, state.config.max_body_bytes)?;
    let request = NewCapture {
        method: method.as_str().to_owned(),
        path: if rest.is_empty() {
            "/".into()
        } else {
            rest.into()
        },
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        remote_addr: remote.to_string(),
        received_at: state.clock.now(),
    };
    match inspect::capture::capture(&state.store, &state.live, &bin_id, &request).await? {
        CaptureOutcome::Captured(_, response) => Ok(bin_response(&state, response).await),
        CaptureOutcome::Expired => Ok((
            StatusCode::GONE,
            Json(serde_json::json!({
                "code": "bin_expired",
                "detail": "this bin has expired and no longer captures requests"
            })),
        )
            .into_response()),
        CaptureOutcome::NotFound => Err(ApiError::not_found("bin")),
    }
}

/// The bin's configured answer, after its delay (cut short if the server is stopping, so a
/// 30-second delay does not hold up shutdown).
pub(super) async fn bin_response(state: &Services, response: BinResponse) -> Response {
    if !response.delay().is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(response.delay()) => {}
            _ = state.live.shutdown().cancelled() => {}
        }
    }
    let mut out = Response::new(Body::from(response.body().to_owned()));
    *out.status_mut() = StatusCode::from_u16(response.status()).unwrap_or(StatusCode::OK);
    for (name, value) in response.headers() {
        // Checked when the bin was set up; a stored value that no longer parses is skipped.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.headers_mut().append(n, v);
        }
    }
    out
}
