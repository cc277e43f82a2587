"""Groundedness evaluation (``docrag eval groundedness``) and the training of its weights.

SummEdits (Apache-2.0; one JSON file per domain, ``summedits_<domain>.json``: document,
summary, label 1 = consistent): the reported figure is leave-one-domain-out balanced accuracy,
a model trained (coefficients and threshold) on seven domains and scored on the eighth,
which it never saw. The shipped model (trained on every domain) is scored too, marked as
having seen the data.

WiCE (ODC-BY; ``entailment_retrieval/claim/<split>.jsonl``: claim, the cited page's
sentences, label): never used for training or thresholds, so it measures the shipped model
on a data set it was never tuned on. The main figure is supported vs not_supported
(partially_supported claims left out); a second one counts partially_supported as unsupported.

With an LLM judge (``--judge llm``: the model of ``DOCRAG_GENERATOR`` and ``DOCRAG_LLM_*``), each
claim is also put to the model with its whole evidence, and the report adds the figures of
the combination DocRAG serves with ``DOCRAG_GROUNDEDNESS_JUDGE=llm`` (supported when the detector
and the model both say so) and of the model alone. ``--limit`` scores an even sample of each
domain, for models too slow for every claim.
"""

from __future__ import annotations

import hashlib
import json
import sys
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
    load_model,
)
from docrag.groundedness.judge import LLMJudge
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


def _labels(examples: Sequence[Example]) -> Labels:
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


def sample(examples: Sequence[Example], limit: int | None) -> list[Example]:
    """At most ``limit`` examples of each group, evenly spaced through it (all, without a limit)."""
    if limit is None:
        return list(examples)
    by_group: dict[str, list[Example]] = {}
    for example in examples:
        by_group.setdefault(example.group, []).append(example)
    kept: set[int] = set()
    for members in by_group.values():
        step = max(1.0, len(members) / limit)
        kept.update(id(members[int(i * step)]) for i in range(min(limit, len(members))))
    return [e for e in examples if id(e) in kept]


def llm_verdicts(judge: LLMJudge, examples: Sequence[Example]) -> list[bool | None]:
    """The model's verdict on each claim against its whole evidence (``None``: no verdict)."""
    verdicts: list[bool | None] = []
    started = time.monotonic()
    for i, example in enumerate(examples, start=1):
        verdicts.append(judge.supports(example.claim, example.evidence))
        _progress(f"LLM judge: {i}/{len(examples)} ({time.monotonic() - started:.0f} s)")
    return verdicts


def with_judge(
    truth: Labels, detector: npt.NDArray[np.bool_], verdicts: Sequence[bool | None]
) -> dict[str, Any]:
    """Balanced accuracy of the detector AND the model (a missing verdict leaves the detector's),
    and of the model alone on the claims it gave a verdict for."""
    said = np.array([v is not None for v in verdicts])
    model = np.array([v is True for v in verdicts])
    combined = detector & (model | ~said)
    out: dict[str, Any] = {
        "detector_and_llm": round(balanced_accuracy(truth, combined), 4),
        "detector_alone": round(balanced_accuracy(truth, detector), 4),
        "no_verdict": int((~said).sum()),
    }
    if said.any():
        out["llm_alone"] = round(balanced_accuracy(truth[said], model[said]), 4)
    return out


