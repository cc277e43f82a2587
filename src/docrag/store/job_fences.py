"""The fence on every write a worker makes: it must still own the job (store/jobs.py)."""

from __future__ import annotations

from typing import Any

import psycopg

from docrag.domain import Job
from docrag.errors import Conflict

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


def model_conflict(found: tuple[str, str] | None, model: str | None) -> Conflict | None:
    """The error for chunks of ``model`` going into a collection that ``found`` (its name and
    model, read under its lock) says holds another model's vectors; None when they may."""
    if model is None or found is None or found[1] == model:
        return None
    return Conflict(
        f"collection {found[0]!r} holds vectors of {found[1]}; these chunks' are {model}'s",
        code="embedding_model_mismatch",
    )
