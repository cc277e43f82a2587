"""Embeddings from an OpenAI-compatible ``POST /v1/embeddings`` endpoint: OpenAI itself, and the
servers that speak its wire format (Hugging Face TEI, vLLM, Ollama, LiteLLM, ...).

Request ``{"model", "input": [texts]}``, answer ``{"data": [{"index", "embedding"}]}``; rows
are put back in input order by ``index`` and normalised to unit length here (not every server
does). The dimension is the configured one, or learnt from the first answer.

Span vectors: a server returns one vector per input, no token outputs, so "late chunking" is
impossible over HTTP. Each span's own text (a sentence) is embedded instead, in the same
batched requests as the passages: one passage with eight sentences costs nine inputs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from docrag.errors import Unavailable
from docrag.providers.http import JsonClient
from docrag.providers.protocol import PassageEmbedding, Vectors, embed_spans_as_texts, unit


class OpenAIEmbedder:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        dim: int | None = None,
        batch_size: int = 32,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.model = model
        self._dim = dim
        self._batch_size = batch_size
        self._client = JsonClient(
            base_url,
            api_key=api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            what="embedding server",
        )
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"openai:{self.model}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed_batch(["dimension probe"])  # the first answer sets it
        assert self._dim is not None
        return self._dim

    def warm_up(self) -> None:
        self.embed_batch(["warm up"])

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        rows = [
            self._request(list(texts[b : b + self._batch_size]))
            for b in range(0, len(texts), self._batch_size)
        ]
        return unit(np.concatenate(rows))

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[PassageEmbedding]:
        return embed_spans_as_texts(self.embed_batch, texts, spans)

    def _request(self, texts: list[str]) -> Vectors:
        answer = self._client.post("/v1/embeddings", {"model": self.model, "input": texts})
        try:
            data: list[dict[str, Any]] = sorted(answer["data"], key=lambda d: int(d["index"]))
            vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise Unavailable(f"embedding server answered in an unknown format: {exc!r}") from exc
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise Unavailable(f"embedding server returned {vectors.shape[0]} vectors for {len(texts)} texts")
        with self._lock:
            if self._dim is None:
                self._dim = int(vectors.shape[1])
        if vectors.shape[1] != self._dim:
            raise Unavailable(
                f"embedding server returned {vectors.shape[1]}-dimensional vectors; {self._dim} expected"
            )
        return vectors

    def close(self) -> None:
        self._client.close()
