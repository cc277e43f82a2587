"""Exact dense search over small collections, in memory, rebuilt from PostgreSQL when stale.

An HNSW index filtered down to one small collection among many returns only what its graph
walk reaches: at a million chunks, a collection holding 1% of them lost about 8% of its true
top 10 for queries outside its topics. A small collection is cheaper to search exactly, a
matrix product over its vectors held in memory, than to walk the graph at all.

Each matrix remembers the collection's ``content_version`` it was read at; a search at
another version reads the collection again (one snapshot), as the in-process BM25 index does.
Collections over ``max_chunks`` are left to the HNSW index (``search`` returns None), and
matrices are evicted, least recently used first, to stay within ``memory_bytes``. Results
are chunk ids and cosine similarities, hydrated from PostgreSQL afterwards like every other
leg's, so a chunk deleted since the read can't come back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

import numpy as np

from docrag.retrieval.keyed_locks import KeyedLocks
from docrag.store.protocol import ChunkSearch, CollectionVectors

_Key = tuple[UUID, UUID, int]  # tenant, collection, dimension


class ExactVectors:
    def __init__(self, store: ChunkSearch, *, max_chunks: int, memory_bytes: int) -> None:
        self._store = store
        self._max_chunks = max_chunks
        self._memory_bytes = memory_bytes
        self._entries: OrderedDict[_Key, CollectionVectors] = OrderedDict()
        self._lock = KeyedLocks()
        self._guard = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._max_chunks > 0 and self._memory_bytes > 0

    def search(
        self, tenant_id: UUID, collection_id: UUID, version: int, query: np.ndarray[Any, Any], limit: int
    ) -> list[tuple[int, float]] | None:
        """(chunk id, cosine similarity) of the ``limit`` nearest chunks of the collection at
        ``version`` or later, or None when it is too large to search here."""
        if not self.enabled:
            return None
        entry = self._entry((tenant_id, collection_id, int(query.shape[0])), version)
        if entry.vectors is None:
            return None
        if not len(entry.ids):
            return []
        q = np.asarray(query, dtype=np.float32)
        scores = entry.vectors @ (q / max(float(np.linalg.norm(q)), 1e-12))
        k = min(limit, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(entry.ids[i]), float(scores[i])) for i in top]

    def held(self) -> set[tuple[UUID, UUID]]:
        """The (tenant, collection) pairs with vectors in memory."""
        with self._guard:
            return {(k[0], k[1]) for k in self._entries}

    def forget(self, tenant_id: UUID, collection_id: UUID) -> None:
        with self._guard:
            for key in [k for k in self._entries if k[:2] == (tenant_id, collection_id)]:
                del self._entries[key]

    def memory(self) -> int:
        """Bytes held by the cached matrices."""
        with self._guard:
            return sum(_size(e) for e in self._entries.values())

    def _cached(self, key: _Key, version: int) -> CollectionVectors | None:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None or entry.version < version:
                return None
            self._entries.move_to_end(key)
            return entry

    def _entry(self, key: _Key, version: int) -> CollectionVectors:
        entry = self._cached(key, version)
        if entry is not None:
            return entry
        with self._lock(key):
            entry = self._cached(key, version)  # another request may have read it meanwhile
            if entry is not None:
                return entry
            entry = self._store.collection_vectors(key[0], key[1], key[2], self._max_chunks)
            if _size(entry) > self._memory_bytes:
                entry = CollectionVectors(entry.version, entry.ids[:0], None)
            with self._guard:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                total = sum(_size(e) for e in self._entries.values())
                for other in [k for k in self._entries if k != key]:  # least recently used first
                    if total <= self._memory_bytes:
                        break
                    total -= _size(self._entries.pop(other))
            return entry


def _size(entry: CollectionVectors) -> int:
    return int(entry.ids.nbytes) + (int(entry.vectors.nbytes) if entry.vectors is not None else 0)
