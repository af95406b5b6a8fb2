-- Portcullis schema, version 1: users, targets, vaulted accounts, grants, sessions, audit.
-- Times are timestamptz. Constraints keep illegal states out of the database itself.

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    roles       text[] NOT NULL DEFAULT '{}',
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_keys (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    public_key   text NOT NULL,
    fingerprint  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, fingerprint)
);

CREATE TABLE targets (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    host        text NOT NULL CHECK (host <> ''),
    port        integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    host_key    text NOT NULL CHECK (host_key <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id             bigserial PRIMARY KEY,
    target_id      bigint NOT NULL REFERENCES targets(id) ON DELETE RESTRICT,
    login          text NOT NULL CHECK (login ~ '^[A-Za-z0-9._@-]{1,64}$'),
    kind           text NOT NULL CHECK (kind IN ('password', 'key')),
    sealed_secret  bytea NOT NULL CHECK (length(sealed_secret) > 40),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (target_id, login)
);

CREATE TABLE grants (
    id             bigserial PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    account_id     bigint NOT NULL REFERENCES accounts(id) ON DELETE RESTRICT,
    reason         text NOT NULL CHECK (reason <> ''),
    ticket         text NOT NULL DEFAULT '',
    duration       interval NOT NULL CHECK (duration > interval '0'),
    starts_at      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_by     text,
    revoke_reason  text,
    CHECK (expires_at > starts_at),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CHECK (revoke_reason IS NULL OR revoked_at IS NOT NULL)
);
CREATE INDEX grants_lookup ON grants (user_id, account_id, expires_at);

CREATE TABLE sessions (
    id                 bigserial PRIMARY KEY,
    grant_id           bigint NOT NULL REFERENCES grants(id) ON DELETE RESTRICT,
    node               text NOT NULL,
    client             text NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    ended_at           timestamptz,
    end_reason         text CHECK (end_reason IN ('client_exit', 'grant_expired', 'revoked',
                                                  'killed', 'upstream_closed', 'error')),
    exit_status        integer,
    kill_requested_at  timestamptz,
    kill_requested_by  text,
    CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
    CHECK (ended_at IS NULL OR ended_at >= started_at),
    CHECK (exit_status IS NULL OR ended_at IS NOT NULL),
    CHECK ((kill_requested_at IS NULL) = (kill_requested_by IS NULL))
);
CREATE INDEX sessions_open ON sessions (node) WHERE ended_at IS NULL;

-- Append-only, hash-chained. hash = SHA-256 over the canonical encoding described in
-- access/audit.cpp; prev_hash is the previous row's hash (32 zero bytes for the first row).
CREATE TABLE audit_events (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    object     text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    prev_hash  bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash       bytea NOT NULL CHECK (length(hash) = 32)
);

CREATE FUNCTION audit_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
END;
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_are_append_only();
