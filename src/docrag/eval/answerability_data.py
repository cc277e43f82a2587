"""Labelled answerability rows from XQuAD English, through the real ingestion and answerer.

One side of the split by article (:func:`docrag.eval.hard_unanswerable.held_out`) at a time:
its articles go into one collection, against which its questions are answerable; each hard
unanswerable text (the question's own article less the paragraph or the sentence holding its
answer, or a sibling article of the same side) goes into a collection of its own, against which
the question is not. Every question is assessed by the extractive answerer
(:meth:`ExtractiveAnswerer.assess`), which gives the answerability features of its best
sentence. ``scripts/train_answerability.py`` fits the shipped weights on the training side's
rows; nothing here ships any text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from docrag.answering import answerability
from docrag.answering.extractive import ExtractiveAnswerer
from docrag.eval.hard_unanswerable import hard_cases, held_out, load_paragraphs
from docrag.eval.xquad import contains, ingest_articles
from docrag.services import Runtime


@dataclass(frozen=True, slots=True)
class Row:
    variant: str  # "answerable", or the hard variant: paragraph, sentence, sibling
    article: int
    question: str
    answerable: bool
    best: str  # the best sentence
    score: float
    second: float  # the second best sentence's score
    passage: str  # the best sentence's passage
    passages: tuple[str, ...]  # every retrieved passage
    best_holds_gold: bool

    def features(self) -> np.ndarray:
        return answerability.features(
            self.question, self.best, self.score, self.second, self.passage, self.passages
        )


def collect(
    rt: Runtime,
    path: Path,
    *,
    evaluation_side: bool,
    prefix: str,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Row]:
    """Rows of every question of one side of the split, answerable and in each hard variant."""
    articles, questions = load_paragraphs(path)
    side = {a for a in range(len(articles)) if held_out(a) == evaluation_side}
    answerer = ExtractiveAnswerer(rt.retriever, rt.settings)
    tenant = rt.default_tenant
    full, _ = ingest_articles(
        rt,
        [
            (articles[a].title, " ".join(" ".join(p.split()) for p in articles[a].paragraphs))
            for a in sorted(side)
        ],
        f"{prefix}-answerable",
    )
    rows: list[Row] = []

    def add(variant: str, article: int, question: str, answers: tuple[str, ...], cid: object) -> None:
        a = answerer.assess(tenant, [cid], question)  # type: ignore[list-item]
        if a.features is None:
            return
        ranked = sorted(a.candidates, key=lambda c: -c.score)
        best = ranked[0]
        quote = best.hit.body[best.start - best.hit.start : best.end - best.hit.start]
        second = ranked[1].score if len(ranked) > 1 else 0.0
        rows.append(
            Row(
                variant,
                article,
                question,
                variant == "answerable",
                quote,
                best.score,
                second,
                best.hit.body,
                tuple(h.body for h in a.hits),
                contains(quote, answers),
            )
        )

    mine = [q for q in questions if q.article in side]
    for i, q in enumerate(mine):
        add("answerable", q.article, q.question, q.answers, full)
        if i % 100 == 0:
            progress(f"answerable {i}/{len(mine)}")
    collections: dict[bytes, object] = {}
    cases = list(hard_cases(articles, questions, side))
    for i, case in enumerate(cases):
        key = hashlib.sha256(case.text.encode()).digest()
        if key not in collections:
            collections[key], _ = ingest_articles(rt, [(case.title, case.text)], f"{prefix}-{key.hex()[:16]}")
        add(case.variant, case.article, case.question, case.answers, collections[key])
        if i % 100 == 0:
            progress(f"hard {i}/{len(cases)}")
    return rows
