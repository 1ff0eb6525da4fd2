-- Request bins (issue 7): a bin and the requests it captured.
--
-- `last_seq` numbers a bin's captures: the capture transaction bumps it and inserts the row
-- with the new value, so within a bin the numbers follow commit order. They are the live
-- stream's cursor (`Last-Event-ID`), which must never see a smaller number appear after a
-- larger one. The body is a BLOB: captures are binary-safe.

CREATE TABLE bin (
    id            TEXT PRIMARY KEY,
    name          TEXT,
    response      TEXT NOT NULL,   -- JSON {status, headers, body, delayMs}
    max_requests  INTEGER NOT NULL,
    expires_at    INTEGER,         -- NULL: never
    last_seq      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE bin_request (
    bin_id        TEXT NOT NULL REFERENCES bin (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    query         TEXT NOT NULL,
    headers       TEXT NOT NULL,   -- JSON [[name, value], …] in arrival order
    body          BLOB NOT NULL,
    remote_addr   TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    PRIMARY KEY (bin_id, seq)
);
