"""Retention per collection (migration 0081): how long its documents and the answers asked of
it are kept, and the SQL that finds and purges what is due (issue 21.4).

A document is due when its served version is older than the collection's
``retain_documents_days`` (``documents.updated_at``: the last upload, version switch or
status change). An answer is due when it is older than the shortest ``retain_answers_days``
of the collections it asked; its feedback goes with it (by cascade), and a conversation left
with no turn by the purge goes too. Documents are deleted by the caller through the one
delete path (store/erasure.py and the caches), so what they left in other answers goes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from docrag.errors import NotFound
from docrag.store.postgres import Store
from docrag.store.tenancy import ALL_TENANTS


@dataclass(frozen=True, slots=True)
class Retention:
    documents_days: int | None  # None: kept until deleted
    answers_days: int | None


@dataclass(frozen=True, slots=True)
class DueDocument:
    tenant_id: UUID
    document_id: UUID
    collection: str
    title: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RetentionReport:
    dry_run: bool
    documents: tuple[DueDocument, ...]  # deleted (or, in a dry run, due)
    answers: int  # deleted (or due); their feedback went with them
    conversations: int  # left without a turn and deleted (0 in a dry run: not known before)


_DUE_ANSWERS = """
SELECT a.id, a.conversation_id FROM answers a
JOIN collections c ON c.tenant_id = a.tenant_id AND c.name = ANY(a.collections)
WHERE a.tenant_id = %(t)s AND c.retain_answers_days IS NOT NULL
GROUP BY a.id, a.conversation_id, a.created_at
HAVING a.created_at < now() - make_interval(days => min(c.retain_answers_days))
"""


class RetentionStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def policy(self, tenant_id: UUID, collection_id: UUID) -> Retention:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "SELECT retain_documents_days, retain_answers_days FROM collections"
                " WHERE tenant_id = %s AND id = %s",
                (tenant_id, collection_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"collection {collection_id} not found", code="collection_not_found")
        return Retention(row["retain_documents_days"], row["retain_answers_days"])

    def set_policy(self, tenant_id: UUID, collection_id: UUID, policy: Retention) -> Retention:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "UPDATE collections SET retain_documents_days = %s, retain_answers_days = %s"
                " WHERE tenant_id = %s AND id = %s RETURNING retain_documents_days, retain_answers_days",
                (policy.documents_days, policy.answers_days, tenant_id, collection_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"collection {collection_id} not found", code="collection_not_found")
        return Retention(row["retain_documents_days"], row["retain_answers_days"])

    def tenants_with_policies(self) -> list[UUID]:
        """Tenants with at least one collection under a retention policy (a named cross-tenant read)."""
        with self._store.connection(ALL_TENANTS) as conn:
            rows = conn.execute(
                "SELECT DISTINCT tenant_id FROM collections"
                " WHERE retain_documents_days IS NOT NULL OR retain_answers_days IS NOT NULL"
                " ORDER BY tenant_id"
            ).fetchall()
        return [UUID(str(r["tenant_id"])) for r in rows]

    def due_documents(self, tenant_id: UUID) -> list[DueDocument]:
        with self._store.connection(tenant_id) as conn:
            rows = conn.execute(
                "SELECT d.id, c.name, d.title, d.updated_at FROM documents d"
                " JOIN collections c ON c.tenant_id = d.tenant_id AND c.id = d.collection_id"
                " WHERE d.tenant_id = %s AND c.retain_documents_days IS NOT NULL"
                " AND d.updated_at < now() - make_interval(days => c.retain_documents_days)"
                " ORDER BY d.updated_at, d.id",
                (tenant_id,),
            ).fetchall()
        return [DueDocument(tenant_id, r["id"], r["name"], r["title"], r["updated_at"]) for r in rows]

    def due_answers(self, tenant_id: UUID) -> int:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(f"SELECT count(*) AS n FROM ({_DUE_ANSWERS}) due", {"t": tenant_id}).fetchone()
        return int(row["n"]) if row else 0

    def purge_answers(self, tenant_id: UUID) -> tuple[int, int]:
        """Delete the tenant's due answers (their feedback by cascade) and the conversations
        this leaves without a turn; :returns: (answers, conversations) deleted."""
        with self._store.connection(tenant_id) as conn, conn.transaction():
            due = conn.execute(_DUE_ANSWERS, {"t": tenant_id}).fetchall()
            if not due:
                return 0, 0
            conn.execute(
                "DELETE FROM answers WHERE tenant_id = %s AND id = ANY(%s)",
                (tenant_id, [r["id"] for r in due]),
            )
            emptied = conn.execute(
                "DELETE FROM conversations c WHERE c.tenant_id = %s AND c.id = ANY(%s)"
                " AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.conversation_id = c.id) RETURNING c.id",
                (tenant_id, list({r["conversation_id"] for r in due if r["conversation_id"]})),
            ).fetchall()
        return len(due), len(emptied)
