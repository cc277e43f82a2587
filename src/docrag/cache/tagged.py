"""A key-value cache whose entries carry tags (collection ids), so everything derived from a
collection can be dropped at once: in process memory, or in Redis shared by every process.

Both backends have one contract: ``get`` may miss at any time, ``put`` may be lost, and a
``purge`` Redis could not take is owed, and run before anything else once Redis answers
again (deleted text must leave the cache, issue 22.2). Correctness never rests on them;
callers put a version of the source data in the key, so an entry not yet purged can't be
found anyway. Redis errors are logged and counted,
never raised: a Redis outage costs hits, not answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

from docrag.instruments import memory_cache_bytes

_log = logging.getLogger(__name__)


class TaggedCache(Protocol):
    #: Names the backend in metrics (docrag_cache_lookups_total{backend}).
    backend: str

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes, tags: Iterable[str]) -> None: ...

    def purge(self, tag: str) -> int:
        """Drop every entry carrying ``tag``; :returns: how many were dropped (as far as known)."""
        ...

    def close(self) -> None: ...


class MemoryCache:
    """An LRU with a time to live, for one process, bounded in entries and in bytes.

    The byte bound is what keeps a long-running process's memory flat: entries differ in size by
    two orders of magnitude (a search's hits against an abstention), so a count alone bounds
    nothing. A value larger than the whole budget is not kept.
    """

    backend = "memory"

    def __init__(self, *, ttl_seconds: float, max_entries: int, max_bytes: int | None = None) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[str, tuple[float, bytes, tuple[str, ...]]] = OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] < time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: str, value: bytes, tags: Iterable[str]) -> None:
        tags = tuple(tags)
        with self._lock:
            self._sweep()
            self._drop(key)
            if self._max_bytes is not None and _size(key, value) > self._max_bytes:
                return
            self._entries[key] = (time.monotonic() + self._ttl, value, tags)
            self._bytes += _size(key, value)
            for tag in tags:
                self._tags.setdefault(tag, set()).add(key)
            while len(self._entries) > self._max or (
                self._max_bytes is not None and self._bytes > self._max_bytes
            ):
                self._drop(next(iter(self._entries)))
            memory_cache_bytes().set(self._bytes)

    def purge(self, tag: str) -> int:
        with self._lock:
            keys = self._tags.pop(tag, set())
            for key in keys:
                self._drop(key)
            memory_cache_bytes().set(self._bytes)
            return len(keys)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The bytes of the keys and values held (what the byte bound counts)."""
        return self._bytes

    def tags(self) -> list[str]:
        """The tags (collection ids) some entry carries."""
        with self._lock:
            return list(self._tags)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._tags.clear()
            self._bytes = 0

    def _sweep(self) -> None:
        """Free the expired entries now and then: an entry nobody asks for again (text of a
        document deleted through another process, say) is gone soon after its TTL."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(60.0, self._ttl / 4)
        for key in [k for k, (expires, _, _) in self._entries.items() if expires < now]:
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= _size(key, entry[1])
        for tag in entry[2]:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]


def _size(key: str, value: bytes) -> int:
    return len(key) + len(value)


class RedisCache:
    """Entries as ``<prefix>e:<key>`` strings with a TTL; each tag a set of its keys."""

    backend = "redis"

    def __init__(self, url: str, *, ttl_seconds: float, prefix: str = "docrag:answers:") -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._ttl = max(1, int(ttl_seconds))
        self._prefix = prefix
        self.errors = 0  # failed Redis calls, each one a miss or a lost write
        #: After a failure Redis is left alone this long, so an outage costs one timeout per
        #: interval instead of one per request.
        self.retry_after_seconds = 5.0
        self._down_until = 0.0
        #: Tags whose purge failed (Redis was down): purged first once Redis answers again, so
        #: a delete during an outage still removes the deleted text from Redis.
        self.pending_purges: set[str] = set()
        self._pending_lock = threading.Lock()

    def _up(self) -> bool:
        return time.monotonic() >= self._down_until

    def get(self, key: str) -> bytes | None:
        if not self._up() or self._flush_pending() is None:
            return None
        try:
            value = self._redis.get(self._prefix + "e:" + key)
        except Exception as exc:  # redis raises many connection/timeout types: all mean "miss"
            self._failed("get", exc)
            return None
        return bytes(value) if value is not None else None

    def put(self, key: str, value: bytes, tags: Iterable[str]) -> None:
        if not self._up() or self._flush_pending() is None:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(self._prefix + "e:" + key, value, ex=self._ttl)
            for tag in tags:
                pipe.sadd(self._prefix + "t:" + tag, key)
                pipe.expire(self._prefix + "t:" + tag, self._ttl)
            pipe.execute()
        except Exception as exc:
            self._failed("put", exc)

    def purge(self, tag: str) -> int:
        with self._pending_lock:
            self.pending_purges.add(tag)
        return self._flush_pending() or 0

    def _flush_pending(self) -> int | None:
        """Run the purges still owed; :returns: how many entries they dropped, or ``None``
        when Redis failed and some are still owed."""
        if not self.pending_purges:  # the usual case, checked without the lock
            return 0
        with self._pending_lock:
            return self._flush_pending_locked()

    def _flush_pending_locked(self) -> int | None:
        dropped = 0
        for tag in sorted(self.pending_purges):
            name = self._prefix + "t:" + tag
            try:
                keys = [bytes(k).decode() for k in self._redis.smembers(name)]
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    pipe.delete(self._prefix + "e:" + key)
                pipe.delete(name)
                pipe.execute()
            except Exception as exc:
                self._failed("purge", exc)
                return None
            self.pending_purges.discard(tag)
            dropped += len(keys)
        return dropped

    def close(self) -> None:
        try:
            self._redis.close()
        except Exception as exc:  # closing a broken connection: nothing to do
            _log.debug("closing redis: %s", exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        self._down_until = time.monotonic() + self.retry_after_seconds
        _log.warning("answer cache (redis) %s failed, going on without it: %s", what, exc)
