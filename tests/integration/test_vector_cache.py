"""The API process's cache of chunk vectors (retrieval/vector_cache.py) on a real PostgreSQL: a
second read comes from memory and equals the first, never crosses tenants, never serves a model's
vectors to another model's query after a re-index, stays within its memory and its time limit;
and searches through it rank exactly as searches that read every vector from PostgreSQL."""

from __future__ import annotations

import time
import uuid
from uuid import UUID

import numpy as np
import pytest
from prometheus_client import REGISTRY

from docrag.domain import Collection
from docrag.ingest.pipeline import Upload
from docrag.retrieval.hybrid import Retriever
from docrag.retrieval.vector_cache import VectorCache
from docrag.services import Runtime
from docrag.store.postgres import Store
from docrag.store.reindex import ReindexStore
from store_conformance import MODEL, store_document, unit
from store_conformance_reindex import EVERYTHING, NEXT, NEXT_DIM, next_unit, next_vectors

#: One cached conformance chunk: 4 float32 + one float16 sentence of 4, and the fixed overhead.
ENTRY = 4 * 4 + 4 * 2 + 400


@pytest.fixture
def tenants(runtime: Runtime) -> tuple[UUID, UUID]:
    return runtime.store.ensure_tenant(f"a-{uuid.uuid4().hex}"), runtime.store.ensure_tenant(
        f"b-{uuid.uuid4().hex}"
    )


def _chunks(store: Store, tenant: UUID, bodies: list[str]) -> tuple[Collection, list[int]]:
    collection, _ = store_document(store, store, tenant, bodies)
    return collection, store.lexical_corpus(tenant, collection.id).ids


def _drop(store: Store, tenant: UUID, ids: list[int]) -> None:
    """Delete the chunks behind the store's back: only a cache can still return them."""
    with store.connection(tenant) as conn:
        conn.execute("DELETE FROM chunks WHERE id = ANY(%s)", (ids,))


def _hits() -> float:
    return REGISTRY.get_sample_value("docrag_vector_cache_lookups_total", {"result": "hit"}) or 0.0


def test_a_second_read_comes_from_memory_and_equals_the_first(
    runtime: Runtime, tenants: tuple[UUID, UUID]
) -> None:
    a, _ = tenants
    _, ids = _chunks(runtime.store, a, ["zero", "one", "two"])
    cache = VectorCache(runtime.store, memory_bytes=2**20, ttl_seconds=60)
    first = cache.read(a, ids, MODEL)
    assert set(first) == set(ids) and len(cache) == 3
    np.testing.assert_allclose(first[ids[1]].embedding, unit(1))
    _drop(runtime.store, a, ids)
    hits = _hits()
    second = cache.read(a, ids, MODEL)
    assert _hits() == hits + 3
    assert set(second) == set(ids)
    for chunk_id in ids:
        assert second[chunk_id].model == MODEL
        assert second[chunk_id].sentences == first[chunk_id].sentences
        np.testing.assert_array_equal(second[chunk_id].embedding, first[chunk_id].embedding)


def test_another_tenant_never_gets_what_a_tenant_read(runtime: Runtime, tenants: tuple[UUID, UUID]) -> None:
    a, b = tenants
    _, ids = _chunks(runtime.store, a, ["secret", "plans"])
    cache = VectorCache(runtime.store, memory_bytes=2**20, ttl_seconds=60)
    assert set(cache.read(a, ids, MODEL)) == set(ids)
    assert cache.read(b, ids, MODEL) == {}  # cached for a: b's read goes to PostgreSQL, which has none of b's


