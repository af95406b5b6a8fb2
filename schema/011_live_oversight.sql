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

-- Recording format 3: input typed by someone who joined the session names its author.
ALTER TABLE recordings DROP CONSTRAINT recordings_format_version_check;
ALTER TABLE recordings ADD CONSTRAINT recordings_format_version_check
    CHECK (format_version BETWEEN 1 AND 3);

-- Keys typed by someone who joined a session on another node, on their way to the node that
-- holds it: that node takes them (DELETE ... RETURNING) as NOTIFY portcullis_input says they
-- are there, so they stay here only for the moment in between.
CREATE TABLE session_input (
    id              bigserial PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES session_participants(id) ON DELETE CASCADE,
    session_id      bigint NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    keys            bytea NOT NULL CHECK (length(keys) BETWEEN 1 AND 4096),
    typed_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_input_by_session ON session_input (session_id, id);
