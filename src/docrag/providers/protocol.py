"""The model protocols. Providers implement one primitive each; helpers come for free.

Embedders (:class:`Embedder`) and rerankers (:class:`Reranker`) are providers behind one
protocol each; ``docrag.providers.registry`` builds the configured ones from settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class PassageEmbedding:
    """A passage vector plus one vector per requested sub-span (e.g. per sentence)."""

    vector: Vectors  # shape (dim,), unit length
    span_vectors: Vectors  # shape (n_spans, dim), unit length rows


class Embedder(Protocol):
    @property
    def model_id(self) -> str:
        """Identifies the model that built a collection's vectors (recorded per collection)."""
        ...

    @property
    def dim(self) -> int:
        """The vectors' dimension (a provider may ask its model on first use)."""
        ...

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        """Unit-length vectors, one row per text.

        :raises docrag.errors.Unavailable: when the model can't run.
        """
        ...

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[PassageEmbedding]:
        """Passage vectors, and for each passage the vectors of its character ``spans``."""
        ...


class Reranker(Protocol):
    @property
    def model_id(self) -> str: ...

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, in the passages' order (higher is more relevant).

        :raises docrag.errors.Unavailable: when the model can't run.
        """
        ...


def embed_one(embedder: Embedder, text: str) -> Vectors:
    vector: Vectors = embedder.embed_batch([text])[0]
    return vector


def warm_up(model: Embedder) -> None:
    """Load the model (or reach its server) and run it once: readiness checks call this."""
    model.embed_batch(["warm up"])


#: Text for :func:`warm_up_ingestion`: four passages of about 200 tokens make one call larger
#: than a query's, the size an upload's chunks are embedded in.
_PASSAGE = " ".join(["the tide rises twice a day along the coast"] * 22)


def warm_up_ingestion(model: Embedder) -> None:
    """Load and run what ingestion uses, before the first job: the query path (:func:`warm_up`)
    and, with a call as large as an upload's, whatever a provider opens only for large calls
    (the ONNX embedder's threaded session). Otherwise a fresh worker's first job pays for
    loading the model: 1-2 s of CPU for the bundled one."""
    warm_up(model)
    model.embed_passages([_PASSAGE] * 4, [[]] * 4)


def close_model(model: object) -> None:
    """Release what a provider holds (an HTTP connection pool, a thread pool), if anything."""
    close = getattr(model, "close", None)
    if callable(close):
        close()


def unit(vectors: Vectors) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    scaled: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return scaled


def embed_spans_as_texts(
    embed: Callable[[list[str]], Vectors],
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]],
) -> list[PassageEmbedding]:
    """Passage and span vectors for a model without token-level outputs (a server, a pooled
    export): each span's own text is embedded, in the same batched calls as the passages."""
    # An empty span (there should be none) would be refused by most servers: it gets the passage's vector.
    span_texts = [
        texts[i][start:end].strip() or texts[i] for i, passage in enumerate(spans) for start, end in passage
    ]
    vectors = embed([*texts, *span_texts]) if texts else np.zeros((0, 0), dtype=np.float32)
    out: list[PassageEmbedding] = []
    cursor = len(texts)
    for i in range(len(texts)):
        n = len(spans[i])
        rows = vectors[cursor : cursor + n]
        cursor += n
        out.append(PassageEmbedding(vectors[i], rows.reshape(n, vectors.shape[1])))
    return out
