"""Haystack 2.x: an indexing and a hybrid query pipeline, written the way its documentation does.

Indexing: ``DocumentSplitter`` (word windows sized to fit MiniLM's 256-token input) → an embedder
component → ``DocumentWriter`` into the ``InMemoryDocumentStore`` (its BM25 statistics are kept as
documents are written). Query: the query's vector to ``InMemoryEmbeddingRetriever`` and its text
to ``InMemoryBM25Retriever``, the two lists joined by ``DocumentJoiner``.

The two embedder components are either (``--embedder native``) Haystack's stock
``SentenceTransformersDocumentEmbedder`` / ``SentenceTransformersTextEmbedder`` on the packaged
all-MiniLM-L6-v2 folder with their defaults (fp32 on torch, batches of 32): what a Haystack user
writes; or (``--embedder shared``) two components that call DocRAG's own embedder
(``build_embedder``: the int8 MiniLM on ONNX Runtime, DocRAG's batch size and threads), so the
model and its batching are DocRAG's and the comparison measures the pipelines alone.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from corpus import Doc

from docrag.providers.protocol import Embedder, embed_one

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network here, and none wanted

from haystack import Document, Pipeline, component
from haystack.components.embedders import (
    SentenceTransformersDocumentEmbedder,
    SentenceTransformersTextEmbedder,
)
from haystack.components.joiners import DocumentJoiner
from haystack.components.preprocessors import DocumentSplitter
from haystack.components.retrievers.in_memory import (
    InMemoryBM25Retriever,
    InMemoryEmbeddingRetriever,
)
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

#: Words per chunk, and overlap: 120 words of SciFact's scientific English are ~170 MiniLM tokens (1.3%
#: of chunks pass the 256 the model reads; at Haystack's default of 200 words, 49% would be cut off).
SPLIT_WORDS, SPLIT_OVERLAP = 120, 20
#: ``--fusion`` → DocumentJoiner's join mode.
JOIN_MODES = {
    "best": "reciprocal_rank_fusion",  # its better mode on SciFact (bench/peers/README.md)
    "rank": "reciprocal_rank_fusion",
    "score": "distribution_based_rank_fusion",
}


@component
class DocRAGDocumentEmbedder:
    """Sets each document's ``embedding`` with DocRAG's embedder, all documents in one call."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        vectors = self._embedder.embed_batch([d.content or "" for d in documents])
        return {
            "documents": [replace(d, embedding=v.tolist()) for d, v in zip(documents, vectors, strict=True)]
        }


@component
class DocRAGTextEmbedder:
    """The query's vector from DocRAG's embedder."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        return {"embedding": embed_one(self._embedder, text).tolist()}


def shared_embedders(embedder: Embedder) -> tuple[Any, Any, str]:
    """Document and text embedder components over DocRAG's embedder (already warmed up)."""
    return DocRAGDocumentEmbedder(embedder), DocRAGTextEmbedder(embedder), f"DocRAG's {embedder.model_id}"


def native_embedders(model_dir: Path) -> tuple[Any, Any, str]:
    """Haystack's own sentence-transformers components, defaults kept, model loaded and run once."""
    documents = SentenceTransformersDocumentEmbedder(model=str(model_dir), progress_bar=False)
    text = SentenceTransformersTextEmbedder(model=str(model_dir), progress_bar=False)
    for part in (documents, text):
        part.warm_up()  # loads the model (the two share one instance)
    documents.run(documents=[Document(content="warm up")])
    text.run(text="warm up")
    return documents, text, f"SentenceTransformers*Embedder (torch, batch {documents.batch_size})"


class HaystackSystem:
    name = "Haystack"

    def __init__(self, embedders: tuple[Any, Any, str], *, fusion: str, candidates: int, depth: int) -> None:
        document_embedder, text_embedder, self._embedder = embedders
        self._store = InMemoryDocumentStore(embedding_similarity_function="dot_product")  # unit vectors
        self._fusion = JOIN_MODES[fusion]
        self._candidates = candidates
        self.indexing = Pipeline()
        self.indexing.add_component(
            "splitter",
            DocumentSplitter(split_by="word", split_length=SPLIT_WORDS, split_overlap=SPLIT_OVERLAP),
        )
        self.indexing.add_component("embedder", document_embedder)
        self.indexing.add_component("writer", DocumentWriter(self._store))
        self.indexing.connect("splitter.documents", "embedder.documents")
        self.indexing.connect("embedder.documents", "writer.documents")
        self.query = Pipeline()
        self.query.add_component("text_embedder", text_embedder)
        self.query.add_component(
            "embedding_retriever", InMemoryEmbeddingRetriever(self._store, top_k=candidates)
        )
        self.query.add_component("bm25_retriever", InMemoryBM25Retriever(self._store, top_k=candidates))
        self.query.add_component("joiner", DocumentJoiner(join_mode=self._fusion, top_k=depth))
        self.query.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
        self.query.connect("embedding_retriever.documents", "joiner.documents")
        self.query.connect("bm25_retriever.documents", "joiner.documents")

    def describe(self) -> str:
        return (
            f"InMemoryDocumentStore (BM25L + exact dot product), {SPLIT_WORDS}-word chunks "
            f"(overlap {SPLIT_OVERLAP}), {self._candidates} per leg, DocumentJoiner {self._fusion}, "
            f"embedder {self._embedder}"
        )

    def ingest(self, docs: list[Doc]) -> int:
        documents = [Document(content=d.content, meta={"corpus_id": d.corpus_id}) for d in docs]
        # One run per 256 documents, as DocRAG's ingest_many batches: memory stays bounded.
        for start in range(0, len(documents), 256):
            self.indexing.run({"splitter": {"documents": documents[start : start + 256]}})
        return self._store.count_documents()

    def search(self, query: str, depth: int) -> list[str]:
        found = self.query.run({"text_embedder": {"text": query}, "bm25_retriever": {"query": query}})
        ranked: list[str] = []
        for doc in found["joiner"]["documents"][:depth]:
            corpus_id = doc.meta["corpus_id"]
            if corpus_id not in ranked:
                ranked.append(corpus_id)
        return ranked

    def close(self) -> None:
        pass