def summedits_report(
    embedder: Embedder,
    folder: Path,
    *,
    cache: Path | None = None,
    judge: LLMJudge | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    files = find_summedits(folder)
    examples = sample(load_summedits(files), limit)
    x = featurize(embedder, examples, cache=_cache_file(cache, "summedits"), progress=_progress)
    y = _labels(examples)
    groups = [e.group for e in examples]
    report: dict[str, Any] = {
        "data": str(folder),
        "examples": len(examples),
        "positive": "label 1 (consistent) = supported",
    }
    if len(set(groups)) > 1:
        lodo = leave_one_domain_out(groups, x, y)
        report["held_out_domains"] = {
            "what": "each domain scored by a model (weights and threshold) trained on the other domains only",
            **lodo.to_json(),
        }
        if judge is not None:
            report["llm_judge"] = {
                "what": "pooled over the domains, each judged by a detector trained without it, and the LLM",
                **with_judge(y, lodo.predicted, llm_verdicts(judge, examples)),
            }
    shipped = load_model()
    predicted = shipped.score(x) >= shipped.threshold
    g = np.asarray(groups)
    report["shipped_model"] = {
        "what": "the shipped weights; trained on these domains, so not a held-out figure: "
        + str(shipped.provenance.get("trained_on", "")),
        "balanced_accuracy": round(balanced_accuracy(y, predicted), 4),
        "per_domain": {
            d: round(balanced_accuracy(y[g == d], predicted[g == d]), 4) for d in sorted(set(groups))
        },
    }
    return report


def wice_report(
    embedder: Embedder,
    folder: Path,
    *,
    split: str = "test",
    cache: Path | None = None,
    judge: LLMJudge | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    path = find_wice(folder, split)
    if path is None:
        raise InvalidRequest(f"no entailment_retrieval/claim/{split}.jsonl under {folder}")
    examples = sample(load_wice(path), limit)
    x = featurize(embedder, examples, cache=_cache_file(cache, f"wice-{split}"), progress=_progress)
    model = load_model()
    scores = model.score(x)
    predicted = scores >= model.threshold
    labels = np.array([e.label for e in examples])
    strict = labels != "partially_supported"
    report: dict[str, Any] = {
        "data": str(path),
        "what": "shipped model; WiCE never used for training or threshold selection",
        "claims": {
            _WICE_NAMES.get(str(k), str(k)): int(v)
            for k, v in zip(*np.unique(labels, return_counts=True), strict=True)
        },
    }
    if strict.any():
        report["balanced_accuracy"] = round(
            balanced_accuracy(labels[strict] == "supported", predicted[strict]), 4
        )
        report["balanced_accuracy_what"] = "supported vs not_supported (partially_supported left out)"
    report["balanced_accuracy_partial_as_unsupported"] = round(
        balanced_accuracy(labels == "supported", predicted), 4
    )
    report["mean_score"] = {
        _WICE_NAMES.get(k, k): round(float(scores[labels == k].mean()), 4)
        for k in sorted(set(labels.tolist()))
    }
    if judge is not None and strict.any():
        kept = [e for e, keep in zip(examples, strict, strict=True) if keep]
        report["llm_judge"] = {
            "what": "supported vs not_supported: the shipped detector AND the LLM",
            **with_judge(labels[strict] == "supported", predicted[strict], llm_verdicts(judge, kept)),
        }
    return report


_WICE_NAMES = {"unsupported": "not_supported"}


def run_groundedness(
    embedder: Embedder,
    folders: Sequence[Path],
    *,
    wice_split: str = "test",
    cache: Path | None = None,
    judge: LLMJudge | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The report for every folder: SummEdits files and/or a WiCE claim split found under it."""
    report: dict[str, Any] = {}
    for folder in folders:
        if not folder.is_dir():
            raise InvalidRequest(f"{folder} is not a folder")
        found = False
        if find_summedits(folder):
            report["summedits"] = summedits_report(embedder, folder, cache=cache, judge=judge, limit=limit)
            found = True
        if find_wice(folder, wice_split) is not None:
            report["wice"] = wice_report(
                embedder, folder, split=wice_split, cache=cache, judge=judge, limit=limit
            )
            found = True
        if not found:
            raise InvalidRequest(
                f"no SummEdits (summedits_*.json) or WiCE (claim/{wice_split}.jsonl) in {folder}"
            )
    return report


def _cache_file(cache: Path | None, name: str) -> Path | None:
    if cache is None:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    return cache / f"groundedness-{name}.json"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, end="\r", flush=True)
