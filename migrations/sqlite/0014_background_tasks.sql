-- Background tasks (issue 13): what recover, replay-missing, bulk-replay and
-- expunge-all-contents did, for `GET /api/v1/background-task` as Svix's SDKs read it. The work
-- is done before the answer, so a task is stored once, finished (or failed).
CREATE TABLE background_task (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL,
    task       TEXT NOT NULL,
    status     TEXT NOT NULL,
    -- What the task did, as JSON (`{"messagesSent": 3}`).
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
