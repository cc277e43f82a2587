"""In-process BM25 indexes, one per collection, rebuilt from PostgreSQL when stale.

Each index remembers the collection's ``content_version`` it was built at. A search gets the
current versions (read with the request's model check) and rebuilds any index that moved, so
an index can lag PostgreSQL by at most the duration of one rebuild, and results are hydrated
from PostgreSQL afterwards anyway: a deleted chunk can't come back through a stale index.

The indexes held stay within ``memory_bytes``: past it, the least recently searched are dropped
(a later search rebuilds them), so a process serving many collections doesn't keep every one it
ever searched. The index just built is kept whatever its size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from uuid import UUID

from docrag.retrieval.keyed_locks import KeyedLocks
from docrag.store.protocol import ChunkSearch
from docrag.text.bm25 import BM25Index


class LexicalIndexes:
    def __init__(
        self,
        store: ChunkSearch,
        *,
        document_weight: float = 0.0,
        k1: float = 1.2,
        b: float = 0.75,
        memory_bytes: int = 2**30,
    ) -> None:
        self._store = store
        self._document_weight = document_weight
        self._k1 = k1
        self._b = b
        self._memory_bytes = memory_bytes
        #: (tenant, collection) -> (content version, index), least recently searched first
        self._indexes: OrderedDict[tuple[UUID, UUID], tuple[int, BM25Index]] = OrderedDict()
        self._lock = KeyedLocks()
        self._guard = threading.Lock()  # the dict's order and its eviction

    def _cached(self, key: tuple[UUID, UUID], version: int) -> BM25Index | None:
        with self._guard:
            cached = self._indexes.get(key)
            if cached is None or cached[0] < version:
                return None
            self._indexes.move_to_end(key)
            return cached[1]

    def index(self, tenant_id: UUID, collection_id: UUID, version: int) -> BM25Index:
        key = (tenant_id, collection_id)
        cached = self._cached(key, version)
        if cached is not None:
            return cached
        with self._lock(key):
            cached = self._cached(key, version)  # another request may have built it meanwhile
            if cached is not None:
                return cached
            corpus = self._store.lexical_corpus(tenant_id, collection_id)
            numbering: dict[UUID, int] = {}
            groups = [numbering.setdefault(doc, len(numbering)) for doc in corpus.documents]
            index = BM25Index(
                corpus.ids,
                corpus.texts,
                groups=groups,
                group_weight=self._document_weight,
                k1=self._k1,
                b=self._b,
            )
            with self._guard:
                self._indexes[key] = (corpus.version, index)
                self._indexes.move_to_end(key)
                total = sum(held.nbytes for _, held in self._indexes.values())
                for other in [k for k in self._indexes if k != key]:  # least recently searched first
                    if total <= self._memory_bytes:
                        break
                    total -= self._indexes.pop(other)[1].nbytes
            return index

    def search(
        self, tenant_id: UUID, versions: Mapping[UUID, int], query: str, limit: int
    ) -> list[tuple[int, float]]:
        """The best ``limit`` chunks of the collections, each at its given content version or later."""
        results: list[tuple[int, float]] = []
        for collection_id, version in versions.items():
            results.extend(self.index(tenant_id, collection_id, version).search(query, limit))
        results.sort(key=lambda pair: -pair[1])
        return results[:limit]

    def forget(self, tenant_id: UUID, collection_id: UUID) -> None:
        with self._guard:
            self._indexes.pop((tenant_id, collection_id), None)

    def held(self) -> set[tuple[UUID, UUID]]:
        """The (tenant, collection) pairs with an index in memory."""
        with self._guard:
            return set(self._indexes)

    def memory(self) -> int:
        """About the bytes the indexes held take."""
        with self._guard:
            return sum(index.nbytes for _, index in self._indexes.values())
