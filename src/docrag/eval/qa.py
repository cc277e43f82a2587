"""Answer quality and abstention on a SQuAD-format set, through the real HTTP API.

All articles go into one collection (every question is answerable there); half of them
go into a second collection, against which the other half's questions are unanswerable.
Each question is asked over HTTP (``POST /v1/ask``) with abstention switched off, so the
best sentence's score is known for every question and the abstention trade-off can be
tabulated for any threshold afterwards. The same goes for the answerability of the best
sentence, tabulated by ``eval/qa_hard.py`` against the easy set and the hard unanswerable one
(each question against its own article less the paragraph or sentence holding its answer, or
a sibling article).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from starlette.types import ASGIApp

from docrag.eval import qa_hard
from docrag.eval.xquad import Question, contains, f1, ingest_articles, load_squad, normalize
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings

THRESHOLDS = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


@dataclass(frozen=True, slots=True)
class Asked:
    question: Question
    answerable: bool
    top_score: float
    first: bool  # the first sentence contains a gold answer
    both: bool  # the answer (all its sentences) contains a gold answer
    best_f1: float
    best_em: bool
    answerability: float = 0.0  # the model's probability that the best sentence answers


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """A real uvicorn server on loopback over the runtime, for the length of the evaluation."""

    def __init__(self, app: ASGIApp) -> None:
        self.port = _port()
        self._server = uvicorn.Server(uvicorn.Config(app, port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        while not self._server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _ask(client: httpx.Client, q: Question, collection: str, answerable: bool) -> Asked:
    response = client.post("/v1/ask", json={"question": q.question, "collections": [collection]})
    response.raise_for_status()
    body = response.json()
    sentences = [s["text"] for s in body["sentences"]]
    scores = [s["score"] for s in body["sentences"]]
    return Asked(
        question=q,
        answerable=answerable,
        top_score=max(scores, default=0.0),
        first=bool(sentences) and contains(sentences[0], q.answers),
        both=contains(" ".join(sentences), q.answers),
        best_f1=max((f1(s, g) for s in sentences for g in q.answers), default=0.0),
        best_em=any(normalize(s) == normalize(g) for s in sentences for g in q.answers),
        answerability=body.get("answerability") or 0.0,
    )


def run_qa(
    rt: Runtime, app: ASGIApp, path: Path, *, collection: str, chosen: Settings, hard: bool = True
) -> dict[str, Any]:
    """``chosen``: its closeness and answerability thresholds are those the answers are
    tabulated at (the runtime itself must have both off, so that every question is answered)."""
    articles, questions = load_squad(path)
    t0 = time.perf_counter()
    ingest_articles(rt, articles, collection)
    half = [a for i, a in enumerate(articles) if i % 2 == 0]
    ingest_articles(rt, half, f"{collection}-half")
    ingest_s = time.perf_counter() - t0
    key = new_api_key()
    rt.store.add_api_key(rt.default_tenant, "eval qa", key, "reader")
    with (
        _Server(app) as url,
        # One question at a time over loopback, but a busy machine (or a first search building its
        # BM25 index) can take longer than httpx's 5 s default: a timeout would end the whole run.
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client,
    ):
        t1 = time.perf_counter()
        full = [_ask(client, q, collection, True) for q in questions]
        ask_s = time.perf_counter() - t1
        partial = [_ask(client, q, f"{collection}-half", q.article % 2 == 0) for q in questions]
        unanswerable = (
            qa_hard.hard_questions(rt, path, collection, lambda q, c: _ask(client, q, c, False))
            if hard
            else {}
        )
    n = len(full)
    return {
        "questions": n,
        "ingest_seconds": round(ingest_s, 1),
        "mean_ask_ms": round(ask_s / n * 1000, 1),
        "answer_sentences": rt.settings.answer_sentences,
        "contains_gold_answer": round(sum(a.both for a in full) / n, 4),
        "first_sentence_contains_gold": round(sum(a.first for a in full) / n, 4),
        "best_sentence_f1": round(float(np.mean([a.best_f1 for a in full])), 4),
        "best_sentence_exact_match": round(sum(a.best_em for a in full) / n, 4),
        "abstention": abstention_table(partial),
        "answerability": qa_hard.report(
            full, partial, unanswerable, close=chosen.abstain_threshold, chosen=chosen.answerability_threshold
        ),
    }


def abstention_table(asked: list[Asked]) -> list[dict[str, float]]:
    """For each threshold: shares of answerable questions answered correctly / abstained
    on, and of unanswerable questions answered anyway."""
    answerable = [a for a in asked if a.answerable]
    unanswerable = [a for a in asked if not a.answerable]
    rows = []
    for t in THRESHOLDS:
        rows.append(
            {
                "threshold": t,
                "answered_correctly": round(
                    sum(a.top_score >= t and a.both for a in answerable) / len(answerable), 4
                ),
                "abstained_wrongly": round(sum(a.top_score < t for a in answerable) / len(answerable), 4),
                "answered_unanswerable": round(
                    sum(a.top_score >= t for a in unanswerable) / max(1, len(unanswerable)), 4
                ),
            }
        )
    return rows
