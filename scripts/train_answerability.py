"""Train the answerability model's shipped weights on XQuAD English's training articles.

    .venv/bin/python scripts/train_answerability.py --data ../shared/data/xquad_en/xquad.en.json \
        [--data-dir /tmp/docrag-answerability] [--rows /tmp/answerability-rows.json]

The split is by article (``docrag.eval.hard_unanswerable.held_out``): only the articles 0 and 3
modulo 4 are used here, the others are what ``docrag eval qa`` reports on. Their questions are
assessed by the real extractive answerer (embedded PostgreSQL, the bundled embedder) against
their own articles (label: answers) and against each hard unanswerable text of the same side
(the article less the paragraph or the sentence holding the answer, a sibling article; label:
does not answer). A logistic regression over ``answerability.FEATURES`` is fitted to them, and
the threshold is the highest at which, on these training rows, at least ``--answered`` of the
answerable questions are still answered (with the default closeness threshold). Writes
src/docrag/answering/assets/answerability.json; no text of the data set goes into it, only the
weights, the threshold and their provenance. The run is deterministic: the same data and code
give the same weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from docrag.answering.answerability import FEATURES, fit
from docrag.eval.answerability_data import Row, collect
from docrag.services import Runtime
from docrag.settings import Settings

ASSET = Path(__file__).resolve().parents[1] / "src/docrag/answering/assets/answerability.json"
PROVENANCE = "XQuAD English (Artetxe et al. 2020), github.com/google-deepmind/xquad, CC BY-SA 4.0"


def rows_of(data: Path, data_dir: Path | None, cache: Path | None) -> list[Row]:
    if cache is not None and cache.is_file():
        return [Row(**{**r, "passages": tuple(r["passages"])}) for r in json.loads(cache.read_text())]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=data_dir or Path(tmp),
            answer_cache_seconds=0,
            inprocess_worker=False,
            abstain_threshold=0.0,
        )
        rt = Runtime.open(settings)
        try:
            rows = collect(
                rt,
                data,
                evaluation_side=False,
                prefix="train",
                progress=lambda m: print(m, file=sys.stderr, end="\r", flush=True),
            )
        finally:
            rt.close()
    if cache is not None:
        cache.write_text(json.dumps([dataclasses.asdict(r) for r in rows]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="xquad.en.json")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="embedded PostgreSQL folder (default: temporary)"
    )
    parser.add_argument("--rows", type=Path, default=None, help="cache of the assessed rows (JSON)")
    parser.add_argument("--answered", type=float, default=0.93, help="answerable share kept answered")
    parser.add_argument("--out", type=Path, default=ASSET)
    args = parser.parse_args()

    rows = rows_of(args.data, args.data_dir, args.rows)
    x = np.array([r.features() for r in rows])
    y = np.array([r.answerable for r in rows], dtype=np.float64)
    model = fit(x, y)
    p = np.array([model.probability(row) for row in x])
    close = Settings.model_fields["abstain_threshold"].default
    scores = np.array([r.score for r in rows])
    answerable = y == 1
    threshold = 0.0
    for t in np.round(np.arange(0.0, 1.0, 0.01), 2):
        if ((p >= t) & (scores >= close))[answerable].mean() >= args.answered:
            threshold = float(t)
    answered = (p >= threshold) & (scores >= close)
    summary = {
        "rows": len(rows),
        "articles": sorted({r.article for r in rows}),
        "answerable": int(answerable.sum()),
        "unanswerable": {v: sum(r.variant == v for r in rows) for v in ("paragraph", "sentence", "sibling")},
        "threshold": threshold,
        "train_answered_of_answerable": round(float(answered[answerable].mean()), 4),
        "train_abstained_of_unanswerable": round(float((~answered[~answerable]).mean()), 4),
    }
    model = dataclasses.replace(
        model,
        provenance={
            "data": PROVENANCE,
            "split": "trained on XQuAD articles 0 and 3 modulo 4; evaluated (docrag eval qa) on 1 and 2",
            "script": "scripts/train_answerability.py",
            "features": list(FEATURES),
            **summary,
        },
    )
    args.out.write_text(model.to_json() + "\n", encoding="utf-8")
    weights = dict(zip(FEATURES, np.round(model.weights, 3).tolist(), strict=True))
    print(json.dumps({**summary, "weights": weights}, indent=2))


if __name__ == "__main__":
    main()
