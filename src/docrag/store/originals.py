"""What becomes of an upload's bytes once its document is indexed (docs/pii.md, docs/web.md).

Dropped, except in two cases, where the original stays in ``originals``, still encrypted under its
tenant's data key (the ciphertext moves as it is: its associated data names the tenant and
document, not the table): a collection that redacts PII with ``pii_keep_original = 'encrypted'``,
and a PDF in a collection that does not redact, so that a citation can show its page
(``GET /v1/documents/{id}/pages/{n}``). Without encryption at rest nothing is kept. The choice
is made in the final write of a queued upload (store/document_writes.py).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from docrag.errors import Conflict
from docrag.store.crypto import Sealer
from docrag.store.postgres import Store


def original(conn: psycopg.Connection[Any], tenant: UUID, document: UUID) -> dict[str, Any] | None:
    """The kept original's row (data still encrypted), or None."""
    row: dict[str, Any] | None = conn.execute(
        "SELECT filename, mime, data, key_version FROM originals WHERE tenant_id = %s AND document_id = %s",
        (tenant, document),
    ).fetchone()
    return row


def page_source(store: Store, sealer: Sealer, tenant: UUID, document: UUID) -> bytes:
    """The decrypted PDF whose pages a citation may show; 409 ``page_unavailable`` when there is
    none: not a PDF, a collection that redacts PII (its original has what was redacted), or an
    original that was not kept (indexed before it was, or without encryption at rest)."""
    with store.connection(tenant) as conn:
        row = conn.execute(
            "SELECT o.mime, o.data, o.key_version, k.pii_redact FROM originals o"
            " JOIN documents d ON d.id = o.document_id AND d.tenant_id = o.tenant_id"
            " JOIN collections k ON k.id = d.collection_id AND k.tenant_id = d.tenant_id"
            " WHERE o.tenant_id = %s AND o.document_id = %s",
            (tenant, document),
        ).fetchone()
        if row is None or row["pii_redact"] or row["mime"] != "application/pdf":
            raise Conflict(
                f"document {document} has no page images: only PDFs indexed with encryption at rest,"
                " in a collection that does not redact PII, keep theirs",
                code="page_unavailable",
            )
        return sealer.open(conn, tenant, document, bytes(row["data"]), row["key_version"])
