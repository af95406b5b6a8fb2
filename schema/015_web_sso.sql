-- The web console's "Sign in with SSO" (authorization code flow with PKCE). A started sign-in
-- waits here for the browser to come back from the identity provider: found by the SHA-256 of
-- its state, bound to the browser by the SHA-256 of a cookie (a state brought back by another
-- browser is refused: login CSRF), good for ten minutes and for one try.
CREATE TABLE web_sso_pending (
    state_hash     bytea PRIMARY KEY CHECK (length(state_hash) = 32),
    browser_hash   bytea NOT NULL CHECK (length(browser_hash) = 32),
    -- The ID token must carry this nonce; the verifier proves to the IdP that the code is ours.
    nonce          text NOT NULL CHECK (length(nonce) >= 32),
    code_verifier  text NOT NULL CHECK (length(code_verifier) BETWEEN 43 AND 128),
    -- Sent again with the code, exactly as in the authorization request.
    redirect_uri   text NOT NULL CHECK (redirect_uri LIKE 'https://%'),
    client         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    CHECK (expires_at > created_at),
    CHECK (used_at IS NULL OR used_at >= created_at)
);
CREATE INDEX web_sso_pending_expiry ON web_sso_pending (expires_at);

-- How a browser session was opened, for [[policy]] auth: a link is issued on an ssh key login
-- (so "link" counts as key), "sso" through the identity provider.
ALTER TABLE web_sessions
    ADD COLUMN sign_in_method text NOT NULL DEFAULT 'link' CHECK (sign_in_method IN ('link', 'sso'));
