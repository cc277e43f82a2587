"""Hybrid search: the dense and lexical legs run over the caller's collections, are fused,
and the fused ids are hydrated from PostgreSQL inside the caller's tenant and collections,
so nothing deleted or foreign can be returned whatever an index holds. With a reranker
configured, the top ``rerank_top`` fused hits are reordered by its scores. Each hit comes with
its stored sentences (the hydrating query reads them) and, for an extractive answer, their
vectors (the dense leg's candidates' are read already), so answering never reads a chunk again.

The dense leg searches small collections exactly in memory (:mod:`docrag.retrieval.exact`)
and the rest through the HNSW index; one read of the collections gives every leg the model
check and the content versions its in-process indexes must match. The BM25 leg runs on a
small thread pool while the query is embedded and the dense leg runs, since neither needs the
other (the model and PostgreSQL release the GIL while they work).

Each collection is searched with a query vector of the model that built its vectors
(providers/model_set.py): collections of different models (an earlier release's and a new one)
are searched each with its own, and their dense candidates merged by similarity (the models are
the same weights computed two ways). A collection of a model this server can't serve is refused
(409 embedding_model_mismatch): a query vector of another model means nothing against its vectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from uuid import UUID

import numpy as np

from docrag import tracing
from docrag.domain import Hit
from docrag.providers.model_set import ModelSet, as_models
from docrag.providers.protocol import Embedder, Reranker, Vectors
from docrag.retrieval.exact import ExactVectors
from docrag.retrieval.fusion import minmax, rrf
from docrag.retrieval.lexical import LexicalIndexes
from docrag.retrieval.sentences import SentenceVectors
from docrag.retrieval.vector_cache import VectorCache
from docrag.settings import Settings
from docrag.store.protocol import ChunkSearch, Scope


@dataclass(frozen=True, slots=True)
class Retrieval:
    """The hits of one search (each with its stored sentences), the query's vector and, when
    asked for, the hits' sentence vectors: float16 bytes by chunk id, for chunks that have them."""

    hits: list[Hit]
    query_vector: Vectors
    sentence_vectors: Mapping[int, bytes] = field(default_factory=dict)


