"""The answer cache, in memory and in the real Redis on 127.0.0.1:6379: repeated questions are
served from it, any change to a collection makes its answers unreachable, deletes remove them,
and a Redis outage costs only cache hits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from docrag.answering.cached import Answerer, CachingAnswerer
from docrag.answering.cached_search import CachingSearcher
from docrag.cache.tagged import MemoryCache, RedisCache
from docrag.ingest.pipeline import Upload
from docrag.services import Runtime
from docrag.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
QUESTION = "What do the lighthouse keepers burn?"


def keeper_notes(fuel: str) -> bytes:
    return (
        "# Lighthouse keeping\n\n"
        f"The lighthouse keepers burn {fuel} in the lamp every night. "
        "They climb the tower twice a day to trim the wick.\n"
    ).encode()


def inner(runtime: Runtime) -> Answerer:
    assert isinstance(runtime.answerer, CachingAnswerer)
    return runtime.answerer.inner


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"docrag-test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, pool_max_size=8, redis_url=REDIS_URL, answer_cache_seconds=60)


@pytest.fixture
def redis_client(prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_runtime_caches_answers_in_redis_and_a_delete_removes_them(runtime: Runtime) -> None:
    answerer = runtime.answerer
    assert isinstance(answerer, CachingAnswerer) and isinstance(answerer.cache, RedisCache)
    coll = runtime.collection(runtime.default_tenant, "cache-redis", create=True)
    doc, _ = runtime.ingest_now.ingest(coll, Upload(keeper_notes("whale oil"), "keepers.md"))
    runtime.collection_changed(coll.id)  # as a worker does after indexing

    first = answerer.ask(coll.tenant_id, [coll.id], QUESTION)
    assert first.answered and "whale oil" in first.text
    hits_before = answerer.hits
    again = answerer.ask(coll.tenant_id, [coll.id], "  what do the LIGHTHOUSE keepers burn? ")
    assert answerer.hits == hits_before + 1
    assert again == first  # the cached answer decodes to the same value, citations included

    client = redis.Redis.from_url(REDIS_URL)
    tag = f"docrag:answers:t:{coll.id}"
    cached_keys = [k.decode() for k in client.smembers(tag)]
    assert cached_keys and all(client.exists(f"docrag:answers:e:{k}") for k in cached_keys)

    runtime.delete_document(coll.tenant_id, doc.id)
    assert not client.exists(tag)
    assert not any(client.exists(f"docrag:answers:e:{k}") for k in cached_keys)
    client.close()
    after = answerer.ask(coll.tenant_id, [coll.id], QUESTION)
    assert not after.answered
    assert all(c.document_id != doc.id for s in after.sentences for c in s.citations)


def test_any_change_to_the_collection_makes_cached_answers_unreachable(
    runtime: Runtime, settings: Settings
) -> None:
    """Even with no purge at all (another process's cache), the key moves with the collection."""
    cache = MemoryCache(ttl_seconds=60, max_entries=100)
    answerer = CachingAnswerer(inner(runtime), cache, runtime.store, settings)
    coll = runtime.collection(runtime.default_tenant, "cache-versioned", create=True)
    doc, _ = runtime.ingest_now.ingest(coll, Upload(keeper_notes("whale oil"), "keepers.md"))
    assert "whale oil" in answerer.ask(coll.tenant_id, [coll.id], QUESTION).text
    assert "whale oil" in answerer.ask(coll.tenant_id, [coll.id], QUESTION).text
    assert (answerer.hits, answerer.misses) == (1, 1)

    runtime.store.delete_document(coll.tenant_id, doc.id)  # no purge: only the version moved
    runtime.ingest_now.ingest(coll, Upload(keeper_notes("paraffin"), "keepers2.md"))
    answer = answerer.ask(coll.tenant_id, [coll.id], QUESTION)
    assert "paraffin" in answer.text and "whale oil" not in answer.text
    assert answerer.misses == 2


def test_cache_is_per_tenant(runtime: Runtime, settings: Settings) -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=100)
    answerer = CachingAnswerer(inner(runtime), cache, runtime.store, settings)
    coll = runtime.collection(runtime.default_tenant, "cache-tenant", create=True)
    runtime.ingest_now.ingest(coll, Upload(keeper_notes("colza oil"), "keepers.md"))
    assert answerer.ask(coll.tenant_id, [coll.id], QUESTION).answered
    other = runtime.store.ensure_tenant("cache-other-tenant")
    # Another tenant naming this collection's id gets nothing from it, cached or not.
    leaked = answerer.ask(other, [coll.id], QUESTION)
    assert not leaked.answered and leaked.passages == ()
    assert answerer.hits == 0


