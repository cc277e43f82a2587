"""Submitting uploads to the ingestion queue, and waiting for their documents to be final.

Everything that can be decided from the bytes alone (size, emptiness, file type) is checked
here, so a bad upload is refused at once and stores nothing; parsing, chunking and embedding
happen in a worker.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from uuid import UUID

from docrag.domain import Collection, DocumentInfo
from docrag.ingest.pipeline import Ingestor, Upload, document_title, safe_filename
from docrag.store.jobs import Enqueued
from docrag.store.protocol import JobQueue
from docrag.text.pii import redact


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
    ingestor.check_collection(collection)
    ingestor.check_size(upload.data)
    mime = ingestor.check_type(upload.data, upload.filename)
    upload = _named(ingestor, collection, upload)
    explicit = upload.title.strip() if upload.title and upload.title.strip() else None
    return jobs.enqueue(
        collection,
        data=upload.data,
        digest=hashlib.sha256(upload.data).digest(),
        mime=mime,
        title=document_title(explicit, upload.filename, None),
        filename=safe_filename(upload.filename),
        explicit_title=explicit,
    )


def submit_version(
    jobs: JobQueue, ingestor: Ingestor, collection: Collection, document_id: UUID, upload: Upload
) -> Enqueued:
    """Queue ``upload`` as the next version of ``document_id``; the served version stays
    searchable until the new one is indexed, then the switch is one transaction.

    :raises BadInput: as :func:`submit`; DuplicateDocument when the bytes are another document's.
    :raises NotFound: when the document is not the caller's.
    """
    ingestor.check_collection(collection)
    ingestor.check_size(upload.data)
    mime = ingestor.check_type(upload.data, upload.filename)
    upload = _named(ingestor, collection, upload)
    explicit = upload.title.strip() if upload.title and upload.title.strip() else None
    return jobs.enqueue_version(
        collection.tenant_id,
        document_id,
        data=upload.data,
        digest=hashlib.sha256(upload.data).digest(),
        mime=mime,
        filename=safe_filename(upload.filename),
        explicit_title=explicit,
    )


def wait_final(
    jobs: JobQueue, tenant_id: UUID, document_ids: Sequence[UUID], *, timeout: float, poll: float = 0.1
) -> list[DocumentInfo]:
    """The documents once all are indexed or failed, or as they are when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        docs = jobs.documents(tenant_id, document_ids)
        if all(d.final for d in docs) or time.monotonic() >= deadline:
            return docs
        time.sleep(poll)
