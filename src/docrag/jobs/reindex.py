"""Re-index a collection with this process's embedding model, beside the served index.

Run it where the new model is configured (``DOCRAG_EMBEDDER=... docrag reindex NAME``). Searches
go on over the old vectors the whole time; when every chunk has a new vector (those written by
workers meanwhile included), one transaction switches the collection to the new model. It can
be interrupted and run again: it resumes where it stopped. See store/reindex.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from docrag.domain import Collection
from docrag.providers.protocol import Embedder
from docrag.settings import Settings
from docrag.store.protocol import CollectionReindex
from docrag.store.reindex import NewVectors


@dataclass(frozen=True, slots=True)
class ReindexReport:
    collection: str
    model: str
    embedded: int  # chunks embedded by this run


class Reindexer:
    def __init__(self, rows: CollectionReindex, embedder: Embedder, settings: Settings) -> None:
        self._sql = rows
        self._embedder = embedder
        self._batch = max(settings.embed_batch_size, 8)

    def run(
        self, collection: Collection, on_batch: Callable[[int, int], None] | None = None
    ) -> ReindexReport:
        """Embed every chunk with this model, then switch; ``on_batch(done, still_missing)``
        after each batch.

        :raises InvalidRequest: when the collection already uses this model.
        :raises Conflict: (reindex_in_progress) when it is being re-indexed to another model.
        """
        model = self._embedder.model_id
        self._sql.begin(collection, model, self._embedder.dim)
        self._sql.ensure_embedding_index(self._embedder.dim)
        done = 0
        while True:
            after = 0
            while batch := self._sql.pending(collection, after=after, limit=self._batch):
                embedded = self._embedder.embed_passages([c.content for c in batch], [c.spans for c in batch])
                vectors = [
                    NewVectors(
                        c.id,
                        np.asarray(e.vector, dtype=np.float32),
                        e.span_vectors.astype(np.float16).tobytes() if len(e.span_vectors) else None,
                    )
                    for c, e in zip(batch, embedded, strict=True)
                ]
                if not self._sql.write(collection, model, vectors):
                    break  # cancelled: switch() below says so
                done += len(batch)
                after = batch[-1].id
                if on_batch is not None:
                    on_batch(done, -1)
            missing = self._sql.switch(collection, model)
            if missing == 0:
                return ReindexReport(collection.name, model, done)
            if on_batch is not None:
                on_batch(done, missing)  # written by workers meanwhile: another pass

    def cancel(self, collection: Collection) -> None:
        self._sql.cancel(collection)
