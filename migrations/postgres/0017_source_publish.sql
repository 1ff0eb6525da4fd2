-- Sources that also publish into an application (issue 18, step 4; a Kanca extension), the
-- twin of migrations/sqlite/0017_source_publish.sql.
--
-- A source with `publish_app_id` publishes every request it accepts into that application as
-- a message whose event type comes from the provider (`github.push`), in the same transaction
-- as the source's own message. Deleting the application stops the publishing, not the source.
ALTER TABLE ingest_source
    ADD COLUMN publish_app_id TEXT COLLATE "C" REFERENCES application (id) ON DELETE SET NULL;
CREATE INDEX ingest_source_by_kind ON ingest_source (kind);
