//! `/api/v1/background-task`: the tasks Svix runs in the background (recover, replays, purging
//! payloads). Kanca does their work before answering, so each is listed here as finished.

use super::{ApiQuery, ListQuery, ListResponse, Services};
use crate::domain::*;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<Services> {
    Router::new()
        .route("/background-task", get(list))
        .route("/background-task/{task_id}", get(fetch))
}

/// Svix's `BackgroundTaskOut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskOut {
    id: String,
    status: String,
    task: String,
    #[schema(value_type = Object)]
    data: serde_json::Value,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<BackgroundTask> for TaskOut {
    fn from(t: BackgroundTask) -> Self {
        Self {
            id: t.id.to_string(),
            status: t.status,
            task: t.task,
            data: t.data,
            updated_at: t.updated_at,
        }
    }
}

/// Records a task that has done its work and answers as Svix does when it queues one
/// (`RecoverOut`, `ReplayOut`, `ExpungeAllContentsOut`: 202 with the task), with what it did
/// in `data`, and, for clients of `recover` that read it there, beside it too.
pub(super) async fn finished(
    state: &Services,
    app: &AppId,
    task: &str,
    data: serde_json::Value,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let record = state.send.finished_task(app, task, data).await?;
    let mut out = serde_json::to_value(TaskOut::from(record)).map_err(anyhow::Error::from)?;
    if let Some(extra) = out["data"].as_object().cloned() {
        for (k, v) in extra {
            out[k] = v;
        }
    }
    Ok((StatusCode::ACCEPTED, Json(out)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TaskFilter {
    /// `running`, `finished` or `failed`.
    status: Option<String>,
    /// The kind, e.g. `endpoint.replay`.
    task: Option<String>,
    limit: Option<u32>,
    iterator: Option<String>,
    #[param(value_type = Option<String>)]
    order: Option<super::pagination::Order>,
}

/// Background tasks, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/background-task",
    tag = "background-task",
    params(TaskFilter),
    responses(
        (status = 200, body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn list(
    State(state): State<Services>,
    ApiQuery(q): ApiQuery<TaskFilter>,
) -> Result<Json<ListResponse<TaskOut>>, ApiError> {
    let page = ListQuery {
        limit: q.limit,
        iterator: q.iterator,
        order: q.order,
    }
    .page(false)?;
    let rows = state
        .send
        .list_tasks(&page, q.status.as_deref(), q.task.as_deref())
        .await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |t| t.id.to_string(),
        TaskOut::from,
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/background-task/{task_id}",
    tag = "background-task",
    params(("task_id" = String, Path, description = "Task id (qtask_…)")),
    responses(
        (status = 200, body = TaskOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn fetch(
    State(state): State<Services>,
    Path(task_id): Path<String>,
) -> Result<Json<TaskOut>, ApiError> {
    Ok(Json(state.send.task(&task_id).await?.into()))
}
