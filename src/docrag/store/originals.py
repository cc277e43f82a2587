"""What becomes of an upload's bytes once its document is indexed (docs/pii.md).

Dropped, as always; a collection that redacts PII with ``pii_keep_original = 'encrypted'``
keeps the original in ``originals``, still encrypted under its tenant's data key (the
ciphertext moves as it is: its associated data names the tenant and document, not the table).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg


def keep_or_drop_upload(conn: psycopg.Connection[Any], tenant: UUID, document: UUID) -> None:
    """In the worker's final transaction: keep the upload as the original if its collection says so,
    then delete it from the queue's table."""
    conn.execute(
        "INSERT INTO originals (tenant_id, document_id, filename, mime, data, key_version)"
        " SELECT u.tenant_id, u.document_id, d.filename, d.mime, u.data, u.key_version"
        " FROM uploads u JOIN documents d ON d.id = u.document_id AND d.tenant_id = u.tenant_id"
        " JOIN collections k ON k.id = d.collection_id AND k.tenant_id = d.tenant_id"
        " WHERE u.tenant_id = %(tenant)s AND u.document_id = %(doc)s AND u.key_version IS NOT NULL"
        " AND k.pii_redact AND k.pii_keep_original = 'encrypted'"
        " ON CONFLICT (document_id) DO UPDATE SET filename = EXCLUDED.filename, mime = EXCLUDED.mime,"
        " data = EXCLUDED.data, key_version = EXCLUDED.key_version, created_at = now()",
        {"tenant": tenant, "doc": document},
    )
    conn.execute("DELETE FROM uploads WHERE document_id = %s", (document,))


def original(conn: psycopg.Connection[Any], tenant: UUID, document: UUID) -> dict[str, Any] | None:
    """The kept original's row (data still encrypted), or None."""
    row: dict[str, Any] | None = conn.execute(
        "SELECT filename, mime, data, key_version FROM originals WHERE tenant_id = %s AND document_id = %s",
        (tenant, document),
    ).fetchone()
    return row
