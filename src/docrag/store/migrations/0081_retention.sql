-- Retention per collection (issue 21.4, store/retention.py): documents whose served version is
-- older than retain_documents_days, and answers asked of the collection older than
-- retain_answers_days, are purged by `docrag retention` (scheduled). NULL: kept for good.
-- Additive only (expand step).
ALTER TABLE collections
    ADD COLUMN IF NOT EXISTS retain_documents_days integer
        CHECK (retain_documents_days BETWEEN 1 AND 36500),
    ADD COLUMN IF NOT EXISTS retain_answers_days integer
        CHECK (retain_answers_days BETWEEN 1 AND 36500);
