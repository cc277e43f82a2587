"""Which job a free worker thread takes next: fair across tenants, with room kept for small uploads.

A job whose lease ran out (its worker died) comes first, as before. Among queued jobs, the
tenant with the fewest jobs running anywhere goes first, then the oldest job: one tenant's
burst of uploads can't hold every worker while another tenant's single upload waits behind it.
A claim may be limited to uploads of at most ``max_bytes`` (the worker's express lane, see
``jobs/worker.py``): its last free thread takes only small uploads while its others are busy
with large ones. A claim may take a group (``count``): the best tenant's oldest jobs while each
holds at most ``group_bytes``, run together by one worker thread (jobs/group_runner.py).

The cost of a claim must not grow with the queue: it runs once per job, so a claim that read
every queued job made draining a queue quadratic (18 ms a claim with 2,000 jobs queued, more
PostgreSQL CPU than the documents' own writes). So a claim walks the tenants that have queued
jobs (a skip scan of ``jobs_queued_tenant_idx``, one probe per tenant), takes each one's oldest
claimable job (one more probe), ranks the tenants, and then locks the first free job of the best
tenant with ``SKIP LOCKED``, falling back to the next tenant when another claimer got there first.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from docrag.domain import Job
from docrag.store.postgres import Store

# One statement (atomic without a transaction block, so one round trip where BEGIN, two
# updates and COMMIT were four): lease the jobs the candidate query picks and mark their
# documents. The candidate locks up to %(count)s of one tenant's jobs, oldest first; the first is
# taken, and those after it while every one so far holds at most %(group_bytes)s bytes (a group of
# small uploads; one large upload is taken alone).
_TAKE = (
    "WITH c AS ({candidate}),"
    " g AS (SELECT c.id, c.size_bytes, row_number() OVER w AS n,"
    " bool_and(c.size_bytes <= %(group_bytes)s::bigint) OVER w AS small FROM c"
    " WINDOW w AS (ORDER BY c.run_after, c.id ROWS UNBOUNDED PRECEDING)),"
    " taken AS (UPDATE jobs j SET state = 'running', worker_id = %(worker)s, attempts = j.attempts + 1,"
    " lease_until = now() + make_interval(secs => %(lease)s::float8), updated_at = now()"
    " FROM g WHERE j.id = g.id AND (g.n = 1 OR g.small)"
    " RETURNING j.id, j.tenant_id, j.document_id, j.attempts, j.max_attempts, j.worker_id, g.size_bytes),"
    " doc AS (UPDATE documents d SET status = 'parsing', progress = 0, updated_at = now()"
    " FROM taken WHERE d.id = taken.document_id RETURNING d.id, d.collection_id)"
    " SELECT taken.*, doc.collection_id FROM taken JOIN doc ON doc.id = taken.document_id"
    " ORDER BY taken.id"
)
_SIZE = "coalesce(u.size_bytes, d.size_bytes)"
_FITS = f"(%(max_bytes)s::bigint IS NULL OR {_SIZE} <= %(max_bytes)s::bigint)"
_FROM = (
    "FROM jobs j JOIN documents d ON d.id = j.document_id"
    " LEFT JOIN uploads u ON u.document_id = j.document_id"
)
# A job whose worker died: the oldest lease first (few rows: jobs_leased_idx).
_ABANDONED = (
    f"SELECT j.id, j.run_after, {_SIZE} AS size_bytes {_FROM}"
    f" WHERE j.state = 'running' AND j.lease_until < now() AND {_FITS}"
    # The document row too: a delete locks it before the job (its cascade's order), so a claim
    # that took the job first and then waited for the document could deadlock with it; skipping
    # a job whose document is locked waits for nothing.
    " ORDER BY j.lease_until LIMIT 1 FOR UPDATE OF j, d SKIP LOCKED"
)
# One tenant's oldest claimable jobs: an index scan of jobs_queued_tenant_idx.
_OLDEST = (
    f"SELECT j.id, j.run_after, {_SIZE} AS size_bytes {_FROM}"
    f" WHERE j.state = 'queued' AND j.tenant_id = %(tenant)s AND j.run_after <= now() AND {_FITS}"
    " ORDER BY j.run_after, j.id LIMIT %(count)s FOR UPDATE OF j, d SKIP LOCKED"
)
# The tenants with claimable jobs, fewest running first, then by their oldest job.
_TENANTS = (
    "WITH RECURSIVE t AS ("
    " (SELECT tenant_id FROM jobs WHERE state = 'queued' ORDER BY tenant_id LIMIT 1)"
    " UNION ALL SELECT (SELECT j.tenant_id FROM jobs j WHERE j.state = 'queued' AND j.tenant_id > t.tenant_id"
    " ORDER BY j.tenant_id LIMIT 1) FROM t WHERE t.tenant_id IS NOT NULL),"
    " busy AS (SELECT tenant_id, count(*) AS n FROM jobs WHERE state = 'running' AND lease_until >= now()"
    " GROUP BY tenant_id)"
    " SELECT t.tenant_id FROM t LEFT JOIN busy b ON b.tenant_id = t.tenant_id"
    f" CROSS JOIN LATERAL (SELECT j.run_after, j.id {_FROM} WHERE j.state = 'queued'"
    f" AND j.tenant_id = t.tenant_id AND j.run_after <= now() AND {_FITS}"
    " ORDER BY j.run_after, j.id LIMIT 1) head"
    " WHERE t.tenant_id IS NOT NULL ORDER BY coalesce(b.n, 0), head.run_after, head.id"
)


def claim(
    store: Store,
    worker_id: str,
    lease_seconds: float,
    max_bytes: int | None = None,
    *,
    count: int = 1,
    group_bytes: int = 0,
) -> list[Job]:
    """Claim the next job for ``worker_id`` (its lease: ``lease_seconds``); with ``count`` > 1,
    up to ``count`` of one tenant's jobs when each of them holds at most ``group_bytes`` (an
    abandoned job is always taken alone). :returns: the jobs in queue order; none: nothing to do.
    """
    params: dict[str, Any] = {
        "worker": worker_id,
        "lease": lease_seconds,
        "max_bytes": max_bytes,
        "count": count,
        "group_bytes": group_bytes,
    }
    # Autocommit: each statement is its own transaction, and each take is one statement.
    with store.connection(store.ALL_TENANTS, autocommit=True) as conn:
        jobs = _take(conn, _ABANDONED, params)
        if jobs:
            return jobs
        tenants: list[UUID] = [r["tenant_id"] for r in conn.execute(_TENANTS, params).fetchall()]
        for tenant in tenants:
            jobs = _take(conn, _OLDEST, params | {"tenant": tenant})
            if jobs:
                return jobs
    return []


def _take(conn: psycopg.Connection[Any], candidate: str, params: dict[str, Any]) -> list[Job]:
    """Lease the jobs ``candidate`` selects (locked, skipping locked ones), mark their documents."""
    rows = conn.execute(_TAKE.format(candidate=candidate), params).fetchall()
    return [Job(**row) for row in rows]
