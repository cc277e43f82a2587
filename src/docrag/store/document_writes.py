"""The one write of a document's indexed content: its chunks, their vectors and sentence data.

Both ways a document gets indexed end here, inside their caller's transaction: the queue's
final write (store/jobs.py, after its fences) and the direct in-process ingestion
(store/documents.py's ``insert_documents``, for ``docrag eval`` and tests). Callers take the
collection row's lock first (``versions.bump``), as every writer of a collection's documents does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from docrag.domain import ParsedDocument, StoredChunk
from docrag.domain.records import box_record
from docrag.errors import DuplicateDocument
from docrag.store.erasure import redact_stale_answers


def write_indexed(
    conn: psycopg.Connection[Any],
    tenant_id: UUID,
    collection_id: UUID,
    document_id: UUID,
    *,
    title: str,
    parsed: ParsedDocument,
    chunks: Sequence[StoredChunk],
    embedded: int | None = None,
) -> None:
    """The document becomes 'indexed' at its pending version (or its current one) with exactly
    ``chunks``: any previous version's chunks are replaced, a queued upload's bytes kept as the
    original or dropped (store/originals.py), and answers quoting text only the old version held
    are redacted. ``embedded``: how many of ``chunks`` were embedded anew (default all).

    :raises DuplicateDocument: when the upload's bytes (a new version's) are meanwhile another
        document's in the same collection.
    """
    try:
        with conn.transaction():
            conn.execute(
                "UPDATE documents d SET status = 'indexed', progress = 1, title = %(title)s,"
                " mime = %(mime)s, text = %(text)s, page_starts = %(pages)s,"
                " page_count = %(page_count)s, chunk_count = %(chunks)s,"
                " embedded_chunks = %(embedded)s, error_code = NULL, error_message = NULL,"
                " version = coalesce(d.pending_version, d.version), pending_version = NULL,"
                " content_hash = coalesce(u.content_hash, d.content_hash),"
                " size_bytes = coalesce(u.size_bytes, d.size_bytes),"
                " filename = coalesce(u.filename, d.filename), updated_at = now()"
                " FROM (SELECT NULL) AS one LEFT JOIN uploads u ON u.document_id = %(doc)s"
                " WHERE d.id = %(doc)s",
                {
                    "title": title,
                    "mime": parsed.mime,
                    "text": parsed.text,
                    "pages": parsed.page_starts(),
                    "page_count": parsed.page_count,
                    "chunks": len(chunks),
                    "embedded": len(chunks) if embedded is None else embedded,
                    "doc": document_id,
                },
            )
    except psycopg.errors.UniqueViolation as exc:
        raise DuplicateDocument(
            "another document of the collection got these bytes while this version was queued"
        ) from exc
    replaced = conn.execute(
        "DELETE FROM chunks WHERE tenant_id = %s AND document_id = %s", (tenant_id, document_id)
    ).rowcount
    _insert_chunks(conn, tenant_id, collection_id, document_id, chunks)
    _keep_or_drop_upload(conn, tenant_id, document_id)  # PII collections may keep it
    if replaced:
        # The replaced version's text is gone: so are the answers quoting what it alone held.
        # A document that had no chunks was never searchable, so no answer quotes it.
        redact_stale_answers(conn, tenant_id, [document_id])


def _keep_or_drop_upload(conn: psycopg.Connection[Any], tenant: UUID, document: UUID) -> None:
    """Keep a queued upload's bytes as the document's original if its collection says so
    (store/originals.py), then delete them from the queue's table."""
    conn.execute(
        "INSERT INTO originals (tenant_id, document_id, filename, mime, data, key_version)"
        " SELECT u.tenant_id, u.document_id, d.filename, d.mime, u.data, u.key_version"
        " FROM uploads u JOIN documents d ON d.id = u.document_id AND d.tenant_id = u.tenant_id"
        " JOIN collections k ON k.id = d.collection_id AND k.tenant_id = d.tenant_id"
        " WHERE u.tenant_id = %(tenant)s AND u.document_id = %(doc)s AND u.key_version IS NOT NULL"
        " AND ((k.pii_redact AND k.pii_keep_original = 'encrypted')"
        "  OR (NOT k.pii_redact AND d.mime = 'application/pdf'))"
        " ON CONFLICT (document_id) DO UPDATE SET filename = EXCLUDED.filename, mime = EXCLUDED.mime,"
        " data = EXCLUDED.data, key_version = EXCLUDED.key_version, created_at = now()",
        {"tenant": tenant, "doc": document},
    )
    conn.execute("DELETE FROM uploads WHERE document_id = %s", (document,))


def _insert_chunks(
    conn: psycopg.Connection[Any],
    tenant_id: UUID,
    collection_id: UUID,
    document_id: UUID,
    chunks: Sequence[StoredChunk],
) -> None:
    """UNIQUE (document_id, ord) makes a second copy of any chunk impossible."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO chunks (tenant_id, collection_id, document_id, ord, start_offset,"
            " end_offset, heading_path, page_start, page_end, content, body, embedding,"
            " sentence_spans, sentence_vectors, boxes)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    tenant_id,
                    collection_id,
                    document_id,
                    c.draft.ord,
                    c.draft.start,
                    c.draft.end,
                    list(c.draft.heading_path),
                    c.draft.page_start,
                    c.draft.page_end,
                    c.content,
                    c.draft.body,
                    np.asarray(c.embedding, dtype=np.float32),
                    [offset for span in c.draft.sentences for offset in span],
                    c.sentence_vectors,
                    Jsonb([box_record(b) for b in c.draft.boxes]) if c.draft.boxes else None,
                )
                for c in chunks
            ],
        )
