"""The fence on every write a worker makes: it must still own the job (store/jobs.py)."""

from __future__ import annotations

from typing import Any

import psycopg

from docrag.domain import Job

OWNED = "j.id = %(job)s AND j.worker_id = %(worker)s AND j.state = 'running'"


def lock_document(conn: psycopg.Connection[Any], job: Job) -> None:
    """Lock the job's document before the job row, the order a delete takes them in (its
    cascade reaches the job through the document), so the two can't deadlock."""
    conn.execute("SELECT 1 FROM documents WHERE id = %s FOR UPDATE", (job.document_id,))


class NotOurs(Exception):
    """The job is no longer this worker's: the final write must not happen."""


def finish_job(conn: psycopg.Connection[Any], job: Job, state: str, error: str | None) -> bool:
    row = conn.execute(
        "UPDATE jobs j SET state = %(state)s, lease_until = NULL, updated_at = now(),"
        f" last_error = coalesce(%(error)s, j.last_error) WHERE {OWNED} RETURNING j.id",
        {"job": job.id, "worker": job.worker_id, "state": state, "error": error},
    ).fetchone()
    return row is not None
