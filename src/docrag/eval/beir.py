"""Retrieval evaluation on a BEIR-format set, through the real ingestion and search path.

Each corpus entry is uploaded as a Markdown document (its title as the top heading, so
chunks carry it as context); a query's document ranking is the order in which its chunks'
documents first appear. Prints nDCG@10, recall@100 and MRR@10 for the hybrid search and for
each leg alone, with ingestion and query timings.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np

from docrag.errors import InvalidRequest
from docrag.ingest.pipeline import Upload
from docrag.retrieval.hybrid import Retriever
from docrag.services import Runtime
from docrag.settings import Settings

CHUNK_DEPTH = 300  # chunks retrieved per query: enough for 100 distinct documents


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            qrels[parts[0]][parts[1]] = int(parts[2])
    return qrels


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def leg_variants(base: Settings) -> dict[str, Settings]:
    """The configured hybrid search and each of its legs alone."""
    return {
        "hybrid": base,
        "dense": base.model_copy(update={"fusion": "minmax", "fusion_dense_weight": 1.0}),
        "lexical": base.model_copy(update={"fusion": "minmax", "fusion_dense_weight": 0.0}),
    }


def ingest_corpus(
    rt: Runtime, corpus: Path, collection_name: str
) -> tuple[UUID, dict[UUID, list[str]], float]:
    collection = rt.collection(rt.default_tenant, collection_name, create=True)
    doc_ids: dict[UUID, list[str]] = defaultdict(list)
    batch: list[tuple[str, Upload]] = []
    started = time.perf_counter()

    def flush() -> None:
        results = rt.ingest_now.ingest_many(collection, [u for _, u in batch])
        for (corpus_id, _), result in zip(batch, results, strict=True):
            if result.document is not None:
                doc_ids[result.document.id].append(corpus_id)
        batch.clear()

    for entry in _jsonl(corpus):
        title = (entry.get("title") or "").strip()
        text = (entry.get("text") or "").strip()
        body = f"# {title}\n\n{text}\n" if title else f"{text}\n"
        batch.append((str(entry["_id"]), Upload(body.encode(), f"{entry['_id']}.md", title or None)))
        if len(batch) == 256:
            flush()
    if batch:
        flush()
    return collection.id, doc_ids, time.perf_counter() - started


def _ranking(
    retriever: Retriever, rt: Runtime, cid: UUID, query: str, docs: dict[UUID, list[str]]
) -> list[str]:
    hits = retriever.search(rt.default_tenant, [cid], query, limit=CHUNK_DEPTH)
    ranked: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        for corpus_id in docs.get(hit.document_id, []):
            if corpus_id not in seen:
                seen.add(corpus_id)
                ranked.append(corpus_id)
    return ranked


def run_beir(rt: Runtime, data: Path, *, split: str = "test", collection: str) -> dict[str, Any]:
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (data / name).is_file():
            raise InvalidRequest(f"{data} is not a BEIR folder: {name} is missing")
    cid, docs, ingest_s = ingest_corpus(rt, data / "corpus.jsonl", collection)
    qrels = load_qrels(data / "qrels" / f"{split}.tsv")
    queries = {str(q["_id"]): q["text"] for q in _jsonl(data / "queries.jsonl") if str(q["_id"]) in qrels}
    variants = leg_variants(rt.settings)
    report: dict[str, Any] = {
        "data": str(data),
        "split": split,
        "queries": len(queries),
        "documents": sum(len(v) for v in docs.values()),
        "chunks": rt.store.count_chunks(rt.default_tenant),
        "ingest_seconds": round(ingest_s, 1),
        "settings": {"fusion": rt.settings.fusion, "dense_weight": rt.settings.fusion_dense_weight},
    }
    for name, settings in variants.items():
        retriever = rt.retriever.variant(settings)
        ndcg, recall, mrr, latencies = [], [], [], []
        for qid, text in queries.items():
            t0 = time.perf_counter()
            ranked = _ranking(retriever, rt, cid, text, docs)
            latencies.append(time.perf_counter() - t0)
            ndcg.append(ndcg_at(ranked, qrels[qid], 10))
            recall.append(recall_at(ranked, qrels[qid], 100))
            mrr.append(mrr_at(ranked, qrels[qid], 10))
        report[name] = {
            "ndcg@10": round(float(np.mean(ndcg)), 4),
            "recall@100": round(float(np.mean(recall)), 4),
            "mrr@10": round(float(np.mean(mrr)), 4),
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
            "p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1),
        }
    return report
