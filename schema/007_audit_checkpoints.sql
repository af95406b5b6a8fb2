-- Signed checkpoints of the audit chain's head. Every few seconds while rows are written, a
-- node signs (id, hash) of the newest audit row with its Ed25519 key (the one that signs its
-- recordings; public half in node_keys). Deleting the newest rows, or rewriting the chain and
-- recomputing every hash, is then caught by `portcullis audit verify`: a checkpoint names a
-- row that is gone or whose hash differs, and cannot be re-signed without a node's secret key.
-- The signed message is described in access/audit_checkpoints.cpp.
CREATE TABLE audit_checkpoints (
  id              bigserial PRIMARY KEY,
  node            text NOT NULL,
  key_fingerprint text NOT NULL,  -- node_keys.fingerprint of the signing key
  last_id         bigint NOT NULL,
  last_hash       bytea NOT NULL CHECK (length(last_hash) = 32),
  at              timestamptz NOT NULL,
  signature       bytea NOT NULL CHECK (length(signature) = 64)
);

CREATE FUNCTION audit_checkpoints_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoints is append-only: % refused', TG_OP;
END;
$$;

CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_are_append_only();

-- How far the audit stream ([alerts] audit_stream) has handed rows to its sinks. One row, shared
-- by the nodes: the node that holds its lock streams, the others skip. It starts at the newest
-- row of today: rows written before this upgrade are not streamed.
CREATE TABLE audit_stream (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id    bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_stream (last_id) SELECT coalesce(max(id), 0) FROM audit_events;
