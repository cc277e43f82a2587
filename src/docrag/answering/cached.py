"""Answers served from a cache while nothing they could depend on has changed.

The key holds the tenant, each collection's ``content_version`` (bumped in the same transaction
as any upload, new version or delete), the normalised question and a fingerprint of every
setting: a cached answer can only be found while its collections are exactly as they were when
it was computed. Deletes also purge the collection's entries (see :meth:`forget`), so answers
drawn from a deleted document are removed, not merely unreachable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from uuid import UUID

from docrag.answering.events import Answerer, AnswerEvent, Finished, Started, Token, final
from docrag.cache import codec
from docrag.cache.tagged import TaggedCache
from docrag.domain import Answer
from docrag.instruments import cache_lookups
from docrag.settings import Settings
from docrag.store.protocol import CollectionStore

_log = logging.getLogger(__name__)

_MAX_SEEN = 10_000  # collections whose content version this process remembers


class CachingAnswerer:
    def __init__(
        self, inner: Answerer, cache: TaggedCache, store: CollectionStore, settings: Settings
    ) -> None:
        self.inner = inner
        self.cache = cache
        self._store = store
        self.fingerprint = hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]
        self.hits = 0
        self.misses = 0
        self._seen: dict[UUID, int] = {}  # collection -> content version last seen here

    @property
    def name(self) -> str:
        return self.inner.name

    def ask(self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str) -> Answer:
        return final(self.stream(tenant_id, collection_ids, question, incremental=False))

    def stream(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str, *, incremental: bool = True
    ) -> Iterator[AnswerEvent]:
        """A cached answer replayed as a stream (its sentences as tokens), else the inner
        answerer's stream, whose final answer is cached once it completes."""
        versions = self.content_versions(tenant_id, collection_ids)
        key = self.key(tenant_id, versions, question)
        cached = self._lookup(key)
        if cached is not None:
            self.hits += 1
            cache_lookups().labels(self.cache.backend, "hit").inc()
            yield Started(cached.passages)
            for i, sentence in enumerate(cached.sentences):
                yield Token(sentence.text if i == 0 else " " + sentence.text)
            if not cached.sentences:
                yield Token(cached.text)
            yield Finished(cached)
            return
        self.misses += 1
        cache_lookups().labels(self.cache.backend, "miss").inc()
        for event in self.inner.stream(tenant_id, collection_ids, question, incremental=incremental):
            if isinstance(event, Finished):
                self.cache.put(key, codec.dumps(event.answer), [str(c) for c in versions])
            yield event

    def _lookup(self, key: str) -> Answer | None:
        cached = self.cache.get(key)
        if cached is None:
            return None
        try:
            return codec.loads(Answer, cached)
        except ValueError as exc:  # written by another DocRAG version: recompute
            _log.info("ignoring an unreadable cached answer: %s", exc)
            return None

    def content_versions(self, tenant_id: UUID, collection_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Each collection's content version now (what a key holds), having dropped from this
        process's memory what a change made since it last looked left stale."""
        versions = self._store.content_versions(tenant_id, collection_ids)
        self.note_versions(versions)
        return versions

    def note_versions(self, versions: dict[UUID, int]) -> None:
        """A collection whose content moved since this process last saw it had an upload, a
        new version or a delete, perhaps through another process: its entries in this
        process's memory are stale (unreachable) and may hold deleted text, so drop them.
        (A shared Redis was purged by the process that made the change.)"""
        if self.cache.backend != "memory":
            return
        if len(self._seen) > _MAX_SEEN:
            self._seen.clear()
        for collection, version in versions.items():
            if self._seen.setdefault(collection, version) != version:
                self._seen[collection] = version
                self.cache.purge(str(collection))

    def forget(self, collection_id: UUID) -> int:
        """Drop every cached answer drawn from the collection (a document in it was deleted or
        replaced); :returns: how many were dropped."""
        return self.cache.purge(str(collection_id))

    def key(self, tenant_id: UUID, versions: dict[UUID, int], text: str, *extra: object) -> str:
        """The cache key of ``text`` (normalised) over these collection versions; ``extra`` tells
        apart other entries kept beside the answers (a search and its limit)."""
        scope = sorted((str(c), v) for c, v in versions.items())
        normalised = " ".join(text.split()).casefold()
        raw = json.dumps([self.fingerprint, str(tenant_id), scope, normalised, *extra])
        return hashlib.sha256(raw.encode()).hexdigest()
