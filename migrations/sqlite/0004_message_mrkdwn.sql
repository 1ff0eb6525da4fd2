-- A message's `mrkdwn` flag (issue 6 follow-up): Slack's `"mrkdwn": false` turns off the
-- formatting of the message's `text`, so readers (the console) must know it. Messages stored
-- before this column existed were all formatted, hence the default.
ALTER TABLE ws_message ADD COLUMN mrkdwn INTEGER NOT NULL DEFAULT 1;
