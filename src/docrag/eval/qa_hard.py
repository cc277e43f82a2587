"""The answerability trade-off of ``docrag eval qa``: the easy and the hard unanswerable set.

Only the articles of the evaluation side of the split (:func:`hard_unanswerable.held_out`) are
counted, since the shipped answerability weights were fitted on the others. Each question was
asked with both abstentions off, so its best sentence's score and its answerability are known;
a question is answered at threshold ``t`` when its best score reaches the closeness threshold
(``DOCRAG_ABSTAIN_THRESHOLD``) and its answerability reaches ``t``. Per threshold: the share
of answerable questions answered, the share of those answers holding a gold answer, the same
over all answerable questions (an abstention counted as a miss), and the share of unanswerable
questions abstained on, pooled and per hard variant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from docrag.eval.hard_unanswerable import VARIANTS, hard_cases, held_out, load_paragraphs
from docrag.eval.xquad import Question, ingest_articles
from docrag.services import Runtime

#: Answerability thresholds of the curve.
CURVE = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def curve(
    answerable: Sequence[Any],
    unanswerable: Mapping[str, Sequence[Any]],
    *,
    close: float,
    thresholds: Sequence[float] = CURVE,
) -> list[dict[str, float]]:
    """Rows of the trade-off; items have ``top_score``, ``answerability`` and ``both`` (gold held)."""

    def answered(a: Any, t: float) -> bool:
        return bool(a.top_score >= close and a.answerability >= t)

    pooled = [a for group in unanswerable.values() for a in group]
    rows = []
    for t in thresholds:
        given = [a for a in answerable if answered(a, t)]
        row: dict[str, float] = {
            "threshold": t,
            "answered_of_answerable": _share(len(given), len(answerable)),
            "contains_gold_of_answered": _share(sum(a.both for a in given), len(given)),
            "contains_gold_of_answerable": _share(sum(a.both for a in given), len(answerable)),
            "abstained_of_unanswerable": _share(sum(not answered(a, t) for a in pooled), len(pooled)),
        }
        if len(unanswerable) > 1:
            for name, group in unanswerable.items():
                row[f"abstained_{name}"] = _share(sum(not answered(a, t) for a in group), len(group))
        rows.append(row)
    return rows


def _share(n: int, of: int) -> float:
    return round(n / of, 4) if of else 0.0


def hard_questions(
    rt: Runtime, path: Path, collection: str, ask: Callable[[Question, str], Any]
) -> dict[str, list[Any]]:
    """Each hard case of the evaluation side, asked (``ask(question, collection)``) against a
    collection holding only its text; grouped by variant."""
    articles, questions = load_paragraphs(path)
    side = {a for a in range(len(articles)) if held_out(a)}
    names: dict[bytes, str] = {}
    asked: dict[str, list[Any]] = {v: [] for v in VARIANTS}
    for case in hard_cases(articles, questions, side):
        key = hashlib.sha256(case.text.encode()).digest()
        if key not in names:
            names[key] = f"{collection}-hard-{key.hex()[:16]}"
            ingest_articles(rt, [(case.title, case.text)], names[key])
        q = Question(case.article, case.question, case.answers, 0, 0)
        asked[case.variant].append(ask(q, names[key]))
    return asked


def report(
    full: Sequence[Any], partial: Sequence[Any], hard: dict[str, list[Any]], *, close: float, chosen: float
) -> dict[str, Any]:
    """The easy and the hard set's figures at the chosen threshold, and their curves."""
    answerable = [a for a in full if held_out(a.question.article)]
    easy_answerable = [a for a in partial if a.answerable and held_out(a.question.article)]
    easy_unanswerable = [a for a in partial if not a.answerable and held_out(a.question.article)]
    thresholds = sorted({*CURVE, chosen})
    easy = curve(easy_answerable, {"easy": easy_unanswerable}, close=close, thresholds=thresholds)
    hard_rows = curve(answerable, hard, close=close, thresholds=thresholds)
    return {
        "split": "articles 1 and 2 modulo 4 (never trained on); the weights were fitted on 0 and 3",
        "closeness_threshold": close,
        "answerability_threshold": chosen,
        "easy": {
            "answerable": len(easy_answerable),
            "unanswerable": len(easy_unanswerable),
            "at_threshold": next(r for r in easy if r["threshold"] == chosen),
            "curve": easy,
        },
        "hard": {
            "answerable": len(answerable),
            "unanswerable": {v: len(group) for v, group in hard.items()},
            "at_threshold": next(r for r in hard_rows if r["threshold"] == chosen),
            "curve": hard_rows,
        },
    }
