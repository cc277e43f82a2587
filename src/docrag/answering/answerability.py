"""Whether the best sentence found answers the question, beyond how close it scored.

A verbatim sentence of an on-topic passage is "supported" yet may not answer: the question
asks "when" and it holds no date, or it shares the subject but none of what the question
is about. The features of a (question, best sentence) pair:

- ``score``: the extractive answerer's score of the sentence (meaning and term match);
- ``kind_held``: the sentence holds something of the expected answer type (1 when the
  question asks for no particular type);
- ``focus_coverage``: share of the question's focus terms (its content words less the
  subject words that every sentence of the passage shares) found in the sentence;
- ``new_terms``: share of the sentence's words the question does not hold (an answer adds
  something; a sentence that only restates the question does not);
- ``margin``: how far the best sentence leads the second best;
- ``overlap``: share of the question's terms in the sentence;
- ``focus_retrieved`` / ``focus_passage``: share of the focus terms found anywhere in the
  retrieved passages / in the best sentence's passage (a question about something no passage
  mentions is not answered by any);
- ``typed``: 1 when the question asks for a particular answer type;
- ``terms``: how many terms the question has.

A logistic model over these gives the probability that the sentence answers; it is fitted
by :func:`fit` on labelled pairs (the split is by article, so no article is on both sides).
The decision gives a reason code when it abstains: ``no_supporting_passage`` (nothing
scored near the question, as the answerers say today) or ``on_topic_not_answered``
(close passages, none answers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from docrag.answering.answer_type import can_hold, expected
from docrag.text.bm25 import tokenize

FEATURES = (
    "score",
    "kind_held",
    "focus_coverage",
    "new_terms",
    "margin",
    "overlap",
    "focus_retrieved",
    "focus_passage",
    "typed",
    "terms",
)
NO_CLOSE_PASSAGE = "no_supporting_passage"  # the code the answerers already give
ON_TOPIC_NOT_ANSWERED = "on_topic_not_answered"


def features(
    question: str,
    best: str,
    best_score: float,
    second_score: float,
    passage: str,
    passages: Sequence[str] = (),
) -> np.ndarray:
    """The features of the best sentence ``best`` of ``passage``, of the retrieved ``passages``."""
    asked = set(tokenize(question))
    words = set(tokenize(best))
    subject = _subject_terms(passage)
    focus = asked - subject or asked
    coverage = len(focus & words) / len(focus) if focus else 0.0
    new = len(words - asked) / len(words) if words else 0.0
    kind = expected(question)
    held = 1.0 if can_hold(kind, best, question) else 0.0
    overlap = len(asked & words) / len(asked) if asked else 0.0
    retrieved = set(tokenize(" ".join(passages))) if passages else set(tokenize(passage))
    own = set(tokenize(passage))
    anywhere = len(focus & retrieved) / len(focus) if focus else 0.0
    in_passage = len(focus & own) / len(focus) if focus else 0.0
    typed = 0.0 if kind is None else 1.0
    values = [best_score, held, coverage, new, best_score - second_score, overlap]
    values += [anywhere, in_passage, typed, float(len(asked))]
    return np.array(values, dtype=np.float64)


def _subject_terms(passage: str) -> set[str]:
    """Terms in at least half of the passage's sentences (its subject), with two sentences or more."""
    sentences = [set(tokenize(s)) for s in passage.split(". ") if s.strip()]
    if len(sentences) < 2:
        return set()
    counts: dict[str, int] = {}
    for s in sentences:
        for w in s:
            counts[w] = counts.get(w, 0) + 1
    return {w for w, c in counts.items() if c * 2 >= len(sentences)}


@dataclass(frozen=True, slots=True)
class Model:
    """Logistic model: standardised features, weights and a bias."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def probability(self, x: np.ndarray) -> float:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias))))

    def to_json(self) -> str:
        return json.dumps(
            {
                "features": FEATURES,
                "mean": self.mean,
                "scale": self.scale,
                "weights": self.weights,
                "bias": self.bias,
                "provenance": dict(self.provenance),
            },
            indent=1,
        )

    @classmethod
    def load(cls, path: Path) -> Model:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")), str(path))

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str = "answerability.json") -> Model:
        if tuple(raw["features"]) != FEATURES:
            raise ValueError(f"{where}: features {raw['features']} are not {FEATURES}")
        return cls(
            tuple(raw["mean"]),
            tuple(raw["scale"]),
            tuple(raw["weights"]),
            float(raw["bias"]),
            dict(raw.get("provenance", {})),
        )


@cache
def load_model() -> Model:
    """The shipped weights (``answering/assets/answerability.json``, from scripts/train_answerability.py)."""
    asset = resources.files("docrag.answering") / "assets" / "answerability.json"
    return Model.from_json(json.loads(asset.read_text(encoding="utf-8")))


def fit(x: np.ndarray, y: np.ndarray, *, steps: int = 2000, rate: float = 0.5, l2: float = 1e-3) -> Model:
    """Logistic regression by gradient descent on standardised features."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    w = np.zeros(z.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= rate * (z.T @ (p - y) / len(y) + l2 * w)
        b -= rate * float(np.mean(p - y))
    return Model(tuple(mean.tolist()), tuple(scale.tolist()), tuple(w.tolist()), b)


def split_by_article(articles: Sequence[int], *, test_share: float = 0.3, seed: int = 0) -> np.ndarray:
    """A boolean mask of test rows: whole articles go to the test side, never part of one."""
    unique = sorted(set(articles))
    rng = np.random.default_rng(seed)
    chosen = set(rng.permutation(unique)[: max(1, round(len(unique) * test_share))].tolist())
    return np.array([a in chosen for a in articles])


def decide(best_score: float, probability: float, *, close: float, answers: float) -> str | None:
    """None to answer, else the reason code for abstaining."""
    if best_score < close:
        return NO_CLOSE_PASSAGE
    if probability < answers:
        return ON_TOPIC_NOT_ANSWERED
    return None


def tradeoff(
    probabilities: Iterable[float], answerable: Iterable[bool], thresholds: Iterable[float]
) -> list[dict[str, float]]:
    """Per threshold: share of answerable questions answered, of unanswerable ones abstained."""
    p = np.asarray(list(probabilities))
    y = np.asarray(list(answerable), dtype=bool)
    rows = []
    for t in thresholds:
        answered = p >= t
        rows.append(
            {
                "threshold": t,
                "answered_of_answerable": round(float(answered[y].mean()) if y.any() else 0.0, 4),
                "abstained_of_unanswerable": round(float((~answered[~y]).mean()) if (~y).any() else 0.0, 4),
            }
        )
    return rows
