"""What a worker reads for its claimed jobs: each upload's bytes (decrypted) and what its
collection says about them, for one job or a group of one tenant's jobs in one query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from docrag.domain import Job
from docrag.errors import DocRAGError
from docrag.store.crypto import Sealer
from docrag.store.postgres import Store


@dataclass(frozen=True, slots=True)
class StoredUpload:
    data: bytes
    filename: str | None
    title: str | None  # the caller's title, if any
    #: The collection's (model, dimension, name): the vectors must be that model's (the final
    #: write checks it again under the collection's lock).
    model: tuple[str, int, str]
    redact: bool = False  # its collection redacts PII (store/pii_policy.py)
    mime: str | None = None  # the type submit detected: the worker parses it as that
    served_chunks: int = 0  # of the document's served version: 0, nothing to reuse vectors of


def read_uploads(
    store: Store, sealer: Sealer, tenant_id: UUID, jobs: Sequence[Job]
) -> dict[UUID, StoredUpload | DocRAGError]:
    """The uploads of ``jobs`` (all of ``tenant_id``), by document id; a job whose upload is gone
    has none, and one whose bytes can't be decrypted has the typed error instead (KeyDestroyed:
    its data key was shredded), so that it fails alone."""
    with store.connection(tenant_id, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT u.document_id, u.data, u.key_version, u.title,"
            " coalesce(u.filename, d.filename) AS filename, coalesce(u.mime, d.mime) AS mime,"
            " k.pii_redact, k.embedding_model, k.embedding_dim, k.name, d.chunk_count"
            " FROM uploads u JOIN documents d ON d.id = u.document_id"
            " JOIN collections k ON k.id = d.collection_id AND k.tenant_id = d.tenant_id"
            " WHERE u.tenant_id = %s AND u.document_id = ANY(%s)",
            (tenant_id, [job.document_id for job in jobs]),
        ).fetchall()
        found: dict[UUID, StoredUpload | DocRAGError] = {}
        keys: dict[int, bytes] = {}  # the tenant's data keys: a group's uploads mostly share one
        for row in rows:
            document_id: UUID = row["document_id"]
            try:
                data = sealer.open(
                    conn, tenant_id, document_id, bytes(row["data"]), row["key_version"], keys=keys
                )
            except DocRAGError as exc:
                found[document_id] = exc
                continue
            found[document_id] = StoredUpload(
                data,
                row["filename"],
                row["title"],
                (row["embedding_model"], row["embedding_dim"], row["name"]),
                redact=row["pii_redact"],
                mime=row["mime"],
                served_chunks=row["chunk_count"],
            )
    return found
