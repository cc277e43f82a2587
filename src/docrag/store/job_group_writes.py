"""A job's final write, fenced (``write_fenced``: store/jobs.py's ``complete`` runs it alone), and
the final writes of a group of one tenant's small jobs run together (jobs/group_runner.py): one
transaction for all of them instead of one each.

The rules of the single final write (store/jobs.py's ``complete``) hold for each job: its
collection row is locked first (all the group's collections, in one order, so two groups can't
deadlock), its write is fenced on the job still being this worker's, and the chunks go in only
if the collection's model built them. What one job can't write leaves the others' writes: each
job's write is under a savepoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from docrag.domain import Job, ParsedDocument, StoredChunk
from docrag.errors import Conflict, DocRAGError, DuplicateDocument
from docrag.store.document_writes import write_indexed
from docrag.store.job_fences import NotOurs, finish_job, model_conflict
from docrag.store.postgres import Store
from docrag.store.versions import bump


@dataclass(frozen=True, slots=True)
class Completion:
    """One job's final write: as ``JobStore.complete``'s arguments."""

    job: Job
    title: str
    parsed: ParsedDocument
    chunks: Sequence[StoredChunk]
    embedded: int | None = None  # how many of ``chunks`` were embedded anew (None: all)
    model: str | None = None  # the model that built their vectors (None: not checked)


#: Per job: True, written; False, no longer this worker's (nothing written); or the typed error
#: that kept it from being written (DuplicateDocument: fail it; Conflict: retry it).
Written = bool | DocRAGError


def write_fenced(
    conn: psycopg.Connection[Any], completion: Completion, collection: tuple[str, str] | None
) -> None:
    """One job's final write, in the caller's transaction, after its collection row is locked
    (``collection``: its name and model as ``versions.bump`` read them under that lock).

    :raises NotOurs: the job is no longer this worker's (checked first: nothing else matters then).
    :raises Conflict: (embedding_model_mismatch) the collection holds another model's vectors.
    :raises DuplicateDocument: another document of the collection got these bytes meanwhile.
    The caller rolls back what this wrote before raising."""
    job = completion.job
    if not finish_job(conn, job, "done", None):
        raise NotOurs
    conflict = model_conflict(collection, completion.model)
    if conflict is not None:
        raise conflict
    write_indexed(
        conn,
        job.tenant_id,
        job.collection_id,
        job.document_id,
        title=completion.title,
        parsed=completion.parsed,
        chunks=completion.chunks,
        embedded=completion.embedded,
    )


def complete_group(store: Store, tenant_id: UUID, completions: Sequence[Completion]) -> list[Written]:
    """Write every job of ``completions`` (all ``tenant_id``'s) that can be, in one transaction."""
    results: list[Written] = []
    with store.connection(tenant_id) as conn, conn.transaction():
        # A collection whose every job here turns out lost is bumped too: a cache refresh, no more.
        found = {c: bump(conn, tenant_id, c) for c in sorted({x.job.collection_id for x in completions})}
        for completion in completions:
            try:
                with conn.transaction():  # a savepoint: this job's failure undoes only its own write
                    write_fenced(conn, completion, found[completion.job.collection_id])
            except NotOurs:
                results.append(False)
            except (Conflict, DuplicateDocument) as exc:
                results.append(exc)
            else:
                results.append(True)
    return results
