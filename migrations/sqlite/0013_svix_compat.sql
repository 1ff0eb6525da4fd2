-- Svix semantics (issue 13). Numbered after the issue so that migrations added meanwhile by
-- other work keep their numbers; sqlx applies any not yet applied, in order.

-- `deliverAt`: when a scheduled message is due (ms). Its deliveries are created with
-- next_attempt_at at that time, so the queue itself holds the schedule and it is as durable as
-- any retry. NULL for a message delivered at once.
ALTER TABLE message ADD COLUMN deliver_at INTEGER;

-- `eventId` is unique per application, as in Svix (a second message with it is 409). Messages
-- stored before this rule may share one: the oldest keeps it, the later ones lose it, since a
-- lookup by eventId can only name one message.
UPDATE message SET event_id = NULL
 WHERE event_id IS NOT NULL
   AND EXISTS (SELECT 1 FROM message older
                WHERE older.app_id = message.app_id AND older.event_id = message.event_id
                  AND older.id < message.id);
CREATE UNIQUE INDEX message_event_id ON message (app_id, event_id) WHERE event_id IS NOT NULL;

-- 1 when a manual resend or recover queued this delivery again after its failure was already
-- reported (`message.attempt.failing` or `.exhausted`): its next success then sends
-- `message.attempt.recovered`, which the fresh attempt count alone cannot tell.
ALTER TABLE delivery ADD COLUMN recovering SMALLINT NOT NULL DEFAULT 0;

-- Messages that were attempted to an endpoint (GET …/endpoint/{ep}/msg), newest first.
CREATE INDEX delivery_by_endpoint_msg ON delivery (endpoint_id, msg_id);
