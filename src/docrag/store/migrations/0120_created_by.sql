-- Subject rights (issue 21.3, store/subject.py): who created each conversation and answer, so
-- one principal's data can be exported and erased on its own. The API key's id today
-- (Principal.key_id); a user's id once users exist. No foreign key: the column names a
-- principal of any kind, and revoking a key must not take its answers with it. NULL for rows
-- from before this migration (and for rows written outside a request: CLI, evaluations).
-- Feedback already records its key (feedback.key_id). Additive only (expand step).
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS created_by uuid;
ALTER TABLE answers ADD COLUMN IF NOT EXISTS created_by uuid;
CREATE INDEX IF NOT EXISTS conversations_created_by_idx ON conversations (tenant_id, created_by)
    WHERE created_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS answers_created_by_idx ON answers (tenant_id, created_by)
    WHERE created_by IS NOT NULL;
