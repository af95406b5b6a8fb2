-- Credential rotation after use (issue 15): which accounts portcullisd rotates once their
-- grants and sessions are over, where their key lives on the target, and how the last
-- rotation went. Existing accounts are never rotated until an administrator asks.
ALTER TABLE accounts ADD COLUMN rotate text NOT NULL DEFAULT 'never'
    CHECK (rotate IN ('never', 'after-use'));
-- The authorized_keys file the bastion edits on the target; relative to the login's home.
ALTER TABLE accounts ADD COLUMN authorized_keys text NOT NULL DEFAULT '.ssh/authorized_keys'
    CHECK (authorized_keys <> '' AND position(E'\n' IN authorized_keys) = 0);
-- When the vaulted secret was last replaced by a rotation; NULL: never (it dates from
-- created_at). A session started after it means the account was used since.
ALTER TABLE accounts ADD COLUMN last_rotated_at timestamptz;
-- 'rotating' while a node holds the account (since rotation_started_at, a lease a crashed node
-- loses); 'rotation_failed' after [rotation] alert_after failures in a row.
ALTER TABLE accounts ADD COLUMN rotation_state text NOT NULL DEFAULT 'ok'
    CHECK (rotation_state IN ('ok', 'rotating', 'rotation_failed'));
ALTER TABLE accounts ADD COLUMN rotation_started_at timestamptz;
ALTER TABLE accounts ADD COLUMN rotation_node text;
ALTER TABLE accounts ADD COLUMN rotation_failures integer NOT NULL DEFAULT 0
    CHECK (rotation_failures >= 0);
ALTER TABLE accounts ADD COLUMN rotation_error text;
-- A failed rotation is tried again from then on (back-off).
ALTER TABLE accounts ADD COLUMN next_rotation_at timestamptz;
-- The new secret, sealed like sealed_secret, written before the target is changed: if the
-- node dies between changing the target and storing the result, the secret the target now
-- takes is not lost. Cleared by a successful rotation; after a failed one it stays until the
-- next attempt, for an administrator who has to recover by hand.
ALTER TABLE accounts ADD COLUMN pending_sealed_secret bytea;
ALTER TABLE accounts ADD CHECK ((rotation_state = 'rotating') = (rotation_started_at IS NOT NULL));
