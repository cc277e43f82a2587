"""Micro-batching of query embeddings across concurrent requests.

A model call has a fixed cost beside its per-text cost: for MiniLM on ONNX Runtime about 8 ms of
CPU for one short query, under 3 ms a query in batches of 8 (bench/load/stages.py). Searches
arriving together are each one query, so :class:`BatchingEmbedder` runs them together: the first
query starts a model call at once; queries that arrive while it runs wait for it to end and then
go in one call, up to ``max_batch``. Nothing waits for a batch to fill, so a lone query costs no
latency, and under load the batches grow by themselves. Each caller gets its own query's vector,
or the model's error.

Only single-text calls are batched (the query path); batches (ingestion) go straight through.
The model call runs in the first waiting query's context (``contextvars``), so its span and log
fields belong to that request's trace, as an unbatched call's would.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from docrag.providers.protocol import Embedder, PassageEmbedding, Vectors


@dataclass(slots=True)
class _Call:
    text: str
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    done: threading.Event = field(default_factory=threading.Event)
    vector: Vectors | None = None
    error: BaseException | None = None


class BatchingEmbedder:
    def __init__(self, inner: Embedder, *, max_batch: int = 16) -> None:
        self.inner = inner
        self._max_batch = max_batch
        self._queue: deque[_Call] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Model calls made for batched queries, and the queries they held (for tests and benches).
        self.calls = 0
        self.queries = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[PassageEmbedding]:
        return self.inner.embed_passages(texts, spans)

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        if len(texts) != 1 or self._max_batch <= 1:
            return self.inner.embed_batch(texts)
        call = _Call(texts[0])
        with self._ready:
            if self._closed:
                return self.inner.embed_batch(texts)
            self._queue.append(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="docrag-query-batcher", daemon=True)
                self._thread.start()
            self._ready.notify()
        call.done.wait()
        if call.error is not None:
            raise call.error
        assert call.vector is not None
        return np.asarray(call.vector)[None, :]

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return  # closed, and every caller answered
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
            try:
                texts = [call.text for call in batch]
                vectors = batch[0].context.run(self.inner.embed_batch, texts)
                self.calls += 1
                self.queries += len(batch)
                for call, vector in zip(batch, vectors, strict=True):
                    call.vector = vector
            except Exception as exc:  # the model's error is every caller's: each one raises it
                for call in batch:
                    call.error = exc
            finally:
                for call in batch:
                    call.done.set()

    def close(self) -> None:
        """Answer the queries in line, then stop the batching thread; later calls run unbatched."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(30)
