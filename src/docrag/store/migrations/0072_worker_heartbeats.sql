-- Worker heartbeats (issue 15): one row per worker process (`docrag worker` or a server's
-- in-process worker), refreshed every third of the job lease and removed on a clean stop.
-- /metrics reads it as docrag_workers_live and docrag_worker_last_heartbeat_timestamp_seconds.
-- Additive only (expand step), so an older API keeps working against this schema.
CREATE TABLE IF NOT EXISTS worker_heartbeats (
    worker_id  text PRIMARY KEY,
    threads    integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);
