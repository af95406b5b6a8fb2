-- The web console (issue 19). A sign-in link printed by `ssh USER@BASTION web-login` is a
-- one-time token; a browser session is a cookie. Only SHA-256 hashes of either are stored, so
-- reading this table (a backup, a replica) does not let anyone sign in.
CREATE TABLE web_login_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    node        text NOT NULL CHECK (node <> ''),
    client      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Set once, when the link is used: a second use finds it set and is refused.
    used_at     timestamptz,
    CHECK (expires_at > created_at),
    CHECK (used_at IS NULL OR used_at >= created_at)
);
CREATE INDEX web_login_tokens_expiry ON web_login_tokens (expires_at);

CREATE TABLE web_sessions (
    id            bigserial PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Sent back in X-CSRF-Token with every change; random, per session.
    csrf          text NOT NULL CHECK (length(csrf) >= 32),
    -- The user is enrolled in TOTP: the session can do nothing until a code is given.
    mfa_required  boolean NOT NULL,
    mfa_verified  boolean NOT NULL DEFAULT false,
    client        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    end_reason    text CHECK (end_reason IN ('signed_out', 'mfa_failed')),
    CHECK (expires_at > created_at),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX web_sessions_live ON web_sessions (user_id) WHERE ended_at IS NULL;
