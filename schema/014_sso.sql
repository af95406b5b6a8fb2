-- Signing in through an OpenID Connect provider: the IdP account a user is bound to (issuer and
-- subject of its first SSO sign-in), so that a name reused at the IdP for someone else is
-- refused rather than inheriting this user's grants.
ALTER TABLE users ADD COLUMN sso_issuer text, ADD COLUMN sso_subject text;
