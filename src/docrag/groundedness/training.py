"""Training the groundedness detector's weights: SummEdits and WiCE examples, their features,
the sign-constrained logistic fit, its threshold and leave-one-domain-out held-out verdicts.

The evaluation that reports on them (``docrag eval groundedness``) is ``groundedness.evaluation``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from docrag.errors import InvalidRequest
from docrag.groundedness.detector import (
    FEATURE_SIGNS,
    FEATURES,
    RED_FLAGS,
    VETO_CAP,
    GroundednessDetector,
    GroundednessModel,
)
from docrag.providers.protocol import Embedder

Matrix = npt.NDArray[np.float64]
Labels = npt.NDArray[np.bool_]

SUMMEDITS_PROVENANCE = "SummEdits (Laban et al. 2023), github.com/salesforce/factualNLG, Apache-2.0"


@dataclass(frozen=True, slots=True)
class Example:
    group: str  # SummEdits domain, or WiCE split
    claim: str
    evidence: tuple[str, ...]
    label: str  # "supported", "unsupported" or (WiCE) "partially_supported"


# ---------------------------------------------------------------- metrics and training


def balanced_accuracy(truth: Sequence[bool] | Labels, predicted: Sequence[bool] | Labels) -> float:
    """Mean of the recall of the positive and of the negative class (a class absent from
    ``truth`` is left out of the mean)."""
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    if t.shape != p.shape or not t.size:
        raise ValueError("truth and predicted must be non-empty and of equal length")
    recalls = [float((p[t == c] == c).mean()) for c in (True, False) if (t == c).any()]
    return float(np.mean(recalls))


def best_threshold(scores: Matrix, truth: Labels) -> float:
    """The threshold (``score >= threshold`` is supported) maximising balanced accuracy."""
    candidates = np.unique(np.concatenate([scores, [0.0, 1.0]]))
    mids = np.concatenate([[0.0], (candidates[1:] + candidates[:-1]) / 2.0, [1.0]])
    best, best_value = 0.5, -1.0
    for threshold in mids:
        value = balanced_accuracy(truth, scores >= threshold)
        if value > best_value + 1e-12:
            best, best_value = float(threshold), value
    return best


def fit_logistic(
    x: Matrix,
    y: Labels,
    *,
    l2: float = 1.0,
    constrained: bool = True,
    vetoes: Sequence[str] = (),
    iterations: int = 50,
) -> GroundednessModel:
    """Class-balanced, L2-regularised logistic regression on standardised features (Newton's
    method), with the threshold that maximises balanced accuracy on the same data.

    With ``constrained``, every coefficient keeps the sign its feature's meaning gives it
    (:data:`~docrag.groundedness.detector.FEATURE_SIGNS`: more similarity or coverage never lowers
    the support, a novel number or a negation mismatch never raises it): a feature whose fitted
    coefficient has the wrong sign is dropped and the rest refitted, until none has. A data set's
    quirks (in SummEdits, consistent edits paraphrase more words than inconsistent ones) then
    can't teach the detector that unsupported words are a sign of support.

    ``vetoes`` name red-flag features that cap the score (see :meth:`GroundednessModel.score`);
    the threshold is chosen on the capped scores.
    """
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    active = np.ones(len(FEATURES) + 1, dtype=bool)
    signs = np.array([*FEATURE_SIGNS, 0.0])
    while True:
        w = np.zeros(len(active))
        w[active] = _newton(z[:, active], y, l2, iterations)
        wrong = active & (w * signs < 0)
        if not constrained or not wrong.any():
            break
        active &= ~wrong
    model = GroundednessModel(tuple(FEATURES), mean, std, w[:-1], float(w[-1]), 0.5, tuple(vetoes))
    threshold = max(best_threshold(model.score(x), y), VETO_CAP + 1e-3)
    return GroundednessModel(tuple(FEATURES), mean, std, w[:-1], float(w[-1]), threshold, tuple(vetoes))


def _newton(z: Matrix, y: Labels, l2: float, iterations: int) -> Matrix:
    """Weights of the class-balanced logistic regression (the last column of ``z`` is the bias)."""
    target = y.astype(np.float64)
    n_pos = max(1.0, float(target.sum()))
    n_neg = max(1.0, float(len(target) - target.sum()))
    weight = np.where(y, len(y) / (2 * n_pos), len(y) / (2 * n_neg))
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    w = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -40, 40)))
        gradient = z.T @ (weight * (p - target)) + penalty * w
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w


# ---------------------------------------------------------------- data sets


def find_summedits(folder: Path) -> list[Path]:
    return sorted(folder.rglob("summedits_*.json"))


def find_wice(folder: Path, split: str) -> Path | None:
    found = sorted(p for p in folder.rglob(f"{split}.jsonl") if p.parent.name == "claim")
    return found[0] if found else None


def load_summedits(files: Iterable[Path]) -> list[Example]:
    examples = []
    for path in files:
        domain = path.stem.removeprefix("summedits_")
        for row in json.loads(path.read_text(encoding="utf-8")):
            label = "supported" if int(row["label"]) == 1 else "unsupported"
            examples.append(Example(domain, row["summary"], (row["doc"],), label))
    return examples


def load_wice(path: Path) -> list[Example]:
    names = {
        "supported": "supported",
        "not_supported": "unsupported",
        "partially_supported": "partially_supported",
    }
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            evidence = tuple(s for s in row["evidence"] if s.strip())
            examples.append(Example(path.stem, row["claim"], evidence, names[row["label"]]))
    return examples


# ---------------------------------------------------------------- features


def _key(example: Example) -> str:
    digest = hashlib.sha256("\x1f".join((*FEATURES, example.claim, *example.evidence)).encode())
    return digest.hexdigest()[:32]


def featurize(
    embedder: Embedder,
    examples: Sequence[Example],
    *,
    cache: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Matrix:
    """Feature rows of ``examples``; evidence shared by several examples is analysed once.

    With ``cache`` (a .json file), rows computed before are read from it and new ones added.
    """
    stored: dict[str, list[float]] = {}
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
    detector = GroundednessDetector(embedder, model=None)
    by_evidence: dict[tuple[str, ...], list[int]] = {}
    for i, example in enumerate(examples):
        by_evidence.setdefault(example.evidence, []).append(i)
    rows = np.zeros((len(examples), len(FEATURES)))
    done = 0
    started = time.monotonic()
    for evidence, indices in by_evidence.items():
        prepared = None
        for i in indices:
            key = _key(examples[i])
            if key not in stored:
                prepared = prepared or detector.prepare(evidence)
                if prepared.sentences:
                    values, _ = detector.features(examples[i].claim, prepared)
                    stored[key] = [float(v) for v in values]
                else:
                    stored[key] = _no_evidence_row()
            rows[i] = stored[key]
        done += len(indices)
        if progress is not None:
            progress(f"features: {done}/{len(examples)} ({time.monotonic() - started:.0f} s)")
        if cache is not None and prepared is not None:
            cache.write_text(json.dumps(stored), encoding="utf-8")
    return rows


def _no_evidence_row() -> list[float]:
    return [0.0 if name not in ("novel_words", "length") else 1.0 for name in FEATURES]


# ---------------------------------------------------------------- the report


def labels_of(examples: Sequence[Example]) -> Labels:
    return np.array([e.label == "supported" for e in examples], dtype=bool)


@dataclass(frozen=True, slots=True)
class HeldOut:
    """Leave-one-domain-out: each example's verdict by a model trained on the other domains only,
    and each domain's figures."""

    predicted: npt.NDArray[np.bool_]
    per_domain: dict[str, dict[str, Any]]

    @property
    def mean_balanced_accuracy(self) -> float:
        return round(float(np.mean([d["balanced_accuracy"] for d in self.per_domain.values()])), 4)

    def to_json(self) -> dict[str, Any]:
        return {"per_domain": self.per_domain, "mean_balanced_accuracy": self.mean_balanced_accuracy}


def leave_one_domain_out(
    groups: Sequence[str],
    x: Matrix,
    y: Labels,
    *,
    l2: float = 1.0,
    constrained: bool = True,
    vetoes: Sequence[str] = RED_FLAGS,
) -> HeldOut:
    """Train on all domains but one, score the held-out one; for every domain."""
    g = np.asarray(groups)
    predicted = np.zeros(len(g), dtype=bool)
    per_domain: dict[str, dict[str, Any]] = {}
    for domain in sorted(set(groups)):
        held = g == domain
        if held.all():
            raise InvalidRequest("leave-one-domain-out needs at least two domains")
        model = fit_logistic(x[~held], y[~held], l2=l2, constrained=constrained, vetoes=vetoes)
        predicted[held] = model.score(x[held]) >= model.threshold
        per_domain[domain] = {
            "balanced_accuracy": round(balanced_accuracy(y[held], predicted[held]), 4),
            "n": int(held.sum()),
            "consistent": int(y[held].sum()),
            "threshold": round(model.threshold, 4),
        }
    return HeldOut(predicted, per_domain)
