"""Do two versions of the code search alike? Records what a set of searches returns, or compares
two recordings.

    python bench/load/same_results.py record --data-dir /tmp/scale-100k before.json   # old code
    python bench/load/same_results.py record --data-dir /tmp/scale-100k after.json    # new code
    python bench/load/same_results.py compare before.json after.json

``record`` opens a :class:`~docrag.services.Runtime` on a ``bench/scale.py`` corpus (as stages.py
does) and runs ``--queries`` distinct searches in ``scale-main`` through the runtime's own
Retriever, every third one with sentence vectors (as an extractive answer asks), and writes each
search's top 10: chunk id, fused, dense and lexical score, and what the hit carries (title, body,
sentences and their pages, version, heading path), and which hits' sentence vectors came back.
``compare`` reports the searches whose ids, order or hit contents differ and the largest score
difference among the others; it exits 1 if any differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from docrag.domain import Hit
from docrag.services import Runtime
from docrag.settings import Settings


def _query(n: int) -> str:
    # Two shapes: bench/load/stages.py's, and a rarer one (other BM25 postings).
    return (
        f"what does section {n} say about topic {n % 37}"
        if n % 2
        else f"digest query {n} on subject {n % 53}"
    )


def _hit_row(h: Hit) -> list[Any]:
    """Its id, fused, dense and lexical scores, then what it carries."""
    sentences = [(s.start, s.end, s.page) for s in h.sentences]
    scores = [h.score, h.dense_score, h.lexical_score]
    return [
        h.chunk_id,
        *scores,
        h.document_title,
        h.body,
        sentences,
        h.document_version,
        list(h.heading_path),
    ]


def record(data_dir: Path, out: Path, queries: int, collection: str) -> None:
    runtime = Runtime.open(Settings(data_dir=data_dir, answer_cache_seconds=0, inprocess_worker=False))
    try:
        tenant = runtime.default_tenant
        coll = [runtime.store.collection_by_name(tenant, collection).id]  # older code has no more
        rows: list[dict[str, Any]] = []
        for n in range(queries):
            found = runtime.retriever.retrieve(tenant, coll, _query(n), limit=10, with_vectors=n % 3 == 0)
            hits = [_hit_row(h) for h in found.hits]
            vectors = sorted((chunk_id, len(blob)) for chunk_id, blob in found.sentence_vectors.items())
            rows.append({"query": _query(n), "hits": hits, "vectors": vectors})
    finally:
        runtime.close()
    out.write_text(json.dumps(rows))
    print(f"{len(rows)} searches written to {out}")


def compare(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    differing, largest = 0, 0.0
    for x, y in zip(a, b, strict=True):
        if x["query"] != y["query"]:
            raise SystemExit("the recordings ran different queries")
        same_hits = [h[:1] + h[4:] for h in x["hits"]] == [h[:1] + h[4:] for h in y["hits"]]
        scores = [
            (p, q)
            for hx, hy in zip(x["hits"], y["hits"], strict=False)
            for p, q in zip(hx[1:4], hy[1:4], strict=True)
        ]
        if (
            not same_hits
            or x["vectors"] != y["vectors"]
            or any((p is None) != (q is None) for p, q in scores)
        ):
            differing += 1
            print(f"differs: {x['query']!r}")
            continue
        largest = max([largest, *(abs(p - q) for p, q in scores if p is not None and q is not None)])
    print(f"{len(a)} searches, {differing} differing; largest score difference in the others {largest:.3g}")
    return 1 if differing else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--data-dir", type=Path, required=True)
    rec.add_argument("--queries", type=int, default=300)
    rec.add_argument("--collection", default="scale-main")
    rec.add_argument("out", type=Path)
    cmp = sub.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.data_dir, args.out, args.queries, args.collection)
    else:
        sys.exit(compare(args.before, args.after))


if __name__ == "__main__":
    main()
