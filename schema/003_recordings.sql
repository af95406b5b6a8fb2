-- Session recordings (docs/recording-format.md). Each row of recording_chunks holds the exact
-- bytes of one chunk record, and recordings the header and trailer records, so the evidence
-- file rebuilt from here is byte-identical to the node's spool file and verifies the same way.

CREATE TABLE recordings (
    session_id         bigint PRIMARY KEY REFERENCES sessions(id) ON DELETE RESTRICT,
    format_version     integer NOT NULL CHECK (format_version = 1),
    node               text NOT NULL CHECK (node <> ''),
    header             bytea NOT NULL CHECK (length(header) > 5),
    node_key_fingerprint text NOT NULL CHECK (node_key_fingerprint LIKE 'SHA256:%'),
    started_at         timestamptz NOT NULL,
    state              text NOT NULL DEFAULT 'recording'
                           CHECK (state IN ('recording', 'complete', 'incomplete')),
    incomplete_reason  text,
    -- Totals over the stored chunks; for a complete recording they equal the trailer's.
    chunk_count        bigint NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
    event_count        bigint NOT NULL DEFAULT 0 CHECK (event_count >= 0),
    raw_bytes          bigint NOT NULL DEFAULT 0 CHECK (raw_bytes >= 0),
    compressed_bytes   bigint NOT NULL DEFAULT 0 CHECK (compressed_bytes >= 0),
    duration_us        bigint NOT NULL DEFAULT 0 CHECK (duration_us >= 0),
    trailer            bytea CHECK (trailer IS NULL OR length(trailer) > 5),
    ended_at           timestamptz,
    stored_at          timestamptz NOT NULL DEFAULT now(),
    -- Only a complete recording has a trailer; only an incomplete one says why it is.
    CHECK ((state = 'complete') = (trailer IS NOT NULL)),
    CHECK ((state = 'incomplete') = (incomplete_reason IS NOT NULL)),
    CHECK (incomplete_reason IS NULL OR incomplete_reason <> ''),
    CHECK ((state = 'recording') = (ended_at IS NULL)),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);

CREATE TABLE recording_chunks (
    session_id  bigint NOT NULL REFERENCES recordings(session_id) ON DELETE RESTRICT,
    seq         bigint NOT NULL CHECK (seq >= 0),
    first_us    bigint NOT NULL CHECK (first_us >= 0),
    last_us     bigint NOT NULL CHECK (last_us >= first_us),
    record      bytea NOT NULL CHECK (length(record) > 69),  -- 5 prefix + 64 fixed + frame
    PRIMARY KEY (session_id, seq)
);

-- Evidence is written once. Chunks are never changed or removed; a recording changes only
-- while it is still being recorded (totals grow, then it ends complete or incomplete), and
-- chunks can only be added to such a recording.
CREATE FUNCTION recordings_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% refused: %', TG_OP, TG_ARGV[0];
END;
$$;

CREATE TRIGGER recording_chunks_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON recording_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION recordings_refuse_change('recording chunks are append-only');

CREATE TRIGGER recordings_no_delete
    BEFORE DELETE OR TRUNCATE ON recordings
    FOR EACH STATEMENT EXECUTE FUNCTION recordings_refuse_change('recordings are kept');

CREATE FUNCTION recordings_final_once_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'recording' THEN
        RAISE EXCEPTION 'recording of session % is already %', OLD.session_id, OLD.state;
    END IF;
    IF NEW.session_id <> OLD.session_id OR NEW.header <> OLD.header
       OR NEW.started_at <> OLD.started_at OR NEW.node <> OLD.node THEN
        RAISE EXCEPTION 'the header of the recording of session % cannot change', OLD.session_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER recordings_update_while_recording
    BEFORE UPDATE ON recordings
    FOR EACH ROW EXECUTE FUNCTION recordings_final_once_ended();

CREATE FUNCTION recording_chunks_only_while_recording() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT state FROM recordings WHERE session_id = NEW.session_id) <> 'recording' THEN
        RAISE EXCEPTION 'recording of session % has ended: no chunk may be added', NEW.session_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER recording_chunks_insert_while_recording
    BEFORE INSERT ON recording_chunks
    FOR EACH ROW EXECUTE FUNCTION recording_chunks_only_while_recording();
