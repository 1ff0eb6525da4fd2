-- Sources (issue 18): Svix's Ingest API.
--
-- A source owns an internal application (`app_id`); its ingest endpoints are that
-- application's endpoints, and each request it accepts is a message of it, so retries, the
-- attempt log, throttling and the SSRF guard are the delivery engine's as for any message.
-- Deleting the application deletes the source with it.
--
-- `token` is the secret part of the ingest URL; rotating it replaces it, so the old URL stops
-- at once. `config` is the type's settings as JSON, signing secret included.
CREATE TABLE ingest_source (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL UNIQUE REFERENCES application (id) ON DELETE CASCADE,
    uid         TEXT UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    config      TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    token       TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- What arrived at a source's URL and what became of it: accepted (then `msg_id` is the
-- message it became), duplicate (of `msg_id`) or rejected (`reason`). The body here is a
-- preview for the log; the exact bytes of an accepted request are its message's payload.
CREATE TABLE ingest_arrival (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id   TEXT NOT NULL REFERENCES ingest_source (id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    headers     TEXT NOT NULL,   -- JSON [[name, value], …] in arrival order
    body        TEXT NOT NULL,
    outcome     TEXT NOT NULL,   -- accepted | duplicate | rejected
    reason      TEXT,
    dedupe_id   TEXT,
    msg_id      TEXT
);
CREATE INDEX ingest_arrival_by_source ON ingest_arrival (source_id, id);

-- The request a source accepted, kept with its message (method, path, headers as JSON; the
-- body is the payload), so destinations get the provider's original headers.
ALTER TABLE message ADD COLUMN received TEXT;
