-- The Slack-compatible workspace, the twin of migrations/sqlite/0002_workspace.sql. Times are
-- milliseconds since the epoch; a message's `ts` is microseconds and, with its channel, its key.

-- One row: the workspace's team. The fixed key makes a first start on several nodes at once
-- agree on one team (every node inserts, one wins, all read the winner).
CREATE TABLE ws_team (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ws_channel (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    archived   BOOLEAN NOT NULL DEFAULT FALSE,
    -- The last `ts` given out here. The UPDATE that assigns the next one locks the row until
    -- the message commits, so messages of a channel commit in `ts` order and a live stream
    -- reading "after ts X" never skips one committed late.
    last_ts    BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE ws_message (
    channel_id  TEXT COLLATE "C" NOT NULL REFERENCES ws_channel (id) ON DELETE CASCADE,
    ts          BIGINT NOT NULL,
    text        TEXT NOT NULL,
    username    TEXT,
    icon_emoji  TEXT,
    icon_url    TEXT,
    attachments TEXT,
    blocks      TEXT,
    thread_ts   BIGINT,
    posted_by   TEXT NOT NULL,
    poster_name TEXT NOT NULL,
    PRIMARY KEY (channel_id, ts)
);

-- A thread: its replies.
CREATE INDEX ws_message_thread ON ws_message (channel_id, thread_ts) WHERE thread_ts IS NOT NULL;

CREATE TABLE ws_incoming_hook (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT NOT NULL,
    channel_id   TEXT COLLATE "C" NOT NULL REFERENCES ws_channel (id) ON DELETE CASCADE,
    username     TEXT,
    icon_emoji   TEXT,
    icon_url     TEXT,
    locked       BOOLEAN NOT NULL DEFAULT FALSE,
    rate_per_sec BIGINT,
    rate_burst   BIGINT,
    allowed_ips  TEXT NOT NULL DEFAULT '[]',
    token_digest TEXT NOT NULL,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL
);

CREATE TABLE ws_outgoing_hook (
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT NOT NULL,
    channel_id     TEXT COLLATE "C" REFERENCES ws_channel (id) ON DELETE CASCADE,
    trigger_words  TEXT NOT NULL,
    trigger_when   TEXT NOT NULL,
    callback_urls  TEXT NOT NULL,
    endpoint_ids   TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    token          TEXT NOT NULL,
    signing_secret TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE ws_incident (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    ip     TEXT NOT NULL,
    path   TEXT NOT NULL,
    reason TEXT NOT NULL
);
