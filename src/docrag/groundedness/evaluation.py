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

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from docrag.errors import InvalidRequest
from docrag.groundedness.detector import (
    load_model,
)
from docrag.groundedness.judge import LLMJudge
from docrag.groundedness.training import (
    Example,
    Labels,
    balanced_accuracy,
    featurize,
    find_summedits,
    find_wice,
    labels_of,
    leave_one_domain_out,
    load_summedits,
    load_wice,
)
from docrag.providers.protocol import Embedder


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
    y = labels_of(examples)
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
