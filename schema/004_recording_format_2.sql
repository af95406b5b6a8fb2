-- Recording format version 2 (docs/recording-format.md): small chunks are compressed against
-- the chunks before them. Version 1 recordings stay as they are and are still read.

ALTER TABLE recordings DROP CONSTRAINT recordings_format_version_check;
ALTER TABLE recordings ADD CONSTRAINT recordings_format_version_check
    CHECK (format_version BETWEEN 1 AND 2);
