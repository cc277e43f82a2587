"""LlamaIndex: a ``VectorStoreIndex`` in memory plus its BM25 retriever, fused by ``QueryFusionRetriever``.

Indexing: ``SentenceSplitter`` (chunks of at most 254 MiniLM word pieces, counted with MiniLM's own
tokenizer, so nothing is cut off at the model's 256) → ``VectorStoreIndex`` (its default
``SimpleVectorStore``: exact search in process memory), then ``BM25Retriever`` (bm25s, English
Snowball stemmer) built over the same nodes. Query: both retrievers, one query each (no LLM
query rewriting: ``num_queries=1``), fused.

The embedding model is either (``--embedder native``) LlamaIndex's stock ``HuggingFaceEmbedding``
(llama-index-embeddings-huggingface) on the packaged all-MiniLM-L6-v2 folder with its defaults
(sentence-transformers, fp32 on torch, batches of 10): what a LlamaIndex user writes; or
(``--embedder shared``) a ``BaseEmbedding`` that calls DocRAG's own embedder (the int8 MiniLM on
ONNX Runtime with DocRAG's batching), so the model is the same for every system and the comparison
measures the pipelines alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import Stemmer  # PyStemmer: a DocRAG dependency, and what LlamaIndex's BM25 docs use
from corpus import Doc
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.retrievers.bm25 import BM25Retriever
from pydantic import PrivateAttr

from docrag.providers.protocol import Embedder, embed_one
from docrag.text.tokenizer import load_tokenizer

CHUNK_TOKENS, CHUNK_OVERLAP = 254, 20  # 254 word pieces + [CLS] + [SEP] = MiniLM's 256
#: ``--fusion`` → QueryFusionRetriever's mode.
FUSION_MODES = {
    "best": "relative_score",  # its better mode on SciFact (bench/peers/README.md)
    "rank": "reciprocal_rerank",
    "score": "relative_score",
}


class DocRAGEmbedding(BaseEmbedding):
    """LlamaIndex's embedding interface over DocRAG's embedder."""

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder) -> None:
        # 256 texts a call, as DocRAG's ingest_many hands its embedder 256 documents' chunks;
        # DocRAG's class then batches them by its own token budget.
        super().__init__(model_name=embedder.model_id, embed_batch_size=256)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        vector: list[float] = embed_one(self._embedder, query).tolist()
        return vector

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_query_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self._embedder.embed_batch(texts).tolist()
        return vectors


def shared_embedding(embedder: Embedder) -> tuple[BaseEmbedding, str]:
    """LlamaIndex's interface over DocRAG's embedder (already warmed up)."""
    return DocRAGEmbedding(embedder), f"DocRAG's {embedder.model_id}"


def native_embedding(model_dir: Path) -> tuple[BaseEmbedding, str]:
    """LlamaIndex's own Hugging Face embedding, defaults kept, model loaded and run once."""
    model = HuggingFaceEmbedding(model_name=str(model_dir))
    model.get_text_embedding("warm up")
    return model, f"HuggingFaceEmbedding (torch, batch {model.embed_batch_size})"


def _word_pieces(text: str) -> list[int]:
    ids: list[int] = load_tokenizer().encode(text, add_special_tokens=False).ids
    return ids


class LlamaIndexSystem:
    name = "LlamaIndex"

    def __init__(
        self, embedding: tuple[BaseEmbedding, str], *, fusion: str, candidates: int, depth: int
    ) -> None:
        self._embed_model, self._embedder = embedding
        self._splitter = SentenceSplitter(
            chunk_size=CHUNK_TOKENS, chunk_overlap=CHUNK_OVERLAP, tokenizer=_word_pieces
        )
        self._mode = FUSION_MODES[fusion]
        self._candidates = candidates
        self._depth = depth
        self._retriever: QueryFusionRetriever | None = None

    def describe(self) -> str:
        return (
            f"VectorStoreIndex (SimpleVectorStore, in memory) + BM25Retriever (bm25s), "
            f"SentenceSplitter {CHUNK_TOKENS} tokens (overlap {CHUNK_OVERLAP}), {self._candidates} per leg, "
            f"QueryFusionRetriever {self._mode}, embedder {self._embedder}"
        )

    def ingest(self, docs: list[Doc]) -> int:
        documents = [
            Document(
                text=d.content,
                metadata={"corpus_id": d.corpus_id},
                # The id is bookkeeping, not text: kept out of what is embedded and split.
                excluded_embed_metadata_keys=["corpus_id"],
                excluded_llm_metadata_keys=["corpus_id"],
            )
            for d in docs
        ]
        nodes = self._splitter.get_nodes_from_documents(documents)
        index = VectorStoreIndex(nodes, embed_model=self._embed_model)
        bm25 = BM25Retriever.from_defaults(
            nodes=nodes,
            similarity_top_k=self._candidates,
            stemmer=Stemmer.Stemmer("english"),
            language="english",
        )
        self._retriever = QueryFusionRetriever(
            [index.as_retriever(similarity_top_k=self._candidates), bm25],
            llm=MockLLM(),
            mode=self._mode,  # type: ignore[arg-type]
            similarity_top_k=self._depth,
            num_queries=1,
            use_async=False,
            retriever_weights=[0.5, 0.5],
        )
        return len(nodes)

    def search(self, query: str, depth: int) -> list[str]:
        assert self._retriever is not None, "ingest first"
        ranked: list[str] = []
        for hit in self._retriever.retrieve(query)[:depth]:
            corpus_id = hit.node.metadata["corpus_id"]
            if corpus_id not in ranked:
                ranked.append(corpus_id)
        return ranked

    def close(self) -> None:
        pass
