"""Collections: made, found, listed and deleted, always within one tenant, and the content
versions the answer cache keys on."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import psycopg

from docrag.domain import Collection
from docrag.errors import Conflict, NotFound
from docrag.store.embedding_index import EmbeddingIndexes
from docrag.store.erasure import collection_documents, redact_stale_answers


class CollectionRows(EmbeddingIndexes):
    def create_collection(self, tenant_id: UUID, name: str, model_id: str, dim: int) -> Collection:
        with self._conn(tenant_id) as conn:
            try:
                row = conn.execute(
                    "INSERT INTO collections (tenant_id, name, embedding_model, embedding_dim)"
                    " VALUES (%s, %s, %s, %s) RETURNING id, tenant_id, name, embedding_model, embedding_dim",
                    (tenant_id, name, model_id, dim),
                ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(f"collection {name!r} already exists", code="collection_exists") from exc
        assert row is not None
        self.ensure_embedding_index(dim)
        return Collection(**row)

    def get_or_create_collection(self, tenant_id: UUID, name: str, model_id: str, dim: int) -> Collection:
        with self._conn(tenant_id) as conn:
            conn.execute(
                "INSERT INTO collections (tenant_id, name, embedding_model, embedding_dim)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, name) DO NOTHING",
                (tenant_id, name, model_id, dim),
            )
        collection = self.collection_by_name(tenant_id, name)
        self.ensure_embedding_index(collection.embedding_dim)
        return collection

    def _collection_query(self, where: str, params: Sequence[object]) -> list[Collection]:
        with self._conn(params[0]) as conn:
            rows = conn.execute(
                "SELECT c.id, c.tenant_id, c.name, c.embedding_model, c.embedding_dim,"
                " (SELECT count(*) FROM documents d WHERE d.collection_id = c.id"
                "  AND d.tenant_id = c.tenant_id) AS document_count"
                f" FROM collections c WHERE {where} AND docrag_in_scope(c.id) ORDER BY c.name",
                params,
            ).fetchall()
        return [Collection(**row) for row in rows]

    def list_collections(self, tenant_id: UUID) -> list[Collection]:
        return self._collection_query("c.tenant_id = %s", (tenant_id,))

    def collection_by_name(self, tenant_id: UUID, name: str) -> Collection:
        found = self._collection_query("c.tenant_id = %s AND c.name = %s", (tenant_id, name))
        if not found:
            raise NotFound(f"collection {name!r} not found", code="collection_not_found")
        return found[0]

    def collection_ids(self, tenant_id: UUID, names: Sequence[str]) -> list[UUID]:
        """The named collections' ids, in the order given (each name once), in one read and
        without collection_by_name's document count: a search needs no more, and counting the
        documents of a collection of 7000 cost PostgreSQL 1.3 ms per search."""
        wanted = list(dict.fromkeys(names))
        with self._conn(tenant_id, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT c.id, c.name FROM collections c"
                " WHERE c.tenant_id = %s AND c.name = ANY(%s) AND docrag_in_scope(c.id)",
                (tenant_id, wanted),
            ).fetchall()
        found = {row["name"]: row["id"] for row in rows}
        for name in wanted:
            if name not in found:
                raise NotFound(f"collection {name!r} not found", code="collection_not_found")
        return [found[name] for name in wanted]

    def collection_by_id(self, tenant_id: UUID, collection_id: UUID) -> Collection:
        found = self._collection_query("c.tenant_id = %s AND c.id = %s", (tenant_id, collection_id))
        if not found:
            raise NotFound(f"collection {collection_id} not found", code="collection_not_found")
        return found[0]

    def delete_collection(self, tenant_id: UUID, collection_id: UUID) -> None:
        with self._conn(tenant_id) as conn, conn.transaction():
            docs = collection_documents(conn, tenant_id, collection_id)
            row = conn.execute(
                "DELETE FROM collections WHERE tenant_id = %s AND id = %s RETURNING id",
                (tenant_id, collection_id),
            ).fetchone()
            redact_stale_answers(conn, tenant_id, docs)  # after the delete: see erasure.py
        if row is None:
            raise NotFound(f"collection {collection_id} not found", code="collection_not_found")

    def content_versions(self, tenant_id: UUID, collection_ids: Sequence[UUID]) -> dict[UUID, int]:
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                "SELECT id, content_version FROM collections WHERE tenant_id = %s AND id = ANY(%s)",
                (tenant_id, list(collection_ids)),
            ).fetchall()
        return {row["id"]: int(row["content_version"]) for row in rows}
