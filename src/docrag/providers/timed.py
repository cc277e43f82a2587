"""Model calls timed into ``docrag_model_call_duration_seconds{kind, model, operation}``, and
traced as spans named by the operation while tracing is on.

The composition root wraps each configured model once (``timed_embedder`` and friends); every
other attribute (``close``, a provider's own extras) passes through to the wrapped model. With
``metrics=False`` (DOCRAG_METRICS=false) only the spans remain.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from docrag import tracing
from docrag.instruments import model_errors, model_seconds
from docrag.providers.generation import Generator, Message, TextStream
from docrag.providers.protocol import Embedder, PassageEmbedding, Reranker, Vectors

T = TypeVar("T")


class _Timed:
    kind = "model"

    def __init__(self, inner: Any, *, metrics: bool = True) -> None:
        self.inner = inner
        self.metrics = metrics

    @property
    def model_id(self) -> str:
        return str(self.inner.model_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _time(self, operation: str, call: Callable[[], T], items: int = 1) -> T:
        """``call()`` timed and traced; ``items``: how many texts it handles (a span attribute)."""
        attributes: tracing.Attributes | None = (
            {"docrag.model.kind": self.kind, "docrag.model": self.model_id, "docrag.items": items}
            if tracing.enabled()
            else None
        )
        with tracing.span(operation, attributes):
            if not self.metrics:
                return call()
            started = time.perf_counter()
            try:
                return call()
            except Exception:
                model_errors().labels(self.kind, self.model_id, operation).inc()
                raise
            finally:
                elapsed = time.perf_counter() - started
                model_seconds().labels(self.kind, self.model_id, operation).observe(elapsed)


class TimedEmbedder(_Timed):
    kind = "embedder"

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        vectors: Vectors = self._time("embed_batch", lambda: self.inner.embed_batch(texts), len(texts))
        return vectors

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[PassageEmbedding]:
        found: list[PassageEmbedding] = self._time(
            "embed_passages", lambda: self.inner.embed_passages(texts, spans), len(texts)
        )
        return found


class TimedReranker(_Timed):
    kind = "reranker"

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        scores: list[float] = self._time("rerank", lambda: self.inner.rerank(query, passages), len(passages))
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
            if not done and self.metrics:
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


def timed_embedder(model: Embedder, *, metrics: bool = True) -> Embedder:
    return TimedEmbedder(model, metrics=metrics)


def timed_reranker(model: Reranker | None, *, metrics: bool = True) -> Reranker | None:
    return None if model is None else TimedReranker(model, metrics=metrics)


def timed_generator(model: Generator | None, *, metrics: bool = True) -> Generator | None:
    return None if model is None else TimedGenerator(model, metrics=metrics)
