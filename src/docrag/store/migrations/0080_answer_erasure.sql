-- Deleted text leaves stored answers (issue 22.2, store/erasure.py): an answer whose cited
-- text was deleted stays as a record, emptied, with source_deleted set. Additive only (expand
-- step): an older API reads and writes answers as before.
ALTER TABLE answers
    ADD COLUMN IF NOT EXISTS source_deleted boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS redacted_at timestamptz;
