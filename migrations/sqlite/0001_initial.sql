-- Kanca's first schema for SQLite. Times are milliseconds since the epoch (INTEGER);
-- sets and maps are JSON text. The `delivery` table is the queue.

CREATE TABLE application (
    id            TEXT PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL DEFAULT '{}',
    -- Kanca's own applications (operational webhooks): hidden from the API's app routes.
    internal      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE event_type (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL,
    archived      INTEGER NOT NULL DEFAULT 0,
    deprecated    INTEGER NOT NULL DEFAULT 0,
    schemas       TEXT,
    group_name    TEXT,
    feature_flags TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE endpoint (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    uid           TEXT,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    event_types   TEXT,            -- JSON array; NULL = every event type
    channels      TEXT,            -- JSON array; NULL = every message
    disabled      INTEGER NOT NULL DEFAULT 0,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL DEFAULT '{}',
    headers       TEXT NOT NULL DEFAULT '{}',
    secret        TEXT NOT NULL,
    -- Secrets replaced by a rotation that still sign until they expire:
    -- JSON [{"key": "whsec_…", "expiresAt": ms}].
    old_secrets   TEXT NOT NULL DEFAULT '[]',
    -- When the current run of failures began (NULL after a success): auto-disable reads it.
    failing_since INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoint_by_app ON endpoint (app_id, id);

CREATE TABLE message (
    id                 TEXT PRIMARY KEY,
    app_id             TEXT NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    event_type         TEXT NOT NULL,
    event_id           TEXT,
    payload            TEXT,       -- exactly as received; NULL after the retention period
    channels           TEXT,
    tags               TEXT,
    created_at         INTEGER NOT NULL,
    payload_expires_at INTEGER NOT NULL
);
CREATE INDEX message_by_app ON message (app_id, id);

-- One row per (message, endpoint): what is left to do, and when.
-- status: 0 success, 1 pending, 2 fail, 3 sending (leased), 4 canceled.
CREATE TABLE delivery (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id          TEXT NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES endpoint (id) ON DELETE CASCADE,
    app_id          TEXT NOT NULL,
    status          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    -- The node holding the lease: a restarted node takes back its own at once.
    leased_by       TEXT,
    trigger_type    INTEGER NOT NULL DEFAULT 0,
    -- 1 when the throttle has already granted this delivery its slot at next_attempt_at.
    reserved        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (msg_id, endpoint_id)
);
-- The dispatcher's two questions: what is due now, and whose lease has run out.
CREATE INDEX delivery_due ON delivery (next_attempt_at) WHERE status = 1;
CREATE INDEX delivery_leased ON delivery (lease_until) WHERE status = 3;
CREATE INDEX delivery_by_endpoint ON delivery (endpoint_id, status);

CREATE TABLE attempt (
    id                   TEXT PRIMARY KEY,
    app_id               TEXT NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    msg_id               TEXT NOT NULL,
    endpoint_id          TEXT NOT NULL,
    url                  TEXT NOT NULL,
    response_status_code INTEGER NOT NULL,
    response             TEXT NOT NULL,
    duration_ms          INTEGER NOT NULL,
    status               INTEGER NOT NULL,
    trigger_type         INTEGER NOT NULL,
    failure_reason       TEXT,
    created_at           INTEGER NOT NULL
);
CREATE INDEX attempt_by_msg ON attempt (msg_id, id);
CREATE INDEX attempt_by_endpoint ON attempt (endpoint_id, id);

-- Responses kept under an idempotency key for 24 hours.
CREATE TABLE idempotency (
    key        TEXT NOT NULL,
    scope      TEXT NOT NULL,
    status     INTEGER NOT NULL,
    body       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (key, scope)
);