class Retriever:
    def __init__(
        self,
        store: ChunkSearch,
        embedder: Embedder | ModelSet,
        lexical: LexicalIndexes,
        settings: Settings,
        reranker: Reranker | None = None,
        exact: ExactVectors | None = None,
        pool: Executor | None = None,
        vectors: VectorCache | None = None,
    ) -> None:
        self._store = store
        self._vectors = vectors or VectorCache(
            store, memory_bytes=settings.vector_cache_mb * 2**20, ttl_seconds=settings.vector_cache_seconds
        )
        self._owns_pool = pool is None
        self._pool = pool or ThreadPoolExecutor(max_workers=4, thread_name_prefix="docrag-bm25")
        self._reranker = reranker
        self._exact = exact
        self._models = as_models(embedder)
        self._lexical = lexical
        self._settings = settings

    def variant(self, settings: Settings) -> Retriever:
        """The same components under other settings (evaluations compare configurations)."""
        return Retriever(
            self._store,
            self._models,
            self._lexical,
            settings,
            reranker=self._reranker,
            exact=self._exact,
            pool=self._pool,
            vectors=self._vectors,
        )

    def close(self) -> None:
        if self._owns_pool:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def retrieve(
        self,
        tenant_id: UUID,
        collection_ids: Sequence[UUID],
        query: str,
        *,
        limit: int = 10,
        with_vectors: bool = False,
        scopes: Sequence[Scope] | None = None,
    ) -> Retrieval:
        """The ``limit`` best hits for ``query`` (a ``search`` span while tracing); with
        ``with_vectors``, their sentence vectors too (what an extractive answer scores).
        ``scopes``: :meth:`scopes` of the collections, read by the caller in this request."""
        attributes = {"docrag.collections": len(collection_ids), "docrag.limit": limit}
        with tracing.span("search", attributes if tracing.enabled() else None):
            found = self._retrieve(tenant_id, collection_ids, query, limit, with_vectors, scopes)
            tracing.annotate({"docrag.hits": len(found.hits)})
            return found

    def scopes(self, tenant_id: UUID, collection_ids: Sequence[UUID]) -> list[Scope]:
        """The collections' model, dimension and content version, now (one read)."""
        return self._store.scopes(tenant_id, collection_ids)

    def _retrieve(
        self,
        tenant_id: UUID,
        collection_ids: Sequence[UUID],
        query: str,
        limit: int,
        with_vectors: bool,
        scopes: Sequence[Scope] | None,
    ) -> Retrieval:
        s = self._settings
        # Checked on every request (one primary-key read, or the caller's of this request): a
        # re-index switches a collection's model, and vectors of another model must never be
        # compared with this query's.
        if scopes is None:
            scopes = self._store.scopes(tenant_id, collection_ids)
        groups = self._by_model(scopes)
        candidates = max(limit, s.candidates)
        versions = {scope.id: scope.content_version for scope in scopes}
        lexical_leg = self._pool.submit(self._lexical.search, tenant_id, versions, query, candidates)
        vectors = [embedder.embed_batch([query])[0] for embedder, _ in groups]
        sentences = SentenceVectors(vectors[0].shape[0])  # read so far, for the second pass
        dense = self._dense_groups(tenant_id, groups, vectors, candidates, sentences)
        lexical = lexical_leg.result()
        fused = self._fuse(dense, lexical)
        primary = groups[0][0].model_id  # the model of vectors[0]
        if s.dense_feedback_chunks > 0 and fused and dense:
            dense = self._feedback(tenant_id, (primary, vectors[0]), dense, fused, sentences)
            fused = self._fuse(dense, lexical)
        vector = vectors[0]  # the primary model's when it serves any of the collections
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
        hits = hits[:limit]
        if not with_vectors:
            return Retrieval(hits=hits, query_vector=vector)
        # The dense leg read the vectors of its candidates already; only the others are read.
        if missing := sentences.missing([hit.chunk_id for hit in hits]):
            read = self._vectors.read(tenant_id, missing, primary)
            sentences.blobs.update(dict.fromkeys(missing) | {c: v.sentences for c, v in read.items()})
        blobs = {h.chunk_id: blob for h in hits if (blob := sentences.blobs.get(h.chunk_id)) is not None}
        return Retrieval(hits=hits, query_vector=vector, sentence_vectors=blobs)

    def nearest(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], vector: Vectors, limit: int
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the chunks nearest ``vector`` in the caller's collections, as the
        dense leg finds them before sentence blending: exactly for small collections, through the
        HNSW index for the rest."""
        return self._nearest(tenant_id, self._store.scopes(tenant_id, collection_ids), vector, limit)

    def _nearest(
        self, tenant_id: UUID, scopes: Sequence[Scope], vector: Vectors, limit: int
    ) -> list[tuple[int, float]]:
        found: list[tuple[int, float]] = []
        indexed: list[UUID] = []
        for scope in scopes:
            exact = (
                self._exact.search(tenant_id, scope.id, scope.content_version, vector, limit)
                if self._exact is not None
                else None
            )
            if exact is None:
                indexed.append(scope.id)
            else:
                found.extend(exact)
        if indexed:
            ef_search = max(self._settings.hnsw_ef_search, limit)
            found.extend(
                self._store.dense_search(tenant_id, indexed, vector, limit=limit, ef_search=ef_search)
            )
        return sorted(found, key=lambda p: -p[1])[:limit]

    def _dense(
        self,
        tenant_id: UUID,
        scopes: Sequence[Scope],
        query: tuple[str, Vectors],
        candidates: int,
        sentences: SentenceVectors,
    ) -> list[tuple[int, float]]:
        """``query``: the model the collections' vectors are of, and the query's vector by it."""
        dense = self._nearest(tenant_id, scopes, query[1], candidates)
        if self._settings.dense_sentence_weight > 0:
            dense = self._with_sentences(
                tenant_id, dense, query, self._settings.dense_sentence_weight, sentences
            )
        return dense

    def _feedback(
        self,
        tenant_id: UUID,
        query: tuple[str, Vectors],
        dense: list[tuple[int, float]],
        fused: list[tuple[int, float]],
        sentences: SentenceVectors,
    ) -> list[tuple[int, float]]:
        """Rocchio feedback: the top fused chunks say what the query is about in the corpus's own
        terms; the dense candidates are scored again from a query vector moved towards them (one
        read of their vectors, where a second index search cost 2.3 ms of PostgreSQL's CPU and
        the sentence vectors of the candidates it added). Over collections of two models, the
        primary's moved vector scores every candidate (the models are the same weights)."""
        s = self._settings
        model, vector = query
        top = [chunk_id for chunk_id, _ in fused[: s.dense_feedback_chunks]]
        wanted = list(dict.fromkeys([*top, *(c for c, _ in dense)]))
        # The dense candidates' vectors came with their sentence vectors (_with_sentences).
        found = {c: v for c in wanted if (v := sentences.embeddings.get(c)) is not None}
        if unread := [c for c in wanted if c not in found]:  # the lexical leg's alone: read both
            read = self._vectors.read(tenant_id, unread, model)
            sentences.embeddings.update({c: v.embedding for c, v in read.items()})
            sentences.add(unread, {c: v.sentences for c, v in read.items() if v.sentences is not None})
            found |= {c: v.embedding for c, v in read.items()}
        tops = [found[chunk_id] for chunk_id in top if chunk_id in found]
        present = [chunk_id for chunk_id, _ in dense if chunk_id in found]
        if not tops or not present:
            return dense
        moved = vector + s.dense_feedback_weight * np.mean(tops, axis=0)
        moved = moved / max(float(np.linalg.norm(moved)), 1e-12)
        scores = np.stack([found[chunk_id] for chunk_id in present]) @ moved.astype(np.float32)
        rescored = sorted(zip(present, (float(x) for x in scores), strict=True), key=lambda p: -p[1])
        if s.dense_sentence_weight > 0:
            rescored = self._with_sentences(
                tenant_id, rescored, (model, moved), s.dense_sentence_weight, sentences
            )
        return rescored

    def _by_model(self, scopes: Sequence[Scope]) -> list[tuple[Embedder, list[Scope]]]:
        """The collections grouped by the embedder that serves their model, the primary's first.

        :raises Conflict: (409 ``embedding_model_mismatch``) for a collection no model here built."""
        groups: dict[str, tuple[Embedder, list[Scope]]] = {}
        for scope in scopes:
            embedder = self._models.for_model(scope.embedding_model, scope.embedding_dim, repr(scope.name))
            groups.setdefault(embedder.model_id, (embedder, []))[1].append(scope)
        primary = self._models.primary
        if not groups:
            return [(primary, [])]
        return sorted(groups.values(), key=lambda group: group[0].model_id != primary.model_id)

    def _dense_groups(
        self,
        tenant_id: UUID,
        groups: Sequence[tuple[Embedder, list[Scope]]],
        vectors: Sequence[Vectors],
        candidates: int,
        sentences: SentenceVectors,
    ) -> list[tuple[int, float]]:
        """The dense leg over each group of collections with its model's query vector."""
        if len(groups) == 1:
            return self._dense(
                tenant_id, groups[0][1], (groups[0][0].model_id, vectors[0]), candidates, sentences
            )
        merged = [
            found
            for (embedder, scopes), vector in zip(groups, vectors, strict=True)
            for found in self._dense(tenant_id, scopes, (embedder.model_id, vector), candidates, sentences)
        ]
        return sorted(merged, key=lambda p: -p[1])[:candidates]

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
        self,
        tenant_id: UUID,
        dense: list[tuple[int, float]],
        query: tuple[str, Vectors],
        weight: float,
        known: SentenceVectors,
    ) -> list[tuple[int, float]]:
        """Add each candidate's best sentence similarity: a chunk holding one sentence that
        matches the query closely beats a chunk that matches it vaguely throughout. Sentence
        vectors are read and decoded once per request (``known`` keeps them), through the
        process's cache of hot chunks' vectors, together with the chunks' own (the feedback pass
        needs those, and the cache keeps both)."""
        ids = [chunk_id for chunk_id, _ in dense]
        if missing := known.missing(ids):
            both = self._vectors.read(tenant_id, missing, query[0])
            known.embeddings.update({chunk_id: v.embedding for chunk_id, v in both.items()})
            known.add(
                missing, {chunk_id: v.sentences for chunk_id, v in both.items() if v.sentences is not None}
            )
        best = known.best(ids, query[1])
        # A chunk without sentence vectors counts its own similarity as its best sentence's.
        rescored = [(chunk_id, score + weight * best.get(chunk_id, score)) for chunk_id, score in dense]
        return sorted(rescored, key=lambda p: -p[1])

    def search(
        self,
        tenant_id: UUID,
        collection_ids: Sequence[UUID],
        query: str,
        *,
        limit: int = 10,
        scopes: Sequence[Scope] | None = None,
    ) -> list[Hit]:
        return self.retrieve(tenant_id, collection_ids, query, limit=limit, scopes=scopes).hits
