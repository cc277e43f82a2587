-- Tracing (issue 15): the W3C traceparent of the span that queued a job (the upload request's,
-- or the failed attempt's for a retry), so the worker's `ingest` span continues that trace.
-- While tracing is on, every pooled checkout sets the session setting docrag.traceparent
-- (store/tenancy.py); this trigger copies it into each job the statement queues, in the same
-- transaction as the job itself, so no worker can claim the job before it is there. Without
-- tracing the setting is unset and the column stays NULL. Additive only (expand step).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS traceparent text
    CHECK (traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

CREATE OR REPLACE FUNCTION docrag_job_traceparent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent text := current_setting('docrag.traceparent', true);
BEGIN
    NEW.traceparent := CASE WHEN parent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
                            THEN parent END;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS jobs_traceparent ON jobs;
CREATE TRIGGER jobs_traceparent BEFORE INSERT OR UPDATE ON jobs
    FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION docrag_job_traceparent();
