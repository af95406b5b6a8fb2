-- Portcullis schema, version 2: the just-in-time grant workflow. A grant row is also the
-- request that created it: it starts 'pending', becomes 'approved' (its window starts then) or
-- 'denied'. Extensions are grant rows of their own that point at the grant they extend.
-- Triggers make an approved grant without its approvals, and self-approval, impossible.

ALTER TABLE grants
    ALTER COLUMN starts_at DROP NOT NULL,
    ALTER COLUMN expires_at DROP NOT NULL,
    ADD COLUMN status text NOT NULL DEFAULT 'approved'
        CHECK (status IN ('pending', 'approved', 'denied')),
    ADD COLUMN policy text NOT NULL DEFAULT '',
    ADD COLUMN approvals_needed integer NOT NULL DEFAULT 0 CHECK (approvals_needed BETWEEN 0 AND 2),
    ADD COLUMN break_glass boolean NOT NULL DEFAULT false,
    ADD COLUMN pending_until timestamptz,
    ADD COLUMN denied_at timestamptz,
    ADD COLUMN denied_by text,
    ADD COLUMN deny_reason text,
    ADD COLUMN extends_grant_id bigint REFERENCES grants(id) ON DELETE RESTRICT,
    ADD COLUMN review_required boolean NOT NULL DEFAULT false,
    ADD COLUMN reviewed_at timestamptz,
    ADD COLUMN reviewed_by text,
    ADD COLUMN review_note text,
    -- Set once the end of the grant (expiry, or a request timing out) is in the audit log.
    ADD COLUMN end_audited boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT grants_window_when_approved
        CHECK ((status = 'approved') = (starts_at IS NOT NULL AND expires_at IS NOT NULL)),
    ADD CONSTRAINT grants_pending_has_deadline CHECK (status <> 'pending' OR pending_until IS NOT NULL),
    ADD CONSTRAINT grants_denial_complete
        CHECK ((status = 'denied') = (denied_at IS NOT NULL AND denied_by IS NOT NULL
                                      AND deny_reason IS NOT NULL)),
    ADD CONSTRAINT grants_break_glass_needs_review CHECK (NOT break_glass OR review_required),
    ADD CONSTRAINT grants_review_complete
        CHECK ((reviewed_at IS NULL) = (reviewed_by IS NULL)
               AND (reviewed_at IS NULL OR review_required));

CREATE INDEX grants_pending ON grants (pending_until) WHERE status = 'pending';
CREATE INDEX grants_unaudited_end ON grants (expires_at) WHERE NOT end_audited;

CREATE TABLE approvals (
    id           bigserial PRIMARY KEY,
    grant_id     bigint NOT NULL REFERENCES grants(id) ON DELETE RESTRICT,
    approver_id  bigint NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    comment      text NOT NULL DEFAULT '',
    approved_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (grant_id, approver_id)
);

CREATE FUNCTION approvals_not_by_requester() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM grants WHERE id = NEW.grant_id AND user_id = NEW.approver_id) THEN
        RAISE EXCEPTION 'no one approves their own request (grant %)', NEW.grant_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER approvals_not_self
    BEFORE INSERT OR UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_not_by_requester();

CREATE FUNCTION grants_have_their_approvals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'approved' AND NEW.approvals_needed > 0 AND
       (SELECT count(*) FROM approvals WHERE grant_id = NEW.id) < NEW.approvals_needed THEN
        RAISE EXCEPTION 'grant % needs % approvals before it is approved',
            NEW.id, NEW.approvals_needed;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER grants_approved_only_when_approved
    BEFORE INSERT OR UPDATE OF status, approvals_needed ON grants
    FOR EACH ROW EXECUTE FUNCTION grants_have_their_approvals();

-- TOTP (RFC 6238): the secret sealed by the vault, and the last time step accepted, so a code
-- is used once across every node.
ALTER TABLE users
    ADD COLUMN totp_secret bytea CHECK (totp_secret IS NULL OR length(totp_secret) > 40),
    ADD COLUMN totp_last_step bigint;

CREATE TABLE mfa_failures (
    id       bigserial PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at       timestamptz NOT NULL DEFAULT now(),
    node     text NOT NULL
);
CREATE INDEX mfa_failures_recent ON mfa_failures (user_id, at);
