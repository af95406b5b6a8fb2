-- The public half of every node's recording signing key. The daemon registers its key when it
-- starts; `portcullis verify` and the player check signatures against these, so an auditor
-- needs no secret key (and so cannot sign). A node that changes its key keeps the old one
-- here: recordings signed before the change still verify.
CREATE TABLE node_keys (
  fingerprint   text PRIMARY KEY,  -- "SHA256:<base64>", as recording headers name the key
  node          text NOT NULL,
  public_key    bytea NOT NULL CHECK (length(public_key) = 32),
  registered_at timestamptz NOT NULL DEFAULT now()
);
