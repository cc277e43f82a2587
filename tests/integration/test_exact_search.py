"""Exact in-memory dense search over small collections, on a real PostgreSQL with the real
model: the same neighbours as a full scan in PostgreSQL, a fresh read at every new content
version, large collections left to the HNSW index, and a memory budget that holds."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import psycopg
import pytest

from docrag.domain import Collection
from docrag.ingest.pipeline import Upload
from docrag.retrieval.exact import ExactVectors
from docrag.retrieval.hybrid import Retriever
from docrag.services import Runtime

TOPICS = {
    "tides": "The tide rises twice a day as the moon pulls on the ocean.",
    "bread": "Sourdough bread needs a starter of wild yeast and a long, cool rise.",
    "chess": "In chess the knight moves in an L shape and can jump over other pieces.",
    "volcano": "Lava from the volcano cooled into black basalt along the shore.",
    "bees": "Honey bees dance to tell the hive where the flowers are.",
    "trains": "The night train crossed the mountains through a long tunnel.",
}


def _doc(topic: str, text: str) -> bytes:
    return f"# {topic}\n\n{text} It is the subject of this short note on {topic}.\n".encode()


@pytest.fixture(scope="module")
def tenant(runtime: Runtime) -> uuid.UUID:
    return runtime.store.ensure_tenant("exact-search")


def _collection(runtime: Runtime, tenant: uuid.UUID, name: str, topics: list[str]) -> Collection:
    coll = runtime.collection(tenant, name, create=True)
    for topic in topics:
        _, created = runtime.ingest_now.ingest(coll, Upload(_doc(topic, TOPICS[topic]), f"{topic}.md"))
        assert created
    return coll


def _version(runtime: Runtime, tenant: uuid.UUID, coll: Collection) -> int:
    return runtime.store.content_versions(tenant, [coll.id])[coll.id]


def _full_scan(database_url: str, coll: Collection, query: np.ndarray[Any, Any]) -> list[tuple[int, float]]:
    """Every chunk of the collection ranked by cosine in PostgreSQL, with index scans off."""
    from pgvector.psycopg import register_vector

    with psycopg.connect(database_url) as conn, conn.transaction():
        register_vector(conn)
        conn.execute("SET LOCAL enable_indexscan = off")
        rows = conn.execute(
            "SELECT id, 1 - (embedding <=> %s) AS score FROM chunks WHERE collection_id = %s ORDER BY 2 DESC",
            (query, coll.id),
        ).fetchall()
    return [(int(i), float(s)) for i, s in rows]


def test_same_neighbours_as_a_full_scan(runtime: Runtime, tenant: uuid.UUID, database_url: str) -> None:
    coll = _collection(runtime, tenant, "exact-all", list(TOPICS))
    exact = ExactVectors(runtime.store, max_chunks=1000, memory_bytes=2**24)
    query = runtime.embedder.embed_batch(["when does the sea come in"])[0]
    found = exact.search(tenant, coll.id, _version(runtime, tenant, coll), query, 4)
    expected = _full_scan(database_url, coll, query)[:4]
    assert found is not None and [i for i, _ in found] == [i for i, _ in expected]
    assert np.allclose([s for _, s in found], [s for _, s in expected], atol=1e-4)


def test_each_new_version_is_read_again(runtime: Runtime, tenant: uuid.UUID, database_url: str) -> None:
    coll = _collection(runtime, tenant, "exact-versions", ["bread", "chess"])
    exact = ExactVectors(runtime.store, max_chunks=1000, memory_bytes=2**24)
    query = runtime.embedder.embed_batch(["bees telling the hive about flowers"])[0]
    before = exact.search(tenant, coll.id, _version(runtime, tenant, coll), query, 10)
    assert before is not None
    doc, _ = runtime.ingest_now.ingest(coll, Upload(_doc("bees", TOPICS["bees"]), "bees.md"))
    with psycopg.connect(database_url) as conn:
        added = {r[0] for r in conn.execute("SELECT id FROM chunks WHERE document_id = %s", (doc.id,))}
    after = exact.search(tenant, coll.id, _version(runtime, tenant, coll), query, 10)
    assert after is not None and len(after) > len(before)
    new = {i for i, _ in after} - {i for i, _ in before}
    assert new == added and after[0][0] in new  # the new document's chunk is now the nearest
    runtime.delete_document(tenant, doc.id)
    gone = exact.search(tenant, coll.id, _version(runtime, tenant, coll), query, 10)
    assert gone is not None and not new & {i for i, _ in gone}


def test_large_collections_are_left_to_the_hnsw_index(runtime: Runtime, tenant: uuid.UUID) -> None:
    small = _collection(runtime, tenant, "exact-small", ["tides"])
    large = _collection(runtime, tenant, "exact-large", ["volcano", "trains", "bread"])
    exact = ExactVectors(runtime.store, max_chunks=2, memory_bytes=2**24)
    query = runtime.embedder.embed_batch(["a train through the mountains"])[0]
    assert exact.search(tenant, large.id, _version(runtime, tenant, large), query, 5) is None
    assert exact.search(tenant, small.id, _version(runtime, tenant, small), query, 5) is not None
    # A search over both merges the exact leg with the index's.
    retriever = Retriever(runtime.store, runtime.embedder, runtime.lexical, runtime.settings, exact=exact)
    hits = retriever.search(tenant, [small.id, large.id], "a train through the mountains", limit=10)
    assert {h.collection_id for h in hits} == {small.id, large.id}
    assert hits[0].collection_id == large.id and "train" in hits[0].body


def test_the_memory_budget_holds(runtime: Runtime, tenant: uuid.UUID) -> None:
    first = _collection(runtime, tenant, "exact-budget-1", ["tides", "bees"])
    second = _collection(runtime, tenant, "exact-budget-2", ["chess", "volcano"])
    probe = ExactVectors(runtime.store, max_chunks=1000, memory_bytes=2**24)
    query = runtime.embedder.embed_batch(["anything"])[0]
    probe.search(tenant, first.id, _version(runtime, tenant, first), query, 1)
    one = probe.memory()
    assert one > 0
    exact = ExactVectors(runtime.store, max_chunks=1000, memory_bytes=one + one // 2)
    for coll in (first, second, first):
        found = exact.search(tenant, coll.id, _version(runtime, tenant, coll), query, 1)
        assert found, coll.name
        assert exact.memory() <= one + one // 2
    # A collection larger than the whole budget is left to the index rather than held.
    tiny = ExactVectors(runtime.store, max_chunks=1000, memory_bytes=one // 2)
    assert tiny.search(tenant, first.id, _version(runtime, tenant, first), query, 1) is None
    assert tiny.memory() == 0
