-- A message's `mrkdwn` flag, the twin of migrations/sqlite/0004_message_mrkdwn.sql: Slack's
-- `"mrkdwn": false` turns off the formatting of the message's `text`, so readers (the console)
-- must know it. Messages stored before this column existed were all formatted, hence the default.
ALTER TABLE ws_message ADD COLUMN mrkdwn BOOLEAN NOT NULL DEFAULT TRUE;
