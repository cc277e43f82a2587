"""DocRAG itself: the ingestion ``docrag eval retrieval`` runs and the configured hybrid search.

Each abstract goes through the real pipeline (Markdown upload, parse, chunking, passage and
sentence vectors, one PostgreSQL transaction per group of 32 documents, in
``IngestNow.ingest_many`` batches of 256) into a fresh embedded PostgreSQL; queries go through
``Retriever.search`` with the default settings (dense + BM25, min-max fusion, sentence-aware
dense scores, Rocchio feedback).
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from corpus import Doc, Slice

from docrag.eval.beir import ingest_corpus
from docrag.services import Runtime
from docrag.settings import Settings


class DocRAGSystem:
    name = "DocRAG"

    def __init__(self, workdir: Path, data: Slice) -> None:
        self._corpus = data.write_corpus(workdir / "corpus.jsonl")
        self._rt = Runtime.open(Settings(data_dir=workdir / "docrag-data"))
        self._collection: UUID | None = None
        self._docs: dict[UUID, list[str]] = {}

    def describe(self) -> str:
        s = self._rt.settings
        return (
            f"PostgreSQL+pgvector (embedded), {s.chunking} chunks <= {s.chunk_max_tokens} tokens, "
            f"{s.fusion} fusion (dense weight {s.fusion_dense_weight}), embed batch {s.embed_batch_size}"
        )

    def ingest(self, docs: list[Doc]) -> int:
        """Index the slice's corpus (``docs`` is the same list, written out at start); returns chunks."""
        self._collection, self._docs, _ = ingest_corpus(self._rt, self._corpus, "peers-bench")
        return self._rt.store.count_chunks(self._rt.default_tenant)

    def search(self, query: str, depth: int) -> list[str]:
        assert self._collection is not None, "ingest first"
        hits = self._rt.retriever.search(self._rt.default_tenant, [self._collection], query, limit=depth)
        ranked: list[str] = []
        for hit in hits:
            for corpus_id in self._docs.get(hit.document_id, []):
                if corpus_id not in ranked:
                    ranked.append(corpus_id)
        return ranked

    def close(self) -> None:
        self._rt.close()
