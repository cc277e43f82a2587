"""The in-process BM25 indexes stay within their memory budget on a real PostgreSQL: past it the
least recently searched collection's index is dropped, and a later search rebuilds it with the
same results."""

from __future__ import annotations

import uuid

from docrag.domain import Collection
from docrag.ingest.pipeline import Upload
from docrag.retrieval.lexical import LexicalIndexes
from docrag.services import Runtime

NOTES = {
    "harbour": "The harbour wall breaks the winter storms before they reach the fishing boats.",
    "orchard": "Apple trees in the orchard are pruned in late winter, before the buds swell.",
    "glacier": "The glacier carved a deep valley as it crept down from the mountain pass.",
}


def _collection(runtime: Runtime, tenant: uuid.UUID, topic: str) -> Collection:
    coll = runtime.collection(tenant, f"lexical-{topic}", create=True)
    text = f"# {topic}\n\n{NOTES[topic]} A short note on the {topic}.\n".encode()
    _, created = runtime.ingest_now.ingest(coll, Upload(text, f"{topic}.md"))
    assert created
    return coll


def _search(
    indexes: LexicalIndexes, runtime: Runtime, tenant: uuid.UUID, coll: Collection, query: str
) -> list:
    version = runtime.store.content_versions(tenant, [coll.id])[coll.id]
    return indexes.search(tenant, {coll.id: version}, query, 5)


def test_the_least_recently_searched_index_is_dropped_past_the_budget(runtime: Runtime) -> None:
    tenant = runtime.store.ensure_tenant("lexical-memory")
    colls = {topic: _collection(runtime, tenant, topic) for topic in NOTES}
    probe = LexicalIndexes(runtime.store)
    _search(probe, runtime, tenant, colls["harbour"], "storms")
    one = probe.memory()
    assert one > 0
    # Room for about two indexes of this size.
    indexes = LexicalIndexes(runtime.store, memory_bytes=2 * one + one // 2)
    first = _search(indexes, runtime, tenant, colls["harbour"], "storms harbour")
    assert first
    _search(indexes, runtime, tenant, colls["orchard"], "apple trees")
    _search(indexes, runtime, tenant, colls["harbour"], "boats")  # harbour: now the most recent
    _search(indexes, runtime, tenant, colls["glacier"], "valley")
    held = {c for _, c in indexes.held()}
    assert held == {colls["harbour"].id, colls["glacier"].id}, "orchard, least recently searched, goes"
    assert indexes.memory() <= 2 * one + one // 2
    # Searched again, the dropped collection's index is rebuilt: the same results as before.
    again = _search(indexes, runtime, tenant, colls["orchard"], "apple trees")
    assert again == _search(probe, runtime, tenant, colls["orchard"], "apple trees") != []
    assert colls["orchard"].id in {c for _, c in indexes.held()}
    # An index larger than the whole budget is still kept while it is the one being searched.
    tiny = LexicalIndexes(runtime.store, memory_bytes=1)
    assert _search(tiny, runtime, tenant, colls["glacier"], "valley") == _search(
        probe, runtime, tenant, colls["glacier"], "valley"
    )
    assert {c for _, c in tiny.held()} == {colls["glacier"].id}
