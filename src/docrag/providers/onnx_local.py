"""Transformer encoders exported to ONNX, run on ONNX Runtime (no torch).

:class:`OnnxEmbedder` is the shared core: tokenize, run the model feeding only the inputs it
declares, pool. The bundled MiniLM (``minilm_onnx.py``) and :class:`OnnxDirectoryEmbedder`
(any sentence-transformers style export in a local directory) are thin subclasses.

Token-level outputs (``last_hidden_state``, ``token_embeddings``: ``[batch, tokens, dim]``) are
pooled here, mean or CLS, as the directory's ``1_Pooling/config.json`` says; sub-span vectors
("late chunking") pool only the tokens inside each span from the same forward pass. A model
whose only output is already a sentence vector (``[batch, dim]``) can't give span vectors
that way, so its spans are embedded as texts of their own.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from docrag.errors import Unavailable
from docrag.providers.protocol import PassageEmbedding, Vectors, embed_spans_as_texts, unit

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

Pooling = Literal["mean", "cls"]

#: Inputs an encoder export may declare; anything else can't be fed and is refused at load.
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
_TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")
_POOLED_OUTPUTS = ("sentence_embedding", "pooler_output", "embeddings")
_DEFAULT_MAX_TOKENS = 512
#: Batching: a batch holds at most ``batch_size`` times this many padded tokens, and at most
#: _MAX_BATCH texts.
_FULL_PASSAGE_TOKENS = 256
_MAX_BATCH = 128
#: ...and no text in it is padded by more than this share of its own length (plus a few tokens):
#: padding costs as much as real tokens. A document's long chunk and its short tail chunk go to
#: the model apart, not the tail padded to the long one's length (18% of the model's work on
#: SciFact abstracts, embedded one document at a time).
_PAD_SLACK = 0.25
_PAD_SLACK_TOKENS = 16
#: A call with at most this many padded tokens (a query, a few batched queries) runs on the
#: query session (``query_threads``, 1 by default). Split across sleeping pool threads, such a
#: call spends about as much waking them for each of the graph's few hundred small operators as
#: they save, and more CPU: a lone 16-token query cost 7.4-8.2 ms of CPU on one thread against
#: 9.5-10.3 on two. Concurrent queries still use every core, each on its request's own thread.
#: bench/scale.py at 100k chunks, one client, on a quiet machine: ask p95 34-36 ms with this
#: session (and the store's fewer statements, which landed with it), 42-47 ms before both, and
#: 45-48 ms with two threads spinning within each call (``query_threads=2``).
_SMALL_CALL_TOKENS = 512


@dataclass(frozen=True, slots=True)
class LoadedModel:
    session: Any  # onnxruntime.InferenceSession
    inputs: dict[str, Any]  # declared input name -> numpy integer dtype
    output: str
    output_shape: list[Any]


def open_session(model_file: Path | str, *, threads: int = 0, spin_in_call: bool = False) -> Any:
    """An ONNX Runtime CPU session for ``model_file``; :raises Unavailable: when it can't load.
    ``spin_in_call``: the threads spin while a call runs and stop when it ends."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - an install problem, reported at readiness
        raise Unavailable(f"onnxruntime is not installed: {exc}") from exc
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ONNX Runtime's intra-op threads spin (busy-wait) for work after every call by default. A
    # server calls the model once per query, so they spun between calls, on the cores PostgreSQL
    # and the request threads need: half the CPU of an uncached search went to spinning
    # (bench/load/stages.py: 67 -> 33 ms per search at 100k chunks). Idle threads now sleep.
    # With spin_in_call, they spin between the operators of one call (waking a sleeping thread
    # for each of a small call's few hundred operators costs more than the operator) and stop
    # at its end (session.force_spinning_stop).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_in_call else "0")
    options.add_session_config_entry("session.force_spinning_stop", "1" if spin_in_call else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise Unavailable(f"can't load ONNX model {model_file}: {exc}") from exc


def inspect_session(session: Any, preferred: Sequence[str]) -> LoadedModel:
    """The inputs to feed (refusing unknown ones) and the output to read: the first of
    ``preferred`` the model has, else its first output."""
    inputs: dict[str, Any] = {}
    for spec in session.get_inputs():
        if spec.name not in KNOWN_INPUTS:
            raise Unavailable(f"the ONNX model needs an input DocRAG can't provide: {spec.name!r}")
        inputs[spec.name] = np.int32 if spec.type == "tensor(int32)" else np.int64
    if "input_ids" not in inputs:
        raise Unavailable("the ONNX model has no 'input_ids' input")
    outputs = {spec.name: list(spec.shape or []) for spec in session.get_outputs()}
    name = next((n for n in preferred if n in outputs), next(iter(outputs)))
    return LoadedModel(session, inputs, name, outputs[name])


def padded_tokens(encodings: Sequence[Encoding]) -> int:
    """The tokens a forward pass over ``encodings`` computes, padding included."""
    return len(encodings) * max(len(e.ids) for e in encodings)


def run_encoder(model: LoadedModel, encodings: Sequence[Encoding]) -> tuple[Any, Any]:
    """One forward pass over padded ``encodings``: (the chosen output, the attention mask)."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
        mask[row, : len(enc.ids)] = 1
        types[row, : len(enc.ids)] = enc.type_ids
    available = {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": types,
        "position_ids": np.broadcast_to(np.arange(width, dtype=np.int64), ids.shape),
    }
    feeds = {name: available[name].astype(dtype) for name, dtype in model.inputs.items()}
    (output,) = model.session.run([model.output], feeds)
    return output, mask


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


class OnnxEmbedder:
    """The shared ONNX embedder: subclasses say where the model and tokenizer come from."""

    def __init__(
        self, *, batch_size: int = 32, threads: int = 0, query_threads: int = 1, pooling: Pooling = "mean"
    ) -> None:
        self._batch_size = batch_size
        self._threads = threads
        self._query_threads = query_threads
        self._pooling: Pooling = pooling
        self._model: LoadedModel | None = None
        self._single: LoadedModel | None = None  # the single-threaded session for small calls
        self._lock = threading.Lock()

    # -- what subclasses provide -----------------------------------------------------------

    @property
    def model_id(self) -> str:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def _model_file(self) -> Path | str:
        raise NotImplementedError

    def _tokenizer(self) -> Tokenizer:
        raise NotImplementedError

    # -- the shared work -------------------------------------------------------------------

    def _loaded(self) -> LoadedModel:
        """The threaded session (large calls: ingestion's batches), opened on first use."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._open(self._threads)
        return self._model

    def _single_threaded(self) -> LoadedModel:
        """The session for small calls (queries), opened on first use: ``query_threads``
        threads (1: the caller's own), spinning within a call when there are several."""
        if self._single is None:
            with self._lock:
                if self._single is None:
                    self._single = self._open(self._query_threads, spin_in_call=self._query_threads != 1)
        return self._single

    def _open(self, threads: int, *, spin_in_call: bool = False) -> LoadedModel:
        session = open_session(self._model_file(), threads=threads, spin_in_call=spin_in_call)
        return inspect_session(session, (*_TOKEN_OUTPUTS, *_POOLED_OUTPUTS))

    def _for(self, encodings: Sequence[Encoding]) -> LoadedModel:
        """The session for a call over ``encodings``: the query session when the call is small. A
        process that only answers queries never opens the threaded one (each holds its own
        ~100 MB copy of the weights)."""
        if padded_tokens(encodings) > _SMALL_CALL_TOKENS:
            return self._loaded()
        return self._single_threaded()

    def _described(self) -> LoadedModel:
        """Either session, for what they both describe (the outputs and their shape)."""
        return self._model or self._single_threaded()

    def _token_level(self) -> bool:
        return len(self._described().output_shape) == 3

    def warm_up(self) -> None:
        """Load the model now (readiness checks call this) and run it once, as a query."""
        self.embed_batch(["warm up"])

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not self._token_level():
            return self._pooled(list(texts))
        return np.stack([p.vector for p in self.embed_passages(texts, [()] * len(texts))])

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[PassageEmbedding]:
        if not self._token_level():
            return embed_spans_as_texts(self._pooled, texts, spans)
        encodings = self._tokenizer().encode_batch(list(texts))
        results: list[PassageEmbedding | None] = [None] * len(texts)
        for batch in self._batches(encodings):
            chosen = [encodings[i] for i in batch]
            hidden, mask = run_encoder(self._for(chosen), chosen)
            for row, index in enumerate(batch):
                results[index] = _pool(hidden[row], mask[row], encodings[index], spans[index], self._pooling)
        return [r for r in results if r is not None]

    def _pooled(self, texts: list[str]) -> Vectors:
        """Rows of a model whose output is already one vector per text."""
        encodings = self._tokenizer().encode_batch(texts)
        out: list[Vectors] = [np.zeros(0, dtype=np.float32)] * len(texts)
        for batch in self._batches(encodings, by_tokens=False):
            chosen = [encodings[i] for i in batch]
            vectors, _ = run_encoder(self._for(chosen), chosen)
            for row, index in enumerate(batch):
                out[index] = np.asarray(vectors[row], dtype=np.float32)
        return unit(np.stack(out))

    def _batches(self, encodings: Sequence[Encoding], *, by_tokens: bool = True) -> list[list[int]]:
        """Batches of similar length (padding is wasted compute) holding at most as many padded
        tokens as ``batch_size`` full-length passages: short texts (sentences) go many at a
        time, so each model call does a useful amount of work. ``by_tokens=False``: at most
        ``batch_size`` texts (a model pooling inside its graph may not mask the padding)."""
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        if not by_tokens:
            size = self._batch_size
            return [order[begin : begin + size] for begin in range(0, len(order), size)]
        budget = self._batch_size * _FULL_PASSAGE_TOKENS
        batches: list[list[int]] = []
        current: list[int] = []
        shortest = 0
        for i in order:
            width = len(encodings[i].ids)  # the longest so far: the list is sorted
            if current and (
                (len(current) + 1) * width > budget
                or len(current) >= _MAX_BATCH
                or width > shortest * (1 + _PAD_SLACK) + _PAD_SLACK_TOKENS
            ):
                batches.append(current)
                current = []
            if not current:
                shortest = width
            current.append(i)
        if current:
            batches.append(current)
        return batches


def _pool(
    hidden: Any, mask: Any, encoding: Encoding, spans: Sequence[tuple[int, int]], pooling: Pooling
) -> PassageEmbedding:
    valid = mask.astype(bool)
    vector = unit(hidden[0] if pooling == "cls" else hidden[valid].mean(axis=0))
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
    return PassageEmbedding(vector, unit(np.stack(rows)))


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
