-- Live oversight (issue 16): who watches or joins a running session, from which node, and why
-- a session was killed. The node holding a session learns of a change by NOTIFY
-- portcullis_participants (payload: the session id) and tells the session's user.
CREATE TABLE session_participants (
    id          bigserial PRIMARY KEY,
    session_id  bigint NOT NULL REFERENCES sessions(id) ON DELETE RESTRICT,
    username    text NOT NULL CHECK (username <> ''),
    -- The role that allowed it, shown to the watched user: "bob (auditor)".
    role        text NOT NULL CHECK (role <> ''),
    mode        text NOT NULL CHECK (mode IN ('watch', 'join')),
    -- Where the participant is: a node name, or "cli" for `portcullis session watch`.
    via         text NOT NULL CHECK (via <> ''),
    started_at  timestamptz NOT NULL DEFAULT now(),
    -- Refreshed while the participant is there; one whose node died stops counting once it
    -- is stale (a minute), so a crashed watcher never holds a moderated session open.
    seen_at     timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX session_participants_present ON session_participants (session_id)
    WHERE ended_at IS NULL;

-- Why an administrator or auditor ended the session, shown to its user.
ALTER TABLE sessions ADD COLUMN kill_reason text;
