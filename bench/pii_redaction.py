"""Precision and recall of the PII detectors (src/docrag/text/pii.py) per type, on the labelled
sample of src/docrag/eval/pii_sample.py (fixed seed). Run: .venv/bin/python bench/pii_redaction.py"""

from __future__ import annotations

import argparse
import time

from docrag.eval.pii_sample import build, score
from docrag.text.pii import find_pii, redact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-type", type=int, default=60, help="positive sentences per type")
    parser.add_argument("--negative-rounds", type=int, default=25, help="rounds of 13 tricky negatives")
    parser.add_argument("--show-errors", action="store_true", help="print each wrong or missed span")
    args = parser.parse_args()
    samples = build(args.per_type, args.negative_rounds)
    started = time.perf_counter()
    scores = score(samples)
    elapsed = time.perf_counter() - started
    gold = sum(len(s.spans) for s in samples)
    negatives = sum(not s.spans for s in samples)
    print(f"{len(samples)} sentences, {gold} PII spans, {negatives} negative-only sentences")
    print(f"{'type':<12} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7}")
    for s in scores:
        tp, fp, fn = s.true_positives, s.false_positives, s.false_negatives
        print(f"{s.type.value:<12} {tp:>4} {fp:>4} {fn:>4} {s.precision:>9.3f} {s.recall:>7.3f}")
    print(f"detection time: {1000 * elapsed / len(samples):.2f} ms per sentence")
    # The log filter runs the detectors on every record: the price of one access line.
    lines = ["POST /v1/collections/{name}/documents 201", "GET /health/live 200", "POST /v1/ask 200"]
    started = time.perf_counter()
    for _ in range(1000):
        for line in lines:
            redact(line)
    print(f"log filter: {1e6 * (time.perf_counter() - started) / (1000 * len(lines)):.0f} us per access line")
    if args.show_errors:
        for sample in samples:
            found = set(find_pii(sample.text))
            for f in found ^ set(sample.spans):
                what = "FP" if f in found else "FN"
                print(f"{what} {f.type.value}: {sample.text[f.start : f.end]!r} in {sample.text!r}")


if __name__ == "__main__":
    main()
