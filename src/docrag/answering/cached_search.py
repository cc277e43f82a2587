"""Search hits served from the answer cache while their collections are unchanged.

A popular question is searched again and again (real traffic repeats itself: the load test of
bench/load draws questions with Zipf repetition). Its hits depend on exactly what the answer
cache's keys hold: the tenant, each collection's ``content_version``, the normalised text and the
settings, plus the limit. So they are kept in the same :class:`~docrag.cache.tagged.TaggedCache`,
under the same tags (the collections): an upload, a new version or a delete makes the entry
unreachable at once, and the purge of a deleted document's collection removes its text from the
cache, Redis included (:meth:`docrag.services.Runtime.collection_changed`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from docrag.answering.cached import CachingAnswerer
from docrag.cache import codec
from docrag.cache.tagged import TaggedCache
from docrag.domain import Hit
from docrag.instruments import cache_lookups
from docrag.retrieval.hybrid import Retriever

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CachedHits:
    hits: tuple[Hit, ...]


class CachingSearcher:
    def __init__(self, retriever: Retriever, answers: CachingAnswerer) -> None:
        self.retriever = retriever
        self._answers = answers
        self.hits = 0
        self.misses = 0

    @property
    def cache(self) -> TaggedCache:
        return self._answers.cache

    def search(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], query: str, *, limit: int = 10
    ) -> list[Hit]:
        # One read of the collections gives the key its content versions and, on a miss, the
        # search its model check (which would read them again).
        scopes = self.retriever.scopes(tenant_id, collection_ids)
        versions = {scope.id: scope.content_version for scope in scopes}
        self._answers.note_versions(versions)
        key = self._answers.key(tenant_id, versions, query, "search", limit)
        cache = self._answers.cache
        found = cache.get(key)
        if found is not None:
            try:
                hits = list(codec.loads(CachedHits, found).hits)
            except ValueError as exc:  # written by another DocRAG version: search again
                _log.info("ignoring unreadable cached hits: %s", exc)
            else:
                self.hits += 1
                cache_lookups().labels(cache.backend, "hit").inc()
                return hits
        self.misses += 1
        cache_lookups().labels(cache.backend, "miss").inc()
        hits = self.retriever.search(tenant_id, collection_ids, query, limit=limit, scopes=scopes)
        cache.put(key, codec.dumps(CachedHits(tuple(hits))), [str(c) for c in versions])
        return hits
