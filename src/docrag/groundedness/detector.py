"""Groundedness: is a claim (an answer sentence) supported by the evidence passages?

No entailment model is available offline, so the detector combines what is: MiniLM sentence
similarity, contextual word alignment (each claim word's best match among the evidence's
word vectors, as BERTScore does), lexical coverage of the claim's content words and word
pairs, numbers and names in the claim that the evidence lacks, negation that one side has
and the aligned evidence sentence lacks, and swapped antonyms. A logistic regression over
these features, trained on SummEdits (see ``assets/groundedness.json`` for its provenance),
turns them into a support score in [0, 1]; the verdict compares it with the learned threshold.

A claim of several sentences is judged by its weakest sentence: every feature takes its
worst value over the sentences.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from docrag.groundedness.features import ANTONYMS, Words, analyse
from docrag.providers.protocol import Embedder
from docrag.text.sentences import split_sentences

__all__ = [
    "FEATURES",
    "FEATURE_SIGNS",
    "RED_FLAGS",
    "VETO_CAP",
    "GroundednessDetector",
    "GroundednessModel",
    "PreparedEvidence",
    "Verdict",
    "load_model",
]

Matrix = npt.NDArray[np.float64]

#: Feature names, in the order of the model's coefficients.
FEATURES: tuple[str, ...] = (
    "cos_max",  # best cosine between the claim sentence and an evidence sentence
    "cos_top3",  # mean of the three best
    "coverage",  # share of the claim's content stems found anywhere in the evidence
    "coverage_local",  # ... found in the three best-aligned evidence sentences
    "novel_words",  # log(1 + content stems absent from the evidence)
    "pair_coverage",  # share of the claim's (skip-)bigrams of stems found in the evidence
    "soft_min",  # weakest claim word's best contextual match in the evidence
    "soft_mean",  # mean over claim words of the best contextual match
    "soft_novel_min",  # weakest contextual match among the claim words absent from the evidence
    "novel_numbers",  # numbers of the claim absent from the evidence
    "novel_names",  # capitalised words / acronyms of the claim absent from the evidence
    "negation_claim_only",  # claim negated, best-aligned evidence sentence not
    "negation_evidence_only",  # the reverse
    "antonyms",  # claim stems whose antonym is in the aligned evidence while they are not
    "length",  # log(1 + content words of the claim sentence)
)
#: The sign each feature's coefficient may take (+1: more of it means more support, -1: less,
#: 0: either); the training keeps to them (see ``docrag.groundedness.training.fit_logistic``).
FEATURE_SIGNS: tuple[float, ...] = (1, 1, 1, 1, -1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1)
#: Features where a larger value is worse (more unsupported): aggregated with max, others with min.
_WORSE_WHEN_LARGER = frozenset(
    {"novel_words", "novel_numbers", "novel_names", "negation_claim_only", "negation_evidence_only",
     "antonyms", "length"}
)  # fmt: skip
_AGGREGATE_MAX = np.array([name in _WORSE_WHEN_LARGER for name in FEATURES])

#: Red flags that veto support in the shipped model: each, where it fires, marks a SummEdits summary
#: inconsistent far more often than the base rate (see scripts/train_groundedness.py).
RED_FLAGS: tuple[str, ...] = ("novel_numbers", "novel_names", "negation_claim_only", "antonyms")
#: The highest score of a claim with a red flag (a veto feature): below any learned threshold.
VETO_CAP = 0.1
#: Evidence sentences embedded per claim sentence, chosen by shared (idf-weighted) stems.
DEFAULT_CANDIDATES = 24


@dataclass(frozen=True, slots=True)
class Verdict:
    """Support of one claim: ``score`` in [0, 1], ``supported`` when it reaches the threshold."""

    score: float
    supported: bool
    reasons: tuple[str, ...] = ()
    features: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroundednessModel:
    """Standardised logistic regression over :data:`FEATURES`."""

    feature_names: tuple[str, ...]
    mean: Matrix
    std: Matrix
    coef: Matrix
    intercept: float
    threshold: float
    #: Red-flag features (counts) that, when positive, cap the score at :data:`VETO_CAP`.
    vetoes: tuple[str, ...] = ()
    #: Off topic (also capped): best sentence cosine under ``min_cosine`` and content-word
    #: coverage under ``min_coverage``. A fixed prior, not learned: SummEdits summaries are all
    #: on topic, so no weight learned from it can reject an unrelated claim.
    min_cosine: float = 0.3
    min_coverage: float = 0.5
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.feature_names)
        if not (self.mean.shape == self.std.shape == self.coef.shape == (n,)):
            raise ValueError("model arrays must have one entry per feature")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must lie in [0, 1]")
        if not set(self.vetoes) <= set(self.feature_names):
            raise ValueError("vetoes must be feature names")

    def probability(self, x: Matrix) -> Matrix:
        """Support probability of each row of ``x`` (shape ``(n, n_features)`` or ``(n_features,)``)."""
        z = ((x - self.mean) / self.std) @ self.coef + self.intercept
        result: Matrix = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
        return result

    def vetoed(self, x: Matrix) -> npt.NDArray[np.bool_]:
        """Whether any veto feature is positive, or the claim is off topic, per row of ``x``."""
        columns = [self.feature_names.index(name) for name in self.vetoes]
        matrix = np.atleast_2d(x)
        off_topic = (matrix[:, self.feature_names.index("cos_max")] < self.min_cosine) & (
            matrix[:, self.feature_names.index("coverage")] < self.min_coverage
        )
        flagged = (matrix[:, columns] > 0).any(axis=1) | off_topic
        result: npt.NDArray[np.bool_] = np.asarray(flagged, dtype=bool)
        return result.reshape(np.shape(x)[:-1])

    def score(self, x: Matrix) -> Matrix:
        """The support score: the probability, capped at :data:`VETO_CAP` where a veto fires."""
        result: Matrix = np.where(
            self.vetoed(x), np.minimum(self.probability(x), VETO_CAP), self.probability(x)
        )
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "coef": [float(v) for v in self.coef],
            "intercept": float(self.intercept),
            "threshold": float(self.threshold),
            "vetoes": list(self.vetoes),
            "min_cosine": self.min_cosine,
            "min_coverage": self.min_coverage,
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroundednessModel:
        return cls(
            feature_names=tuple(data["feature_names"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            std=np.asarray(data["std"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            vetoes=tuple(data.get("vetoes", ())),
            min_cosine=float(data.get("min_cosine", 0.3)),
            min_coverage=float(data.get("min_coverage", 0.5)),
            provenance=dict(data.get("provenance", {})),
        )


@cache
def load_model() -> GroundednessModel:
    """The shipped weights (``groundedness/assets/groundedness.json``)."""
    path = resources.files("docrag.groundedness") / "assets" / "groundedness.json"
    model = GroundednessModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    if model.feature_names != FEATURES:
        raise ValueError("groundedness.json was trained on another feature list")
    return model


@dataclass(slots=True)
class _Embedded:
    vector: npt.NDArray[np.float32]
    words: npt.NDArray[np.float32]  # one row per content word


class PreparedEvidence:
    """Evidence split into sentences and analysed once; sentence and word vectors are computed
    on demand (only for sentences that some claim aligns with) and kept for later claims."""

    def __init__(self, passages: Sequence[str]) -> None:
        self.sentences: list[str] = []
        for passage in passages:
            self.sentences.extend(passage[a:b] for a, b in split_sentences(passage))
        self.words: list[Words] = [analyse(s) for s in self.sentences]
        self.stems: frozenset[str] = frozenset(s for w in self.words for s in w.stems)
        self.numbers: frozenset[str] = frozenset(n for w in self.words for n in w.numbers)
        self.pairs: frozenset[tuple[str, str]] = frozenset(p for w in self.words for p in w.bigrams)
        df = Counter(s for w in self.words for s in set(w.stems))
        n = max(1, len(self.sentences))
        self._idf = {s: math.log(1.0 + n / c) for s, c in df.items()}
        self._embedded: dict[int, _Embedded] = {}

    def candidates(self, claim: Words, limit: int) -> list[int]:
        """Indices of the (at most ``limit``) sentences sharing the most idf-weighted stems."""
        if len(self.sentences) <= limit:
            return list(range(len(self.sentences)))
        wanted = set(claim.stems)
        scores = [sum(self._idf[s] for s in set(w.stems) & wanted) for w in self.words]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return sorted(order[:limit])

    def embed(self, embedder: Embedder, indices: Sequence[int]) -> list[_Embedded]:
        missing = [i for i in indices if i not in self._embedded]
        if missing:
            done = _embed(embedder, [self.sentences[i] for i in missing], [self.words[i] for i in missing])
            self._embedded.update(zip(missing, done, strict=True))
        return [self._embedded[i] for i in indices]


def _embed(embedder: Embedder, texts: Sequence[str], words: Sequence[Words]) -> list[_Embedded]:
    if not texts:
        return []
    out = embedder.embed_passages(texts, [w.spans for w in words])
    return [_Embedded(p.vector, p.span_vectors) for p in out]


class GroundednessDetector:
    """Scores claims against evidence with the shipped model (or ``model``).

    ``candidates`` bounds the evidence sentences embedded per claim sentence (those sharing
    the most idf-weighted stems with it); lexical checks always see the whole evidence.
    """

    def __init__(
        self,
        embedder: Embedder,
        model: GroundednessModel | None = None,
        *,
        candidates: int = DEFAULT_CANDIDATES,
    ) -> None:
        self._embedder = embedder
        self._model = model
        self._candidates = candidates

    @property
    def model(self) -> GroundednessModel:
        if self._model is None:
            self._model = load_model()
        return self._model

    def prepare(self, evidence: Sequence[str]) -> PreparedEvidence:
        return PreparedEvidence(evidence)

    def score(self, claim: str, evidence: Sequence[str] | PreparedEvidence) -> Verdict:
        """The support of ``claim`` by ``evidence`` (passages, or evidence prepared once for many claims)."""
        prepared = evidence if isinstance(evidence, PreparedEvidence) else PreparedEvidence(evidence)
        if not prepared.sentences or not claim.strip():
            return Verdict(0.0, False, ("no evidence" if not prepared.sentences else "empty claim",))
        values, reasons = self.features(claim, prepared)
        model = self.model
        score = float(model.score(values))
        supported = score >= model.threshold
        if model.vetoed(values) and not reasons:
            reasons = ["the claim is off topic for the evidence"]
        if not supported and not reasons:
            reasons = ["weak similarity and word overlap with the evidence"]
        return Verdict(score, supported, tuple(reasons), dict(zip(FEATURES, map(float, values), strict=True)))

    def score_all(self, claims: Sequence[str], evidence: Sequence[str]) -> list[Verdict]:
        """One verdict per claim (e.g. per answer sentence), analysing the evidence once."""
        prepared = PreparedEvidence(evidence)
        return [self.score(claim, prepared) for claim in claims]

    def features(self, claim: str, evidence: PreparedEvidence) -> tuple[Matrix, list[str]]:
        """The feature vector of ``claim`` (worst value over its sentences) and readable reasons."""
        sentences = [claim[a:b] for a, b in split_sentences(claim)] or [claim.strip()]
        analysed = [analyse(s) for s in sentences]
        embedded = _embed(self._embedder, sentences, analysed)
        rows: list[Matrix] = []
        reasons: list[str] = []
        for words, vectors in zip(analysed, embedded, strict=True):
            row, why = self._sentence_features(words, vectors, evidence)
            rows.append(row)
            reasons.extend(why)
        stacked = np.stack(rows)
        values: Matrix = np.where(_AGGREGATE_MAX, stacked.max(axis=0), stacked.min(axis=0))
        return values, list(dict.fromkeys(reasons))

    def _sentence_features(
        self, claim: Words, vectors: _Embedded, evidence: PreparedEvidence
    ) -> tuple[Matrix, list[str]]:
        chosen = evidence.candidates(claim, self._candidates)
        embedded = evidence.embed(self._embedder, chosen)
        sentence_matrix = np.stack([e.vector for e in embedded]).astype(np.float64)
        cosines = sentence_matrix @ vectors.vector.astype(np.float64)
        order = np.argsort(-cosines)
        top = [chosen[i] for i in order[:3]]
        best = chosen[int(order[0])]

        stems = claim.stems
        n_words = len(stems)
        present = [s in evidence.stems for s in stems]
        novel = [s for s, p in zip(stems, present, strict=True) if not p]
        local = frozenset(s for i in top for s in evidence.words[i].stems)
        coverage = sum(present) / n_words if n_words else 1.0
        coverage_local = sum(s in local for s in stems) / n_words if n_words else 1.0
        pairs = claim.bigrams
        pair_coverage = sum(p in evidence.pairs for p in pairs) / len(pairs) if pairs else 1.0

        word_matrix = np.concatenate([e.words for e in embedded]).astype(np.float64)
        if n_words and len(word_matrix):
            best_match = (vectors.words.astype(np.float64) @ word_matrix.T).max(axis=1)
            soft_min, soft_mean = float(best_match.min()), float(best_match.mean())
            novel_matches = [m for m, p in zip(best_match, present, strict=True) if not p]
            soft_novel_min = float(min(novel_matches)) if novel_matches else 1.0
        else:
            soft_min = soft_mean = soft_novel_min = 1.0

        novel_numbers = sorted(claim.numbers - evidence.numbers)
        novel_names = sorted(s for s in claim.names if s not in evidence.stems)
        aligned = evidence.words[best]
        claim_negated = _negation_about(claim.negated_clauses, frozenset(aligned.stems))
        aligned_negated = _negation_about(aligned.negated_clauses, frozenset(stems))
        antonyms = sorted(s for s in set(stems) if s not in local and ANTONYMS.get(s, frozenset()) & local)

        row = np.array(
            [
                float(cosines.max()),
                float(np.sort(cosines)[::-1][:3].mean()),
                coverage,
                coverage_local,
                math.log1p(len(novel)),
                pair_coverage,
                soft_min,
                soft_mean,
                soft_novel_min,
                float(len(novel_numbers)),
                float(len(novel_names)),
                float(claim_negated and not aligned_negated),
                float(aligned_negated and not claim_negated),
                float(len(antonyms)),
                math.log1p(n_words),
            ]
        )
        reasons = [f"number {n} is not in the evidence" for n in novel_numbers]
        reasons += [f"name {n!r} is not in the evidence" for n in novel_names]
        if claim_negated != aligned_negated:
            reasons.append("negation differs from the closest evidence sentence")
        reasons += [f"{s!r} contradicts the evidence's {sorted(ANTONYMS[s] & local)[0]!r}" for s in antonyms]
        return row, reasons


def _negation_about(clauses: Sequence[frozenset[str]], other: frozenset[str]) -> bool:
    """Whether a negated clause shares at least two content stems (all, if fewer) with ``other``."""
    return any(clause and len(clause & other) >= min(2, len(clause)) for clause in clauses)
