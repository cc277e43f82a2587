"""A sentence-transformers model from a local directory (an optional extra: it needs torch).

``pip install 'docrag[st]'`` (or ``pip install sentence-transformers``) installs it; DocRAG
itself never imports torch. Span vectors embed each span's text on its own (sentence-
transformers' token outputs carry no character offsets), as the HTTP providers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docrag.errors import Unavailable
from docrag.providers.onnx_directory import model_digest
from docrag.providers.protocol import PassageEmbedding, Vectors, embed_spans_as_texts, unit

INSTALL_HINT = "pip install sentence-transformers (or pip install 'docrag[st]')"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


class SentenceTransformerEmbedder:
    def __init__(self, path: Path | str, *, batch_size: int = 32) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise Unavailable(f"embedding model directory {self.path} does not exist")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise Unavailable(f"sentence-transformers is not installed: {INSTALL_HINT}") from exc
        self._model: Any = SentenceTransformer(str(self.path), device="cpu")
        self._batch_size = batch_size
        weights = next((self.path / w for w in _WEIGHTS if (self.path / w).is_file()), None)
        suffix = f"@{model_digest(weights)}" if weights is not None else ""
        self._model_id = f"st:{self.path.name}{suffix}"
        dim = self._model.get_sentence_embedding_dimension()
        self._dim = int(dim) if dim else int(self.embed_batch(["dimension probe"]).shape[1])

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def warm_up(self) -> None:
        self.embed_batch(["warm up"])

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return unit(np.asarray(vectors, dtype=np.float32))

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[PassageEmbedding]:
        return embed_spans_as_texts(self.embed_batch, texts, spans)
