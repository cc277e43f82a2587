"""Which job a free worker thread takes next: fair across tenants, with room kept for small uploads.

A job whose lease ran out (its worker died) comes first, as before. Among queued jobs, the
tenant with the fewest jobs running anywhere goes first, then the oldest job: one tenant's
burst of uploads can't hold every worker while another tenant's single upload waits behind it.
A claim may be limited to uploads of at most ``max_bytes`` (the worker's express lane, see
``jobs/worker.py``): its last free thread takes only small uploads while its others are busy
with large ones.
"""

from __future__ import annotations

from typing import Any

from docrag.domain import Job
from docrag.store.postgres import Store

_CANDIDATES = (
    "j.state = 'running' AND j.lease_until < now()",
    "j.state = 'queued' AND j.run_after <= now()",
)
_ORDER = ("j.lease_until", "coalesce(b.n, 0), j.run_after, j.id")


def claim(store: Store, worker_id: str, lease_seconds: float, max_bytes: int | None = None) -> Job | None:
    """Claim the next job for ``worker_id`` (its lease: ``lease_seconds``), or ``None``."""
    params: dict[str, Any] = {"worker": worker_id, "lease": lease_seconds, "max_bytes": max_bytes}
    for where, order in zip(_CANDIDATES, _ORDER, strict=True):
        with store.connection(store.ALL_TENANTS) as conn, conn.transaction():
            row = conn.execute(
                "WITH busy AS (SELECT tenant_id, count(*) AS n FROM jobs WHERE state = 'running'"
                " AND lease_until >= now() GROUP BY tenant_id)"
                " UPDATE jobs j SET state = 'running', worker_id = %(worker)s, attempts = j.attempts + 1,"
                " lease_until = now() + make_interval(secs => %(lease)s::float8), updated_at = now()"
                " FROM (SELECT j.id, coalesce(u.size_bytes, d.size_bytes) AS size_bytes FROM jobs j"
                " JOIN documents d ON d.id = j.document_id"
                " LEFT JOIN uploads u ON u.document_id = j.document_id"
                " LEFT JOIN busy b ON b.tenant_id = j.tenant_id"
                f" WHERE {where} AND (%(max_bytes)s::bigint IS NULL"
                " OR coalesce(u.size_bytes, d.size_bytes) <= %(max_bytes)s::bigint)"
                # The document row too: a delete locks it before the job (its cascade's order), so
                # a claim that took the job first and then waited for the document could deadlock
                # with it; skipping a job whose document is locked waits for nothing.
                f" ORDER BY {order} LIMIT 1 FOR UPDATE OF j, d SKIP LOCKED) c"
                " WHERE j.id = c.id"
                " RETURNING j.id, j.tenant_id, j.document_id, j.attempts, j.max_attempts, j.worker_id,"
                " c.size_bytes",
                params,
            ).fetchone()
            if row is None:
                continue
            doc = conn.execute(
                "UPDATE documents SET status = 'parsing', progress = 0, updated_at = now()"
                " WHERE id = %s RETURNING collection_id",
                (row["document_id"],),
            ).fetchone()
            assert doc is not None  # the job's foreign key holds the document
            return Job(collection_id=doc["collection_id"], **row)
    return None
