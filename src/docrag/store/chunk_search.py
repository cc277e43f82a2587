"""Retrieval's reads: dense search in the HNSW index, a collection's texts (BM25) and vectors
(exact search) in one snapshot, and scored chunk ids hydrated into hits with their sentences,
always within the caller's tenant and collections."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import numpy as np

from docrag.domain import Hit, Sentence, page_at
from docrag.store.chunk_rows import box_from
from docrag.store.connections import PgConnections
from docrag.store.embedding_index import dense_sql
from docrag.store.protocol import ChunkVectors, CollectionVectors, LexicalCorpus, Scope
from docrag.store.versions import snapshot_version

#: Rows fetched at least from the HNSW scan: filtered recall@10 measured 0.82-0.87 when
#: fetching 10 and 0.97 when fetching 40 (bench/scale.py, 1% collection of 100k chunks).
_MIN_DENSE_FETCH = 40
_HIT_COLUMNS = (
    "c.id, c.document_id, c.collection_id, d.title, c.ord, c.start_offset, c.end_offset, c.body,"
    " c.heading_path, c.page_start, c.page_end, d.version, c.boxes, c.sentence_spans, d.page_starts"
)


class ChunkSearchRows(PgConnections):
    def scopes(self, tenant_id: UUID, collection_ids: Sequence[UUID]) -> list[Scope]:
        """Model, dimension and content version of each of the caller's collections, in one read."""
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                "SELECT id, name, embedding_model, embedding_dim, content_version FROM collections"
                " WHERE tenant_id = %s AND id = ANY(%s) ORDER BY name",
                (tenant_id, list(collection_ids)),
            ).fetchall()
        return [
            Scope(r["id"], r["name"], r["embedding_model"], r["embedding_dim"], r["content_version"])
            for r in rows
        ]

    def dense_search(
        self,
        tenant_id: UUID,
        collection_ids: Sequence[UUID],
        query: np.ndarray[Any, Any],
        *,
        limit: int,
        ef_search: int,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the nearest chunks in the caller's collections.

        The tenant and collection filter is inside the index scan's query; iterative scans
        keep the result at ``limit`` rows even when the filter is selective. The query's
        dimension picks the partial HNSW index of that dimension (see :func:`dense_sql`).
        """
        with self._conn(tenant_id, read=True) as conn:
            if self._ef_search.get(conn) != ef_search:
                # Session settings, sent only when this pooled session holds another ef_search:
                # no other statement scans an HNSW index, and every dense search names its own.
                conn.execute(
                    "SELECT set_config('hnsw.ef_search', %s, false),"
                    " set_config('hnsw.iterative_scan', 'relaxed_order', false)",
                    (str(int(ef_search)),),
                )
                self._ef_search[conn] = ef_search
            # Never prepared: a prepared statement would switch to one generic plan for every
            # collection after a few runs; the planner must see each scope's real size to choose
            # between an exact scan (small collections) and the HNSW index.
            rows = conn.execute(
                dense_sql(int(query.shape[0])),
                (query, tenant_id, list(collection_ids), query, max(limit, _MIN_DENSE_FETCH)),
                prepare=False,
            ).fetchall()
        pairs = [(int(r["id"]), 1.0 - float(r["distance"])) for r in rows]
        # relaxed_order returns nearly sorted rows: fetch a margin, sort, then cut.
        return sorted(pairs, key=lambda p: -p[1])[:limit]

    def lexical_corpus(self, tenant_id: UUID, collection_id: UUID) -> LexicalCorpus:
        """The collection's content version and its chunks' ids, documents and texts, read in
        one snapshot."""
        with self._conn(tenant_id, read=True) as conn, conn.transaction():
            version = snapshot_version(conn, tenant_id, collection_id)
            rows = conn.execute(
                "SELECT id, document_id, content FROM chunks WHERE tenant_id = %s AND collection_id = %s"
                " ORDER BY id",
                (tenant_id, collection_id),
            ).fetchall()
        return LexicalCorpus(
            version=version,
            ids=[int(r["id"]) for r in rows],
            documents=[r["document_id"] for r in rows],
            texts=[r["content"] for r in rows],
        )

    def collection_vectors(
        self, tenant_id: UUID, collection_id: UUID, dim: int, max_chunks: int
    ) -> CollectionVectors:
        """The collection's content version and, if it holds at most ``max_chunks`` chunks, their
        ids and ``dim``-dimensional vectors scaled to unit length, read in one snapshot."""
        with self._conn(tenant_id, read=True) as conn, conn.transaction():
            version = snapshot_version(conn, tenant_id, collection_id)
            counted = conn.execute(
                "SELECT count(*) AS n FROM (SELECT 1 FROM chunks WHERE tenant_id = %s AND collection_id = %s"
                " LIMIT %s) AS bounded",
                (tenant_id, collection_id, max_chunks + 1),
            ).fetchone()
            empty = np.zeros(0, dtype=np.int64)
            if counted is None or int(counted["n"]) > max_chunks:
                return CollectionVectors(version, empty, None)
            # Binary transfer: pgvector's text format costs ~8x as much to parse (1.3 s vs 0.16 s
            # for 10k vectors here), and a search pays for this read after every change.
            rows = (
                conn.cursor(binary=True)
                .execute(
                    "SELECT id, embedding FROM chunks WHERE tenant_id = %s AND collection_id = %s"
                    " AND vector_dims(embedding) = %s ORDER BY id",
                    (tenant_id, collection_id, int(dim)),
                )
                .fetchall()
            )
        if not rows:
            return CollectionVectors(version, empty, np.zeros((0, int(dim)), dtype=np.float32))
        ids = np.fromiter((int(r["id"]) for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.stack([r["embedding"].to_numpy() for r in rows]).astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return CollectionVectors(version, ids, vectors)

    def sentence_vectors(self, tenant_id: UUID, chunk_ids: Sequence[int]) -> dict[int, bytes]:
        """The float16 sentence vectors of the given chunks (chunks without any are left out)."""
        rows = self._by_id(tenant_id, chunk_ids, "sentence_vectors", " AND sentence_vectors IS NOT NULL")
        return {int(r["id"]): r["sentence_vectors"] for r in rows}

    def chunk_vectors(self, tenant_id: UUID, chunk_ids: Sequence[int]) -> dict[int, ChunkVectors]:
        """Both vectors of the given chunks in one read: the chunk's (float32) and its sentences'
        float16 bytes, with their collection's model as the same snapshot has it. A search with
        Rocchio feedback needs both for its dense candidates; two reads cost it a round trip and
        a second index lookup of each id. The model is what keys them in a cache
        (retrieval/vector_cache.py): a re-index changes a chunk's vectors and its model at once."""
        if not chunk_ids:
            return {}
        with self._conn(tenant_id, read=True) as conn:
            rows = (
                conn.cursor(binary=True)  # see _by_id
                .execute(
                    "SELECT c.id, c.embedding, c.sentence_vectors, k.embedding_model FROM chunks c"
                    " JOIN collections k ON k.id = c.collection_id AND k.tenant_id = c.tenant_id"
                    " WHERE c.tenant_id = %s AND c.id = ANY(%s::bigint[])",
                    (tenant_id, _bigints(chunk_ids)),
                )
                .fetchall()
            )
        return {
            int(r["id"]): ChunkVectors(r["embedding_model"], _floats(r["embedding"]), r["sentence_vectors"])
            for r in rows
        }

    def _by_id(
        self, tenant_id: UUID, chunk_ids: Sequence[int], columns: str, condition: str = ""
    ) -> list[dict[str, Any]]:
        """``id`` and ``columns`` of the tenant's chunks among ``chunk_ids`` (and ``condition``).

        Binary: pgvector's text format costs ~8x as much to parse, and bytea's is hex, twice the
        bytes, encoded by PostgreSQL and decoded here (about 0.6 MB of sentence vectors per search:
        1.5 ms of this process's CPU per read saved)."""
        if not chunk_ids:
            return []
        with self._conn(tenant_id, read=True) as conn:
            return (
                conn.cursor(binary=True)
                .execute(
                    f"SELECT id, {columns} FROM chunks"
                    f" WHERE tenant_id = %s AND id = ANY(%s::bigint[]){condition}",
                    (tenant_id, _bigints(chunk_ids)),
                )
                .fetchall()
            )

    def hits(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], scored: Sequence[tuple[int, float]]
    ) -> list[Hit]:
        """Hydrate scored chunk ids, keeping only chunks that exist now in the caller's scope, each
        with its stored sentences and their pages (what answering cites).

        Only chunks of a served version (``version > 0``): the worker writes chunks and the
        version in one transaction, so this is defence in depth against a half-ingested document.
        """
        if not scored:
            return []
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                f"SELECT {_HIT_COLUMNS} FROM chunks c"
                " JOIN documents d ON d.id = c.document_id AND d.tenant_id = c.tenant_id"
                " WHERE c.id = ANY(%s::bigint[]) AND c.tenant_id = %s AND c.collection_id = ANY(%s)"
                " AND d.version > 0",
                (_bigints(chunk_id for chunk_id, _ in scored), tenant_id, list(collection_ids)),
            ).fetchall()
        by_id = {int(r["id"]): r for r in rows}
        hits = []
        for chunk_id, score in scored:
            row = by_id.get(chunk_id)
            if row is not None:
                hits.append(_hit(row, score))
        return hits


