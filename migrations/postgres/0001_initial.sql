-- Kanca's first schema for PostgreSQL, the twin of migrations/sqlite/0001_initial.sql.
--
-- Times are milliseconds since the epoch (BIGINT), as in SQLite, so both backends compare and
-- index them the same way. Sets and maps are JSON *text*, not JSONB: text gives back exactly
-- what was written, and JSONB would refuse values SQLite accepts (a "\u0000" in a string).
-- The only query that looks inside one (messages by channel) casts it.
--
-- Ids and names are `COLLATE "C"`: lists page by them (keyset paging), and the order must be
-- byte order, as in SQLite. Under a linguistic collation (en_US, ICU) KSUIDs, which mix upper
-- and lower case, would sort differently, and "the rows after this id" would skip or repeat.
--
-- The `delivery` table is the queue.

CREATE TABLE application (
    id            TEXT COLLATE "C" PRIMARY KEY,
    uid           TEXT COLLATE "C" UNIQUE,
    name          TEXT NOT NULL,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL DEFAULT '{}',
    -- Kanca's own applications (operational webhooks): hidden from the API's app routes.
    internal      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE event_type (
    name          TEXT COLLATE "C" PRIMARY KEY,
    description   TEXT NOT NULL,
    archived      BOOLEAN NOT NULL DEFAULT FALSE,
    deprecated    BOOLEAN NOT NULL DEFAULT FALSE,
    schemas       TEXT,
    group_name    TEXT,
    feature_flags TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE endpoint (
    id            TEXT COLLATE "C" PRIMARY KEY,
    app_id        TEXT COLLATE "C" NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    uid           TEXT COLLATE "C",
    url           TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    event_types   TEXT,            -- JSON array; NULL = every event type
    channels      TEXT,            -- JSON array; NULL = every message
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL DEFAULT '{}',
    headers       TEXT NOT NULL DEFAULT '{}',
    secret        TEXT NOT NULL,
    -- Secrets replaced by a rotation that still sign until they expire:
    -- JSON [{"key": "whsec_…", "expiresAt": ms}].
    old_secrets   TEXT NOT NULL DEFAULT '[]',
    -- When the current run of failures began (NULL after a success): auto-disable reads it.
    failing_since BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoint_by_app ON endpoint (app_id, id);

CREATE TABLE message (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    app_id             TEXT COLLATE "C" NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    event_type         TEXT COLLATE "C" NOT NULL,
    event_id           TEXT,
    payload            TEXT,       -- exactly as received; NULL after the retention period
    channels           TEXT,
    tags               TEXT,
    created_at         BIGINT NOT NULL,
    payload_expires_at BIGINT NOT NULL
);
CREATE INDEX message_by_app ON message (app_id, id);
-- The retention sweep's question; several nodes may ask it, so it must not scan the table.
CREATE INDEX message_payload_expiry ON message (payload_expires_at) WHERE payload IS NOT NULL;

-- One row per (message, endpoint): what is left to do, and when.
-- status: 0 success, 1 pending, 2 fail, 3 sending (leased), 4 canceled.
CREATE TABLE delivery (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msg_id          TEXT COLLATE "C" NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    endpoint_id     TEXT COLLATE "C" NOT NULL REFERENCES endpoint (id) ON DELETE CASCADE,
    app_id          TEXT COLLATE "C" NOT NULL,
    status          SMALLINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    -- The node holding the lease: a restarted node takes back its own at once.
    leased_by       TEXT,
    trigger_type    SMALLINT NOT NULL DEFAULT 0,
    -- TRUE when the throttle has already granted this delivery its slot at next_attempt_at.
    reserved        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (msg_id, endpoint_id)
);
-- The dispatcher's two questions: what is due now, and whose lease has run out. Each is an
-- ordered range scan of a small partial index that stops after the batch (see queue.rs).
CREATE INDEX delivery_due ON delivery (next_attempt_at) WHERE status = 1;
CREATE INDEX delivery_leased ON delivery (lease_until) WHERE status = 3;
CREATE INDEX delivery_by_endpoint ON delivery (endpoint_id, status);

CREATE TABLE attempt (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    app_id               TEXT COLLATE "C" NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    msg_id               TEXT COLLATE "C" NOT NULL,
    endpoint_id          TEXT COLLATE "C" NOT NULL,
    url                  TEXT NOT NULL,
    response_status_code SMALLINT NOT NULL,
    -- The receiver's response body as UTF-8 bytes. BYTEA, not TEXT: a body may hold NUL
    -- bytes, which PostgreSQL text cannot store, and a failed INSERT here would leave the
    -- delivery leased and sent again and again.
    response             BYTEA NOT NULL,
    duration_ms          BIGINT NOT NULL,
    status               SMALLINT NOT NULL,
    trigger_type         SMALLINT NOT NULL,
    failure_reason       TEXT,
    created_at           BIGINT NOT NULL
);
CREATE INDEX attempt_by_msg ON attempt (msg_id, id);
CREATE INDEX attempt_by_endpoint ON attempt (endpoint_id, id);

-- Responses kept under an idempotency key for 24 hours.
CREATE TABLE idempotency (
    key        TEXT COLLATE "C" NOT NULL,
    scope      TEXT COLLATE "C" NOT NULL,
    status     SMALLINT NOT NULL,
    body       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (key, scope)
);