def test_redis_outage_degrades_to_computing_answers(runtime: Runtime, settings: Settings) -> None:
    dead = RedisCache("redis://127.0.0.1:1/0", ttl_seconds=60)
    answerer = CachingAnswerer(inner(runtime), dead, runtime.store, settings)
    coll = runtime.collection(runtime.default_tenant, "cache-outage", create=True)
    runtime.ingest_now.ingest(coll, Upload(keeper_notes("lard oil"), "keepers.md"))
    for _ in range(3):
        assert "lard oil" in answerer.ask(coll.tenant_id, [coll.id], QUESTION).text
    assert dead.errors >= 1 and answerer.hits == 0
    assert dead.purge(str(coll.id)) == 0


def test_memory_cache_evicts_least_recently_used_and_expires(redis_client: redis.Redis, prefix: str) -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=2)
    cache.put("a", b"1", ["t1"])
    cache.put("b", b"2", ["t1", "t2"])
    assert cache.get("a") == b"1"  # a is now the most recent
    cache.put("c", b"3", ["t2"])
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
    assert cache.purge("t2") == 1 and cache.get("c") is None and len(cache) == 1
    expired = MemoryCache(ttl_seconds=0, max_entries=2)
    expired.put("a", b"1", [])
    assert expired.get("a") is None

    shared = RedisCache(REDIS_URL, ttl_seconds=60, prefix=prefix)
    shared.put("k", b"v", ["t"])
    assert shared.get("k") == b"v"
    assert 0 < int(redis_client.ttl(f"{prefix}e:k")) <= 60
    assert shared.purge("t") == 1 and shared.get("k") is None


def test_searches_are_cached_beside_answers_and_a_delete_removes_them(runtime: Runtime) -> None:
    """The API's searcher keeps hits in the answer cache (Redis here), under the collection's tag:
    a repeated query is served from it, a new upload moves the key, a delete purges the entries."""
    searcher = runtime.searcher
    assert isinstance(searcher, CachingSearcher) and isinstance(searcher.cache, RedisCache)
    coll = runtime.collection(runtime.default_tenant, "cache-search", create=True)
    doc, _ = runtime.ingest_now.ingest(coll, Upload(keeper_notes("sperm whale oil"), "keepers.md"))
    runtime.collection_changed(coll.id)

    first = searcher.search(coll.tenant_id, [coll.id], "lighthouse keepers burn", limit=5)
    assert first and first[0].document_id == doc.id
    hits, misses = searcher.hits, searcher.misses
    again = searcher.search(coll.tenant_id, [coll.id], "  Lighthouse KEEPERS burn ", limit=5)
    assert (searcher.hits, searcher.misses) == (hits + 1, misses)
    assert again == first  # decoded to the same hits, scores and spans included
    searcher.search(coll.tenant_id, [coll.id], "lighthouse keepers burn", limit=3)
    assert searcher.misses == misses + 1  # another limit, another entry

    client = redis.Redis.from_url(REDIS_URL)
    tag = f"docrag:answers:t:{coll.id}"
    cached = [k.decode() for k in client.smembers(tag)]
    assert any(b"sperm whale oil" in (client.get(f"docrag:answers:e:{k}") or b"") for k in cached)

    runtime.ingest_now.ingest(coll, Upload(keeper_notes("paraffin"), "keepers2.md"))
    moved = searcher.search(coll.tenant_id, [coll.id], "lighthouse keepers burn", limit=5)
    assert searcher.misses == misses + 2 and len(moved) == 2  # the new version's key: searched again

    runtime.delete_document(coll.tenant_id, doc.id)
    assert not any(client.exists(f"docrag:answers:e:{k}") for k in cached)
    client.close()
    after = searcher.search(coll.tenant_id, [coll.id], "lighthouse keepers burn", limit=5)
    assert [h.document_id for h in after] != [] and doc.id not in {h.document_id for h in after}
