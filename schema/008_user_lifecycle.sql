-- Why and when a user was disabled (`portcullis user disable NAME --reason TEXT`); NULL while
-- the user is enabled.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
ALTER TABLE users ADD COLUMN disabled_by text;
ALTER TABLE users ADD COLUMN disabled_reason text;
