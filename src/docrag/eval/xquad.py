"""Chunking and answer evaluation on a SQuAD-format set (XQuAD English), through the real path.

Each article is uploaded as one plain-text document whose paragraphs run together (one
block, no paragraph breaks), so the chunker must find the topic boundaries on its own.
The gold answer's position in the parsed text is known, so a retrieved chunk "hits" when
its span contains the whole gold answer span.
"""

from __future__ import annotations

import json
import re
import string
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np

from docrag.errors import InvalidRequest
from docrag.eval.beir import leg_variants
from docrag.ingest.pipeline import Upload
from docrag.retrieval.hybrid import Retriever
from docrag.services import Runtime


@dataclass(frozen=True, slots=True)
class Question:
    article: int
    question: str
    answers: tuple[str, ...]
    start: int  # gold span of the first answer, in the article's joined text
    end: int


def _squash(text: str) -> str:
    return " ".join(text.split())


def load_squad(path: Path) -> tuple[list[tuple[str, str]], list[Question]]:
    """(title, joined text) per article and every question with its gold span in that text."""
    if not path.is_file():
        raise InvalidRequest(f"{path} is not a SQuAD-format JSON file")
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    articles: list[tuple[str, str]] = []
    questions: list[Question] = []
    for a, article in enumerate(data):
        parts: list[str] = []
        offset = 0
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            squashed = _squash(context)
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                before = context[: answer["answer_start"]]
                lead = len(_squash(before)) + (1 if before[-1:].isspace() and before.strip() else 0)
                start = offset + lead
                end = start + len(_squash(answer["text"]))
                questions.append(
                    Question(a, qa["question"], tuple(x["text"] for x in qa["answers"]), start, end)
                )
            parts.append(squashed)
            offset += len(squashed) + 1
        articles.append((article.get("title") or f"article {a}", " ".join(parts)))
    return articles, questions


def ingest_articles(rt: Runtime, articles: list[tuple[str, str]], collection: str) -> tuple[UUID, list[UUID]]:
    target = rt.collection(rt.default_tenant, collection, create=True)
    uploads = [Upload(text.encode(), f"{title}.txt", title) for title, text in articles]
    results = rt.ingest_now.ingest_many(target, uploads)
    ids = []
    for result in results:
        if result.document is None:
            raise InvalidRequest(f"an article failed to ingest: {result.error}")
        ids.append(result.document.id)
    return target.id, ids


def run_chunking(rt: Runtime, path: Path, *, collection: str) -> dict[str, Any]:
    """hit@1, hit@5 and MRR@10: is the gold answer span inside a top-ranked chunk?"""
    articles, questions = load_squad(path)
    t0 = time.perf_counter()
    cid, doc_ids = ingest_articles(rt, articles, collection)
    ingest_s = time.perf_counter() - t0
    for doc_id, (_, text) in zip(doc_ids, articles, strict=True):
        stored, _ = rt.store.document_text(rt.default_tenant, doc_id)
        if stored != text:
            raise InvalidRequest("parsed text differs from the joined article; offsets would be wrong")
    report: dict[str, Any] = {
        "questions": len(questions),
        "chunks": rt.store.count_chunks(rt.default_tenant),
        "chunking": rt.settings.chunking,
        "ingest_seconds": round(ingest_s, 1),
    }
    for name, settings in leg_variants(rt.settings).items():
        retriever = rt.retriever.variant(settings)
        ranks = [_gold_rank(retriever, rt, cid, doc_ids, q) for q in questions]
        n = len(questions)
        report[name] = {
            "hit@1": round(sum(r == 0 for r in ranks) / n, 4),
            "hit@5": round(sum(r is not None and r < 5 for r in ranks) / n, 4),
            "mrr@10": round(sum(1.0 / (r + 1) for r in ranks if r is not None) / n, 4),
        }
    return report


def _gold_rank(retriever: Retriever, rt: Runtime, cid: UUID, doc_ids: list[UUID], q: Question) -> int | None:
    """Rank (0-based) of the first top-10 chunk holding the whole gold answer span."""
    hits = retriever.search(rt.default_tenant, [cid], q.question, limit=10)
    for i, h in enumerate(hits):
        if h.document_id == doc_ids[q.article] and h.start <= q.start and q.end <= h.end:
            return i
    return None


# -- answers (SQuAD normalisation) ---------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
#: SQuAD's normalisation drops ASCII punctuation: one pattern, not a set built per character (which
#: made the hard-unanswerable set's build, thousands of article-long texts, take seconds).
_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]+")


def normalize(text: str) -> str:
    text = _PUNCTUATION.sub("", text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def contains(answer: str, golds: tuple[str, ...]) -> bool:
    text = f" {normalize(answer)} "
    return any(f" {normalize(g)} " in text for g in golds if normalize(g))


def summarize(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else 0.0
