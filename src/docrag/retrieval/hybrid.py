"""Hybrid search: the dense and lexical legs run over the caller's collections, are fused,
and the fused ids are hydrated from PostgreSQL inside the caller's tenant and collections,
so nothing deleted or foreign can be returned whatever an index holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

import numpy as np

from docrag.domain import Hit
from docrag.models.protocol import Embedder, Vectors
from docrag.retrieval.fusion import minmax, rrf
from docrag.retrieval.lexical import LexicalIndexes
from docrag.settings import Settings
from docrag.store.postgres import Store


@dataclass(frozen=True, slots=True)
class Retrieval:
    hits: list[Hit]
    query_vector: Vectors


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, lexical: LexicalIndexes, settings: Settings) -> None:
        self._store = store
        self._embedder = embedder
        self._lexical = lexical
        self._settings = settings

    def retrieve(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], query: str, *, limit: int = 10
    ) -> Retrieval:
        s = self._settings
        vector = self._embedder.embed_batch([query])[0]
        candidates = max(limit, s.candidates)
        dense = self._store.dense_search(
            tenant_id, collection_ids, vector, limit=candidates, ef_search=max(s.hnsw_ef_search, candidates)
        )
        if s.dense_sentence_weight > 0:
            dense = self._with_sentences(tenant_id, dense, vector, s.dense_sentence_weight)
        lexical = self._lexical.search(tenant_id, collection_ids, query, candidates)
        if s.fusion == "rrf":
            fused = rrf([dense, lexical], k=s.rrf_k)
        else:
            fused = minmax([dense, lexical], [s.fusion_dense_weight, 1.0 - s.fusion_dense_weight])
        dense_by_id, lexical_by_id = dict(dense), dict(lexical)
        hits = [
            replace(
                hit, dense_score=dense_by_id.get(hit.chunk_id), lexical_score=lexical_by_id.get(hit.chunk_id)
            )
            for hit in self._store.hits(tenant_id, collection_ids, fused[:limit])
        ]
        return Retrieval(hits=hits, query_vector=vector)

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
