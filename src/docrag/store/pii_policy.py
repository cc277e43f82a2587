"""PII redaction per collection (migration 0110, docs/pii.md): whether its documents are redacted
before chunking, and whether the original upload is then kept (encrypted) or dropped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from docrag.domain import Collection
from docrag.errors import NotFound
from docrag.store.postgres import Store

KeepOriginal = Literal["encrypted", "drop"]


@dataclass(frozen=True, slots=True)
class PiiPolicy:
    redact: bool = False
    keep_original: KeepOriginal = "drop"


class PiiPolicies:
    def __init__(self, store: Store) -> None:
        self._store = store

    def policy(self, tenant_id: UUID, collection_id: UUID) -> PiiPolicy:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "SELECT pii_redact, pii_keep_original FROM collections WHERE tenant_id = %s AND id = %s",
                (tenant_id, collection_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"collection {collection_id} not found", code="collection_not_found")
        return PiiPolicy(row["pii_redact"], row["pii_keep_original"])

    def redacts(self, collection: Collection) -> bool:
        """Whether the collection redacts PII, in its text and in names and titles."""
        return self.policy(collection.tenant_id, collection.id).redact

    def set_policy(self, tenant_id: UUID, collection_id: UUID, policy: PiiPolicy) -> PiiPolicy:
        """Applies to documents indexed from now on (re-upload a document to redact it)."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "UPDATE collections SET pii_redact = %s, pii_keep_original = %s"
                " WHERE tenant_id = %s AND id = %s RETURNING pii_redact, pii_keep_original",
                (policy.redact, policy.keep_original, tenant_id, collection_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"collection {collection_id} not found", code="collection_not_found")
        return PiiPolicy(row["pii_redact"], row["pii_keep_original"])
