"""The vectors of the chunks that searches keep finding, held in this process (each API process
has its own).

A search reads its dense candidates' vectors, the chunk's own and its sentences': about 100
chunks and 0.6 MB, a third of PostgreSQL's CPU for an uncached search and 2 ms of this
process's (bench/load/stages.py). Under real traffic the same passages come back question after
question, so the vectors read are kept here: least recently used dropped past ``memory_bytes``,
and none kept longer than ``ttl_seconds``, so a deleted chunk or an erased tenant leaves no copy
in memory for longer than that.

Chunk ids are never reused, and a chunk's vectors change only when a re-index swaps its
collection to another model, in the same transaction as the model (store/reindex.py). An entry
is keyed by tenant, chunk and the model that one read found with its vectors (store/
chunk_search.py's ``chunk_vectors``), and a search looks up its own model's: a query is never
scored against another model's vectors from here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from uuid import UUID

from cachetools import TTLCache

from docrag import instruments
from docrag.store.protocol import ChunkSearch, ChunkVectors

#: What an entry costs besides its arrays: the key, the record and the cache's bookkeeping.
_ENTRY_OVERHEAD = 400


def _size(entry: ChunkVectors) -> int:
    return entry.embedding.nbytes + len(entry.sentences or b"") + _ENTRY_OVERHEAD


class VectorCache:
    def __init__(self, store: ChunkSearch, *, memory_bytes: int, ttl_seconds: float) -> None:
        self._store = store
        self._entries: TTLCache[tuple[UUID, int, str], ChunkVectors] | None = (
            TTLCache(maxsize=memory_bytes, ttl=ttl_seconds, getsizeof=_size) if memory_bytes > 0 else None
        )
        self._guard = threading.Lock()  # cachetools' caches are not thread-safe

    def read(self, tenant_id: UUID, chunk_ids: Sequence[int], model: str) -> dict[int, ChunkVectors]:
        """The vectors of those of ``chunk_ids`` that exist in the tenant: ``model``'s from the
        cache, the rest read from PostgreSQL (whatever model built them, as the store returns
        them) and kept for the next search."""
        entries = self._entries
        if entries is None:
            return self._store.chunk_vectors(tenant_id, chunk_ids)
        found: dict[int, ChunkVectors] = {}
        with self._guard:
            for chunk_id in chunk_ids:
                if (entry := entries.get((tenant_id, chunk_id, model))) is not None:
                    found[chunk_id] = entry
        missing = [chunk_id for chunk_id in chunk_ids if chunk_id not in found]
        lookups = instruments.vector_cache_lookups()
        lookups.labels("hit").inc(len(found))
        lookups.labels("miss").inc(len(missing))
        if not missing:
            return found
        read = self._store.chunk_vectors(tenant_id, missing)
        with self._guard:
            for chunk_id, entry in read.items():
                if _size(entry) <= entries.maxsize:
                    entries[(tenant_id, chunk_id, entry.model)] = entry
        return found | read

    def __len__(self) -> int:
        if self._entries is None:
            return 0
        with self._guard:
            return len(self._entries)
