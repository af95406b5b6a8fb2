-- Recording format 4 and archive compaction (docs/recording-format.md, "Archive form" and
-- "Storage in PostgreSQL"). From format 4 a chunk's hash covers its content, not its compressed
-- bytes, so a finished recording can be recompressed: the node (or `portcullis recording
-- compact`) packs its chunks into segments, stores them here, reads them back, verifies them
-- against the recording's chain head, and only then removes the chunk rows, in one transaction.

ALTER TABLE recordings DROP CONSTRAINT recordings_format_version_check;
ALTER TABLE recordings ADD CONSTRAINT recordings_format_version_check
    CHECK (format_version BETWEEN 1 AND 4);

-- When the recording was compacted into segments (NULL: its chunk rows hold it).
ALTER TABLE recordings ADD COLUMN archived_at timestamptz;
ALTER TABLE recordings ADD CONSTRAINT recordings_archived_when_ended
    CHECK (archived_at IS NULL OR (state <> 'recording' AND format_version >= 4));

CREATE TABLE recording_segments (
    session_id   bigint NOT NULL REFERENCES recordings(session_id) ON DELETE RESTRICT,
    first_seq    bigint NOT NULL CHECK (first_seq >= 0),
    chunk_count  bigint NOT NULL CHECK (chunk_count > 0),
    first_us     bigint NOT NULL CHECK (first_us >= 0),
    last_us      bigint NOT NULL CHECK (last_us >= first_us),
    -- The exact segment record: 5 prefix + 72 fixed (first_seq, prev_hash, seal) + table + frame.
    record       bytea NOT NULL CHECK (length(record) > 77),
    PRIMARY KEY (session_id, first_seq)
);

-- Segments are written once, like chunks.
CREATE TRIGGER recording_segments_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON recording_segments
    FOR EACH STATEMENT EXECUTE FUNCTION recordings_refuse_change('recording segments are append-only');

-- Only for a recording that has ended, is of format 4 and is not archived yet.
CREATE FUNCTION recording_segments_only_when_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT state <> 'recording' AND format_version >= 4 AND archived_at IS NULL
        FROM recordings WHERE session_id = NEW.session_id) IS NOT TRUE THEN
        RAISE EXCEPTION 'recording of session % cannot take segments: it is still being recorded, '
                        'older than format 4 or archived already', NEW.session_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER recording_segments_insert_when_ended
    BEFORE INSERT ON recording_segments
    FOR EACH ROW EXECUTE FUNCTION recording_segments_only_when_ended();

-- An ended recording still changes in one way: it is marked archived (and its stored size
-- updated) once segments cover every one of its chunks. Nothing else about it may change.
CREATE OR REPLACE FUNCTION recordings_final_once_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.session_id <> OLD.session_id OR NEW.header <> OLD.header
       OR NEW.started_at <> OLD.started_at OR NEW.node <> OLD.node THEN
        RAISE EXCEPTION 'the header of the recording of session % cannot change', OLD.session_id;
    END IF;
    IF OLD.state <> 'recording' THEN
        IF OLD.archived_at IS NULL AND NEW.archived_at IS NOT NULL
           AND to_jsonb(NEW) - 'archived_at' - 'compressed_bytes'
               = to_jsonb(OLD) - 'archived_at' - 'compressed_bytes'
           AND (SELECT coalesce(sum(chunk_count), 0) FROM recording_segments
                WHERE session_id = OLD.session_id) = OLD.chunk_count THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'recording of session % is already %', OLD.session_id, OLD.state;
    END IF;
    RETURN NEW;
END;
$$;

-- Chunk rows stay append-only, with one exception: a chunk of an archived recording whose
-- segment holds it may be deleted (compaction, in the transaction that stored the segments).
DROP TRIGGER recording_chunks_append_only ON recording_chunks;
CREATE TRIGGER recording_chunks_append_only
    BEFORE UPDATE OR TRUNCATE ON recording_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION recordings_refuse_change('recording chunks are append-only');

CREATE FUNCTION recording_chunks_delete_only_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM recordings r
                   WHERE r.session_id = OLD.session_id AND r.archived_at IS NOT NULL)
       OR NOT EXISTS (SELECT 1 FROM recording_segments s
                      WHERE s.session_id = OLD.session_id AND s.first_seq <= OLD.seq
                        AND OLD.seq < s.first_seq + s.chunk_count) THEN
        RAISE EXCEPTION 'DELETE refused: recording chunks are append-only (chunk % of session % '
                        'is held by no archive segment)', OLD.seq, OLD.session_id;
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER recording_chunks_delete_when_archived
    BEFORE DELETE ON recording_chunks
    FOR EACH ROW EXECUTE FUNCTION recording_chunks_delete_only_archived();
