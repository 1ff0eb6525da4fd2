//! Background tasks, as Svix's API reports them. Svix queues recover, replays and purges and
//! answers at once; Kanca does the work before answering (each is a statement or a few pages
//! of them), then records the task as finished, so `GET /api/v1/background-task/{id}` finds
//! what the SDKs were told.

use super::{SendError, Sending};
use crate::domain::*;
use crate::store::PageRequest;

impl Sending {
    /// Records that `task` ran for `app` and what it did.
    pub async fn finished_task(
        &self,
        app: &AppId,
        task: &str,
        data: serde_json::Value,
    ) -> Result<BackgroundTask, SendError> {
        let record = BackgroundTask {
            id: TaskId::generate(),
            task: task.to_owned(),
            status: "finished".to_owned(),
            data,
            updated_at: self.clock.now(),
        };
        self.store.record_task(app, &record).await?;
        Ok(record)
    }

    pub async fn task(&self, id: &str) -> Result<BackgroundTask, SendError> {
        let id = TaskId::parse(id).map_err(|_| SendError::not_found("background task"))?;
        self.store
            .get_task(&id)
            .await?
            .ok_or_else(|| SendError::not_found("background task"))
    }

    pub async fn list_tasks(
        &self,
        page: &PageRequest,
        status: Option<&str>,
        task: Option<&str>,
    ) -> Result<Vec<BackgroundTask>, SendError> {
        Ok(self.store.list_tasks(page, status, task).await?)
    }

    /// Drops every payload of the application (Svix's `expunge-all-contents`); returns how
    /// many messages had one.
    pub async fn expunge_all_contents(&self, app: &AppId) -> Result<u64, SendError> {
        Ok(self.store.expunge_all_payloads(app).await?)
    }
}
