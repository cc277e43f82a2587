-- Job claims pick a tenant first, then that tenant's oldest job (store/job_claims.py): both are
-- index probes here, where the claim before sorted every queued job at each claim (18 ms a claim
-- with 2,000 queued; the queue's cost grew with the square of its depth). Additive only (expand
-- step): the previous release's claim keeps using jobs_queued_idx.
CREATE INDEX IF NOT EXISTS jobs_queued_tenant_idx ON jobs (tenant_id, run_after, id) WHERE state = 'queued';
