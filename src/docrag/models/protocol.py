"""The embedder protocol. Providers implement one primitive; helpers come for free."""

from __future__ import annotations

from collections.abc import Sequence
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
    #: Identifies the model that built a collection's vectors.
    model_id: str
    dim: int

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


def embed_one(embedder: Embedder, text: str) -> Vectors:
    vector: Vectors = embedder.embed_batch([text])[0]
    return vector
