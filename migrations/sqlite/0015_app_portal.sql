-- The app portal (issue 17): application-scoped tokens issued by
-- `POST /api/v1/auth/app-portal-access/{app}`. Only the SHA-256 of a token is kept; `id` is the
-- public handle the console lists and ends it by. Ending a token (logout, expire-all) moves its
-- `expires_at` to the time it ends, so the row stays as a record of who used the portal when.
CREATE TABLE app_token (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    -- JSON arrays of names.
    capabilities  TEXT NOT NULL,
    feature_flags TEXT NOT NULL DEFAULT '[]',
    session_id    TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX app_token_by_app ON app_token (app_id, id);
