"""Builds the configured embedder (with the models it serves beside it, model_set.py) and reranker
from settings.

``DOCRAG_EMBEDDER``: ``minilm`` (bundled, the default: int8 products but the down projections;
``minilm-int8-all``: every product in int8, ``minilm-fp32``: every one in float32, for new collections;
``minilm-int8``, an earlier name of the default; minilm_onnx.py), ``onnx:/dir``, ``st:/dir`` or ``openai``
(with ``DOCRAG_EMBEDDER_URL``, ``_MODEL``, ``_API_KEY``, optional ``_DIM``).
``DOCRAG_RERANKER``: ``none`` (the default), ``onnx:/dir``, ``tei`` or ``cohere`` (with
``DOCRAG_RERANKER_URL``, ``_MODEL``, ``_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from docrag.errors import Unavailable
from docrag.providers.model_set import ModelSet
from docrag.providers.protocol import Embedder, Reranker
from docrag.settings import Settings

if TYPE_CHECKING:
    from docrag.providers.minilm_onnx import Compute

_BUNDLED = ("minilm", "minilm-int8", "minilm-int8-all", "minilm-fp32")


def build_models(settings: Settings, wrap: Callable[[Embedder], Embedder] = lambda e: e) -> ModelSet:
    """The configured embedder for new collections, and the bundled model's other ways of
    computing for the collections they indexed (each built through ``wrap`` when first used)."""
    from docrag.providers.minilm_onnx import COMPUTES, MODEL_IDS, SETTING_FOR_MODEL  # refusals name these

    primary = wrap(build_embedder(settings))
    if settings.embedder not in _BUNDLED:
        return ModelSet(primary, settings_for=SETTING_FOR_MODEL)
    others = [c for c in COMPUTES if c != _compute(settings.embedder)]
    siblings = {MODEL_IDS[c]: _sibling(settings, c, wrap) for c in others}
    return ModelSet(primary, siblings, settings_for=SETTING_FOR_MODEL)


def _sibling(
    settings: Settings, compute: Compute, wrap: Callable[[Embedder], Embedder]
) -> Callable[[], Embedder]:
    return lambda: wrap(_minilm(settings, compute))


def _compute(setting: str) -> Compute:
    """How a bundled-model setting computes new collections' vectors."""
    if setting == "minilm-fp32":
        return "float32"
    return "int8-all" if setting == "minilm-int8-all" else "int8"


def _minilm(settings: Settings, compute: Compute) -> Embedder:
    from docrag.providers.minilm_onnx import MiniLMEmbedder

    return MiniLMEmbedder(
        batch_size=settings.embed_batch_size,
        threads=settings.embed_threads,
        query_threads=settings.query_threads,
        compute=compute,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The embedder new collections get (``build_models``'s primary, unwrapped)."""
    s = settings
    kind, _, path = s.embedder.partition(":")
    if kind in _BUNDLED:
        return _minilm(s, _compute(kind))
    if kind == "onnx":
        from docrag.providers.onnx_directory import OnnxDirectoryEmbedder

        return OnnxDirectoryEmbedder(
            path, batch_size=s.embed_batch_size, threads=s.embed_threads, query_threads=s.query_threads
        )
    if kind == "st":
        from docrag.providers.st_local import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(path, batch_size=s.embed_batch_size)
    from docrag.providers.openai_embeddings import OpenAIEmbedder

    if not s.embedder_url or not s.embedder_model:
        raise Unavailable("DOCRAG_EMBEDDER=openai needs DOCRAG_EMBEDDER_URL and DOCRAG_EMBEDDER_MODEL")
    return OpenAIEmbedder(
        s.embedder_url,
        s.embedder_model,
        api_key=s.embedder_api_key.get_secret_value() if s.embedder_api_key else None,
        dim=s.embedder_dim,
        batch_size=s.embed_batch_size,
        timeout=s.model_timeout_seconds,
        retries=s.model_retries,
        backoff=s.model_retry_backoff_seconds,
    )


def build_reranker(settings: Settings) -> Reranker | None:
    s = settings
    kind, _, path = s.reranker.partition(":")
    if kind == "none":
        return None
    if kind == "onnx":
        from docrag.providers.rerankers import OnnxCrossEncoder

        return OnnxCrossEncoder(path, threads=s.embed_threads)
    from docrag.providers.rerankers import HttpReranker

    if not s.reranker_url:
        raise Unavailable(f"DOCRAG_RERANKER={kind} needs DOCRAG_RERANKER_URL")
    return HttpReranker(
        s.reranker_url,
        flavor="tei" if kind == "tei" else "cohere",
        model=s.reranker_model,
        api_key=s.reranker_api_key.get_secret_value() if s.reranker_api_key else None,
        timeout=s.model_timeout_seconds,
        retries=s.model_retries,
        backoff=s.model_retry_backoff_seconds,
    )
