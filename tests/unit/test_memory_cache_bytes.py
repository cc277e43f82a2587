"""The in-memory cache is bounded in bytes as well as entries: what keeps a long-running server's
memory flat (issue 16, point 4), whatever the size of the entries."""

from __future__ import annotations

from prometheus_client import REGISTRY

from docrag.cache.tagged import MemoryCache


def test_bytes_bound_evicts_least_recently_used_first() -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=1000, max_bytes=3000)
    for key in ("a", "b", "c"):
        cache.put(key, b"x" * 999, ["t"])  # 1,000 bytes with its key
    assert cache.size_bytes == 3000 and len(cache) == 3
    assert cache.get("a") is not None  # a is now the most recent; b the least
    cache.put("d", b"y" * 999, ["t"])
    assert cache.get("b") is None
    assert {k for k in "acd" if cache.get(k) is not None} == {"a", "c", "d"}
    assert cache.size_bytes == 3000


def test_many_small_then_one_large_stays_under_the_bound() -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=100_000, max_bytes=10_000)
    for i in range(5000):
        cache.put(f"k{i}", b"v" * 20, [f"t{i % 7}"])
        assert cache.size_bytes <= 10_000
    cache.put("big", b"z" * 9000, ["t0"])
    assert cache.get("big") is not None and cache.size_bytes <= 10_000
    assert len(cache) < 50  # the small ones made room


def test_a_value_larger_than_the_budget_is_not_kept_and_replacing_counts_once() -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=10, max_bytes=100)
    cache.put("k", b"1" * 50, [])
    cache.put("huge", b"2" * 101, [])
    assert cache.get("huge") is None and cache.get("k") == b"1" * 50
    cache.put("k", b"3" * 10, [])  # a new value for the same key replaces the old one's bytes
    assert cache.size_bytes == 11


def test_purge_and_close_give_the_bytes_back_and_the_gauge_follows() -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=10, max_bytes=10_000)
    cache.put("a", b"1" * 100, ["t1"])
    cache.put("b", b"2" * 200, ["t2"])
    assert REGISTRY.get_sample_value("docrag_cache_memory_bytes") == 302
    assert cache.purge("t2") == 1 and cache.size_bytes == 101
    assert REGISTRY.get_sample_value("docrag_cache_memory_bytes") == 101
    cache.close()
    assert cache.size_bytes == 0 and cache.get("a") is None
