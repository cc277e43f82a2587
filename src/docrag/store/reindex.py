"""Re-indexing a collection with another embedding model, beside the served vectors.

``begin`` records the new model as the collection's ``next_embedding_model``; ``pending`` and
``write`` fill ``chunks.embedding_next`` batch by batch while searches keep using
``chunks.embedding``; ``switch`` moves the new vectors into place and records the new model in
one transaction, and only once every chunk of the collection has one (chunks that workers
wrote meanwhile included). Until then nothing a reader sees has changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from docrag.domain import Collection
from docrag.errors import Conflict, InvalidRequest
from docrag.store.chunk_rows import embedded_spans
from docrag.store.postgres import Store
from docrag.store.versions import bump


@dataclass(frozen=True, slots=True)
class PendingChunk:
    id: int
    content: str  # the embedded text (heading path + body)
    spans: list[tuple[int, int]]  # sentence spans as offsets into ``content``


@dataclass(frozen=True, slots=True)
class NewVectors:
    chunk_id: int
    embedding: np.ndarray
    sentence_vectors: bytes | None


class ReindexStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def ensure_embedding_index(self, dim: int) -> None:
        """The HNSW index the new model's vectors are searched by (store/embedding_index.py)."""
        self._store.ensure_embedding_index(dim)

    def begin(self, collection: Collection, model_id: str, dim: int) -> None:
        """Record ``model_id`` as the collection's next model (again, to resume a re-index).

        :raises InvalidRequest: when the collection already uses that model.
        :raises Conflict: (reindex_in_progress) when a re-index to another model is under way.
        """
        if collection.embedding_model == model_id and collection.embedding_dim == dim:
            raise InvalidRequest(f"collection {collection.name!r} already uses {model_id}")
        with self._store.connection(collection.tenant_id) as conn, conn.transaction():
            row = conn.execute(
                "SELECT next_embedding_model FROM collections WHERE tenant_id = %s AND id = %s FOR UPDATE",
                (collection.tenant_id, collection.id),
            ).fetchone()
            if row is None:
                raise InvalidRequest(f"collection {collection.name!r} no longer exists")
            running = row["next_embedding_model"]
            if running is not None and running != model_id:
                raise Conflict(
                    f"collection {collection.name!r} is being re-indexed with {running};"
                    " cancel that first (docrag reindex --cancel)",
                    code="reindex_in_progress",
                )
            if running is None:  # a fresh start: no vectors of a cancelled run may count as done
                conn.execute(
                    "UPDATE chunks SET embedding_next = NULL, sentence_vectors_next = NULL"
                    " WHERE tenant_id = %s AND collection_id = %s AND embedding_next IS NOT NULL",
                    (collection.tenant_id, collection.id),
                )
            conn.execute(
                "UPDATE collections SET next_embedding_model = %s, next_embedding_dim = %s WHERE id = %s",
                (model_id, dim, collection.id),
            )

    def pending(self, collection: Collection, *, after: int, limit: int) -> list[PendingChunk]:
        """Chunks still without a new vector, in id order from ``after`` on."""
        with self._store.connection(collection.tenant_id) as conn:
            rows = conn.execute(
                "SELECT id, content, body, start_offset, sentence_spans FROM chunks"
                " WHERE tenant_id = %s AND collection_id = %s AND id > %s AND embedding_next IS NULL"
                " ORDER BY id LIMIT %s",
                (collection.tenant_id, collection.id, after, limit),
            ).fetchall()
        return [PendingChunk(int(r["id"]), r["content"], embedded_spans(r)) for r in rows]

    def write(self, collection: Collection, model_id: str, vectors: Sequence[NewVectors]) -> bool:
        """Store new vectors; :returns: False (writing nothing) when the re-index to
        ``model_id`` was cancelled or replaced meanwhile."""
        # No lock on the collection row: workers take it before their chunks, and this takes
        # chunks only. A cancel racing this write can leave stray vectors, which begin() clears.
        with self._store.connection(collection.tenant_id) as conn, conn.transaction():
            live = conn.execute(
                "SELECT 1 FROM collections WHERE tenant_id = %s AND id = %s AND next_embedding_model = %s",
                (collection.tenant_id, collection.id, model_id),
            ).fetchone()
            if live is None:
                return False
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE chunks SET embedding_next = %s, sentence_vectors_next = %s"
                    " WHERE id = %s AND tenant_id = %s AND collection_id = %s",
                    [
                        (v.embedding, v.sentence_vectors, v.chunk_id, collection.tenant_id, collection.id)
                        for v in vectors
                    ],
                )
        return True

    def switch(self, collection: Collection, model_id: str) -> int:
        """Serve the new vectors, if every chunk has one: :returns: how many chunks still lack
        one (0: switched; the caller embeds the rest and tries again).

        The collection row is locked first, so no worker can add a chunk in between (their
        final write updates the same row).
        """
        with self._store.connection(collection.tenant_id) as conn, conn.transaction():
            row = conn.execute(
                "SELECT next_embedding_dim FROM collections"
                " WHERE tenant_id = %s AND id = %s AND next_embedding_model = %s FOR UPDATE",
                (collection.tenant_id, collection.id, model_id),
            ).fetchone()
            if row is None:
                raise Conflict(
                    f"the re-index of {collection.name!r} to {model_id} was cancelled",
                    code="reindex_in_progress",
                )
            missing = conn.execute(
                "SELECT count(*) AS n FROM chunks WHERE tenant_id = %s AND collection_id = %s"
                " AND embedding_next IS NULL",
                (collection.tenant_id, collection.id),
            ).fetchone()
            if missing is not None and missing["n"]:
                return int(missing["n"])
            # The collection first: the chunks' dimension trigger checks against it.
            conn.execute(
                "UPDATE collections SET embedding_model = next_embedding_model,"
                " embedding_dim = next_embedding_dim, next_embedding_model = NULL,"
                " next_embedding_dim = NULL WHERE id = %s",
                (collection.id,),
            )
            conn.execute(
                "UPDATE chunks SET embedding = embedding_next, sentence_vectors = sentence_vectors_next,"
                " embedding_next = NULL, sentence_vectors_next = NULL"
                " WHERE tenant_id = %s AND collection_id = %s",
                (collection.tenant_id, collection.id),
            )
            bump(conn, collection.tenant_id, collection.id)
        return 0

    def cancel(self, collection: Collection) -> None:
        """Drop a re-index under way and the vectors it wrote; the served ones never changed."""
        with self._store.connection(collection.tenant_id) as conn, conn.transaction():
            conn.execute(
                "UPDATE collections SET next_embedding_model = NULL, next_embedding_dim = NULL"
                " WHERE tenant_id = %s AND id = %s",
                (collection.tenant_id, collection.id),
            )
            conn.execute(
                "UPDATE chunks SET embedding_next = NULL, sentence_vectors_next = NULL"
                " WHERE tenant_id = %s AND collection_id = %s AND embedding_next IS NOT NULL",
                (collection.tenant_id, collection.id),
            )
