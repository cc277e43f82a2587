"""The storage layer on a real PostgreSQL: tenant scoping, deletes, duplicates, migrations."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from docrag.errors import NotFound
from docrag.ingest.pipeline import Upload
from docrag.services import Runtime
from docrag.store.migrate import available, migrate
from docrag.store.postgres import Store

DOC_A = b"""# Zorblax reactor

The zorblax reactor runs on quantonium crystals. Its core temperature stays at 412 kelvin.

## Safety

Operators must wear lead aprons near the zorblax core.
"""

DOC_B = b"""# Garden notes

Tomatoes need six hours of sun. Basil grows well beside tomatoes and keeps pests away.
"""


@pytest.fixture(scope="module")
def tenants(runtime: Runtime) -> dict[str, uuid.UUID]:
    a = runtime.store.ensure_tenant("tenant-a")
    b = runtime.store.ensure_tenant("tenant-b")
    return {"a": a, "b": b}


@pytest.fixture(scope="module")
def stored(runtime: Runtime, tenants: dict[str, uuid.UUID]) -> dict[str, object]:
    coll_a = runtime.collection(tenants["a"], "shared-name", create=True)
    coll_b = runtime.collection(tenants["b"], "shared-name", create=True)
    doc_a, created = runtime.ingest_now.ingest(coll_a, Upload(DOC_A, "reactor.md"))
    assert created
    doc_b, _ = runtime.ingest_now.ingest(coll_b, Upload(DOC_B, "garden.md"))
    return {"coll_a": coll_a, "coll_b": coll_b, "doc_a": doc_a, "doc_b": doc_b}


def test_migrations_are_recorded_and_idempotent(database_url: str, runtime: Runtime) -> None:
    with psycopg.connect(database_url) as conn:
        assert migrate(conn) == []
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [v for v, _, _ in available()]


def test_every_content_row_carries_tenant_and_collection(database_url: str, runtime: Runtime) -> None:
    with psycopg.connect(database_url) as conn:
        for table in ("documents", "chunks"):
            cols = {
                r[0]: r[1]
                for r in conn.execute(
                    "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = %s",
                    (table,),
                )
            }
            assert cols["tenant_id"] == "NO" and cols["collection_id"] == "NO", table


def test_search_never_crosses_tenants(runtime: Runtime, tenants: dict[str, uuid.UUID], stored: dict) -> None:
    coll_a, coll_b = stored["coll_a"], stored["coll_b"]
    own = runtime.retriever.search(tenants["a"], [coll_a.id], "zorblax quantonium", limit=10)
    assert own and all(h.document_id == stored["doc_a"].id for h in own)
    # Tenant B asks the same words in its own same-named collection...
    theirs = runtime.retriever.search(tenants["b"], [coll_b.id], "zorblax quantonium", limit=10)
    assert all(h.document_id != stored["doc_a"].id for h in theirs)
    # ...and with tenant A's collection id guessed: the tenant filter still holds.
    guessed = runtime.retriever.search(tenants["b"], [coll_a.id], "zorblax quantonium", limit=10)
    assert guessed == []
    answer = runtime.answerer.ask(tenants["b"], [coll_a.id, coll_b.id], "What do zorblax reactors run on?")
    assert all(h.document_id != stored["doc_a"].id for h in answer.passages)
    assert "quantonium" not in answer.text


def test_guessed_ids_are_not_found_for_another_tenant(
    runtime: Runtime, tenants: dict[str, uuid.UUID], stored: dict
) -> None:
    with pytest.raises(NotFound):
        runtime.store.get_document(tenants["b"], stored["doc_a"].id)
    with pytest.raises(NotFound):
        runtime.store.delete_document(tenants["b"], stored["doc_a"].id)
    hits = runtime.store.hits(tenants["b"], [stored["coll_a"].id], [(1, 1.0), (2, 1.0), (3, 1.0)])
    assert hits == []
    assert runtime.store.get_document(tenants["a"], stored["doc_a"].id).id == stored["doc_a"].id


def test_same_bytes_are_stored_once(runtime: Runtime, tenants: dict[str, uuid.UUID], stored: dict) -> None:
    again, created = runtime.ingest_now.ingest(stored["coll_a"], Upload(DOC_A, "copy-of-reactor.md"))
    assert not created and again.id == stored["doc_a"].id
    assert len(runtime.store.list_documents(tenants["a"], stored["coll_a"].id)) == 1


def test_answer_cites_exact_stored_text(
    runtime: Runtime, tenants: dict[str, uuid.UUID], stored: dict
) -> None:
    answer = runtime.answerer.ask(tenants["a"], [stored["coll_a"].id], "What is the core temperature?")
    assert answer.answered
    assert "412 kelvin" in answer.sentences[0].text
    text, _ = runtime.store.document_text(tenants["a"], stored["doc_a"].id)
    for sentence in answer.sentences:
        for c in sentence.citations:
            assert text[c.start : c.end] == c.quote == sentence.text


def test_delete_leaves_nothing_behind(
    runtime: Runtime, tenants: dict[str, uuid.UUID], database_url: str
) -> None:
    coll = runtime.collection(tenants["a"], "to-delete", create=True)
    doc, _ = runtime.ingest_now.ingest(
        coll, Upload(b"# Frobnicator\n\nThe frobnicator hums at dawn.\n", "f.md")
    )
    assert runtime.store.count_chunks(tenants["a"], doc.id) > 0
    assert runtime.retriever.search(tenants["a"], [coll.id], "frobnicator", limit=5)
    runtime.store.delete_document(tenants["a"], doc.id)
    assert runtime.store.count_chunks(tenants["a"], doc.id) == 0
    assert runtime.retriever.search(tenants["a"], [coll.id], "frobnicator hums", limit=5) == []
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM chunks WHERE document_id = %s", (doc.id,)).fetchone()
    assert left == (0,)
    # Deleting the collection removes its remaining documents and chunks too.
    doc2, _ = runtime.ingest_now.ingest(coll, Upload(b"Second file about widgets.\n", "w.txt"))
    runtime.store.delete_collection(tenants["a"], coll.id)
    with pytest.raises(NotFound):
        runtime.store.get_document(tenants["a"], doc2.id)
    assert runtime.store.count_chunks(tenants["a"], doc2.id) == 0


def test_each_dense_search_runs_with_its_own_ef_search(
    runtime: Runtime, tenants: dict[str, uuid.UUID], stored: dict
) -> None:
    """hnsw.ef_search is a session setting of the pooled connection, sent only when the session
    holds another: after each dense search the session holds that search's, whatever the one
    before it left (one connection, so every call shares it)."""
    store = Store(runtime.store.url, min_size=1, max_size=1)
    tenant, coll = tenants["a"], stored["coll_a"].id
    query = runtime.embedder.embed_batch(["zorblax core temperature"])[0]
    try:
        for ef in (57, 57, 41, 57, 100, 41):
            assert store.dense_search(tenant, [coll], query, limit=3, ef_search=ef)
            with store.connection(tenant) as conn:
                held = conn.execute("SELECT current_setting('hnsw.ef_search') AS ef").fetchone()
            assert held == {"ef": str(ef)}
    finally:
        store.close()