def test_after_a_reindex_a_query_of_the_new_model_gets_the_new_vectors(
    runtime: Runtime, tenants: tuple[UUID, UUID]
) -> None:
    a, _ = tenants
    collection, ids = _chunks(runtime.store, a, ["zero", "one"])
    cache = VectorCache(runtime.store, memory_bytes=2**20, ttl_seconds=60)
    np.testing.assert_allclose(cache.read(a, ids, MODEL)[ids[1]].embedding, unit(1))  # cached as MODEL's
    reindex = ReindexStore(runtime.store)
    reindex.begin(collection, NEXT, NEXT_DIM)
    reindex.ensure_embedding_index(NEXT_DIM)
    assert reindex.write(
        collection, NEXT, next_vectors(reindex.pending(collection, after=0, limit=EVERYTHING))
    )
    assert reindex.switch(collection, NEXT) == 0
    hits = _hits()
    swapped = cache.read(a, ids, NEXT)
    assert _hits() == hits  # nothing of NEXT's was cached: read from PostgreSQL
    assert swapped[ids[1]].model == NEXT
    np.testing.assert_allclose(swapped[ids[1]].embedding, next_unit(1))
    np.testing.assert_allclose(cache.read(a, ids, NEXT)[ids[1]].embedding, next_unit(1))  # now from memory
    assert _hits() == hits + 2


def test_the_cache_stays_within_its_memory(runtime: Runtime, tenants: tuple[UUID, UUID]) -> None:
    a, _ = tenants
    _, ids = _chunks(runtime.store, a, ["zero", "one", "two", "three", "four"])
    cache = VectorCache(runtime.store, memory_bytes=2 * ENTRY + ENTRY // 2, ttl_seconds=60)
    for chunk_id in ids:
        cache.read(a, [chunk_id], MODEL)
    assert len(cache) == 2
    _drop(runtime.store, a, ids)
    assert set(cache.read(a, ids, MODEL)) == set(ids[-2:])  # the two most recently read are kept


def test_nothing_is_kept_longer_than_its_time_or_at_all_when_off(
    runtime: Runtime, tenants: tuple[UUID, UUID]
) -> None:
    a, _ = tenants
    _, ids = _chunks(runtime.store, a, ["zero", "one"])
    brief = VectorCache(runtime.store, memory_bytes=2**20, ttl_seconds=0.3)
    off = VectorCache(runtime.store, memory_bytes=0, ttl_seconds=60)
    assert set(brief.read(a, ids, MODEL)) == set(off.read(a, ids, MODEL)) == set(ids)
    _drop(runtime.store, a, ids)
    assert off.read(a, ids, MODEL) == {} and len(off) == 0
    assert set(brief.read(a, ids, MODEL)) == set(ids)
    time.sleep(0.5)
    assert brief.read(a, ids, MODEL) == {}


TEXTS = {
    "tides": "The tide rises twice a day as the moon pulls on the ocean. Spring tides are the strongest.",
    "bread": "Sourdough bread needs a starter of wild yeast. The dough rises slowly overnight in the cold.",
    "chess": "In chess the knight moves in an L shape. It is the only piece that can jump over others.",
    "bees": "Honey bees dance to tell the hive where flowers are. The waggle dance gives the direction.",
}


def test_searches_through_the_cache_rank_as_searches_that_read_everything(runtime: Runtime) -> None:
    tenant = runtime.store.ensure_tenant(f"cache-{uuid.uuid4().hex}")
    coll = runtime.collection(tenant, "notes", create=True)
    for topic, text in TEXTS.items():
        runtime.ingest_now.ingest(coll, Upload(f"# {topic}\n\n{text}\n".encode(), f"{topic}.md"))
    s = runtime.settings
    plain = Retriever(
        runtime.store, runtime.embedder, runtime.lexical, s.model_copy(update={"vector_cache_mb": 0})
    )
    cached = Retriever(
        runtime.store, runtime.embedder, runtime.lexical, s.model_copy(update={"vector_cache_mb": 8})
    )
    try:
        for query in ("how does the knight move", "why do bees dance", "when are tides strongest"):
            expected = plain.retrieve(tenant, [coll.id], query, limit=4, with_vectors=True)
            cached.retrieve(tenant, [coll.id], query, limit=4, with_vectors=True)  # reads and keeps
            hits = _hits()
            again = cached.retrieve(tenant, [coll.id], query, limit=4, with_vectors=True)
            assert _hits() > hits  # the second search found its vectors in memory
            assert [h.chunk_id for h in again.hits] == [h.chunk_id for h in expected.hits]
            assert [h.score for h in again.hits] == pytest.approx([h.score for h in expected.hits], abs=1e-6)
            assert again.sentence_vectors == expected.sentence_vectors
    finally:
        plain.close()
        cached.close()
