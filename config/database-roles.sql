-- Database roles for a production Portcullis (see docs/database-roles.md).
-- Run as a superuser in the Portcullis database AFTER `portcullis db migrate` (re-run it after
-- every upgrade that adds tables). Idempotent.
--
--   portcullis_owner   owns the schema; only `portcullis db migrate` connects as it
--   portcullis_app     portcullisd and the day-to-day CLI: no DDL, and audit_events is
--                      INSERT/SELECT only, so the software cannot rewrite its own history

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portcullis_app') THEN
        CREATE ROLE portcullis_app LOGIN;
    END IF;
END;
$$;

GRANT USAGE ON SCHEMA public TO portcullis_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO portcullis_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO portcullis_app;

-- The audit log: append and read, nothing else.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM portcullis_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_checkpoints FROM portcullis_app;
-- The migration history belongs to the owner.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM portcullis_app;
-- Archive segments of recordings: written once (compaction), never changed.
REVOKE UPDATE, DELETE, TRUNCATE ON recording_segments FROM portcullis_app;
