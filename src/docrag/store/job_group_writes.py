"""The final write of a group of one tenant's small jobs, run together (jobs/group_runner.py):
one transaction for all of them instead of one each.

The rules of the single final write (store/jobs.py's ``complete``) hold for each job: its
collection row is locked first (all the group's collections, in one order, so two groups can't
deadlock), its write is fenced on the job still being this worker's, and the chunks go in only
if the collection's model built them. What one job can't write leaves the others' writes: each
job's write is under a savepoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from docrag.domain import Job, ParsedDocument, StoredChunk
from docrag.errors import DocRAGError, DuplicateDocument
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
    embedded: int
    model: str


#: Per job: True, written; False, no longer this worker's (nothing written); or the typed error
#: that kept it from being written (DuplicateDocument: fail it; Conflict: retry it).
Written = bool | DocRAGError


def complete_group(store: Store, tenant_id: UUID, completions: Sequence[Completion]) -> list[Written]:
    """Write every job of ``completions`` (all ``tenant_id``'s) that can be, in one transaction."""
    results: list[Written] = []
    with store.connection(tenant_id) as conn, conn.transaction():
        # A collection whose every job here turns out lost is bumped too: a cache refresh, no more.
        models = {c: bump(conn, tenant_id, c) for c in sorted({x.job.collection_id for x in completions})}
        for completion in completions:
            job = completion.job
            conflict = model_conflict(models[job.collection_id], completion.model)
            if conflict is not None:
                results.append(conflict)
                continue
            try:
                with conn.transaction():  # a savepoint: this job's failure undoes only its own write
                    if not finish_job(conn, job, "done", None):
                        raise NotOurs
                    write_indexed(
                        conn,
                        tenant_id,
                        job.collection_id,
                        job.document_id,
                        title=completion.title,
                        parsed=completion.parsed,
                        chunks=completion.chunks,
                        embedded=completion.embedded,
                    )
            except NotOurs:
                results.append(False)
            except DuplicateDocument as exc:
                results.append(exc)
            else:
                results.append(True)
    return results
