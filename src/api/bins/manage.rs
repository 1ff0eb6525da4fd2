//! Managing bins: their JSON shapes, create, list, get, replace, patch, delete.

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BinIn {
    name: Option<String>,
    response: Option<ResponseIn>,
    max_requests: Option<u32>,
    ttl_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BinPatch {
    #[serde(default, deserialize_with = "double_option")]
    name: Option<Option<String>>,
    response: Option<ResponseIn>,
    max_requests: Option<u32>,
    ttl_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ResponseIn {
    status: Option<u16>,
    headers: Option<HeadersIn>,
    body: Option<String>,
    delay_ms: Option<u64>,
}

/// Response headers as `[[name, value], …]` (repeats allowed) or `{name: value}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum HeadersIn {
    Pairs(Vec<(String, String)>),
    Map(BTreeMap<String, String>),
}

impl ResponseIn {
    fn parse(self) -> Result<BinResponse, ApiError> {
        let headers = match self.headers {
            None => Vec::new(),
            Some(HeadersIn::Pairs(p)) => p,
            Some(HeadersIn::Map(m)) => m.into_iter().collect(),
        };
        Ok(BinResponse::parse(
            self.status.unwrap_or(200),
            headers,
            self.body.unwrap_or_default(),
            self.delay_ms.unwrap_or(0),
        )?)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BinOut {
    id: BinId,
    name: Option<String>,
    /// Where to send requests: `{public URL}/b/{id}`, and any path under it.
    url: String,
    response: BinResponse,
    max_requests: u32,
    expires_at: DateTime<Utc>,
    expired: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(super) fn bin_out(state: &Services, bin: Bin) -> BinOut {
    BinOut {
        url: bin_url(state, &bin.id),
        expired: bin.is_expired(state.clock.now()),
        id: bin.id,
        name: bin.settings.name,
        response: bin.settings.response,
        max_requests: bin.settings.max_requests,
        expires_at: bin.expires_at,
        created_at: bin.created_at,
        updated_at: bin.updated_at,
    }
}

pub(super) async fn create(
    State(state): State<Services>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<BinOut>), ApiError> {
    let input: BinIn = optional_json(&body_or_413(body, state.config.max_body_bytes)?)?;
    let response = input.response.unwrap_or_default().parse()?;
    let settings = BinSettings::parse(input.name, response, input.max_requests)?;
    let ttl = parse_ttl(input.ttl_seconds)?;
    let bin = inspect::bins::create(&state.store, settings, ttl, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(bin_out(&state, bin))))
}

#[derive(Debug, Deserialize)]
pub(super) struct BinListQuery {
    limit: Option<u32>,
    iterator: Option<String>,
}

pub(super) async fn list(
    State(state): State<Services>,
    ApiQuery(q): ApiQuery<BinListQuery>,
) -> Result<Json<ListResponse<BinOut>>, ApiError> {
    let page = page_request(q.limit, q.iterator)?;
    let rows = state.store.list_bins(&page).await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |b| b.id.to_string(),
        |b| bin_out(&state, b),
    )))
}

/// Newest first, one row more than asked (to know whether the list is done).
pub(super) fn page_request(
    limit: Option<u32>,
    iterator: Option<String>,
) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=250).contains(&limit) {
        return Err(ApiError::Validation(
            "limit must be between 1 and 250".into(),
        ));
    }
    Ok(PageRequest {
        limit: limit + 1,
        iterator: iterator.filter(|i| !i.is_empty()),
        ascending: false,
    })
}

pub(super) async fn fetch(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
) -> Result<Json<BinOut>, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    Ok(Json(bin_out(&state, bin)))
}

/// `PUT`: every setting as given, defaults for the rest; the expiry moves only with
/// `ttlSeconds`.
pub(super) async fn replace(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BinOut>, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let input: BinIn = optional_json(&body_or_413(body, state.config.max_body_bytes)?)?;
    let response = input.response.unwrap_or_default().parse()?;
    let settings = BinSettings::parse(input.name, response, input.max_requests)?;
    let ttl = input.ttl_seconds.map(|s| parse_ttl(Some(s))).transpose()?;
    let bin = inspect::bins::update(&state.store, &bin, settings, ttl, state.clock.now()).await?;
    Ok(Json(bin_out(&state, bin)))
}

/// `PATCH`: only the fields given change (`response` as a whole).
pub(super) async fn patch(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BinOut>, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    let input: BinPatch = optional_json(&body_or_413(body, state.config.max_body_bytes)?)?;
    let old = bin.settings.clone();
    let response = match input.response {
        Some(r) => r.parse()?,
        None => old.response,
    };
    let settings = BinSettings::parse(
        input.name.unwrap_or(old.name),
        response,
        Some(input.max_requests.unwrap_or(old.max_requests)),
    )?;
    let ttl = input.ttl_seconds.map(|s| parse_ttl(Some(s))).transpose()?;
    let bin = inspect::bins::update(&state.store, &bin, settings, ttl, state.clock.now()).await?;
    Ok(Json(bin_out(&state, bin)))
}

pub(super) async fn delete(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let bin = load_bin(&state, &bin_id).await?;
    state.store.delete_bin(&bin.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
