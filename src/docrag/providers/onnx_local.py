"""Transformer encoders exported to ONNX, run on ONNX Runtime (no torch).

:class:`OnnxEmbedder` is the shared core: tokenize, run the model feeding only the inputs it
declares, pool. The bundled MiniLM (``minilm_onnx.py``) and :class:`OnnxDirectoryEmbedder`
(any sentence-transformers style export in a local directory, ``onnx_directory.py``) are thin
subclasses.

Token-level outputs (``last_hidden_state``, ``token_embeddings``: ``[batch, tokens, dim]``) are
pooled here, mean or CLS, as the directory's ``1_Pooling/config.json`` says; sub-span vectors
("late chunking") pool only the tokens inside each span from the same forward pass. A model
whose only output is already a sentence vector (``[batch, dim]``) can't give span vectors
that way, so its spans are embedded as texts of their own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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


#: ONNX Runtime fusions left out because the fused operator is slower than what it replaces.
#: ``SkipLayerNormFusion``: ``SkipLayerNormalization`` (residual add + bias + layer norm in one
#: operator) took 18% of the int8 MiniLM's kernel time, 54 ms per node over 150 abstracts
#: against 7 ms for a plain ``LayerNormalization`` over the same rows (ONNX Runtime 1.32, one
#: thread, Intel Xeon). Unfused, the model costs 10% (float32) to 18% (int8) less CPU; the
#: float32 outputs are the same within float rounding (4.5e-7), the int8 ones as close to
#: float32's as before (mean cosine 0.9981 either way: rounding lands some activations on the
#: other side of an int8 step).
_SLOWER_FUSIONS = ["SkipLayerNormFusion"]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    session: Any  # onnxruntime.InferenceSession
    inputs: dict[str, Any]  # declared input name -> numpy integer dtype
    output: str
    output_shape: list[Any]


def open_session(
    model: Path | str | bytes,
    *,
    threads: int = 0,
    spin_in_call: bool = False,
    optimized_to: Path | None = None,
) -> Any:
    """An ONNX Runtime CPU session for ``model`` (a file, or a serialized model);
    :raises Unavailable: when it can't load. ``spin_in_call``: the threads spin while a call runs
    and stop when it ends. ``optimized_to``: also write the graph as ONNX Runtime optimized it
    there (to see what runs)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - an install problem, reported at readiness
        raise Unavailable(f"onnxruntime is not installed: {exc}") from exc
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_to is not None:
        options.optimized_model_filepath = str(optimized_to)
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
        source = model if isinstance(model, bytes) else str(model)
        return ort.InferenceSession(
            source, options, providers=["CPUExecutionProvider"], disabled_optimizers=_SLOWER_FUSIONS
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        what = "(rewritten in memory)" if isinstance(model, bytes) else model
        raise Unavailable(f"can't load ONNX model {what}: {exc}") from exc


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
    return len(encodings) * max((len(e.ids) for e in encodings), default=0)


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


class OnnxEmbedder:
    """The shared ONNX embedder: subclasses say where the model and tokenizer come from."""

    def __init__(
        self,
        *,
        batch_size: int = 32,
        threads: int = 0,
        query_threads: int = 1,
        pooling: Pooling = "mean",
        text_per_call: bool = False,
    ) -> None:
        self._batch_size = batch_size
        #: Each text goes to the model alone: a model that quantizes its activations with one
        #: range per call (onnx_rewrite.int8_matmuls) would otherwise give a text a vector that
        #: depends on the texts batched with it. Alone, a vector is a function of its text only,
        #: and costs no more: no padding, and the products of one text of 30-250 tokens are
        #: already large enough (256 SciFact abstracts on one thread, int8: 10.8-10.9 CPU s one
        #: at a time, 11.8-12.0 s in padded batches of 8; 574 of their sentences: 3.4-3.5 s and
        #: 3.6 s).
        self._text_per_call = text_per_call
        self._threads = threads
        self._query_threads = query_threads
        self._pooling: Pooling = pooling
        self._model: LoadedModel | None = None
        self._single: LoadedModel | None = None  # the single-threaded session for small calls
        self._executor: ThreadPoolExecutor | None = None  # texts run side by side (text_per_call)
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

    def _model_source(self) -> Path | str | bytes:
        """What a session loads: the model file, or a rewrite of it (onnx_rewrite.py)."""
        return self._model_file()

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
        session = open_session(self._model_source(), threads=threads, spin_in_call=spin_in_call)
        return inspect_session(session, (*_TOKEN_OUTPUTS, *_POOLED_OUTPUTS))

    def _for(self, encodings: Sequence[Encoding]) -> LoadedModel:
        """The session for a call over all of ``encodings`` (whatever its batches): the query
        session when the call is small. A process that only answers queries never opens the
        threaded one (each holds its own ~100 MB copy of the weights)."""
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
        for batch, (hidden, mask) in self._run(encodings, self._batches(encodings)):
            for row, index in enumerate(batch):
                results[index] = _pool(hidden[row], mask[row], encodings[index], spans[index], self._pooling)
        return [r for r in results if r is not None]

    def _pooled(self, texts: list[str]) -> Vectors:
        """Rows of a model whose output is already one vector per text."""
        encodings = self._tokenizer().encode_batch(texts)
        out: list[Vectors] = [np.zeros(0, dtype=np.float32)] * len(texts)
        for batch, (vectors, _) in self._run(encodings, self._batches(encodings, by_tokens=False)):
            for row, index in enumerate(batch):
                out[index] = np.asarray(vectors[row], dtype=np.float32)
        return unit(np.stack(out))

    def _run(
        self, encodings: Sequence[Encoding], batches: list[list[int]]
    ) -> Iterator[tuple[list[int], Any]]:
        """Each batch with its forward pass's (output, mask). A large call of texts that each go
        alone (``text_per_call``) runs them concurrently on the single-threaded session, as
        many at a time as the threaded session has threads: one text's operators are too small
        to split across threads that sleep between them (256 SciFact abstracts, int8, on 2
        quiet cores: 6.8-7.3 s wall and 12.4-13.2 CPU s split across the threaded session's
        threads, 5.8 s and 11.5 CPU s side by side; float32 in padded batches of 8, as before
        the int8 products: 10.6 s and 20.9 CPU s)."""
        if self._text_per_call and len(batches) > 1 and padded_tokens(encodings) > _SMALL_CALL_TOKENS:
            one = self._single_threaded()
            passes = self._side_by_side().map(lambda b: run_encoder(one, [encodings[i] for i in b]), batches)
            yield from zip(batches, passes, strict=True)
            return
        model = self._for(encodings)
        for batch in batches:
            yield batch, run_encoder(model, [encodings[i] for i in batch])

    def _side_by_side(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    workers = self._threads or len(os.sched_getaffinity(0))
                    self._executor = ThreadPoolExecutor(
                        max_workers=workers, thread_name_prefix="docrag-embed"
                    )
        return self._executor

    def _batches(self, encodings: Sequence[Encoding], *, by_tokens: bool = True) -> list[list[int]]:
        """Batches of similar length (padding is wasted compute) holding at most as many padded
        tokens as ``batch_size`` full-length passages: short texts (sentences) go many at a
        time, so each model call does a useful amount of work. ``by_tokens=False``: at most
        ``batch_size`` texts (a model pooling inside its graph may not mask the padding)."""
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        if self._text_per_call:
            return [[i] for i in order]
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
