-- Writes a node queued in its journal (state/database.journal) while PostgreSQL was out of
-- reach, once applied. A replay of the journal after a crash finds its entries here and skips
-- them, so no audit row or session end is written twice. The daemon deletes the ids once its
-- journal file no longer holds them; the table stays small.
CREATE TABLE journal_applied (
  entry_id   text PRIMARY KEY,  -- "<boot>:<seq>", unique across nodes and daemon runs
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- The daemon run (a random id made at each start) that opened a session. Crash recovery ends
-- only sessions of earlier runs: a session opened by this run before recovery got to run (the
-- database came back, a login went through) is left alone.
ALTER TABLE sessions ADD COLUMN boot text;
