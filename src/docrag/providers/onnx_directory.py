"""An ONNX embedder in a local directory: a sentence-transformers style export (model.onnx and
tokenizer.json) on the shared :class:`~docrag.providers.onnx_local.OnnxEmbedder`, and what reading
such a directory takes (its tokenizer, the model file's digest), which the ONNX reranker shares."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docrag.errors import Unavailable
from docrag.providers.onnx_local import OnnxEmbedder, Pooling

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_DEFAULT_MAX_TOKENS = 512


def directory_tokenizer(path: Path, *, max_tokens: int | None = None) -> Tokenizer:
    """``path/tokenizer.json`` with dynamic padding and truncation at the model's limit:
    ``max_tokens``, else ``sentence_bert_config.json``'s ``max_seq_length``, else the
    tokenizer's own truncation, else ``tokenizer_config.json``'s ``model_max_length``, else 512."""
    from tokenizers import Tokenizer

    file = path / "tokenizer.json"
    if not file.is_file():
        raise Unavailable(f"{path} has no tokenizer.json")
    tokenizer = Tokenizer.from_file(str(file))
    limit = max_tokens or _json(path / "sentence_bert_config.json").get("max_seq_length")
    if not limit and tokenizer.truncation:
        limit = tokenizer.truncation.get("max_length")
    if not limit:
        declared = _json(path / "tokenizer_config.json").get("model_max_length")
        limit = declared if isinstance(declared, int) and declared < 100_000 else _DEFAULT_MAX_TOKENS
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=int(limit))
    return tokenizer


def model_digest(file: Path) -> str:
    """The first 12 hex digits of the file's SHA-256: two directories holding the same model
    record the same id, a changed model a new one."""
    with file.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:12]


def _json(file: Path) -> dict[str, Any]:
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Unavailable(f"can't read {file}: {exc}") from exc
    return data if isinstance(data, dict) else {}


class OnnxDirectoryEmbedder(OnnxEmbedder):
    """A sentence-transformers style ONNX export in a local directory.

    Needs ``model.onnx`` (or ``onnx/model.onnx``) and ``tokenizer.json``; reads, when present,
    ``1_Pooling/config.json`` (mean or CLS pooling), ``sentence_bert_config.json``
    (``max_seq_length``) and ``config.json`` (``hidden_size``). The recorded model id is
    ``onnx:<directory name>@<sha256 of model.onnx, 12 digits>``.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        batch_size: int = 32,
        threads: int = 0,
        query_threads: int = 1,
        max_tokens: int | None = None,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self._file = next(
            (f for f in (self.path / "model.onnx", self.path / "onnx" / "model.onnx") if f.is_file()), None
        )
        if self._file is None:
            raise Unavailable(f"embedding model directory {self.path} has no model.onnx")
        super().__init__(
            batch_size=batch_size,
            threads=threads,
            query_threads=query_threads,
            pooling=_pooling_mode(self.path),
        )
        self._max_tokens = max_tokens
        self._model_id = f"onnx:{self.path.name}@{model_digest(self._file)}"
        self._tokenizer_cache: Tokenizer | None = None
        self._dim: int | None = None

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        if self._dim is None:
            declared = self._described().output_shape[-1:]
            if declared and isinstance(declared[0], int):
                self._dim = declared[0]
            else:  # a dynamic output dimension: ask the model
                self._dim = int(self.embed_batch(["dimension probe"]).shape[1])
        return self._dim

    def _model_file(self) -> Path:
        assert self._file is not None
        return self._file

    def _tokenizer(self) -> Tokenizer:
        if self._tokenizer_cache is None:
            self._tokenizer_cache = directory_tokenizer(self.path, max_tokens=self._max_tokens)
        return self._tokenizer_cache


def _pooling_mode(path: Path) -> Pooling:
    config = _json(path / "1_Pooling" / "config.json")
    if not config or config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    modes = [k for k, v in config.items() if k.startswith("pooling_mode") and v]
    raise Unavailable(f"{path}: pooling {modes} is not supported (mean and CLS are)")
