-- Slack apps, their bot users, people, and reactions (issue 19, phase 1), the twin of
-- migrations/sqlite/0018_slack_apps.sql (which explains each table).

CREATE TABLE ws_user (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    real_name  TEXT NOT NULL,
    is_bot     BOOLEAN NOT NULL DEFAULT FALSE,
    app_id     TEXT COLLATE "C",
    bot_id     TEXT COLLATE "C",
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE ws_slack_app (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    name               TEXT NOT NULL,
    bot_id             TEXT COLLATE "C" NOT NULL,
    bot_user_id        TEXT COLLATE "C" NOT NULL REFERENCES ws_user (id),
    token_digest       TEXT COLLATE "C" NOT NULL UNIQUE,
    signing_secret     TEXT NOT NULL,
    event_request_url  TEXT,
    event_types        TEXT NOT NULL DEFAULT '[]',
    events_verified    BOOLEAN NOT NULL DEFAULT FALSE,
    slash_commands     TEXT NOT NULL DEFAULT '[]',
    interactivity_url  TEXT,
    created_at         BIGINT NOT NULL
);

ALTER TABLE ws_message ADD COLUMN user_id TEXT COLLATE "C";
ALTER TABLE ws_message ADD COLUMN edited_ts BIGINT;

CREATE TABLE ws_reaction (
    channel_id TEXT COLLATE "C" NOT NULL,
    ts         BIGINT NOT NULL,
    name       TEXT NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, ts, name, user_id),
    FOREIGN KEY (channel_id, ts) REFERENCES ws_message (channel_id, ts) ON DELETE CASCADE
);
