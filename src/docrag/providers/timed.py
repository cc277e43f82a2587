"""Model calls timed into ``docrag_model_call_duration_seconds{kind, model, operation}``.

The composition root wraps each configured model once (``timed_embedder`` and friends); every
other attribute (``close``, a provider's own extras) passes through to the wrapped model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from docrag.instruments import model_errors, model_seconds
from docrag.providers.generation import Generator, Message, TextStream
from docrag.providers.protocol import Embedder, PassageEmbedding, Reranker, Vectors

T = TypeVar("T")


class _Timed:
    kind = "model"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        return str(self.inner.model_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _time(self, operation: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return call()
        except Exception:
            model_errors().labels(self.kind, self.model_id, operation).inc()
            raise
        finally:
            model_seconds().labels(self.kind, self.model_id, operation).observe(time.perf_counter() - started)


class TimedEmbedder(_Timed):
    kind = "embedder"

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        vectors: Vectors = self._time("embed_batch", lambda: self.inner.embed_batch(texts))
        return vectors

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[PassageEmbedding]:
        found: list[PassageEmbedding] = self._time(
            "embed_passages", lambda: self.inner.embed_passages(texts, spans)
        )
        return found


class TimedReranker(_Timed):
    kind = "reranker"

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        scores: list[float] = self._time("rerank", lambda: self.inner.rerank(query, passages))
        return scores


class TimedGenerator(_Timed):
    kind = "generator"

    def complete(self, messages: Sequence[Message]) -> str:
        text: str = self._time("complete", lambda: self.inner.complete(messages))
        return text

    def stream(self, messages: Sequence[Message]) -> TextStream:
        """Timed from the request to the last delta (or to an early close)."""
        started = time.perf_counter()
        opened: TextStream = self._time("stream_open", lambda: self.inner.stream(messages))
        done = False

        def finish() -> None:
            nonlocal done
            if not done:
                done = True
                elapsed = time.perf_counter() - started
                model_seconds().labels(self.kind, self.model_id, "stream").observe(elapsed)

        def deltas() -> Iterator[str]:
            try:
                yield from opened
            finally:
                finish()

        def close() -> None:
            finish()
            opened.close()

        return TextStream(deltas(), close)


def timed_embedder(model: Embedder) -> Embedder:
    return TimedEmbedder(model)


def timed_reranker(model: Reranker | None) -> Reranker | None:
    return None if model is None else TimedReranker(model)


def timed_generator(model: Generator | None) -> Generator | None:
    return None if model is None else TimedGenerator(model)
