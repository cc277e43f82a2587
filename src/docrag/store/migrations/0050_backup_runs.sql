-- Backup runs (issue 17): one row per `docrag backup`; observability reads the newest ok one
-- as docrag_backup_last_success_timestamp_seconds. Additive only (expand step), so an older
-- API keeps working against this schema.
CREATE TABLE IF NOT EXISTS backup_runs (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    ok          boolean NOT NULL DEFAULT false,
    location    text NOT NULL,
    bytes       bigint
);
CREATE INDEX IF NOT EXISTS backup_runs_ok_finished ON backup_runs (finished_at DESC) WHERE ok;
