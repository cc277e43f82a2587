"""The ingestion queue's SQL: enqueue, claim, heartbeat, progress, complete, fail, retry.

Jobs live in PostgreSQL beside the documents they build. A worker claims a job with
``FOR UPDATE SKIP LOCKED`` and holds it under a lease that its heartbeat extends; a job whose
lease ran out (its worker died) is claimable again. Every write a worker makes is fenced on
still owning the job (``id = job AND worker_id = me AND state = 'running'``), and the final
write (chunks, document 'indexed', content version, job 'done') is one transaction, so a
worker whose lease was taken over can never write a second copy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import psycopg

from docrag.domain import ChunkVectors, Collection, DocumentInfo, Job, ParsedDocument, StoredChunk
from docrag.errors import DocRAGError, DuplicateDocument, NotFound
from docrag.store.crypto import Sealer
from docrag.store.documents import DOC_COLUMNS, document_info
from docrag.store.job_claims import claim
from docrag.store.job_fences import OWNED, NotOurs, finish_job, lock_document
from docrag.store.job_group_writes import Completion, Written, complete_group, write_fenced
from docrag.store.job_uploads import StoredUpload, read_uploads
from docrag.store.job_vectors import previous_vectors
from docrag.store.job_wakeups import CHANNEL, listen
from docrag.store.postgres import Store
from docrag.store.versions import bump

_log = logging.getLogger(__name__)

EnqueueOutcome = Literal["queued", "requeued", "existing", "replacing"]  # a run's: runner.JobOutcome


@dataclass(frozen=True, slots=True)
class Enqueued:
    document: DocumentInfo
    #: queued: a new document; requeued: a failed one queued again; existing: left as it was;
    #: replacing: a new version queued while the served one stays searchable.
    outcome: EnqueueOutcome


class JobStore:
    def __init__(self, store: Store, *, sealer: Sealer, max_attempts: int = 5) -> None:
        self._store = store
        self.sealer = sealer  # uploaded bytes are stored encrypted (store/crypto.py)
        self._max_attempts = max_attempts

    # -- submitting ----------------------------------------------------------------------

    def enqueue(
        self,
        collection: Collection,
        *,
        data: bytes,
        digest: bytes,
        mime: str,
        title: str,
        filename: str | None,
        explicit_title: str | None,
    ) -> Enqueued:
        """Store the document (queued), its bytes and its job in one transaction.

        The same bytes already in the collection return that document; a failed one is
        queued again with these bytes.
        """
        tenant = collection.tenant_id
        with self._store.connection(tenant) as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO documents (tenant_id, collection_id, title, filename, mime, content_hash,"
                " size_bytes, text) VALUES (%s, %s, %s, %s, %s, %s, %s, '')"
                f" ON CONFLICT (collection_id, content_hash) DO NOTHING RETURNING {DOC_COLUMNS}",
                (tenant, collection.id, title, filename, mime, digest, len(data)),
            ).fetchone()
            outcome: EnqueueOutcome = "queued"
            if row is None:
                row = conn.execute(
                    f"SELECT {DOC_COLUMNS} FROM documents WHERE collection_id = %s AND content_hash = %s"
                    " FOR UPDATE",
                    (collection.id, digest),
                ).fetchone()
                assert row is not None  # the conflicting row is committed: ON CONFLICT waited for it
                if row["status"] != "failed":
                    return Enqueued(document_info(row), "existing")
                outcome = "requeued"
                row = conn.execute(
                    "UPDATE documents SET status = 'queued', progress = 0, error_code = NULL,"
                    f" error_message = NULL, updated_at = now() WHERE id = %s RETURNING {DOC_COLUMNS}",
                    (row["id"],),
                ).fetchone()
                assert row is not None
            doc_id = row["id"]
            sealed = self.sealer.seal(conn, tenant, doc_id, data)
            conn.execute(
                "INSERT INTO uploads (tenant_id, document_id, title, data, key_version)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (document_id) DO UPDATE"
                " SET title = EXCLUDED.title, data = EXCLUDED.data, key_version = EXCLUDED.key_version",
                (tenant, doc_id, explicit_title, sealed.data, sealed.key_version),
            )
            self._queue_job(conn, tenant, doc_id)
        return Enqueued(document_info(row), outcome)

    def enqueue_version(
        self,
        tenant_id: UUID,
        document_id: UUID,
        *,
        data: bytes,
        digest: bytes,
        mime: str,
        filename: str | None,
        explicit_title: str | None,
    ) -> Enqueued:
        """Queue new bytes for an existing document (one transaction: pending version, bytes, job).

        The served version stays searchable until the worker's final transaction swaps in the
        new one. A newer replacement supersedes a pending one (its worker is fenced out).
        Bytes equal to the served version's, with nothing pending, change nothing.

        :raises NotFound: when the document is not the caller's tenant's.
        :raises DuplicateDocument: when the bytes are another document's in the same collection.
        """
        with self._store.connection(tenant_id) as conn, conn.transaction():
            row = conn.execute(
                f"SELECT {DOC_COLUMNS}, content_hash AS digest FROM documents"
                " WHERE tenant_id = %s AND id = %s FOR UPDATE",
                (tenant_id, document_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"document {document_id} not found", code="document_not_found")
            digest_of_served = bytes(row.pop("digest"))
            if digest_of_served == digest and row["pending_version"] is None:
                return Enqueued(document_info(row), "existing")
            other = conn.execute(
                "SELECT id FROM documents WHERE collection_id = %s AND content_hash = %s AND id <> %s",
                (row["collection_id"], digest, document_id),
            ).fetchone()
            if other is not None:
                raise DuplicateDocument(
                    f"these bytes are already document {other['id']} in the same collection"
                )
            row = conn.execute(
                "UPDATE documents SET pending_version = version + 1, status = 'queued', progress = 0,"
                " error_code = NULL, error_message = NULL, updated_at = now()"
                f" WHERE id = %s RETURNING {DOC_COLUMNS}",
                (document_id,),
            ).fetchone()
            assert row is not None
            sealed = self.sealer.seal(conn, tenant_id, document_id, data)
            conn.execute(
                "INSERT INTO uploads (tenant_id, document_id, title, data, content_hash, mime, size_bytes,"
                " filename, key_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (document_id) DO UPDATE SET title = EXCLUDED.title, data = EXCLUDED.data,"
                " content_hash = EXCLUDED.content_hash,"
                " mime = EXCLUDED.mime, size_bytes = EXCLUDED.size_bytes, filename = EXCLUDED.filename,"
                " key_version = EXCLUDED.key_version",
                (
                    tenant_id,
                    document_id,
                    explicit_title,
                    sealed.data,
                    digest,
                    mime,
                    len(data),
                    filename,
                    sealed.key_version,
                ),
            )
            self._queue_job(conn, tenant_id, document_id)
        return Enqueued(document_info(row), "replacing")

    def _queue_job(self, conn: psycopg.Connection[Any], tenant_id: UUID, document_id: UUID) -> None:
        """Queue the document's job afresh (a running one is fenced out) and wake the workers."""
        conn.execute(
            "INSERT INTO jobs (tenant_id, document_id, max_attempts) VALUES (%s, %s, %s)"
            " ON CONFLICT (document_id) DO UPDATE SET state = 'queued', attempts = 0,"
            " max_attempts = EXCLUDED.max_attempts, run_after = now(), lease_until = NULL,"
            " worker_id = NULL, last_error = NULL, updated_at = now()",
            (tenant_id, document_id, self._max_attempts),
        )
        conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))  # delivered at commit

    def documents(self, tenant_id: UUID, document_ids: Sequence[UUID]) -> list[DocumentInfo]:
        with self._store.connection(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {DOC_COLUMNS} FROM documents WHERE tenant_id = %s AND id = ANY(%s)",
                (tenant_id, list(document_ids)),
            ).fetchall()
        return [document_info(r) for r in rows]

    # -- working -------------------------------------------------------------------------

    def claim(self, worker_id: str, lease_seconds: float, *, max_bytes: int | None = None) -> Job | None:
        """The next job for this worker thread, fairly across tenants (``store/job_claims.py``)."""
        jobs = claim(self._store, worker_id, lease_seconds, max_bytes)
        return jobs[0] if jobs else None

    def claim_group(
        self, worker_id: str, lease_seconds: float, *, max_bytes: int | None, count: int, group_bytes: int
    ) -> list[Job]:
        """The next job, and up to ``count`` - 1 more of its tenant's when all of them hold at
        most ``group_bytes`` (run together: jobs/group_runner.py)."""
        return claim(self._store, worker_id, lease_seconds, max_bytes, count=count, group_bytes=group_bytes)

    def upload(self, job: Job) -> StoredUpload | None:
        """:raises KeyDestroyed: its data key was shredded."""
        found = self.uploads(job.tenant_id, [job]).get(job.document_id)
        if isinstance(found, DocRAGError):
            raise found
        return found

    def uploads(self, tenant_id: UUID, jobs: Sequence[Job]) -> dict[UUID, StoredUpload | DocRAGError]:
        """The claimed jobs' uploads by document id, in one query (store/job_uploads.py)."""
        return read_uploads(self._store, self.sealer, tenant_id, jobs)

    def previous_vectors(self, job: Job, model: str) -> dict[tuple[str, tuple[int, ...]], ChunkVectors]:
        """The served version's reusable vectors, if ``model`` built them (store/job_vectors.py)."""
        return previous_vectors(self._store, job, model)

    def heartbeat(self, worker_ids: Sequence[str], lease_seconds: float) -> set[int]:
        """Extend the leases of the jobs these workers hold; :returns: the ids still held."""
        with self._store.connection(self._store.ALL_TENANTS) as conn:
            rows = conn.execute(
                "UPDATE jobs SET lease_until = now() + make_interval(secs => %s::float8), updated_at = now()"
                " WHERE worker_id = ANY(%s) AND state = 'running' RETURNING id",
                (lease_seconds, list(worker_ids)),
            ).fetchall()
        return {int(r["id"]) for r in rows}

    def progress(self, job: Job, status: str, progress: float) -> bool:
        """Show the document's stage and progress; :returns: False when the job is no longer ours."""
        with self._store.connection(job.tenant_id, autocommit=True) as conn:
            row = conn.execute(
                "UPDATE documents d SET status = %(status)s, progress = %(progress)s, updated_at = now()"
                f" FROM jobs j WHERE {OWNED} AND d.id = j.document_id RETURNING d.id",
                {"job": job.id, "worker": job.worker_id, "status": status, "progress": progress},
            ).fetchone()
        return row is not None

    def complete(
        self,
        job: Job,
        *,
        title: str,
        parsed: ParsedDocument,
        chunks: Sequence[StoredChunk],
        embedded: int | None = None,
        model: str | None = None,
    ) -> bool:
        """The final write, all or nothing: the pending version's chunks replace the served
        version's, the document becomes 'indexed' at that version, the content version moves,
        the job is 'done'. Searches see the old version or the new one, never a mix.

        ``embedded``: how many of ``chunks`` were embedded anew (default all). ``model``: the
        model that built the chunks' vectors (checked against the collection's under its lock).

        :returns: False (and writes nothing) when the job is no longer this worker's.
        :raises Conflict: (embedding_model_mismatch; the job is retried, then fails) when the
            collection records another model than ``model``: a re-index switched it meanwhile,
            and vectors of another model must not go into the collection.
        :raises DuplicateDocument: when, since the upload, another document of the collection
            got the same bytes (the job fails with that reason).
        """
        completion = Completion(job, title, parsed, chunks, embedded, model)
        try:
            with self._store.connection(job.tenant_id) as conn, conn.transaction():
                # Locks in one order for every writer of a collection's documents (here, deletes,
                # re-index switches): the collection row, then the job and document, then chunks.
                # Read under the collection lock: a re-index switch changes the model only under it.
                # An exception rolls the bump back too.
                write_fenced(conn, completion, bump(conn, job.tenant_id, job.collection_id))
        except NotOurs:
            return False
        return True

    def complete_group(self, tenant_id: UUID, completions: Sequence[Completion]) -> list[Written]:
        """The final writes of a group of ``tenant_id``'s jobs in one transaction, each fenced
        and checked as :meth:`complete` does (store/job_group_writes.py)."""
        return complete_group(self._store, tenant_id, completions)

    def fail(self, job: Job, code: str, message: str) -> bool:
        """Fail the job and its document for good, with the typed error shown on the document."""
        with self._store.connection(job.tenant_id) as conn, conn.transaction():
            lock_document(conn, job)
            if not finish_job(conn, job, "failed", f"{code}: {message}"):
                return False
            conn.execute(
                "UPDATE documents SET status = 'failed', error_code = %s, error_message = %s,"
                " updated_at = now() WHERE id = %s",
                (code, message, job.document_id),
            )
            conn.execute("DELETE FROM uploads WHERE document_id = %s", (job.document_id,))
        return True

    def retry(self, job: Job, error: str, delay_seconds: float) -> bool:
        """Queue the job again after ``delay_seconds`` (the caller checked attempts are left)."""
        return self._requeue(job, error=error, delay_seconds=delay_seconds, refund=False)

    def hand_back(self, job: Job) -> bool:
        """Return a job this worker won't finish (shutting down) to the queue, attempt refunded."""
        return self._requeue(job, error=None, delay_seconds=0.0, refund=True)

    def _requeue(self, job: Job, *, error: str | None, delay_seconds: float, refund: bool) -> bool:
        with self._store.connection(job.tenant_id) as conn, conn.transaction():
            lock_document(conn, job)
            row = conn.execute(
                "UPDATE jobs j SET state = 'queued', worker_id = NULL, lease_until = NULL,"
                " run_after = now() + make_interval(secs => %(delay)s::float8), updated_at = now(),"
                " last_error = coalesce(%(error)s, j.last_error),"
                " attempts = j.attempts - CASE WHEN %(refund)s THEN 1 ELSE 0 END"
                f" WHERE {OWNED} RETURNING j.id",
                {
                    "job": job.id,
                    "worker": job.worker_id,
                    "delay": delay_seconds,
                    "error": error,
                    "refund": refund,
                },
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE documents SET status = 'queued', progress = 0, updated_at = now() WHERE id = %s",
                (job.document_id,),
            )
            conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        return True

    # -- wake-ups ------------------------------------------------------------------------

    def listen(self, stop: threading.Event, wake: Callable[[], None], *, timeout: float = 1.0) -> None:
        """Call ``wake`` on every enqueue notification until ``stop`` is set (own connection)."""
        listen(self._store.url, stop, wake, timeout=timeout)
