"""Hybrid search: the dense and lexical legs run over the caller's collections, are fused,
and the fused ids are hydrated from PostgreSQL inside the caller's tenant and collections,
so nothing deleted or foreign can be returned whatever an index holds. With a reranker
configured, the top ``rerank_top`` fused hits are reordered by its scores.

Every collection searched must record the embedder's model (409 embedding_model_mismatch):
a query vector of another model means nothing against its vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

import numpy as np

from docrag.domain import Hit
from docrag.models.protocol import Embedder, Reranker, Vectors
from docrag.models.registry import check_model
from docrag.retrieval.fusion import minmax, rrf
from docrag.retrieval.lexical import LexicalIndexes
from docrag.settings import Settings
from docrag.store.postgres import Store


@dataclass(frozen=True, slots=True)
class Retrieval:
    hits: list[Hit]
    query_vector: Vectors


class Retriever:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        lexical: LexicalIndexes,
        settings: Settings,
        reranker: Reranker | None = None,
    ) -> None:
        self._store = store
        self._reranker = reranker
        self._embedder = embedder
        self._lexical = lexical
        self._settings = settings

    def retrieve(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], query: str, *, limit: int = 10
    ) -> Retrieval:
        s = self._settings
        # Checked on every request (one primary-key read): a re-index switches a collection's
        # model, and vectors of another model must never be compared with this query's.
        for name, model, dim in self._store.embedding_models(tenant_id, collection_ids):
            check_model(self._embedder, repr(name), model, dim)
        vector = self._embedder.embed_batch([query])[0]
        candidates = max(limit, s.candidates)
        lexical = self._lexical.search(tenant_id, collection_ids, query, candidates)
        dense = self._dense(tenant_id, collection_ids, vector, candidates)
        fused = self._fuse(dense, lexical)
        if s.dense_feedback_chunks > 0 and fused:
            # Rocchio feedback: the top chunks say what the query is about in the corpus's own
            # terms; the dense leg runs again from a query vector moved towards them.
            top = [chunk_id for chunk_id, _ in fused[: s.dense_feedback_chunks]]
            found = self._store.chunk_embeddings(tenant_id, top)
            if found:
                moved = vector + s.dense_feedback_weight * np.mean(list(found.values()), axis=0)
                moved = moved / max(float(np.linalg.norm(moved)), 1e-12)
                dense = self._dense(tenant_id, collection_ids, moved, candidates)
                fused = self._fuse(dense, lexical)
        dense_by_id, lexical_by_id = dict(dense), dict(lexical)
        depth = max(limit, s.rerank_top) if self._reranker is not None else limit
        hits = [
            replace(
                hit, dense_score=dense_by_id.get(hit.chunk_id), lexical_score=lexical_by_id.get(hit.chunk_id)
            )
            for hit in self._store.hits(tenant_id, collection_ids, fused[:depth])
        ]
        if self._reranker is not None and hits:
            hits = self._rerank(self._reranker, query, hits, s.rerank_top)
        return Retrieval(hits=hits[:limit], query_vector=vector)

    def _dense(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], vector: Vectors, candidates: int
    ) -> list[tuple[int, float]]:
        s = self._settings
        dense = self._store.dense_search(
            tenant_id, collection_ids, vector, limit=candidates, ef_search=max(s.hnsw_ef_search, candidates)
        )
        if s.dense_sentence_weight > 0:
            dense = self._with_sentences(tenant_id, dense, vector, s.dense_sentence_weight)
        return dense

    def _fuse(
        self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        s = self._settings
        if s.fusion == "rrf":
            return rrf([dense, lexical], k=s.rrf_k)
        return minmax(
            [dense, lexical], [s.fusion_dense_weight, 1.0 - s.fusion_dense_weight], depth=s.candidates
        )

    @staticmethod
    def _rerank(reranker: Reranker, query: str, hits: list[Hit], top: int) -> list[Hit]:
        """The first ``top`` hits ordered by the reranker's score (the fused score breaks
        ties), the rest after them in fused order. Passages are scored as they were embedded:
        heading path, then body."""
        head, tail = hits[:top], hits[top:]
        texts = [" > ".join(h.heading_path) + "\n" + h.body if h.heading_path else h.body for h in head]
        scores = reranker.rerank(query, texts)
        ranked = sorted(
            (replace(h, rerank_score=score) for h, score in zip(head, scores, strict=True)),
            key=lambda h: (-(h.rerank_score or 0.0), -h.score),
        )
        return ranked + tail

    def _with_sentences(
        self, tenant_id: UUID, dense: list[tuple[int, float]], vector: Vectors, weight: float
    ) -> list[tuple[int, float]]:
        """Add each candidate's best sentence similarity: a chunk holding one sentence that
        matches the query closely beats a chunk that matches it vaguely throughout."""
        blobs = self._store.sentence_vectors(tenant_id, [chunk_id for chunk_id, _ in dense])
        rescored = []
        for chunk_id, score in dense:
            blob = blobs.get(chunk_id)
            best = score
            if blob is not None:
                sentences = np.frombuffer(blob, dtype=np.float16).reshape(-1, vector.shape[0])
                best = float((sentences.astype(np.float32) @ vector).max())
            rescored.append((chunk_id, score + weight * best))
        return sorted(rescored, key=lambda p: -p[1])

    def search(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], query: str, *, limit: int = 10
    ) -> list[Hit]:
        return self.retrieve(tenant_id, collection_ids, query, limit=limit).hits
