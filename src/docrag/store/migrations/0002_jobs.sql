-- Durable background ingestion. An upload is one transaction that stores the document row
-- (status 'queued'), the uploaded bytes and a job; workers on any machine claim jobs with
-- FOR UPDATE SKIP LOCKED under a lease and write the chunks, the document's final state and
-- the job's completion in one transaction fenced on still owning the job.

-- Rows stored before this migration were written whole by the synchronous pipeline: they
-- are 'indexed' (the column default at ADD time fills them), new rows start 'queued'.
ALTER TABLE documents
    ADD COLUMN status text NOT NULL DEFAULT 'indexed'
        CHECK (status IN ('queued', 'parsing', 'embedding', 'indexed', 'failed')),
    ADD COLUMN error_code text,
    ADD COLUMN error_message text,
    ADD COLUMN progress real NOT NULL DEFAULT 1 CHECK (progress >= 0 AND progress <= 1),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE documents ALTER COLUMN status SET DEFAULT 'queued';
ALTER TABLE documents ALTER COLUMN progress SET DEFAULT 0;

-- The uploaded bytes, keyed by a server-made id: stateless workers read them from here, and
-- the client's file name is only display metadata (documents.filename), never a path.
CREATE TABLE uploads (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL,
    document_id  uuid NOT NULL UNIQUE,
    title        text,           -- the title the caller gave, if any (else the parsed one wins)
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);

-- One job per document: a re-upload of a failed document resets its job.
CREATE TABLE jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    document_id   uuid NOT NULL UNIQUE,
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    max_attempts  integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    run_after     timestamptz NOT NULL DEFAULT now(),
    lease_until   timestamptz,
    worker_id     text,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents(tenant_id, id) ON DELETE CASCADE,
    CHECK (state <> 'running' OR (worker_id IS NOT NULL AND lease_until IS NOT NULL))
);

-- The claim query takes the oldest claimable job with an index scan and LIMIT 1: queued jobs
-- by run_after, and running jobs whose lease ran out (their worker died) by lease_until.
CREATE INDEX jobs_queued_idx ON jobs (run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_leased_idx ON jobs (lease_until) WHERE state = 'running';
