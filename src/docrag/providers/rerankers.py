"""Rerankers: a cross-encoder scores (query, passage) pairs jointly, which a bi-encoder's
vectors can't. Two providers behind :class:`~docrag.providers.protocol.Reranker`:

* :class:`HttpReranker`: a ``/rerank`` endpoint, in Hugging Face TEI's format
  (``POST {base}/rerank {"query", "texts"}`` → ``[{"index", "score"}]``) or Cohere's
  (``POST {base}/v1/rerank {"model", "query", "documents", "top_n"}`` →
  ``{"results": [{"index", "relevance_score"}]}``; Jina, vLLM and LiteLLM speak it too).
* :class:`OnnxCrossEncoder`: a cross-encoder ONNX export in a local directory
  (``model.onnx`` + ``tokenizer.json``): logits ``[batch, 1]`` (sigmoid) or ``[batch, 2]``
  (softmax, the second class).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from docrag.errors import Unavailable
from docrag.providers.http import JsonClient
from docrag.providers.onnx_directory import directory_tokenizer, model_digest
from docrag.providers.onnx_local import LoadedModel, inspect_session, open_session, run_encoder

if TYPE_CHECKING:
    from tokenizers import Tokenizer

Flavor = Literal["tei", "cohere"]


class HttpReranker:
    def __init__(
        self,
        base_url: str,
        *,
        flavor: Flavor = "tei",
        model: str | None = None,
        api_key: str | None = None,
        batch_size: int = 32,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        if flavor == "cohere" and not model:
            raise Unavailable("a Cohere-format reranker needs a model name (DOCRAG_RERANKER_MODEL)")
        self.flavor = flavor
        self.model = model
        self._batch_size = batch_size
        self._client = JsonClient(
            base_url,
            api_key=api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            what="rerank server",
        )

    @property
    def model_id(self) -> str:
        return f"{self.flavor}:{self.model or self._client.base_url}"

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        scores: list[float] = []
        for begin in range(0, len(passages), self._batch_size):
            scores.extend(self._request(query, list(passages[begin : begin + self._batch_size])))
        return scores

    def _request(self, query: str, texts: list[str]) -> list[float]:
        if self.flavor == "tei":
            answer = self._client.post("/rerank", {"query": query, "texts": texts, "truncate": True})
            rows, key = answer, "score"
        else:
            payload = {"model": self.model, "query": query, "documents": texts, "top_n": len(texts)}
            answer = self._client.post("/v1/rerank", payload)
            rows, key = answer.get("results") if isinstance(answer, dict) else None, "relevance_score"
        try:
            by_index = {int(r["index"]): float(r[key]) for r in rows}
        except (KeyError, TypeError, ValueError) as exc:
            raise Unavailable(f"rerank server answered in an unknown format: {exc!r}") from exc
        if sorted(by_index) != list(range(len(texts))):
            raise Unavailable(f"rerank server scored {len(by_index)} of {len(texts)} passages")
        return [by_index[i] for i in range(len(texts))]

    def close(self) -> None:
        self._client.close()


class OnnxCrossEncoder:
    """A cross-encoder in a local directory; model id ``onnx-ce:<name>@<sha256, 12 digits>``."""

    def __init__(
        self, path: Path | str, *, batch_size: int = 16, threads: int = 0, max_tokens: int | None = None
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self._file = self.path / "model.onnx"
        if not self._file.is_file():
            raise Unavailable(f"reranker model directory {self.path} has no model.onnx")
        self._batch_size = batch_size
        self._threads = threads
        self._max_tokens = max_tokens
        self._model_id = f"onnx-ce:{self.path.name}@{model_digest(self._file)}"
        self._loaded: tuple[LoadedModel, Tokenizer] | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    def _load(self) -> tuple[LoadedModel, Tokenizer]:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    session = open_session(self._file, threads=self._threads)
                    tokenizer = directory_tokenizer(self.path, max_tokens=self._max_tokens)
                    self._loaded = (inspect_session(session, ("logits", "scores")), tokenizer)
        return self._loaded

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        model, tokenizer = self._load()
        encodings = tokenizer.encode_batch([(query, p) for p in passages])
        scores: list[float] = [0.0] * len(passages)
        order = sorted(range(len(passages)), key=lambda i: len(encodings[i].ids))
        for begin in range(0, len(order), self._batch_size):
            batch = order[begin : begin + self._batch_size]
            logits, _ = run_encoder(model, [encodings[i] for i in batch])
            for row, index in enumerate(batch):
                scores[index] = _relevance(np.asarray(logits[row], dtype=np.float64))
        return scores


def _relevance(logits: Any) -> float:
    """Sigmoid of one logit, or the softmax probability of the second of two classes."""
    flat = logits.reshape(-1)
    if flat.size == 1:
        return float(1.0 / (1.0 + np.exp(-flat[0])))
    if flat.size == 2:
        shifted = np.exp(flat - flat.max())
        return float(shifted[1] / shifted.sum())
    raise Unavailable(f"the cross-encoder returned {flat.size} logits per pair; 1 or 2 expected")
