"""Submitting uploads to the ingestion queue, and waiting for their documents to be final.

Everything that can be decided from the bytes alone (size, emptiness, file type) is checked
here, so a bad upload is refused at once and stores nothing; parsing, chunking and embedding
happen in a worker. The type detected here is the one the worker parses as (its job's mime).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from docrag.domain import Collection, DocumentInfo
from docrag.ingest.pipeline import Ingestor, Upload, document_title, safe_filename
from docrag.store.jobs import Enqueued
from docrag.store.protocol import JobQueue
from docrag.text.pii import redact

#: Seconds between two reads of the documents waited for (a cheap primary-key read each).
POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class _Checked:
    """An upload that passed the checks made before anything is stored, ready to enqueue."""

    data: bytes
    digest: bytes
    mime: str
    filename: str | None
    explicit_title: str | None


def _check(ingestor: Ingestor, collection: Collection, upload: Upload) -> _Checked:
    """The checks and preparation :func:`submit` and :func:`submit_version` share, in order:
    the collection's model, the size, the type; then PII in the name and title redacted."""
    ingestor.check_collection(collection)
    ingestor.check_size(upload.data)
    mime = ingestor.check_type(upload.data, upload.filename)
    upload = _named(ingestor, collection, upload)
    explicit = upload.title.strip() if upload.title and upload.title.strip() else None
    return _Checked(upload.data, hashlib.sha256(upload.data).digest(), mime, upload.filename, explicit)


def _named(ingestor: Ingestor, collection: Collection, upload: Upload) -> Upload:
    """The upload with PII in its file name and title redacted, when its collection redacts."""
    if not ingestor.redacts(collection):
        return upload
    return Upload(
        upload.data,
        redact(upload.filename) if upload.filename else upload.filename,
        redact(upload.title) if upload.title else upload.title,
    )


def submit(jobs: JobQueue, ingestor: Ingestor, collection: Collection, upload: Upload) -> Enqueued:
    """Queue ``upload`` (one transaction: document, bytes, job), or find the same bytes stored.

    :raises BadInput: (FileTooLarge, EmptyFile, UnsupportedFileType (``ocr_disabled`` for an image
        while OCR is off), UnreadableFile) at once.
    :raises Conflict: (embedding_model_mismatch) when the collection's vectors are another model's.
    """
    checked = _check(ingestor, collection, upload)
    return jobs.enqueue(
        collection,
        data=checked.data,
        digest=checked.digest,
        mime=checked.mime,
        title=document_title(checked.explicit_title, checked.filename, None),
        filename=safe_filename(checked.filename),
        explicit_title=checked.explicit_title,
    )


def submit_version(
    jobs: JobQueue, ingestor: Ingestor, collection: Collection, document_id: UUID, upload: Upload
) -> Enqueued:
    """Queue ``upload`` as the next version of ``document_id``; the served version stays
    searchable until the new one is indexed, then the switch is one transaction.

    :raises BadInput: as :func:`submit`; DuplicateDocument when the bytes are another document's.
    :raises NotFound: when the document is not the caller's.
    """
    checked = _check(ingestor, collection, upload)
    return jobs.enqueue_version(
        collection.tenant_id,
        document_id,
        data=checked.data,
        digest=checked.digest,
        mime=checked.mime,
        filename=safe_filename(checked.filename),
        explicit_title=checked.explicit_title,
    )


class _Deadline:
    """The one wait-until-final rule: done when every document is indexed or failed, or when
    ``timeout`` ran out; both faces below only read and sleep around it."""

    def __init__(self, timeout: float) -> None:
        self._end = time.monotonic() + timeout

    def done(self, docs: Sequence[DocumentInfo]) -> bool:
        return all(d.final for d in docs) or time.monotonic() >= self._end


def wait_final(
    jobs: JobQueue,
    tenant_id: UUID,
    document_ids: Sequence[UUID],
    *,
    timeout: float,
    poll: float = POLL_SECONDS,
) -> list[DocumentInfo]:
    """The documents once all are indexed or failed, or as they are when ``timeout`` runs out
    (a deleted one is left out)."""
    deadline = _Deadline(timeout)
    while not deadline.done(docs := jobs.documents(tenant_id, document_ids)):
        time.sleep(poll)
    return docs


async def wait_final_async(
    jobs: JobQueue,
    tenant_id: UUID,
    document_ids: Sequence[UUID],
    *,
    timeout: float,
    poll: float = POLL_SECONDS,
) -> list[DocumentInfo]:
    """:func:`wait_final` for the event loop: each read runs in a thread, and no thread is held
    while it sleeps."""
    deadline = _Deadline(timeout)
    while not deadline.done(docs := await asyncio.to_thread(jobs.documents, tenant_id, document_ids)):
        await asyncio.sleep(poll)
    return docs
