"""What the worker (jobs/) asks of the durable ingestion queue (store/jobs.py implements it). The
rules of store/protocol.py hold here too; it is kept apart so that neither module passes 400 lines.
tests/support/store_conformance_jobs.py is its conformance suite."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from docrag.domain import ChunkVectors, Collection, DocumentInfo, Job, ParsedDocument, StoredChunk
from docrag.errors import DocRAGError

if TYPE_CHECKING:
    from docrag.store.job_group_writes import Completion, Written
    from docrag.store.job_uploads import StoredUpload
    from docrag.store.jobs import Enqueued


class JobQueue(Protocol):
    """The durable ingestion queue: submitting, and a worker's claimed, fenced writes."""

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
    ) -> Enqueued: ...

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
    ) -> Enqueued: ...

    def documents(self, tenant_id: UUID, document_ids: Sequence[UUID]) -> list[DocumentInfo]: ...

    def claim(self, worker_id: str, lease_seconds: float, *, max_bytes: int | None = None) -> Job | None: ...

    def claim_group(
        self, worker_id: str, lease_seconds: float, *, max_bytes: int | None, count: int, group_bytes: int
    ) -> list[Job]:
        """The next job (as :meth:`claim`), and up to ``count`` - 1 more of its tenant's when
        each of them holds at most ``group_bytes``; none: nothing to do."""
        ...

    def upload(self, job: Job) -> StoredUpload | None: ...

    def uploads(self, tenant_id: UUID, jobs: Sequence[Job]) -> dict[UUID, StoredUpload | DocRAGError]:
        """The uploads of ``tenant_id``'s ``jobs`` by document id: none for a job whose is gone,
        the typed error for one whose bytes can't be read (KeyDestroyed)."""
        ...

    def previous_vectors(self, job: Job, model: str) -> dict[tuple[str, tuple[int, ...]], ChunkVectors]: ...

    def heartbeat(self, worker_ids: Sequence[str], lease_seconds: float) -> set[int]: ...

    def progress(self, job: Job, status: str, progress: float) -> bool: ...

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
        """:returns: False when the job is no longer this worker's (nothing was written).
        :raises Conflict: (embedding_model_mismatch) when ``model`` is not the collection's."""
        ...

    def complete_group(self, tenant_id: UUID, completions: Sequence[Completion]) -> list[Written]:
        """The final writes of ``tenant_id``'s jobs in one transaction, each as :meth:`complete`
        would make it: per job True, False (not this worker's) or the error it would raise."""
        ...

    def fail(self, job: Job, code: str, message: str) -> bool: ...

    def retry(self, job: Job, error: str, delay_seconds: float) -> bool: ...

    def hand_back(self, job: Job) -> bool: ...

    def listen(self, stop: threading.Event, wake: Callable[[], None], *, timeout: float = 1.0) -> None: ...
