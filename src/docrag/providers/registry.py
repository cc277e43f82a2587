"""Builds the configured embedder and reranker from settings, and enforces the one rule that
ties a collection to a model: its vectors were all built by the model it records.

``DOCRAG_EMBEDDER``: ``minilm`` (bundled, the default; ``minilm-int8``: the same weights with
int8 products, minilm_onnx.py), ``onnx:/dir``, ``st:/dir`` or ``openai``
(with ``DOCRAG_EMBEDDER_URL``, ``_MODEL``, ``_API_KEY``, optional ``_DIM``).
``DOCRAG_RERANKER``: ``none`` (the default), ``onnx:/dir``, ``tei`` or ``cohere`` (with
``DOCRAG_RERANKER_URL``, ``_MODEL``, ``_API_KEY``).
"""

from __future__ import annotations

from docrag.errors import Conflict, Unavailable
from docrag.providers.protocol import Embedder, Reranker
from docrag.settings import Settings


def build_embedder(settings: Settings) -> Embedder:
    s = settings
    kind, _, path = s.embedder.partition(":")
    if kind in ("minilm", "minilm-int8"):
        from docrag.providers.minilm_onnx import MiniLMEmbedder

        return MiniLMEmbedder(
            batch_size=s.embed_batch_size,
            threads=s.embed_threads,
            query_threads=s.query_threads,
            compute="int8" if kind == "minilm-int8" else "float32",
        )
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


def check_model(embedder: Embedder, collection: str, model: str, dim: int) -> None:
    """:raises Conflict: (409 ``embedding_model_mismatch``) unless ``embedder`` is the model that
    built the collection's vectors: one collection never mixes models or dimensions."""
    if model != embedder.model_id or dim != embedder.dim:
        from docrag.providers.minilm_onnx import SETTING_FOR_MODEL

        setting = SETTING_FOR_MODEL.get(model)
        how = f"DOCRAG_EMBEDDER={setting}" if setting else "DOCRAG_EMBEDDER"
        raise Conflict(
            f"collection {collection} holds vectors of {model} ({dim} dimensions); this server embeds"
            f" with {embedder.model_id}: configure that model ({how}), re-embed the collection with"
            " this one (docrag reindex) or use another collection",
            code="embedding_model_mismatch",
        )


def close_model(model: object) -> None:
    """Release what a provider holds (an HTTP connection pool), if anything."""
    close = getattr(model, "close", None)
    if callable(close):
        close()
