-- Per-grant SSH certificates. The bastion is an SSH user certificate authority: its Ed25519 CA
-- keys live here, sealed in the vault like account secrets, so every node signs with the same
-- CA. The newest key that is not retired signs; older ones stay listed (`portcullis ca
-- pubkey`) until retired, so targets can trust both across a rotation.
CREATE TABLE ssh_cas (
  id            bigserial PRIMARY KEY,
  public_key    text NOT NULL UNIQUE CHECK (public_key LIKE 'ssh-ed25519 %'),
  fingerprint   text NOT NULL UNIQUE,
  -- vault seal of libsodium's 64-byte secret key, context "ssh-ca:<fingerprint>"
  sealed_secret bytea NOT NULL CHECK (length(sealed_secret) > 64),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text NOT NULL,
  retired_at    timestamptz,
  retired_by    text
);

-- A certificate account stores no secret: each session gets a fresh key and a certificate.
ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check
  CHECK (kind IN ('password', 'key', 'certificate'));
ALTER TABLE accounts ALTER COLUMN sealed_secret DROP NOT NULL;
ALTER TABLE accounts ADD CONSTRAINT accounts_secret_matches_kind
  CHECK ((kind = 'certificate') = (sealed_secret IS NULL));

-- A target is trusted either by one pinned host key or by a host CA: any host certificate that
-- CA signed for the target's name or host.
ALTER TABLE targets ALTER COLUMN host_key DROP NOT NULL;
ALTER TABLE targets ADD COLUMN host_ca text CHECK (host_ca <> '');
ALTER TABLE targets ADD CONSTRAINT targets_one_host_trust
  CHECK ((host_key IS NULL) <> (host_ca IS NULL));

-- The certificate a session logged in with (NULL for vaulted credentials).
ALTER TABLE sessions ADD COLUMN certificate jsonb;
