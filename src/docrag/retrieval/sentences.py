"""One request's sentence vectors: read once, decoded once, scored against each query vector
(the first pass's and the feedback pass's).

Stored vectors are float16 bytes, one row per sentence. numpy's own float16 cast runs a scalar
loop: about 0.7 ms of CPU for one pass's 800 rows (100 candidates of 8 sentences, 384
dimensions), against 0.3 ms for ``np.take`` on a table of all 65536 float16 values, which holds
numpy's own cast of each, so every decoded value is bit for bit the cast's. Decoding each chunk
once per request instead of once per pass saves the feedback pass most of its decoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np

Floats = np.ndarray[Any, np.dtype[np.float32]]


@cache
def _table() -> Floats:
    return np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)


def decode(blob: bytes, dim: int) -> Floats:
    """float16 bytes as float32 rows of ``dim`` columns."""
    return np.take(_table(), np.frombuffer(blob, dtype=np.uint16).reshape(-1, dim))


class SentenceVectors:
    """The stored bytes by chunk id (None: the chunk has none) and their decoded rows."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.blobs: dict[int, bytes | None] = {}
        self._rows: dict[int, Floats] = {}
        #: The chunks' own vectors where a read brought them too (the feedback pass needs them).
        self.embeddings: dict[int, Floats] = {}

    def missing(self, chunk_ids: Sequence[int]) -> list[int]:
        """Those of ``chunk_ids`` not read yet."""
        return [chunk_id for chunk_id in chunk_ids if chunk_id not in self.blobs]

    def add(self, chunk_ids: Sequence[int], found: Mapping[int, bytes]) -> None:
        """Record what a read of ``chunk_ids`` found (chunks without vectors are left out of it)."""
        self.blobs.update({chunk_id: found.get(chunk_id) for chunk_id in chunk_ids})
        present = [(chunk_id, blob) for chunk_id in chunk_ids if (blob := found.get(chunk_id))]
        if not present:
            return
        # One decode for all of them; each chunk's rows are a view into it.
        decoded = decode(b"".join(blob for _, blob in present), self.dim)
        start = 0
        for chunk_id, blob in present:
            end = start + len(blob) // (2 * self.dim)
            self._rows[chunk_id] = decoded[start:end]
            start = end

    def best(self, chunk_ids: Sequence[int], vector: np.ndarray[Any, Any]) -> dict[int, float]:
        """Each chunk's best sentence similarity to ``vector``, for the chunks with vectors: every
        candidate's rows in one matrix product."""
        present = [
            (chunk_id, rows) for chunk_id in chunk_ids if (rows := self._rows.get(chunk_id)) is not None
        ]
        if not present:
            return {}
        matrix = np.concatenate([rows for _, rows in present])
        similarities = matrix @ np.asarray(vector, dtype=np.float32)
        starts = np.cumsum([0] + [len(rows) for _, rows in present[:-1]])
        best = np.maximum.reduceat(similarities, starts)
        return {chunk_id: float(b) for (chunk_id, _), b in zip(present, best, strict=True)}