def _floats(vector: Any) -> np.ndarray[Any, Any]:
    """A pgvector value as a float32 array."""
    return np.asarray(vector.to_numpy(), dtype=np.float32)


def _bigints(ids: Iterable[int]) -> str:
    """Chunk ids as one bigint[] literal: psycopg dumps a list element by element, 150 us for
    the 100 ids a search's sentence vectors are read by, against 15 us for the literal."""
    return "{" + ",".join(str(int(chunk_id)) for chunk_id in ids) + "}"


def _hit(row: dict[str, Any], score: float) -> Hit:
    flat, page_starts = row["sentence_spans"], list(row["page_starts"])
    return Hit(
        chunk_id=int(row["id"]),
        document_id=row["document_id"],
        collection_id=row["collection_id"],
        document_title=row["title"],
        ord=row["ord"],
        start=row["start_offset"],
        end=row["end_offset"],
        body=row["body"],
        heading_path=tuple(row["heading_path"]),
        page_start=row["page_start"],
        page_end=row["page_end"],
        score=score,
        document_version=row["version"],
        boxes=tuple(box_from(b) for b in row.get("boxes") or ()),
        sentences=tuple(
            Sentence(a, b, page_at(page_starts, a)) for a, b in zip(flat[0::2], flat[1::2], strict=True)
        ),
    )
